"""The Dask path gives the in-memory path's answer, on a real 2-process LocalCluster.

Real CLINC150 queries; vectors from the real default model, handed to both paths through a
(picklable) Precomputed table so the comparison is about the pipeline, not float noise
between batchings of the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

import evalcov  # noqa: E402
from evalcov.distributed import (  # noqa: E402
    DaskCoverageReport,
    analyze_dask,
    assign_partitions,
)

INTENTS = ["translate", "weather", "book_flight", "pin_change", "alarm", "recipe", "timezone"]
OPTIONS = {"max_fit": 150, "min_cluster_size": 15, "cache": False}


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def data(clinc):
    by_intent: dict[str, list[str]] = {}
    for text, intent in clinc["train"]:
        by_intent.setdefault(intent, []).append(text)
    texts = [t for intent in INTENTS for t in by_intent[intent][:40]]
    rng = np.random.default_rng(1)
    rows = np.r_[np.arange(len(texts)), rng.choice(len(texts), 200)]
    rows = rng.permutation(rows)
    frame = pd.DataFrame(
        {
            "text": [texts[i] for i in rows],
            "ts": pd.Timestamp("2026-06-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.integers(0, 21 * 86400, len(rows))), unit="s"),
            "n": rng.integers(1, 4, len(rows)).astype(float),
        }
    )
    frame.loc[[5, 77], "text"] = ["   ", None]  # excluded rows travel through as well
    frame.index = frame.index + 1000  # a non-default index must come back as is
    evals = [t for intent in INTENTS[:5] for t in by_intent[intent][40:44]]
    vectors = evalcov.embed(texts + evals, "default", cache=False)
    table = evalcov.Precomputed(texts + evals, vectors)
    return frame, evals, table


@pytest.fixture(scope="module")
def reports(client, data):
    frame, evals, table = data
    options = {"text": "text", "time": "ts", "weight": "n", "embedder": table, **OPTIONS}
    memory = evalcov.analyze(frame, evals, **options)
    ddf = dd.from_pandas(frame, npartitions=3)
    dask_report = evalcov.analyze(ddf, evals, n_sample_rows=60, **options)
    return memory, dask_report, ddf


def test_analyze_dispatches_dask_frames(reports):
    memory, dask_report, _ = reports
    assert isinstance(dask_report, DaskCoverageReport)
    assert len(memory.unique_) > memory.map_.max_fit  # the fit really ran on a sample
    assert dask_report.coverage == pytest.approx(memory.coverage, abs=1e-12)


def test_same_cluster_and_coverage_per_query(reports):
    memory, dask_report, ddf = reports
    rows = assign_partitions(dask_report, ddf).compute().sort_values("_pos")
    q = memory.queries
    assert list(rows.index) == list(q.index)
    # Language detection weighs each text by the whole traffic's language mix, which the
    # partitions do not see: Dask rows carry every other column, in the same order.
    expected = [c for c in q.columns if c != "lang"]
    assert "lang" not in rows.columns
    assert list(rows.columns[: len(expected)]) == expected
    for column in ("cluster", "covered", "outlier", "excluded", "nearest_eval"):
        assert rows[column].tolist() == q[column].tolist(), column
    # Names come from c-TF-IDF keywords of the fit sample (all texts in memory): same
    # clusters, possibly other words.
    names = dask_report.clusters["label"].to_numpy(dtype=object)
    kept = rows["cluster"] >= 0
    assert (rows.loc[kept, "cluster_label"] == names[rows.loc[kept, "cluster"]]).all()
    np.testing.assert_allclose(rows["similarity"], q["similarity"], rtol=0, atol=1e-6)
    assert rows["cluster"].tolist().count(-1) == 2


def test_same_cluster_table(reports):
    memory, dask_report, _ = reports
    a, b = memory.clusters, dask_report.clusters
    assert list(b.columns) == list(a.columns)
    for column in ("cluster", "n_queries", "n_unique", "n_eval", "status", "examples"):
        assert a[column].tolist() == b[column].tolist(), column
    assert a["closest_eval"].tolist() == b["closest_eval"].tolist()
    np.testing.assert_allclose(b["closest_similarity"], a["closest_similarity"], atol=1e-6)
    for column in ("traffic_share", "coverage", "claimed_share", "coverage_low", "p_under"):
        np.testing.assert_allclose(b[column], a[column], rtol=1e-9, atol=1e-12, err_msg=column)
    assert dask_report.evals["cluster"].tolist() == memory.evals["cluster"].tolist()
    np.testing.assert_array_equal(dask_report.map_.fit_labels_, memory.map_.fit_labels_)
    assert dask_report.claim_k_ == memory.claim_k_


def test_summary_and_bounded_query_sample(reports):
    memory, dask_report, _ = reports
    s, m = dask_report.summary(), memory.summary()
    for key in ("n_rows", "n_analyzed", "n_excluded", "n_unique", "traffic_weight", "n_clusters"):
        assert s[key] == m[key], key
    sample = dask_report.queries
    assert 0 < len(sample) <= 60
    assert sample.index.isin(memory.queries.index).all()
    expected = memory.queries.loc[sample.index]
    assert sample["cluster"].tolist() == expected["cluster"].tolist()
    assert sample["covered"].tolist() == expected["covered"].tolist()


def test_windows_add_up_to_the_in_memory_rows(reports):
    memory, dask_report, _ = reports
    q = memory.queries[~memory.queries["excluded"]]
    week = q["time"].dt.tz_convert(None).dt.to_period("W").dt.start_time.dt.tz_localize("UTC")
    expected = (
        q.assign(window=week, cov=q["weight"] * q["covered"])
        .groupby(["window", "cluster"])
        .agg(rows=("weight", "size"), traffic=("weight", "sum"), covered=("cov", "sum"))
        .reset_index()
    )
    w = dask_report.windows
    assert len(w) == len(expected)
    assert w["window"].tolist() == expected["window"].tolist()
    assert w["rows"].tolist() == expected["rows"].tolist()
    np.testing.assert_allclose(w["traffic"], expected["traffic"])
    np.testing.assert_allclose(w["covered_traffic"], expected["covered"])


def test_builtin_embedder_is_rebuilt_on_workers_by_name(client, clinc):
    texts = [t for t, intent in clinc["test"] if intent in INTENTS[:2]][:15]
    evals = [t for t, intent in clinc["val"] if intent == INTENTS[0]][:3]
    ddf = dd.from_pandas(pd.DataFrame({"text": texts}), npartitions=2)
    with pytest.warns(UserWarning, match="one cluster"):
        report = analyze_dask(ddf, evals, embedder="default", cache=False)
    rows = assign_partitions(report, ddf).compute().sort_values("_pos")
    sims = evalcov.embed(texts, "default", cache=False) @ evalcov.embed(evals, cache=False).T
    np.testing.assert_allclose(rows["similarity"], sims.max(axis=1), atol=1e-4)


def test_errors_name_the_problem(reports, data):
    memory, dask_report, ddf = reports
    frame, evals, table = data
    with pytest.raises(TypeError, match="dask.dataframe.DataFrame"):
        analyze_dask(frame, evals)
    with pytest.raises(TypeError, match="turns"):
        analyze_dask(ddf, evals, turns="all")
    with pytest.raises(NotImplementedError, match="assign_partitions"):
        dask_report.drift()
    with pytest.raises(NotImplementedError, match="stability needs every query row"):
        dask_report.stability()
    new = {"text": ["a query nobody sent"], "ts": [pd.Timestamp("2026-07-01")], "n": [1.0]}
    unknown = dd.from_pandas(pd.DataFrame(new), npartitions=1)
    with pytest.raises(ValueError, match="did not analyze"):
        assign_partitions(dask_report, unknown).compute()
