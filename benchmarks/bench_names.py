"""Cluster names and language detection: do gap names say what the missing topic is?

CLINC150 with 20% of intents held out of the eval set (the coverage benchmark's scenario):
among gap clusters where one held-out intent is at least 60% of the traffic, the share whose
name contains a word of that intent's name (both Snowball-stemmed), for the previous names
(top c-TF-IDF unigrams/bigrams, English stop words of scikit-learn) and the new keyphrases
(whose stop words add the contractions and the other languages of the ``stop-words`` package),
with phrase vectors from MiniLM (as the analyzer does) and without (each phrase stands for
the texts holding it, as with a precomputed embedder). Then offline language detection
accuracy per xSID language, each language's test file as its own traffic and all of them
mixed into one. One command: ``python benchmarks/bench_names.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import pandas as pd
from _clinc import (
    DEFAULT_MODEL,
    EMBEDDERS,
    cached_embeddings,
    coverage_scenario,
    load_clinc,
    load_xsid,
    markdown_table,
)

RESULTS = Path(__file__).resolve().parent / "results" / "names.md"
DOMINANT = 0.6
# xSID dialects have no code of their own in any detector: South Tyrolean, Bavarian and
# Swiss German are German to it, Neapolitan is Italian.
EXPECTED = {"de-st": "de", "de-ba": "de", "de-muc": "de", "gsw": "de", "nap": "it"}
# Serbian in Latin script and Croatian/Bosnian are one standard language to a detector.
SAME = {"sr": {"sr", "hr", "bs"}}


def _stem_words(text: str, stemmer) -> set[str]:
    return {stemmer.stemWord(w) for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 1}


def bench_clinc(seeds: list[int]) -> tuple[str, pd.DataFrame]:
    import snowballstemmer

    from evalcov import Precomputed, analyze
    from evalcov.labels import (
        central_examples,
        ctfidf_keywords,
        label_clusters,
        name_groups,
        stop_words_for,
    )
    from evalcov.languages import languages_present

    stemmer = snowballstemmer.stemmer("english")
    clinc = load_clinc()
    if clinc is None:
        return "CLINC150 is not present; skipped.\n", pd.DataFrame()
    texts, vectors = cached_embeddings(clinc["text"].tolist(), DEFAULT_MODEL)
    minilm = EMBEDDERS[DEFAULT_MODEL]()
    rows, samples = [], []
    for seed in seeds:
        scenario = coverage_scenario(clinc, seed)
        report = analyze(
            scenario.traffic[["text"]],
            scenario.evals[["text"]],
            text="text",
            embedder=Precomputed(texts, vectors, name=DEFAULT_MODEL),
            random_state=seed,
            show_progress=False,
        )
        u = report.unique_
        labels, weights = u["cluster"].to_numpy(), u["weight"].to_numpy()
        utexts, U, n = u["text"].tolist(), report.traffic_embeddings_, len(report.clusters)
        stops = stop_words_for(languages_present(u["lang"].to_numpy(), labels, weights))
        t0 = time.perf_counter()
        old = label_clusters(
            ctfidf_keywords(utexts, labels, weights, n),
            central_examples(U, utexts, labels, weights, n),
        )
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        new = name_groups(utexts, labels, weights, U, n, stop_words=stops, embed_phrases=minilm)[0]
        t_new = time.perf_counter() - t0
        t0 = time.perf_counter()
        plain = name_groups(utexts, labels, weights, U, n, stop_words=stops)[0]
        t_plain = time.perf_counter() - t0

        q = report.queries.assign(intent=scenario.traffic["intent"].to_numpy())
        gaps = set(report.gaps(None)["cluster"])
        held = set(scenario.held_out)
        for cluster, group in q[q["cluster"].isin(gaps)].groupby("cluster"):
            share = group["intent"].value_counts(normalize=True)
            intent = share.index[0]
            if intent not in held or share.iloc[0] < DOMINANT:
                continue
            target = _stem_words(intent.replace("_", " "), stemmer)
            hit = {
                name: bool(target & _stem_words(names[cluster], stemmer))
                for name, names in (("old", old), ("new", new), ("new_plain", plain))
            }
            rows.append({"seed": seed, "cluster": cluster, "intent": intent, **hit})
            if seed == seeds[0]:
                samples.append((intent, old[cluster], new[cluster]))
        rows.append({"seed": seed, "t_old": t_old, "t_new": t_new, "t_plain": t_plain})
    frame = pd.DataFrame(rows)
    hits = frame.dropna(subset=["intent"])
    times = frame.dropna(subset=["t_old"])
    per_seed = hits.groupby("seed")[["old", "new", "new_plain"]].mean()
    table = pd.DataFrame(
        {
            "names": [
                "before: top c-TF-IDF terms",
                "keyphrases, MiniLM phrase vectors (default)",
                "keyphrases, texts as phrase vectors (precomputed embedder)",
            ],
            "name holds a word of the intent (median over seeds)": [
                f"{per_seed[c].median():.3f}" for c in ("old", "new", "new_plain")
            ],
            "pooled": [f"{hits[c].mean():.3f}" for c in ("old", "new", "new_plain")],
            "naming time (s, median)": [
                f"{times[c].median():.2f}" for c in ("t_old", "t_new", "t_plain")
            ],
        }
    )
    text = (
        f"## CLINC150 gap names (seeds {seeds}, 20% of intents held out)\n\n"
        f"{len(hits)} gap clusters (over all seeds) where one held-out intent is "
        f"≥ {DOMINANT:.0%} of the traffic; per seed "
        f"{hits.groupby('seed').size().tolist()}. Target: ≥ 0.60.\n\n"
        + markdown_table(table)
        + "\n\nSeed "
        + str(seeds[0])
        + ", every such cluster:\n\n"
        + markdown_table(pd.DataFrame(samples, columns=["held-out intent", "before", "after"]))
        + "\n"
    )
    return text, hits


def bench_languages() -> str:
    from evalcov.languages import detect_languages

    xsid = load_xsid()
    if xsid is None:
        return "xSID is not present; skipped.\n"
    xsid["expected"] = xsid["language"].map(lambda c: EXPECTED.get(c, c))
    t0 = time.perf_counter()
    xsid["mixed"] = detect_languages(xsid["text"].tolist())
    t_mixed = time.perf_counter() - t0
    xsid["alone"] = ""
    for _, group in xsid.groupby("language"):
        xsid.loc[group.index, "alone"] = detect_languages(group["text"].tolist())
    rows = []
    for lang, g in xsid.groupby("language", sort=True):
        ok = SAME.get(g["expected"].iloc[0], {g["expected"].iloc[0]})
        rows.append(
            {
                "xSID file": lang,
                "expected": "/".join(sorted(ok)),
                "n": len(g),
                "accuracy, file alone": f"{g['alone'].isin(ok).mean():.3f}",
                "accuracy, all files mixed": f"{g['mixed'].isin(ok).mean():.3f}",
                "most common answers (alone)": ", ".join(
                    f"{k} {v}" for k, v in g["alone"].value_counts().head(3).items()
                ),
            }
        )
    table = pd.DataFrame(rows)
    return (
        "## Language detection on xSID (test split)\n\n"
        "py3langid restricted to 79 widely used languages, with the traffic's own language "
        "mix as prior (5 EM rounds). 'File alone': each language's file is the traffic; "
        f"'mixed': all {len(xsid)} sentences in one traffic ({t_mixed:.1f} s). "
        "Dialects (de-ba, de-muc, de-st, gsw, nap) are expected to read as their standard "
        "language; Serbian (Latin script) counts as correct when read as Croatian or "
        "Bosnian.\n\n" + markdown_table(table) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EVALCOV_CACHE_DIR"] = cache
        clinc_text, _ = bench_clinc(args.seeds)
        sections = ["# Names and languages benchmark\n", clinc_text, bench_languages()]
    text = "\n".join(sections)
    print("\n" + text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
