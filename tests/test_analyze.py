"""The coverage engine end to end on real CLINC150 queries with the real default model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalcov

COVERED = [
    "translate",
    "weather",
    "book_flight",
    "pin_change",
    "alarm",
    "recipe",
    "timezone",
    "play_music",
]
HELD_OUT = ["tire_pressure", "roll_dice"]
QUERY_COLUMNS = [
    "text",
    "excluded",
    "reason",
    "truncated",
    "id",
    "weight",
    "cluster",
    "cluster_label",
    "similarity",
    "nearest_eval",
    "covered",
    "outlier",
]
CLUSTER_COLUMNS = [
    "cluster",
    "label",
    "n_queries",
    "traffic_share",
    "n_eval",
    "coverage",
    "status",
    "examples",
    "coverage_low",
    "coverage_high",
    "p_under",
]


def _by_intent(clinc: dict, split: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text, intent in clinc[split]:
        out.setdefault(intent, []).append(text)
    return out


@pytest.fixture(scope="module")
def scenario(clinc):
    """40 test queries of each of 10 intents as traffic; 5 train prompts of 8 of them as evals."""
    train, test = _by_intent(clinc, "train"), _by_intent(clinc, "test")
    rows = [(t, i) for i in COVERED + HELD_OUT for t in test[i][:30] + train[i][60:70]]
    traffic = pd.DataFrame(rows, columns=["text", "intent"])
    # Index labels that are not 0..n-1 and two unusable rows: both must come back as they were.
    traffic.index = pd.Index([f"r{i}" for i in range(len(traffic))])
    traffic.loc["blank"] = ["   ", "none"]
    traffic.loc["missing"] = [None, "none"]
    evals = [t for i in COVERED for t in train[i][:5]]
    return traffic, evals


@pytest.fixture(scope="module")
def report(scenario):
    traffic, evals = scenario
    return evalcov.analyze(traffic, evals, text="text", random_state=0)


def test_every_input_row_is_accounted_for_in_input_order(report, scenario):
    traffic, _ = scenario
    q = report.queries
    assert list(q.index) == list(traffic.index)
    assert all(c in q.columns for c in QUERY_COLUMNS)
    assert q.loc["blank", "excluded"] and q.loc["blank", "reason"] == "empty text"
    assert q.loc["missing", "excluded"] and q.loc["missing", "reason"] == "missing text"
    assert (q.loc[["blank", "missing"], "cluster"] == -1).all()
    analyzed = q[~q["excluded"]]
    assert len(analyzed) == len(traffic) - 2
    assert (analyzed["cluster"] >= 0).all(), "every analyzed query lands in a reported cluster"
    assert analyzed["similarity"].between(-1, 1.0001).all()
    assert set(analyzed["nearest_eval"]) <= set(report.evals["text"])
    s = report.summary()
    assert s["n_rows"] == len(traffic) and s["n_excluded"] == 2
    assert s["excluded_reasons"] == {"empty text": 1, "missing text": 1}


def test_cluster_table_is_consistent_with_the_queries(report):
    c = report.clusters
    assert all(col in c.columns for col in CLUSTER_COLUMNS)
    assert c["traffic_share"].sum() == pytest.approx(1.0)
    assert set(c["status"]) <= {"covered", "thin", "uncovered"}
    q = report.queries[~report.queries["excluded"]]
    assert c["n_queries"].sum() == len(q)
    assert c["n_eval"].sum() == len(report.evals)
    per_cluster = q.groupby("cluster")["covered"].mean()
    np.testing.assert_allclose(
        c.set_index("cluster").loc[per_cluster.index, "coverage"], per_cluster
    )
    assert report.coverage == pytest.approx(q["covered"].mean())
    assert (c["coverage_low"] <= c["claimed_share"] + 1e-9).all()
    assert (c["claimed_share"] <= c["coverage_high"] + 1e-9).all()
    assert c["traffic_share"].is_monotonic_decreasing, "cluster 0 carries the most traffic"


def test_name_columns_are_categoricals_that_read_as_the_names(report):
    """cluster_label, topic_label and nearest_eval repeat a few hundred names over every row:
    held as categoricals (codes, not one string per row), they read back as the names of each
    row's cluster, topic and nearest prompt, and are missing on excluded rows."""
    q = report.queries
    kept = ~q["excluded"].to_numpy()
    names = report.clusters.set_index("cluster")["label"]
    topics = report.topics.set_index("topic")["label"]
    evals = np.asarray(report.eval_dedup_.texts, dtype=object)
    nearest = report.unique_["nearest_eval"].to_numpy()[report.traffic_dedup_.codes[kept]]
    for column in ("cluster_label", "topic_label", "nearest_eval"):
        assert isinstance(q[column].dtype, pd.CategoricalDtype), column
        assert q[column][~kept].isna().all(), column
    assert (q["cluster_label"][kept].to_numpy() == names[q["cluster"][kept]].to_numpy()).all()
    assert (q["topic_label"][kept].to_numpy() == topics[q["topic"][kept]].to_numpy()).all()
    assert (q["nearest_eval"][kept].to_numpy() == evals[nearest]).all()
    # Read as strings, as before: equality filters and string methods.
    label = names.iloc[0]
    assert (q["cluster_label"] == label).sum() == (q["cluster"] == 0).sum()
    assert q["cluster_label"].str.len()[kept].gt(0).all()


