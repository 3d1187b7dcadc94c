"""Labeling batches and eval-set refresh on CLINC150 with held-out intents, against baselines.

For each seed, 20% of the in-scope intents have no eval prompt (5 prompts for every other
intent) and out-of-scope queries make up 5% of the traffic (``_clinc.coverage_scenario``). One
report per seed is reused for every method. Measured:

- a 50-query labeling batch (``export_for_labeling``) per strategy, one drawn only from the
  untested clusters ``report.stability()`` confirms, and uniform random picks over all
  distinct traffic as a baseline: share of held-out intents reached, out-of-scope queries and
  queries of tested intents in the batch, near-duplicate share (a query with cosine >= 0.95
  to another one of the batch), share of texts changed by PII redaction;
- 50 eval prompts added with ``with_evals``: ``suggest_additions(50)``, the diverse labeling
  batch, and 50 random distinct traffic queries. Gain in reported coverage, and in true
  coverage (share of traffic whose intent has an eval prompt; out-of-scope never counts).

Usage::

    python benchmarks/bench_labeling.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from _clinc import (  # noqa: E402
    CLINC_PATH,
    DEFAULT_MODEL,
    OOS,
    cached_embeddings,
    coverage_scenario,
    load_clinc,
)

from evalcov import Precomputed, analyze, normalize_text  # noqa: E402
from evalcov.export import query_id  # noqa: E402
from evalcov.selection import near_duplicate_share  # noqa: E402
from evalcov.stability import confirmed_clusters  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "labeling.md"
BATCH = 50
STRATEGIES = ("diverse", "proportional", "random")


def batch_metrics(scenario, report, raw_texts: list[str], row_of: dict[str, int]) -> dict:
    """Quality of a set of distinct traffic texts as a labeling batch."""
    intent_of = _intent_of(scenario)
    intents = {intent_of[t] for t in raw_texts}
    rows = [row_of[t] for t in raw_texts]
    return {
        "held-out intents reached": len(intents & set(scenario.held_out)) / len(scenario.held_out),
        "OOS in batch": float(np.mean([intent_of[t] == OOS for t in raw_texts])),
        "tested intents in batch": float(
            np.mean([intent_of[t] not in (*scenario.held_out, OOS) for t in raw_texts])
        ),
        "distinct intents": len(intents - {OOS}),
        "near-duplicate share": near_duplicate_share(report.traffic_embeddings_[rows]),
    }


def _intent_of(scenario) -> dict[str, str]:
    # A text asked under several intents keeps its first; CLINC150 has almost no such texts.
    t = scenario.traffic.assign(text=scenario.traffic["text"].map(normalize_text))
    t = t.drop_duplicates("text")
    return dict(zip(t["text"], t["intent"], strict=True))


def true_coverage(scenario, added: list[str]) -> float:
    intent_of = _intent_of(scenario)
    covered = (set(scenario.evals["intent"]) | {intent_of[t] for t in added}) - {OOS}
    return float(scenario.traffic["intent"].isin(covered).mean())


def run_seed(clinc, texts, vectors, seed: int) -> tuple[list[dict], list[dict], dict]:
    scenario = coverage_scenario(clinc, seed)
    start = time.perf_counter()
    report = analyze(
        pd.DataFrame({"text": scenario.traffic["text"]}),
        pd.DataFrame({"text": scenario.evals["text"]}),
        text="text",
        embedder=Precomputed(texts, vectors, name=DEFAULT_MODEL),
        random_state=seed,
    )
    info = {"analyze (s)": time.perf_counter() - start}
    print(
        f"seed {seed}: {len(scenario.traffic)} traffic rows, {len(report.unique_)} distinct, "
        f"{len(report.clusters)} clusters, {len(report.gaps(n=None))} gaps, coverage "
        f"{report.coverage:.3f} (true {scenario.true_coverage:.3f}), "
        f"{info['analyze (s)']:.0f} s",
        flush=True,
    )
    u_texts = report.unique_["text"].tolist()
    row_of = {t: i for i, t in enumerate(u_texts)}
    text_of_id = {query_id(t): t for t in u_texts}

    batches, raw_batches = [], {}
    for strategy in STRATEGIES:
        start = time.perf_counter()
        batch = report.export_for_labeling(n=BATCH, strategy=strategy)
        seconds = time.perf_counter() - start
        raw = [text_of_id[i] for i in batch["id"]]
        raw_batches[strategy] = raw
        m = batch_metrics(scenario, report, raw, row_of)
        m |= {
            "method": f"export {strategy}",
            "size": len(batch),
            "redacted share": float(np.mean(np.asarray(raw) != batch["text"].to_numpy())),
            "time (s)": seconds,
        }
        batches.append(m)
    # The gaps the report's stability() confirms (most of their untested traffic untested on
    # 4 maps with other seeds too), each untested cluster its own gap in the split.
    start = time.perf_counter()
    batch = report.export_for_labeling(
        n=BATCH, strategy="diverse", clusters=confirmed_clusters(report, n_maps=4)
    )
    seconds = time.perf_counter() - start
    raw = [text_of_id[i] for i in batch["id"]]
    m = batch_metrics(scenario, report, raw, row_of)
    batches.append(
        m
        | {
            "method": "export diverse, confirmed clusters only (stability, 4 maps)",
            "size": len(batch),
            "redacted share": float(np.mean(np.asarray(raw) != batch["text"].to_numpy())),
            "time (s)": seconds,
        }
    )
    rng = np.random.default_rng(seed)
    uniform = [u_texts[i] for i in rng.choice(len(u_texts), BATCH, replace=False)]
    m = batch_metrics(scenario, report, uniform, row_of)
    batches.append(m | {"method": "uniform over all traffic (baseline)", "size": BATCH})

    start = time.perf_counter()
    sug = report.suggest_additions(BATCH)
    info["suggest (s)"] = time.perf_counter() - start
    additions = {
        "suggest_additions": sug["text"].tolist(),
        "diverse labeling batch": raw_batches["diverse"],
        "50 random traffic queries (baseline)": uniform,
    }
    gains = []
    base_true = scenario.true_coverage
    for name, added in additions.items():
        start = time.perf_counter()
        after = report.with_evals(pd.Series(added, name="text"))
        seconds = time.perf_counter() - start
        gains.append(
            {
                "method": name,
                "added": len(added),
                "reported gain": after.coverage - report.coverage,
                "true gain": true_coverage(scenario, added) - base_true,
                "with_evals (s)": seconds,
            }
        )
        if name == "suggest_additions":
            info["|with_evals - projected|"] = abs(
                after.coverage - sug["projected_coverage"].iloc[-1]
            )
    print(f"  batches: {pd.DataFrame(batches).round(3).to_dict('records')}", flush=True)
    print(f"  gains: {pd.DataFrame(gains).round(4).to_dict('records')}", flush=True)
    print(f"  {info}", flush=True)
    return batches, gains, info


def _median_range(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    low, mid, high = (format(v, fmt) for v in (min(values), np.median(values), max(values)))
    return f"{mid} [{low}–{high}]"


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _summarize(runs: list[dict], formats: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(runs)
    out = []
    for method, group in frame.groupby("method", sort=False):
        row = {"method": method}
        for column, fmt in formats.items():
            if column in group and group[column].notna().any():
                row[column] = _median_range(group[column].dropna().tolist(), fmt)
            else:
                row[column] = "–"
        out.append(row)
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="n_jobs value .* overridden", category=UserWarning)
    clinc = load_clinc()
    if clinc is None:
        print(f"CLINC150 is absent ({CLINC_PATH}); nothing to measure")
        return
    texts, vectors = cached_embeddings(clinc["text"].tolist(), DEFAULT_MODEL)
    batches, gains, infos = [], [], []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EVALCOV_CACHE_DIR"] = cache
        for seed in args.seeds:
            b, g, info = run_seed(clinc, texts, vectors, seed)
            batches += b
            gains += g
            infos.append(info)

    batch_table = _summarize(
        batches,
        {
            "held-out intents reached": ".0%",
            "OOS in batch": ".0%",
            "tested intents in batch": ".0%",
            "distinct intents": ".0f",
            "near-duplicate share": ".1%",
            "redacted share": ".1%",
            "time (s)": ".2f",
        },
    )
    gain_table = _summarize(
        gains, {"reported gain": ".4f", "true gain": ".4f", "with_evals (s)": ".1f"}
    )
    by_method = pd.DataFrame(gains).pivot(columns="method", values=["reported gain", "true gain"])
    ratios = []
    for kind in ("reported gain", "true gain"):
        sug = by_method[kind]["suggest_additions"].dropna().to_numpy()
        rnd = by_method[kind]["50 random traffic queries (baseline)"].dropna().to_numpy()
        ratios.append(f"{kind}: median ratio {np.median(sug / rnd):.1f}×")
    info = pd.DataFrame(infos)
    text = (
        f"# Labeling export and eval-set refresh benchmark\n\n"
        f"CLINC150, seeds {args.seeds}: 30 of 150 intents held out of the eval set (5 prompts "
        f"per other intent), out-of-scope queries 5% of traffic; embeddings {DEFAULT_MODEL} "
        f"(precomputed, shared). Cells: median [min–max] over seeds. Analysis per seed: "
        f"{_median_range(info['analyze (s)'].tolist(), '.0f')} s (reused for every method).\n\n"
        f"## 50-query labeling batches\n\n"
        f"Target: the diverse batch reaches ≥ 90% of the held-out intents. Tested intents in "
        f"batch: queries of intents the eval set has prompts for (labeling spent on false "
        f"gaps). The confirmed-only batch's time includes the 4 extra map fits. Near-duplicate "
        f"share: batch queries with cosine ≥ 0.95 to another query of the batch. Redacted "
        f"share: batch texts changed by PII redaction.\n\n{_markdown(batch_table)}\n\n"
        f"## 50 eval prompts added (with_evals)\n\n"
        f"Target: suggest_additions gains ≥ 2× the coverage of 50 random traffic queries. "
        f"Reported gain: change of report.coverage; true gain: change of the share of "
        f"traffic whose intent has an eval prompt. {'; '.join(ratios)}. suggest_additions "
        f"took {_median_range(info['suggest (s)'].tolist(), '.1f')} s; |with_evals coverage − "
        f"last projected_coverage| max {info['|with_evals - projected|'].max():.2e}.\n\n"
        f"{_markdown(gain_table)}\n"
    )
    print("\n" + text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
