"""Benchmark evalcov's default PII redactor: quality on a labeled corpus, real tweets, speed.

Run from the repo root::

    python benchmarks/bench_redact.py            # add --audit N to change the audit sample

1. The synthetic corpus from ``benchmarks/pii_corpus.py`` scored at span level: a true
   span is *found* if redactions cover all of its letters and digits; a redaction is
   *correct* if it overlaps a true span. Baseline in the same run: a naive regex set
   (a simple email pattern and ``\\d{9,}``), to show what the format checks buy.
2. Real support tweets from ``../shared/data/twitter_cdp/{dev,test}.json`` (skipped when
   absent): redactions per category, then a sample of redactions and of untouched texts
   with digits or "@" printed for a hand audit.
3. Throughput on 100k distinct short texts (synthetic and tweet-like), against the naive
   baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from pii_corpus import generate  # noqa: E402

from evalcov.redact import CATEGORIES, RegexRedactor, Span  # noqa: E402

TWITTER = REPO.parent / "shared" / "data" / "twitter_cdp"


class NaiveRedactor:
    """What a first attempt looks like: any email-ish token, any run of 9+ digits."""

    _RES = [("EMAIL", re.compile(r"\S+@\S+\.\w+")), ("DIGITS", re.compile(r"\d{9,}"))]

    def find(self, text: str) -> list[Span]:
        return [Span(*m.span(), cat, m.group()) for cat, rx in self._RES for m in rx.finditer(text)]

    def redact(self, texts: list[str]) -> list[str]:
        out = []
        for t in texts:
            for cat, rx in self._RES:
                t = rx.sub(f"[{cat}]", t)
            out.append(t)
        return out


def _covered(text: str, start: int, end: int, preds: list[Span]) -> bool:
    mask = [False] * (end - start)
    for p in preds:
        for i in range(max(p.start, start), min(p.end, end)):
            mask[i - start] = True
    return all(m or not text[start + i].isalnum() for i, m in enumerate(mask))


def score(redactor, corpus) -> dict:
    """Per-category recall/precision and false positives per near-miss kind."""
    found, total = Counter(), Counter()
    pred_ok, pred_all = Counter(), Counter()
    same_label = Counter()
    neg_hits, neg_seen = Counter(), Counter()
    for ex in corpus:
        preds = redactor.find(ex.text)
        for s, e, cat in ex.spans:
            total[cat] += 1
            found[cat] += _covered(ex.text, s, e, preds)
        for p in preds:
            hit = [cat for s, e, cat in ex.spans if p.start < e and s < p.end]
            pred_all[p.category] += 1
            pred_ok[p.category] += bool(hit)
            same_label[p.category] += p.category in hit
        if not ex.spans:
            for k in ex.kinds:
                neg_seen[k] += 1
            if preds:
                for k in ex.kinds:
                    neg_hits[k] += 1
    return {
        "found": found,
        "total": total,
        "pred_ok": pred_ok,
        "pred_all": pred_all,
        "same_label": same_label,
        "neg_hits": neg_hits,
        "neg_seen": neg_seen,
    }


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def print_quality(ours: dict, naive: dict) -> None:
    print("\n## Synthetic corpus: span-level recall and precision\n")
    print("| category | true spans | recall | precision | label agrees | naive recall |")
    print("|---|---:|---:|---:|---:|---:|")
    for cat in CATEGORIES:
        print(
            f"| {cat} | {ours['total'][cat]} | {_ratio(ours['found'][cat], ours['total'][cat])} "
            f"| {_ratio(ours['pred_ok'][cat], ours['pred_all'][cat])} ({ours['pred_all'][cat]}) "
            f"| {_ratio(ours['same_label'][cat], ours['pred_all'][cat])} "
            f"| {_ratio(naive['found'][cat], naive['total'][cat])} |"
        )
    for name, r in (("**overall (evalcov)**", ours), ("overall (naive baseline)", naive)):
        f, t = sum(r["found"].values()), sum(r["total"].values())
        ok, al = sum(r["pred_ok"].values()), sum(r["pred_all"].values())
        print(f"| {name} | {t} | {_ratio(f, t)} | {_ratio(ok, al)} ({al}) | | |")

    print("\n## Near-miss-only texts redacted (false alarms), by near-miss kind\n")
    print("| near-miss kind | texts | evalcov | naive |")
    print("|---|---:|---:|---:|")
    for k in sorted(ours["neg_seen"]):
        print(
            f"| {k.removeprefix('neg:')} | {ours['neg_seen'][k]} | {ours['neg_hits'][k]} "
            f"| {naive['neg_hits'][k]} |"
        )


def load_tweets() -> list[str] | None:
    if not TWITTER.is_dir():
        return None
    texts = []
    for split in ("dev", "test"):
        path = TWITTER / f"{split}.json"
        if not path.is_file():
            continue
        for conv in json.loads(path.read_text()):
            texts += [m["message"] for m in conv["dialogContent"]]
            texts.append(conv["agentURL"]["url_utterance"])
    return list(dict.fromkeys(texts))


def audit_tweets(tweets: list[str], n_audit: int) -> None:
    r = RegexRedactor()
    per_text = [(t, r.find(t)) for t in tweets]
    counts = Counter(sp.category for _, spans in per_text for sp in spans)
    n_texts = Counter(cat for _, spans in per_text for cat in {sp.category for sp in spans})
    print(f"\n## Real tweets (twitter_cdp dev+test, {len(tweets)} distinct texts)\n")
    print("| category | redactions | texts |")
    print("|---|---:|---:|")
    for cat in CATEGORIES:
        print(f"| {cat} | {counts[cat]} | {n_texts[cat]} |")

    rng = random.Random(0)
    all_spans = [(t, sp) for t, spans in per_text for sp in spans]
    sample = rng.sample(all_spans, min(n_audit, len(all_spans)))
    print(f"\n### Audit A: {len(sample)} redactions, shown in context (is each one PII?)\n")
    for i, (t, sp) in enumerate(sample, 1):
        ctx = t[max(0, sp.start - 40) : sp.start] + "⟦" + sp.value + "⟧" + t[sp.end : sp.end + 30]
        print(f"A{i:02d} {sp.category:9s} {ctx!r}")

    untouched = [t for t, spans in per_text if not spans and re.search(r"\d|@\S*[.\d]", t)]

    # Most tweets hold a digit only inside a URL or a handle; audit the rest, where a miss
    # could hide, by preferring texts with a digit run outside URLs and handles.
    def interesting(t: str) -> bool:
        stripped = re.sub(r"https?://\S+|www\.\S+|@\w+", " ", t)
        return bool(re.search(r"\d{3,}|\S@\S", stripped))

    pool = [t for t in untouched if interesting(t)]
    sample_b = rng.sample(pool, min(n_audit, len(pool)))
    print(
        f"\n### Audit B: {len(sample_b)} of {len(pool)} unredacted texts with a 3+ digit run or "
        f"an inner '@' outside URLs/handles ({len(untouched)} unredacted texts have a digit "
        "or '@' at all)\n"
    )
    for i, t in enumerate(sample_b, 1):
        stripped = re.sub(r"https?://\S+|www\.\S+", "<URL>", t)
        print(f"B{i:02d} {stripped[:220]!r}")


def bench_speed(sources: dict[str, list[str]]) -> None:
    """Time 100k distinct texts drawn from each source (a counter keeps them distinct)."""
    n = 100_000
    print(f"\n## Throughput on {n:,} distinct short texts (median of 3)\n")
    print("| texts | redactor | wall s | CPU s | texts/s (wall) | vs naive |")
    print("|---|---|---:|---:|---:|---:|")
    for source, pool in sources.items():
        rng = random.Random(1)
        texts = [f"{rng.choice(pool)} (msg {i})" for i in range(n)]
        # Logs repeat: with 5k distinct texts among the 100k, detection runs 5k times.
        repeated = [texts[i % 5000] for i in range(n)]
        runs = [
            ("evalcov", RegexRedactor(), texts),
            ("naive baseline", NaiveRedactor(), texts),
            ("evalcov, 5k distinct", RegexRedactor(), repeated),
        ]
        rows = []
        for name, red, batch in runs:
            walls, cpus = [], []
            for _ in range(3):
                t0, c0 = time.perf_counter(), time.process_time()
                red.redact(batch)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            rows.append((name, statistics.median(walls), statistics.median(cpus)))
        naive = rows[1][1]
        for name, wall, cpu in rows:
            print(
                f"| {source} | {name} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} "
                f"| {wall / naive:.1f}x |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit", type=int, default=40, help="texts per audit sample")
    args = parser.parse_args()

    corpus = generate()
    n_pos = sum(bool(ex.spans) for ex in corpus)
    print(f"# PII redaction benchmark\n\ncorpus: {len(corpus)} texts ({n_pos} with PII)")
    print_quality(score(RegexRedactor(), corpus), score(NaiveRedactor(), corpus))

    tweets = load_tweets()
    if tweets is None:
        print(f"\n(real tweets skipped: {TWITTER} not found)")
    else:
        audit_tweets(tweets, args.audit)

    sources = {"synthetic corpus": [ex.text for ex in corpus]}
    if tweets:
        sources["real tweets"] = tweets
    bench_speed(sources)
    print(f"\n(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