def test_held_out_intents_are_flagged_and_covered_ones_are_not(report, scenario):
    traffic, _ = scenario
    q = report.queries.join(traffic["intent"])
    q = q[~q["excluded"]]
    uncovered_rate = 1 - q.groupby("intent")["covered"].mean()
    for intent in HELD_OUT:
        assert uncovered_rate[intent] >= 0.8, (intent, uncovered_rate[intent])
    # Twenty clusters for ten intents: an intent split in three can leave a fragment without
    # a prompt (here timezone), which the rule reports as a gap.
    assert uncovered_rate[COVERED].mean() <= 0.15
    true_coverage = q["intent"].isin(COVERED).mean()
    # The same fragments make the estimate low (exact with one cluster per intent,
    # n_clusters=10). Presence is a yes/no per cluster, so a prompt-less fragment no longer
    # earns the partial credit of its claims: 0.6875 against 0.80 at seed 0 here (0.715-0.775
    # under the rule of evalcov 0.2). On all of CLINC150 the same change moves the error from
    # 0.010 to 0.001 (benchmarks/results/coverage_production.md).
    assert abs(report.coverage - true_coverage) <= 0.125
    gaps = report.gaps()
    assert len(gaps) >= 1 and gaps["uncovered_share"].is_monotonic_decreasing
    top_gap_intents = q[q["cluster"].isin(gaps["cluster"])]["intent"].value_counts()
    assert set(top_gap_intents.index[:2]) == set(HELD_OUT)
    uncovered = report.clusters[report.clusters["status"] == "uncovered"]
    biggest = uncovered.sort_values("traffic_share").iloc[-1]
    # No prompt where a traffic-proportional eval set would put 2.4: Poisson P(0) = e^-2.4.
    assert biggest["n_eval"] == 0 and biggest["expected_eval"] >= 2
    assert biggest["p_under"] == pytest.approx(np.exp(-biggest["expected_eval"]))
    assert biggest["p_under"] < 0.1
    assert uncovered["p_under"].between(0, 1).all()


def test_labels_name_the_topic(report, scenario):
    traffic, _ = scenario
    q = report.queries.join(traffic["intent"])
    tire = q[q["intent"] == "tire_pressure"]["cluster"].mode()[0]
    label = report.clusters.loc[tire, "label"]
    assert "tire" in label or "pressure" in label, label


def test_map_granularity_follows_the_eval_set(report, scenario):
    traffic, evals = scenario
    # Two prompts expected per cluster: 40 distinct prompts, 20 clusters.
    assert len(set(evals)) == 40 and len(report.clusters) == 20
    coarse = evalcov.analyze(traffic, evals, text="text", n_clusters=10)
    assert len(coarse.clusters) == 10
    assert coarse.analyzer_.n_clusters_for(40) == 10


def test_same_seed_gives_identical_tables(report, scenario):
    traffic, evals = scenario
    again = evalcov.analyze(traffic, evals, text="text", random_state=0)
    pd.testing.assert_frame_equal(report.queries, again.queries)
    pd.testing.assert_frame_equal(report.clusters, again.clusters)
    assert report.coverage == again.coverage


