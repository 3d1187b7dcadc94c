"""Outcomes joined to coverage: failure definition, per-cluster statistics, risk gaps, wiring.

The statistics are checked by hand on small frames; the wiring end to end on real CLINC150
queries with the real default model.
"""

from __future__ import annotations

import html as htmllib
import json

import numpy as np
import pandas as pd
import pytest
from conftest import cli_main
from scipy import stats

import evalcov
from evalcov.outcomes import (
    coerce_outcome,
    failed_rows,
    feedback_midpoint,
    group_outcomes,
    outcome_summary,
)

# ------------------------------------------------------------------ failure definition


def _rows(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=[f"r{i}" for i in range(n)])


def test_default_failure_is_error_or_low_feedback_and_unknown_stays_unknown():
    q = _rows(
        error=[True, False, None, None, False, "failed"],
        feedback=[1.0, 0.0, 1.0, None, None, None],
    )
    failed = failed_rows(q)
    assert failed.dtype == "boolean" and list(failed.index) == list(q.index)
    # error, thumbs-down, thumbs-up, nothing known, no error, error flag as a word
    assert failed.tolist() == [True, True, False, pd.NA, False, True]


@pytest.mark.parametrize(
    ("values", "midpoint"),
    [([0, 1, 1], 0.5), ([-1, 1], 0.0), ([1, 2, 5], 3.0), ([3, 4, 5], 3.0), ([0, 7, 10], 5.0)],
)
def test_feedback_scale_is_read_off_the_values(values, midpoint):
    assert feedback_midpoint(np.array(values, dtype=float)) == midpoint


def test_star_ratings_below_the_middle_fail_and_the_scale_can_be_given():
    q = _rows(feedback=["5", "4", "2", "1", ""])
    assert failed_rows(q).tolist() == [False, False, True, True, pd.NA]
    assert failed_rows(q, feedback_scale=(0, 10)).tolist() == [False, True, True, True, pd.NA]
    thumbs = _rows(feedback=["up", "down", "thumbs_up", True])
    assert failed_rows(thumbs).tolist() == [False, True, False, False]


def test_failure_as_column_series_and_callable():
    q = _rows(text=["a", "b", "c"], bad=["yes", "no", ""], latency_s=[1.0, 9.0, 2.0])
    assert failed_rows(q, "bad").tolist() == [True, False, pd.NA]
    s = pd.Series([False, True, True], index=q.index)
    assert failed_rows(q, s).tolist() == [False, True, True]
    assert failed_rows(q, lambda rows: rows["latency_s"] > 5).tolist() == [False, True, False]
    assert failed_rows(q) is None, "no error or feedback column: no failure data"


def test_bad_failure_inputs_name_the_problem():
    q = _rows(bad=["yes", "maybe"])
    with pytest.raises(ValueError, match=r"failure column 'bad' must hold .*rows r1 \('maybe'\)"):
        failed_rows(q, "bad")
    with pytest.raises(ValueError, match="not a column"):
        failed_rows(q, "nope")
    with pytest.raises(ValueError, match="index"):
        failed_rows(q, pd.Series([True, False]))
    with pytest.raises(ValueError, match="returned 1 values for 2 rows"):
        failed_rows(q, lambda rows: [True])
    with pytest.raises(TypeError, match="failure must be"):
        failed_rows(q, 3)
    with pytest.raises(ValueError, match=r"column 'cost' must hold finite numbers; .*x.csv:1"):
        coerce_outcome("cost", ["0.1", "cheap"], ["x.csv:0", "x.csv:1"])


def test_one_rule_reads_outcomes_on_reading_and_on_failure():
    """read_traffic and failed_rows share one conversion: same values, same error."""
    from evalcov.sources import coerce_outcome as reader_coerce

    assert reader_coerce is coerce_outcome
    flags = ["yes", "OK", 0, 1.0, "", None, "Failed", "success"]
    assert coerce_outcome("error", flags, range(8)).tolist() == [
        *(True, False, False, True, pd.NA, pd.NA, True, False)
    ]
    # An error message or a status code is not a flag: named with its row, never guessed.
    with pytest.raises(ValueError, match=r"column 'error' must hold booleans.*r1 \('timeout'\)"):
        failed_rows(_rows(error=[False, "timeout"]))
    with pytest.raises(ValueError, match=r"column 'status' \(outcome 'error'\).*1 \(500\)"):
        evalcov.read_traffic(
            pd.DataFrame({"q": ["a", "b"], "status": [0, 500]}),
            text="q",
            outcomes={"error": "status"},
        )
    with pytest.raises(ValueError, match=r"column 'latency_s' must hold finite numbers.*0 \(inf\)"):
        evalcov.read_traffic(pd.DataFrame({"q": ["a"], "latency_s": [np.inf]}), text="q")
    thumbs = coerce_outcome("feedback", ["up", "👎", "", 4, "thumbs_down"], range(5))
    np.testing.assert_array_equal(thumbs.to_numpy(), [1.0, 0.0, np.nan, 4.0, 0.0])


