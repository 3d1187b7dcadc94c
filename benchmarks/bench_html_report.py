"""Size and build time of the standalone HTML report on 100k queries.

    python benchmarks/bench_html_report.py [--rows 100000] [--max-points 20000]

Traffic: ``--rows`` rows drawn (seeded) from ``sample_data/traffic.csv.gz``, most with an order
number appended so about two thirds are distinct texts, with their real timestamps (so the
drift section is drawn). Embedder: character n-gram hashing (384-d), cheap enough for 100k
texts on a laptop; the report's size does not depend on the model. Prints what each part of
the page weighs, next to plotly's own ``write_html`` of the same map (the baseline).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import evalcov
from evalcov.html_report import summarize, to_html

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
LIMIT_MB = 10.0


class HashingEmbedder:
    """Character 3-4-gram hashing into 384 dimensions, unit-normalized."""

    name = "bench-hashing-char34-384"

    def embed(self, texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        X = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 4), n_features=384, norm="l2"
        ).transform(texts)
        return np.asarray(X.toarray(), dtype=np.float32)


def synthetic_traffic(rows: int, seed: int = 0) -> pd.DataFrame:
    base = pd.read_csv(SAMPLE / "traffic.csv.gz", usecols=["timestamp", "text"])
    rng = np.random.default_rng(seed)
    out = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    tagged = rng.random(rows) < 0.7
    numbers = rng.integers(10_000, 99_999, rows)
    out.loc[tagged, "text"] = [
        f"{t} (order {n})" for t, n in zip(out.loc[tagged, "text"], numbers[tagged], strict=True)
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--max-points", type=int, default=20_000)
    args = parser.parse_args()

    traffic = synthetic_traffic(args.rows)
    t0 = time.perf_counter()
    report = evalcov.analyze(
        traffic,
        SAMPLE / "evals.csv",
        text="text",
        time="timestamp",
        eval_text="prompt",
        embedder=HashingEmbedder(),
        cache=False,
        show_progress=False,
    )
    t_analyze = time.perf_counter() - t0
    print(report)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        t0 = time.perf_counter()
        page = to_html(report, path, max_points=args.max_points)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        to_html(report, path, max_points=args.max_points)
        t_again = time.perf_counter() - t0
        size = path.stat().st_size
        baseline = Path(tmp) / "plotly_map.html"
        report.plot_map(max_points=args.max_points).write_html(baseline, include_plotlyjs=True)
        baseline_size = baseline.stat().st_size

    summary = summarize(report, plots=True, max_points=args.max_points)
    figures = {
        name: len(fig.to_html(full_html=False, include_plotlyjs=False).encode())
        for name, fig in summary["figures"].items()
    }
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.S)
    plotlyjs = max(len(s.encode()) for s in scripts)

    mb = 1e6
    print()
    print(f"| {args.rows:,} rows, {len(report.unique_):,} distinct | value |")
    print("|---|---:|")
    print(f"| analyze (hashing embedder) | {t_analyze:.1f} s |")
    print(f"| to_html, first (2-D layout UMAP + placement) | {t_first:.1f} s |")
    print(f"| to_html, again (layout cached) | {t_again:.1f} s |")
    print(f"| **report size** (limit {LIMIT_MB:.0f} MB) | **{size / mb:.2f} MB** |")
    print(f"| of which plotly.js (inlined once) | {plotlyjs / mb:.2f} MB |")
    for name, n in figures.items():
        print(f"| of which figure '{name}' | {n / mb:.2f} MB |")
    print(f"| baseline: plotly write_html of the map alone | {baseline_size / mb:.2f} MB |")
    print(f"| report / baseline | {size / baseline_size:.2f} |")
    if size / mb > LIMIT_MB:
        raise SystemExit(f"report is {size / mb:.1f} MB, over the {LIMIT_MB:.0f} MB limit")


if __name__ == "__main__":
    main()