def test_eval_set_identical_to_traffic_covers_everything(scenario):
    traffic, _ = scenario
    texts = traffic["text"].dropna().tolist()
    report = evalcov.analyze(traffic, texts, text="text")
    assert report.coverage >= 0.99
    assert report.gaps().empty


def test_with_evals_closes_the_gap_on_the_same_map(report, clinc):
    train = _by_intent(clinc, "train")
    more = [t for i in HELD_OUT for t in train[i][:5]]
    after = report.with_evals(more)
    assert after.coverage > report.coverage + 0.1
    # Adding prompts only adds claims and prompts: no cluster may lose coverage.
    assert (after.clusters["coverage"] >= report.clusters["coverage"] - 1e-12).all()
    assert after.eval_base_ == report.eval_base_ == len(report.evals)
    assert after.claim_k_ == report.claim_k_
    pd.testing.assert_frame_equal(after.queries[["cluster"]], report.queries[["cluster"]])
    assert len(after.evals) == len(report.evals) + len(more)


def test_with_evals_keeps_the_names_and_does_not_ask_the_labeler_again(scenario, clinc):
    # Names describe the traffic and its clusters, which adding prompts does not change: a
    # labeler (often a paid model) is asked once per cluster, at fit, never by with_evals.
    traffic, evals = scenario
    calls = []

    def labeler(keywords, examples):
        calls.append(keywords)
        return f"topic {len(calls)}: {' / '.join(keywords[:2])}"

    report = evalcov.analyze(traffic, evals, text="text", random_state=0, labeler=labeler)
    asked = len(calls)
    assert asked == len(report.clusters)
    train = _by_intent(clinc, "train")
    after = report.with_evals([t for i in HELD_OUT for t in train[i][:5]])
    assert len(calls) == asked
    assert after.coverage > report.coverage + 0.1
    named = ["cluster", "label", "keywords", "examples"]
    pd.testing.assert_frame_equal(after.clusters[named], report.clusters[named])
    assert after.clusters["label"].str.startswith("topic ").all()


def test_overcovered_finds_the_clusters_with_piled_up_prompts(scenario, clinc):
    traffic, evals = scenario
    translate = _by_intent(clinc, "train")["translate"][:40]
    report = evalcov.analyze(traffic, evals + translate, text="text")
    over = report.overcovered()
    assert len(over) >= 1 and (over["ratio"] >= 3).all()
    # The piled-up prompts sit in clusters listed as over-covered, and those are translation.
    landed = report.evals.set_index("text").loc[translate, "cluster"]
    assert landed.isin(over["cluster"]).mean() >= 0.9
    for examples in over.loc[over["cluster"].isin(landed), "examples"]:
        assert any("translat" in e.lower() or " say " in f" {e.lower()} " for e in examples)


def test_tiny_traffic_is_one_cluster_with_a_warning():
    with pytest.warns(UserWarning, match="one cluster"):
        report = evalcov.analyze(
            ["how do i reset my password", "reset password please", "card was declined"],
            ["How can I reset my password?"],
        )
    assert (report.queries["cluster"] == 0).all()
    assert len(report.clusters) == 1


def test_all_identical_queries_and_a_single_eval_prompt():
    with pytest.warns(UserWarning):
        report = evalcov.analyze(["where is my parcel"] * 50, ["Where is my package?"])
    assert len(report.clusters) == 1
    assert report.clusters.loc[0, "n_queries"] == 50
    assert report.coverage == pytest.approx(1.0)


def test_bad_inputs_name_the_problem(scenario):
    traffic, evals = scenario
    with pytest.raises(ValueError, match="eval set is empty"):
        evalcov.analyze(traffic, [], text="text")
    with pytest.raises(ValueError, match="query_text"):
        evalcov.analyze(traffic, evals, text="query_text")
    with pytest.raises(ValueError, match="covered_share"):
        evalcov.analyze(traffic, evals, text="text", covered_share=2.0)
    with pytest.raises(TypeError, match="unknown option"):
        evalcov.analyze(traffic, evals, text="text", n_topics=5)
    with pytest.raises(ValueError, match="n_clusters"):
        evalcov.analyze(traffic, evals, text="text", n_clusters=0)
    for floor in (0, 1.5, True, "0.75"):
        with pytest.raises(ValueError, match=r"reach_floor must be a quantile in \(0, 1\]"):
            evalcov.analyze(traffic, evals, text="text", reach_floor=floor)