# --------------------------------------------------------------- per-group statistics


@pytest.fixture
def table() -> pd.DataFrame:
    """Two clusters: 0 covered, 1 half uncovered; weights, unknown outcomes, cost."""
    return pd.DataFrame(
        {
            "excluded": [False] * 7 + [True],
            "cluster": [0, 0, 0, 1, 1, 1, 1, -1],
            "weight": [1.0, 1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0],
            "covered": [True, True, True, True, False, False, True, False],
            "failed": pd.array([False, True, False, True, True, None, False, True], "boolean"),
            "cost": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, np.nan, 5.0],
            "latency_s": [1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0, 9.0],
        }
    )


def test_excess_failures_expect_the_rate_of_a_topics_failing_tested_traffic():
    # Topic 0 fails where it is tested (16 of 20) and in its gap (4 of 5): the eval set sees
    # that failure. Topic 1 is healthy where tested (0 of 40); its gap fails 4 of 5: hidden.
    cluster = [0] * 20 + [1] * 5 + [2] * 40 + [3] * 5
    failed = [True] * 16 + [False] * 4 + [True] * 4 + [False] + [False] * 40 + [True] * 4 + [False]
    rows = pd.DataFrame(
        {
            "cluster": cluster,
            "topic": [0] * 25 + [1] * 45,
            "weight": 1.0,
            "covered": [c in (0, 2) for c in cluster],
            "failed": pd.array(failed, "boolean"),
        }
    )
    overall = 24 / 70
    # 95% Wilson lower bound of 16 / 20, by hand.
    z, n, p = 1.959963984540054, 20, 0.8
    low = (p + z**2 / (2 * n) - z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))) / (1 + z**2 / n)
    assert low > overall
    o = group_outcomes(rows).set_index("cluster")
    assert o.loc[1, "excess_failures"] == pytest.approx((4 - 5 * low) / 24)
    assert o.loc[3, "excess_failures"] == pytest.approx((4 - 5 * overall) / 24)
    assert o.loc[1, "untested_failures"] == o.loc[3, "untested_failures"] == pytest.approx(4 / 24)
    by_topic = group_outcomes(rows, group="topic").set_index("topic")
    assert by_topic.loc[0, "excess_failures"] == pytest.approx(o.loc[1, "excess_failures"])
    # Without topics, both gaps are held against the overall rate.
    flat = group_outcomes(rows.drop(columns="topic")).set_index("cluster")
    assert flat.loc[1, "excess_failures"] == pytest.approx(flat.loc[3, "excess_failures"])


def test_group_outcomes_by_hand(table):
    o = group_outcomes(table).set_index("cluster")
    assert list(o.index) == [0, 1], "excluded rows are left out"
    # Cluster 0: weights 1, 1, 2; failed weight 1 -> 1/4; Kish n_eff = 16 / 6.
    assert o.loc[0, "failure_rate"] == pytest.approx(0.25)
    assert o.loc[0, "n_eff"] == pytest.approx(16 / 6)
    # Cluster 1: the unknown row is out; weights 1, 3, 1, failed 1 + 3 -> 4/5.
    assert o.loc[1, "n_outcome"] == 3
    assert o.loc[1, "failure_rate"] == pytest.approx(0.8)
    # Failures: 1 + 4 = 5; untested ones: the weight-3 row of cluster 1.
    assert o.loc[1, "untested_failures"] == pytest.approx(3 / 5)
    assert o.loc[0, "untested_failures"] == 0
    assert o.loc[1, "lift"] == pytest.approx(0.8 / (5 / 9))
    # Excess: 3 failed of the 3 uncovered outcome weight, against 5/9 expected.
    assert o.loc[1, "excess_failures"] == pytest.approx((3 - 5 / 9 * 3) / 5)
    assert o.loc[0, "excess_failures"] == 0
    assert o.loc[0, "latency_s"] == pytest.approx((1 + 2 + 6) / 4)
    # Cost: NaN row ignored; total 1 + 1 + 2 + 2 + 6 + 2 = 14, uncovered 6 + 2 in cluster 1.
    assert o.loc[1, "cost_share"] == pytest.approx(10 / 14)
    assert o.loc[1, "untested_cost_share"] == pytest.approx(8 / 14)
    assert o.loc[1, "cost"] == pytest.approx(10 / 5)
    s = outcome_summary(table)
    assert s["failure_rate"] == pytest.approx(5 / 9)
    assert s["untested_failures"] == pytest.approx(3 / 5)
    assert s["untested_failure_rate"] == pytest.approx(1.0)
    assert s["untested_cost_share"] == pytest.approx(8 / 14)


