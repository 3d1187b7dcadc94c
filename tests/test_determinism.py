"""Same inputs and seed, same tables: across processes, BLAS/OpenMP thread counts (1 and 2),
and a cold or warm embedding cache. (In-memory vs Dask: tests/test_dask.py compares the
per-query and per-cluster tables of both paths.)

Three processes cover these claims: two cold runs, one and two threads, each embedding into
its own cache (1 vs 2 threads, embedding included), then a warm one-thread run on the
two-thread run's cache (warm vs cold, another process and thread count, same embeddings).
The two cold runs are independent, so they run side by side."""

from __future__ import annotations

import pickle
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_python

REPO = Path(__file__).resolve().parents[1]

RUN = textwrap.dedent(
    """
    import pickle, sys
    import pandas as pd, torch
    import evalcov
    traffic = pd.read_csv(sys.argv[2] + "/traffic.csv.gz").iloc[::100]
    report = evalcov.analyze(traffic, sys.argv[2] + "/evals.csv", text="text",
                             time="timestamp", eval_text="prompt", random_state=0,
                             show_progress=False)
    tables = {"queries": report.queries, "clusters": report.clusters,
              "gaps": report.gaps(None), "summary": report.summary(),
              "threads": torch.get_num_threads()}
    with open(sys.argv[1], "wb") as f:
        pickle.dump(tables, f)
    """
)


def _run(out: Path, cache: Path, threads: int) -> dict:
    result = run_python(
        RUN, out, REPO / "sample_data", threads=threads, EVALCOV_CACHE_DIR=str(cache)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out, "rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("determinism")
    with ThreadPoolExecutor(2) as pool:
        one = pool.submit(_run, tmp / "a.pkl", tmp / "cache_a", 1)
        two = pool.submit(_run, tmp / "b.pkl", tmp / "cache_b", 2)
        cold = {"cold, 1 thread": one.result(), "cold, 2 threads": two.result()}
    shards = sorted((tmp / "cache_b").rglob("*.evc"))
    warm = _run(tmp / "c.pkl", tmp / "cache_b", 1)
    # Warm indeed: it read the two-thread run's embeddings and wrote none of its own.
    assert shards and sorted((tmp / "cache_b").rglob("*.evc")) == shards
    return {**cold, "warm, 1 thread": warm}


def test_thread_counts_took_effect(runs):
    assert {k: v["threads"] for k, v in runs.items()} == {
        "cold, 1 thread": 1,
        "cold, 2 threads": 2,
        "warm, 1 thread": 1,
    }


def _same(left: pd.DataFrame, right: pd.DataFrame, what: str, atol: float = 0.0) -> None:
    try:
        if atol:
            pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=0, atol=atol)
            floats = left.select_dtypes("floating").columns
            pd.testing.assert_frame_equal(
                left.drop(columns=floats), right.drop(columns=floats), check_exact=True
            )
        else:
            pd.testing.assert_frame_equal(left, right, check_exact=True)
    except AssertionError as err:
        raise AssertionError(f"{what}: {err}") from None


@pytest.mark.parametrize("table", ["queries", "clusters", "gaps"])
def test_identical_tables_across_processes_and_warm_or_cold_cache(runs, table):
    # Same embeddings (one cache), other process, other thread count, cold vs warm: identical.
    _same(runs["warm, 1 thread"][table], runs["cold, 2 threads"][table], f"{table}, cache b")


@pytest.mark.parametrize("table", ["queries", "clusters", "gaps"])
def test_same_tables_with_one_or_two_threads(runs, table):
    """Embedding with 2 threads sums in another order inside the model: a cosine may move by
    one float32 step (~1e-7). Clusters, coverage flags, statuses, ids and ranks are identical;
    floats agree to 1e-6."""
    one, two = runs["cold, 1 thread"][table], runs["cold, 2 threads"][table]
    _same(two, one, f"{table}, 1 vs 2 threads", atol=1e-6)


def test_same_summary_in_every_run(runs):
    first = runs["cold, 1 thread"]["summary"]
    for run in runs.values():
        assert run["summary"].keys() == first.keys()
        for key, value in run["summary"].items():
            if isinstance(value, float):
                assert value == pytest.approx(first[key], abs=1e-6), key
            else:
                assert value == first[key], key
