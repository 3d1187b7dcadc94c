"""Embedding throughput, int8 accuracy and cache speed-up on real CLINC150 queries.

Run: ``python benchmarks/bench_embed.py``. Prints a markdown table:

- queries/s (median of 3 runs, no cache) of the default, fast and multilingual embedders on
  ~2000 CLINC150 test queries, and each one's ratio to the default;
- cosine between fast (int8 ONNX) and default (fp32) vectors, min and median;
- time to embed 10k CLINC150 queries with the default embedder into an empty cache (cold)
  and again from the filled cache (warm).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evalcov.cache import EmbeddingCache  # noqa: E402
from evalcov.embedders import embed, get_embedder  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "clinc150" / "data_full.json"
N_THROUGHPUT = 2000
N_CACHE = 10_000
RUNS = 3


def load_queries() -> list[str]:
    data = json.loads(DATA.read_text())
    queries = [text for split in ("test", "val", "train") for text, _ in data[split]]
    return list(dict.fromkeys(queries))


def throughput(texts: list[str], embedder) -> tuple[float, np.ndarray]:
    """Median queries/s over RUNS uncached runs, and the vectors of the last run."""
    embed(texts[:64], embedder, cache=False)  # warm-up: lazy loads, allocator, thread pools
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        vectors = embed(texts, embedder, cache=False, show_progress=False)
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates), vectors


def main() -> None:
    if not DATA.is_file():
        print(f"skipped: {DATA} is not present")
        return
    queries = load_queries()
    sample = queries[:N_THROUGHPUT]
    rows = []
    default = get_embedder("default")
    rate_default, exact = throughput(sample, default)
    rows.append(("default (MiniLM fp32, torch)", rate_default, "1.00"))

    cosine = None
    with tempfile.TemporaryDirectory() as models:
        try:
            fast = get_embedder("fast", cache_dir=models)
        except ImportError as exc:
            print(f"fast skipped: {exc}")
        else:
            rate_fast, quick = throughput(sample, fast)
            rows.append(
                ("fast (MiniLM int8, onnxruntime)", rate_fast, f"{rate_fast / rate_default:.2f}")
            )
            cosine = np.sum(quick * exact, axis=1)
    try:
        multilingual = get_embedder("multilingual")
    except ImportError as exc:
        print(f"multilingual skipped: {exc}")
    else:
        rate_multi, _ = throughput(sample, multilingual)
        rows.append(
            ("multilingual (USE v3, numpy)", rate_multi, f"{rate_multi / rate_default:.2f}")
        )

    print(f"\n### Throughput, {len(sample)} CLINC150 queries, median of {RUNS} runs\n")
    print("| embedder | queries/s | vs default |")
    print("|---|---:|---:|")
    for label, rate, ratio in rows:
        print(f"| {label} | {rate:.0f} | {ratio} |")

    if cosine is not None:
        print("\n### fast vs default: cosine per query\n")
        print("| min | 1st percentile | median |")
        print("|---:|---:|---:|")
        print(f"| {cosine.min():.4f} | {np.percentile(cosine, 1):.4f} | {np.median(cosine):.4f} |")

    log = queries[:N_CACHE]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cold = embed(log, default, cache=EmbeddingCache(folder), show_progress=False)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = embed(log, default, cache=EmbeddingCache(folder), show_progress=False)
        warm_s = time.perf_counter() - start
    assert np.array_equal(cold, warm)
    print(f"\n### Cache, default embedder, {len(log)} distinct queries\n")
    print(
        "| cold (empty cache) s | warm (fresh EmbeddingCache, index read from disk) s | speed-up |"
    )
    print("|---:|---:|---:|")
    print(f"| {cold_s:.1f} | {warm_s:.2f} | {cold_s / warm_s:.0f}x |")


if __name__ == "__main__":
    main()