def test_wilson_interval_and_holm_match_references():
    rng = np.random.default_rng(0)
    n = [40, 60, 25, 80]
    rates = [0.5, 0.05, 0.1, 0.05]
    rows = [
        (g, rng.random() < r)
        for g, (m, r) in enumerate(zip(n, rates, strict=True))
        for _ in range(m)
    ]
    q = pd.DataFrame(rows, columns=["cluster", "failed"]).assign(
        weight=1.0, covered=True, excluded=False
    )
    o = group_outcomes(q)
    raw = []
    for g in range(4):
        sub = q[q["cluster"] == g]
        k, m = int(sub["failed"].sum()), len(sub)
        ci = stats.binomtest(k, m).proportion_ci(method="wilson")
        assert o.loc[g, "failure_rate_low"] == pytest.approx(ci.low, abs=1e-9)
        assert o.loc[g, "failure_rate_high"] == pytest.approx(ci.high, abs=1e-9)
        rest = q[q["cluster"] != g]
        kr, mr = int(rest["failed"].sum()), len(rest)
        raw.append(stats.fisher_exact([[k, m - k], [kr, mr - kr]], alternative="greater")[1])
    np.testing.assert_allclose(o["p_value"], raw)
    order = np.argsort(raw)
    holm = np.maximum.accumulate([(4 - i) * raw[j] for i, j in enumerate(order)])
    expected = np.empty(4)
    expected[order] = np.minimum(holm, 1)
    np.testing.assert_allclose(o["p_adjusted"], expected)
    assert o["significant"].tolist() == [True, False, False, False]


def test_no_outcome_columns_means_no_outcome_table(table):
    assert group_outcomes(table.drop(columns=["failed", "cost", "latency_s"])) is None
    assert outcome_summary(table.drop(columns=["failed", "cost", "latency_s"])) == {}
    only_cost = group_outcomes(table.drop(columns=["failed"]))
    assert "failure_rate" not in only_cost.columns and "cost" in only_cost.columns


# ------------------------------------------------------------------------- reading


def test_reader_carries_typed_outcome_columns_from_csv(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "query,error,feedback,latency_s,cost,score_helpful,session,thumbs\n"
        "how do I reset my pin,false,1,0.8,0.002,0.9,s1,up\n"
        "book a flight to oslo,true,,2.5,0.004,,s1,\n"
        "what's the weather,,0,1.1,0.001,0.2,,down\n"
    )
    t = evalcov.read_traffic(path, keep=["thumbs"])
    assert t["error"].dtype == "boolean" and t["error"].tolist() == [False, True, pd.NA]
    assert t["feedback"].tolist()[0] == 1.0 and np.isnan(t["feedback"].iloc[1])
    assert t["latency_s"].dtype == np.float64 and t["cost"].sum() == pytest.approx(0.007)
    assert t["score_helpful"].iloc[2] == pytest.approx(0.2)
    assert t["session"].tolist()[:2] == ["s1", "s1"] and pd.isna(t["session"].iloc[2])
    assert t["thumbs"].tolist() == ["up", "", "down"], "keep= columns come as read"
    bad = tmp_path / "bad.csv"
    bad.write_text("query,latency_s\nhello,fast\n")
    with pytest.raises(ValueError, match=r"'latency_s'.*rows bad.csv:0"):
        evalcov.read_traffic(bad)
    with pytest.raises(ValueError, match=r"column 'nope' \(keep=\) not found"):
        evalcov.read_traffic(path, keep=["nope"])


