"""The Dask path against the in-memory path on the same traffic: the same numbers, and its cost.

Traffic is ``bench_scale``'s synthetic generator (40% distinct texts, 1,000 eval prompts) with
its ``hash`` stand-in embedder, pickled to the workers, so both paths see identical vectors
and the comparison is about the pipeline. Dask runs on a local cluster of worker processes
(one thread each) on this machine: it shows that the distributed path gives the in-memory
numbers at sizes beyond the unit tests, and what its overhead is where one machine would do.

Usage::

    python benchmarks/bench_dask.py [--sizes 100000 1000000] [--workers 2] [--partitions 8]

Writes ``benchmarks/results/dask.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _clinc import markdown_table  # noqa: E402
from bench_scale import HashEmbedder, _peak_mb, make_data  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "dask.md"


def run(n_rows: int, n_partitions: int) -> dict:
    """Both paths on one size; the Dask one first, so the client's peak is its own."""
    import dask.dataframe as dd

    import evalcov
    from evalcov.distributed import assign_partitions

    traffic, evals = make_data(n_rows)
    options = {
        "text": "text",
        "time": "time",
        "embedder": HashEmbedder(),
        "cache": False,
        "show_progress": False,
    }
    ddf = dd.from_pandas(traffic, npartitions=n_partitions)
    clock = time.perf_counter()
    dask_report = evalcov.analyze(ddf, evals, **options)
    dask_s = time.perf_counter() - clock
    clock = time.perf_counter()
    rows = assign_partitions(dask_report, ddf).compute().sort_values("_pos")
    rows_s = time.perf_counter() - clock
    client_mb = _peak_mb()

    clock = time.perf_counter()
    memory = evalcov.analyze(traffic, evals, **options)
    memory_s = time.perf_counter() - clock
    q = memory.queries
    a, b = memory.clusters, dask_report.clusters
    same = {
        column: float(np.mean(rows[column].to_numpy() == q[column].to_numpy()))
        for column in ("cluster", "covered", "nearest_eval")
    }
    return {
        "rows": n_rows,
        "distinct": int(len(memory.unique_)),
        "partitions": n_partitions,
        "in-memory s": round(memory_s, 1),
        "dask analyze s": round(dask_s, 1),
        "dask per-row s": round(rows_s, 1),
        "client peak MB": round(client_mb),
        "coverage in-memory": round(memory.coverage, 6),
        "coverage dask": round(dask_report.coverage, 6),
        "clusters, same status": float(np.mean(a["status"].to_numpy() == b["status"].to_numpy())),
        "rows, same cluster": same["cluster"],
        "rows, same covered": same["covered"],
        "rows, same nearest eval": same["nearest_eval"],
        "max similarity difference": float(
            np.nanmax(np.abs(rows["similarity"].to_numpy() - q["similarity"].to_numpy()))
        ),
        "rows compared": int(len(pd.Index(rows.index).intersection(q.index))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    warnings.filterwarnings("ignore", category=UserWarning, module="distributed")
    # Each dedupe shuffle logs its start and end as warnings: noise in a benchmark's output.
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    rows = []
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        for n in args.sizes:
            rows.append(run(n, args.partitions))
            print(json.dumps(rows[-1]), flush=True)
    text = "\n".join(
        [
            "# Dask path against the in-memory path (bench_dask.py)\n",
            f"Local cluster: {args.workers} worker processes x 1 thread on this 2-core machine; "
            "the client is this process. Synthetic traffic and `hash` embedder of "
            "`bench_scale.py`, the same vectors for both paths. 'dask analyze' is "
            "`evalcov.analyze` on a Dask DataFrame (aggregates, cluster table, coverage); "
            "'dask per-row' is `assign_partitions(...).compute()`, every row's verdict. "
            "Agreement columns are shares of rows (or clusters) with equal values.\n",
            markdown_table(pd.DataFrame(rows)),
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