# ----------------------------------------------------------------- end to end, real model

COVERED = ["translate", "weather", "book_flight", "pin_change", "alarm", "recipe", "play_music"]
HELD_OUT = ["tire_pressure", "roll_dice"]
FAILING = {"tire_pressure": 0.5, "weather": 0.5}


@pytest.fixture(scope="module")
def scenario(clinc):
    by: dict[str, list[str]] = {}
    for text, intent in clinc["test"] + clinc["train"]:
        by.setdefault(intent, []).append(text)
    rows = [(t, i) for i in COVERED + HELD_OUT for t in by[i][:40]]
    traffic = pd.DataFrame(rows, columns=["text", "intent"])
    rng = np.random.default_rng(0)
    p = traffic["intent"].map(FAILING).fillna(0.03).to_numpy()
    traffic["error"] = rng.random(len(traffic)) < p
    # Sparse thumbs, all up: users rate rarely, and the errors carry the signal here.
    traffic["feedback"] = np.where(rng.random(len(traffic)) < 0.3, 1.0, np.nan)
    traffic["latency_s"] = np.round(rng.gamma(2.0, 0.5, len(traffic)), 3)
    traffic["cost"] = np.where(traffic["intent"].isin(HELD_OUT), 0.01, 0.001)
    traffic["score_helpful"] = rng.random(len(traffic))
    evals = [t for i in COVERED for t in by[i][100:105]]
    return traffic, evals


@pytest.fixture(scope="module")
def report(scenario):
    traffic, evals = scenario
    return evalcov.analyze(traffic, evals, text="text", random_state=0)


@pytest.fixture(scope="module")
def plain(scenario):
    traffic, evals = scenario
    return evalcov.analyze(traffic[["text"]], evals, text="text", random_state=0)


def _intent_of(report, traffic) -> pd.Series:
    q = report.queries.assign(intent=traffic["intent"])
    return q.groupby("cluster")["intent"].agg(lambda s: s.value_counts().index[0])


def test_queries_carry_outcomes_and_failed(report, scenario):
    traffic, _ = scenario
    q = report.queries
    for col in ("error", "feedback", "latency_s", "cost", "score_helpful", "failed"):
        assert col in q.columns
    assert q["failed"].tolist() == traffic["error"].tolist()


def test_risk_gaps_put_the_failing_untested_intent_first(report, scenario):
    traffic, _ = scenario
    intent = _intent_of(report, traffic)
    risk = report.gaps(5, by="risk")
    for col in ("failure_rate", "failure_rate_low", "failure_rate_high", "untested_failures"):
        assert col in risk.columns
    assert risk["excess_failures"].is_monotonic_decreasing
    assert intent[risk["cluster"].iloc[0]] == "tire_pressure"
    assert set(risk["cluster"]) <= set(report.queries["cluster"])
    row = risk.iloc[0]
    assert row["failure_rate_low"] <= row["failure_rate"] <= row["failure_rate_high"]
    assert row["failure_rate"] > 0.3
    # Untested failures add up to the summary's share of failures in uncovered traffic.
    all_gaps = report.gaps(None, by="risk")
    s = report.summary()
    assert all_gaps["untested_failures"].sum() == pytest.approx(s["untested_failures"])
    # The volume ranking is unchanged and keeps the outcome columns.
    by_traffic = report.gaps(None)
    assert by_traffic["uncovered_share"].is_monotonic_decreasing
    assert "failure_rate" in by_traffic.columns


def test_failing_covered_lists_the_tested_intent_that_fails(report, scenario):
    traffic, _ = scenario
    intent = _intent_of(report, traffic)
    failing = report.failing_covered()
    assert len(failing) >= 1 and (failing["status"] == "covered").all()
    assert set(intent[failing["cluster"]]) == {"weather"}
    assert (failing["p_adjusted"] < 0.05).all()
    assert not set(failing["cluster"]) & set(report.gaps(None)["cluster"])


def test_summary_and_cost_on_untested_traffic(report, scenario):
    traffic, _ = scenario
    s = report.summary()
    q = report.queries
    assert s["n_outcome"] == len(traffic)
    assert s["failure_rate"] == pytest.approx(traffic["error"].mean())
    cost = traffic["cost"].to_numpy()
    assert s["untested_cost_share"] == pytest.approx(cost[~q["covered"]].sum() / cost.sum())
    assert s["latency_s"] == pytest.approx(traffic["latency_s"].mean())
    assert s["n_failing_covered"] == len(report.failing_covered())
    json.dumps(s)


def test_without_outcomes_everything_risk_is_absent(plain):
    assert "failed" not in plain.queries.columns
    assert "failure_rate" not in plain.gaps().columns
    assert plain.outcomes() is None
    assert not {"failure_rate", "untested_failures", "n_failing_covered"} & set(plain.summary())
    with pytest.raises(ValueError, match="pass failure="):
        plain.gaps(by="risk")
    with pytest.raises(ValueError, match="pass failure="):
        plain.failing_covered()
    with pytest.raises(ValueError, match="by must be"):
        plain.gaps(by="volume")
    assert "Failing and untested" not in plain.to_html()


def test_failure_callable_and_with_evals_keep_the_definition(scenario):
    traffic, evals = scenario
    r = evalcov.analyze(
        traffic, evals, text="text", failure=lambda q: q["latency_s"] > 1.5, random_state=0
    )
    assert r.queries["failed"].tolist() == (traffic["latency_s"] > 1.5).tolist()
    more = r.with_evals(["what is the air pressure in my tires"])
    assert more.queries["failed"].tolist() == r.queries["failed"].tolist()


def test_html_section_first_and_escaped(scenario):
    traffic, evals = scenario
    hostile = traffic.copy()
    hostile.loc[0, "text"] = "<img src=x onerror=alert(1)> is my tire pressure low"
    r = evalcov.analyze(hostile, evals, text="text", random_state=0)
    page = r.to_html(redact=False)
    body = page[page.index("<body>") :]
    assert body.index("Failing and untested") < body.index("of production traffic is covered")
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "Tested, yet failing" in page and "of the inference cost" in page
    # Risk rows are topics, each shown by the untested cluster that fails most.
    top = r.gaps(1, by="risk").iloc[0]
    assert f"topic {top['topic']}, shown by cluster {top['cluster']}" in page
    # ... and by the eval prompt closest to it, as in the gap table.
    risk = body[body.index('class="evalcov-sortable evalcov-risk-table"') :]
    first = risk[risk.index("<tr data-cluster=") : risk.index("</tr>", risk.index("<tbody>"))]
    assert f"{top['closest_similarity']:.2f}<br>" in first
    assert htmllib.escape(top["closest_eval"]) in first


def test_labeling_batch_by_risk_carries_outcomes(report, scenario):
    traffic, _ = scenario
    intent = _intent_of(report, traffic)
    batch = report.export_for_labeling(n=10, strategy="risk")
    for col in ("failure_rate", "error", "feedback", "latency_s", "cost", "score_helpful"):
        assert col in batch.columns
    assert "response" not in batch.columns
    by_traffic = report.export_for_labeling(n=10)
    failing = set(intent[intent == "tire_pressure"].index)
    # The budget follows the failures: more of the failing gap, more failed queries.
    assert batch["cluster"].isin(failing).sum() > by_traffic["cluster"].isin(failing).sum()
    assert batch["failure_rate"].mean() > by_traffic["failure_rate"].mean() + 0.2
    picked = batch[batch["cluster"].isin(failing)]
    assert (picked["failure_rate"] == 1).all(), "inside a gap, failed queries are picked"
    with pytest.raises(ValueError, match="no 'response' column"):
        report.export_for_labeling(n=5, response=True)


def test_labeling_batch_response_only_when_asked(scenario):
    traffic, evals = scenario
    t = traffic.assign(response="Call me at +1 415 555 0100 for help")
    r = evalcov.analyze(t, evals, text="text", keep=["response"], random_state=0)
    assert "response" not in r.export_for_labeling(n=3).columns
    batch = r.export_for_labeling(n=3, response=True)
    assert len(batch) == 3 and not batch["response"].str.contains("555 0100").any()


def test_suggest_additions_by_risk_covers_failures_first(report):
    by_risk = report.suggest_additions(3, by="risk")
    by_traffic = report.suggest_additions(3)
    assert {"failure_gain", "projected_untested_failures"} <= set(by_risk.columns)
    # The first prompt goes to the riskiest gap: a cluster of the top topic of gaps(by="risk").
    top = report.gaps(1, by="risk")["topic"].iloc[0]
    topic_of = report.clusters.set_index("cluster")["topic"]
    assert topic_of[by_risk["cluster"].iloc[0]] == top
    assert by_risk["projected_untested_failures"].is_monotonic_decreasing
    start = report.summary()["untested_failures"]
    assert start - by_risk["projected_untested_failures"].iloc[-1] == pytest.approx(
        by_risk["failure_gain"].sum()
    )
    assert by_risk["failure_gain"].iloc[0] > 0.1
    assert len(by_traffic) == 3 and "failure_gain" not in by_traffic.columns


def test_cli_failure_column_reaches_stdout_json_and_html(scenario, report, tmp_path, capsys):
    traffic, evals = scenario
    traffic[["text"]].assign(broke=traffic["error"].map({True: "yes", False: "no"})).to_csv(
        tmp_path / "traffic.csv", index=False
    )
    pd.DataFrame({"prompt": evals}).to_csv(tmp_path / "evals.csv", index=False)
    # In this process (the real `python -m evalcov` run is tests/test_cli.py's).
    result = cli_main(
        capsys,
        *("analyze", tmp_path / "traffic.csv", "--evals", tmp_path / "evals.csv"),
        *("--failure", "broke", "--quiet", "--json", tmp_path / "s.json"),
        *("--html", tmp_path / "r.html"),
    )
    assert result.returncode == 0, result.stderr
    assert "failing and untested" in result.stdout
    out = json.loads((tmp_path / "s.json").read_text())
    s = report.summary()
    assert out["summary"]["failure_rate"] == pytest.approx(s["failure_rate"])
    assert out["summary"]["untested_failures"] == pytest.approx(s["untested_failures"])
    risk = report.gaps(25, by="risk")
    assert [g["cluster"] for g in out["risk_gaps"]] == risk["cluster"].tolist()
    assert out["risk_gaps"][0]["failure_rate_low"] == pytest.approx(risk["failure_rate_low"][0])
    assert [g["cluster"] for g in out["failing_covered"]] == report.failing_covered()[
        "cluster"
    ].tolist()
    assert "Failing and untested" in (tmp_path / "r.html").read_text()


def test_drift_flags_a_failure_rate_jump_like_an_emerging_cluster(report, plain):
    from types import SimpleNamespace

    from evalcov.drift import compute_drift

    q = report.queries.copy()
    second = np.arange(len(q)) % 2 == 1
    q["time"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.where(second, 8, 1), unit="D"
    )
    stable = report.clusters.loc[report.clusters["status"] == "covered", "cluster"]
    rates = q.groupby("cluster")["failed"].mean()
    target = int(rates.loc[stable].idxmin())
    jump = second & (q["cluster"] == target).to_numpy()
    q["failed"] = q["failed"].mask(jump, True)
    d = compute_drift(SimpleNamespace(queries=q, clusters=report.clusters))
    assert d.failing["cluster"].tolist() == [target]
    row = d.failing.iloc[0]
    assert row["failure_rate_first"] == 1.0 and row["baseline_failure_rate"] <= 0.1
    assert row["first_window"] == d.windows["window"].iloc[1] and row["covered"]
    assert d.summary["n_failing"] == 1
    long = d.clusters.set_index(["window", "cluster"])
    assert long.loc[(d.windows["window"].iloc[1], target), "failing"]
    expected = q.loc[second, "failed"].astype(float).mean()
    assert d.windows["failure_rate"].iloc[1] == pytest.approx(expected)
    untimed = plain.queries.assign(time=q["time"])
    d0 = compute_drift(SimpleNamespace(queries=untimed, clusters=plain.clusters))
    assert d0.failing is None and "failure_rate" not in d0.windows.columns


def test_saved_map_assigns_next_quarter_with_outcomes(report, scenario, tmp_path):
    traffic, _ = scenario
    report.save(tmp_path / "map.zip")
    assigned = evalcov.load(tmp_path / "map.zip").assign(traffic, text="text")
    assert assigned.queries["failed"].tolist() == traffic["error"].tolist()
    assert assigned.queries["cost"].sum() == pytest.approx(traffic["cost"].sum())
