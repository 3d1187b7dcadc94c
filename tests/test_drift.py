"""Drift over time windows: window bucketing, tests, emerging clusters on a real CLINC150 report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import evalcov
from evalcov.drift import compute_drift, window_index

COVERED = [
    "translate",
    "weather",
    "timer",
    "book_flight",
    "pay_bill",
    "restaurant_reservation",
    "alarm",
    "play_music",
]
PLANTED = "credit_score"
WEEK = pd.Timestamp("2024-01-01")  # a Monday
# Offsets vary per row, as in logs merged from several regions; windows must be UTC.
OFFSETS = ["+00:00", "-05:00", "+02:00", "+09:00"]


def _stamp(rng: np.random.Generator, week: int) -> str:
    # Keep local times 12 h away from the UTC week boundary, so every offset stays in the week.
    t = WEEK + pd.Timedelta(days=7 * week) + pd.Timedelta(hours=12 + rng.uniform(0, 6 * 24))
    off = OFFSETS[rng.integers(len(OFFSETS))]
    shift = pd.Timedelta(hours=int(off[:3]))
    return (t + shift).strftime("%Y-%m-%dT%H:%M:%S") + off


@pytest.fixture(scope="module")
def scenario(clinc):
    """8 covered intents every week but week 2 (empty); PLANTED (no eval prompt) from week 3."""
    rng = np.random.default_rng(0)
    by_intent: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        for text, intent in clinc[split]:
            by_intent.setdefault(intent, []).append(text)
    evals = [t for i in COVERED for t in by_intent[i][:4]]
    rows = []
    for intent in COVERED:
        pool = by_intent[intent][4:]
        picks = rng.permutation(len(pool))
        for j, week in enumerate([0, 1, 3, 4] * 12):
            rows.append((pool[picks[j]], _stamp(rng, week), intent))
    pool = by_intent[PLANTED]
    for j, week in enumerate([3] * 30 + [4] * 40):
        rows.append((pool[j], _stamp(rng, week), PLANTED))
    traffic = pd.DataFrame(rows, columns=["text", "timestamp", "intent"])
    traffic.loc[[5, 17], "timestamp"] = None
    traffic = traffic.sample(frac=1.0, random_state=0).reset_index(drop=True)
    report = evalcov.analyze(traffic, evals, text="text", time="timestamp")
    return SimpleNamespace(traffic=traffic, evals=evals, report=report)


@pytest.fixture(scope="module")
def drift(scenario):
    return scenario.report.drift(freq="W")


def test_windows_are_utc_weeks_with_the_empty_week_kept(scenario, drift):
    w = drift.windows
    assert list(w["window"]) == list(pd.date_range("2024-01-01", periods=5, freq="7D", tz="UTC"))
    assert list(w["n_queries"]) == [96, 94, 0, 126, 136]
    assert list(w["note"]) == ["baseline", "", "no traffic", "", ""]
    assert w.loc[2, "coverage"] != w.loc[2, "coverage"]  # NaN: nothing to cover
    assert not w.loc[2, "drifted"] and np.isnan(w.loc[2, "p_value"])
    # Two rows lost their time: counted, not silently dropped.
    assert drift.excluded == 2
    assert drift.summary["excluded_reasons"] == {"missing time": 2}
    assert w["n_queries"].sum() + drift.excluded == len(scenario.traffic)


def test_mixed_offsets_bucket_by_utc():
    times = pd.Series(
        ["2024-01-07T23:30:00-05:00", "2024-01-07T23:30:00+00:00", "2024-01-08T01:00:00+03:00"]
    )
    starts, idx = window_index(pd.to_datetime(times, utc=True, format="ISO8601"), "W")
    # 23:30 on Sunday at -05:00 is Monday 04:30 UTC: the next week. 01:00 at +03:00 is Sunday.
    assert list(starts) == [
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-08", tz="UTC"),
    ]
    assert list(idx) == [1, 0, 0]


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        ("D", ["2024-01-30", "2024-01-31", "2024-02-01"]),
        ("MS", ["2024-01-01", "2024-02-01"]),
        ("ME", ["2024-01-01", "2024-02-01"]),
        ("QS", ["2024-01-01"]),
        ("2W", ["2024-01-29"]),
        (["2024-01-31", "2024-01-15"], ["2024-01-15", "2024-01-31"]),
    ],
)
def test_window_starts_for_aliases_and_explicit_bins(freq, expected):
    times = pd.Series(pd.to_datetime(["2024-01-30T10:00Z", "2024-02-01T08:00Z", None], utc=True))
    starts, idx = window_index(times, freq)
    assert [s.strftime("%Y-%m-%d") for s in starts] == expected
    assert idx[2] == -1
    assert idx[1] == len(expected) - 1


def test_planted_uncovered_cluster_emerges_and_stationary_week_does_not(scenario, drift):
    q = scenario.report.queries
    is_planted = scenario.traffic["intent"] == PLANTED
    # The map may split the planted intent; each of its clusters must be planted traffic.
    held = q.loc[is_planted, "cluster"].value_counts()
    planted = sorted(held.index[held >= 5])
    assert held[planted].sum() >= 0.9 * is_planted.sum()
    for c in planted:
        assert is_planted[q["cluster"] == c].mean() > 0.9
    em = drift.emerging
    assert sorted(em["cluster"]) == planted
    # Each row names its cluster's topic, as report.clusters does.
    topic_of = scenario.report.clusters.set_index("cluster")["topic"]
    assert em["topic"].tolist() == topic_of.loc[em["cluster"]].tolist()
    assert em["first_window"].min() == pd.Timestamp("2024-01-22", tz="UTC")
    assert not em["covered"].any()
    assert (em["baseline_share"] == 0.0).all()
    assert ((0 < em["p_value"]) & (em["p_value"] < 0.05)).all()
    week3 = drift.clusters[drift.clusters["window"] == pd.Timestamp("2024-01-22", tz="UTC")]
    assert week3.loc[week3["cluster"].isin(planted), "share"].sum() == pytest.approx(
        30 / 126, abs=0.02
    )
    w = drift.windows
    # Week 1 has the baseline's mix: a large p-value, no drift. Weeks 3-4 add PLANTED.
    assert w.loc[1, "p_value"] > 0.05 and not w.loc[1, "drifted"]
    assert w.loc[3, "drifted"] and w.loc[4, "drifted"]
    assert w.loc[3, "uncovered_change"] == pytest.approx(30 / 126, abs=0.05)
    assert ((w["p_value"] > 0) & (w["p_value"] <= 1) | w["p_value"].isna()).all()
    assert drift.fading.empty


def test_long_cluster_table_sums_to_window_shares(drift):
    long = drift.clusters
    sums = long.groupby("window")["share"].sum()
    np.testing.assert_allclose(sums[drift.windows["n_queries"].to_numpy() > 0], 1.0)
    assert long.groupby("window")["n_queries"].sum().tolist() == drift.windows["n_queries"].tolist()
    # One row per (window, cluster) flagged: what the emerging table counts.
    assert long["emerging"].sum() == drift.emerging["n_flagged"].sum() >= 1


def test_baseline_choices_and_insufficient_data(scenario):
    report = scenario.report
    d = report.drift(freq="W", baseline=2)
    assert list(d.windows["note"][:2]) == ["baseline", "baseline"]
    d = report.drift(freq="W", baseline=("2024-01-01", "2024-01-15"))
    assert list(d.windows["note"][:2]) == ["baseline", "baseline"]
    d = report.drift(freq="W", min_queries=95)
    assert list(d.windows["note"]) == ["baseline", "insufficient data", "no traffic", "", ""]
    assert not d.windows["drifted"][:3].any() and d.windows["p_value"][:3].isna().all()
    d = report.drift(freq="W", baseline=2, min_queries=130)
    assert list(d.windows["note"][2:]) == ["no traffic", "insufficient data", ""]
    assert d.windows.loc[4, "drifted"]
    with pytest.raises(ValueError, match="baseline holds 96 queries, fewer than min_queries"):
        report.drift(freq="W", min_queries=200)
    with pytest.raises(ValueError, match="baseline=9 windows"):
        report.drift(freq="W", baseline=9)
    with pytest.raises(ValueError, match="freq must be a pandas offset alias"):
        report.drift(freq="fortnightly")


def test_no_time_column_asks_for_time(scenario):
    report = scenario.report
    untimed = SimpleNamespace(queries=report.queries.drop(columns="time"), clusters=report.clusters)
    with pytest.raises(ValueError, match="pass time="):
        compute_drift(untimed)


def test_plot_and_html(drift):
    fig = drift.plot(top=3)
    names = [t.name for t in fig.data]
    assert names[-2:] == ["other", "coverage"] and len(names) == 5
    assert fig.data[-1].yaxis == "y2"
    html = drift._repr_html_()
    assert "emerging" in html and "no traffic" in html


# --------------------------------------------------- statistics on synthetic cluster streams


def _stream(shares_per_window: list[np.ndarray], n: int, seed: int, covered=None):
    """Queries drawn per window from given cluster mixes (pure statistics, no model)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, shares in enumerate(shares_per_window):
        cl = rng.choice(len(shares), size=n, p=shares)
        t = WEEK + pd.Timedelta(days=7 * i) + pd.to_timedelta(rng.uniform(0, 6.9, n), unit="D")
        frames.append(pd.DataFrame({"cluster": cl, "time": t.tz_localize("UTC")}))
    q = pd.concat(frames, ignore_index=True)
    k = len(shares_per_window[0])
    covered = np.ones(k, bool) if covered is None else covered
    q["excluded"] = False
    q["weight"] = 1.0
    q["covered"] = covered[q["cluster"]]
    table = pd.DataFrame(
        {
            "cluster": np.arange(k),
            "label": [f"c{i}" for i in range(k)],
            "status": np.where(covered, "covered", "uncovered"),
        }
    )
    return SimpleNamespace(queries=q, clusters=table)


def test_stationary_streams_raise_nothing():
    mix = np.random.default_rng(1).dirichlet(np.ones(40) * 2)
    drifted = 0
    for seed in range(10):
        d = compute_drift(_stream([mix] * 8, 400, seed), freq="W")
        assert d.emerging.empty and d.fading.empty
        p = d.windows["p_value"].dropna()
        assert len(p) == 7 and ((p > 0) & (p <= 1)).all()
        drifted += int(d.windows["drifted"].sum())
    assert drifted <= 2  # FDR 5% over 70 null windows


def test_identical_mix_gives_p_one_and_zero_divergence():
    mix = np.full(5, 0.2)
    s = _stream([mix, mix], 200, 0)
    # Make window 1 an exact copy of window 0's clusters.
    q = s.queries
    q.loc[q["time"] >= WEEK.tz_localize("UTC") + pd.Timedelta(days=7), "cluster"] = q.loc[
        q["time"] < WEEK.tz_localize("UTC") + pd.Timedelta(days=7), "cluster"
    ].to_numpy()
    d = compute_drift(s, freq="W")
    assert d.windows.loc[1, "p_value"] == pytest.approx(1.0)
    assert d.windows.loc[1, "divergence"] == pytest.approx(0.0, abs=1e-12)
    assert not d.windows.loc[1, "drifted"]


def test_covered_mix_shift_is_drift_without_uncovered_growth():
    base = np.array([0.3, 0.3, 0.2, 0.1, 0.1])
    shifted = np.array([0.1, 0.1, 0.2, 0.3, 0.3])
    covered = np.array([True, True, True, True, False])
    d = compute_drift(_stream([base, base, shifted], 1000, 0, covered), freq="W")
    w = d.windows
    assert not w.loc[1, "drifted"] and w.loc[2, "drifted"]
    # Cluster 3 (covered) triples; cluster 4 (uncovered) too, so uncovered traffic grows.
    assert set(d.emerging["cluster"]) == {3, 4}
    assert d.emerging.set_index("cluster")["covered"].to_dict() == {3: True, 4: False}
    assert set(d.fading["cluster"]) == {0, 1}
    assert w.loc[2, "uncovered_change"] == pytest.approx(0.2, abs=0.04)


def test_a_thin_cluster_that_emerges_is_tested_not_a_gap():
    base = np.array([0.3, 0.3, 0.2, 0.1, 0.1])
    shifted = np.array([0.1, 0.1, 0.2, 0.3, 0.3])
    covered = np.array([True, True, True, True, False])
    s = _stream([base, base, shifted], 1000, 0, covered)
    s.clusters.loc[3, "status"] = "thin"  # tested, with too few prompts for its traffic
    d = compute_drift(s, freq="W")
    # Presence and depth stay apart: thin traffic is covered, so only cluster 4 is new
    # untested traffic.
    assert d.emerging.set_index("cluster")["covered"].to_dict() == {3: True, 4: False}
    assert d.emerging.set_index("cluster")["status"].to_dict() == {3: "thin", 4: "uncovered"}
    assert d.summary["n_emerging"] == 2 and d.summary["n_emerging_uncovered"] == 1


def test_small_increase_is_not_flagged_even_if_significant():
    base = np.array([0.004] + [0.996 / 9] * 9)
    grown = np.array([0.009] + [0.991 / 9] * 9)  # more than doubled, but +0.5 points
    d = compute_drift(_stream([base, grown], 20000, 0), freq="W")
    assert d.emerging.empty
    d = compute_drift(_stream([base, grown], 20000, 0), freq="W", min_increase=0.004)
    assert list(d.emerging["cluster"]) == [0]


def test_cluster_absent_from_baseline_emerges():
    base = np.array([0.5, 0.5, 0.0])
    later = np.array([0.45, 0.45, 0.1])
    d = compute_drift(_stream([base, later], 300, 0), freq="W")
    assert list(d.emerging["cluster"]) == [2]
    assert d.emerging.loc[0, "baseline_share"] == 0.0


def _with_geometry(source, twins: tuple[int, int], seed: int = 0):
    """Give a synthetic stream one embedding per cluster: the ``twins`` point the same way
    (neighbours in the cluster tree), every other cluster its own random direction."""
    k = len(source.clusters)
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(k, 32))
    vectors[twins[1]] = vectors[twins[0]] + 0.05 * rng.normal(size=32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    source.unique_ = pd.DataFrame({"cluster": np.arange(k), "weight": 1.0})
    source.traffic_embeddings_ = vectors.astype(np.float32)
    return source


def _split_topic_mixes(k: int = 30) -> tuple[np.ndarray, np.ndarray]:
    # A new topic split by the map into clusters 0 and 1: each goes 0.2% -> 0.8% (+0.6 points,
    # under min_increase alone), together 0.4% -> 1.6%.
    base = np.r_[0.002, 0.002, np.full(k - 2, 0.996 / (k - 2))]
    grown = np.r_[0.008, 0.008, np.full(k - 2, 0.984 / (k - 2))]
    return base, grown


def test_topic_split_over_neighbouring_uncovered_clusters_emerges_as_a_group():
    base, grown = _split_topic_mixes()
    covered = np.r_[False, False, np.ones(len(base) - 2, bool)]
    plain = compute_drift(_stream([base, grown], 8000, 0, covered), freq="W")
    assert plain.emerging.empty  # each cluster alone stays under min_increase
    d = compute_drift(_with_geometry(_stream([base, grown], 8000, 0, covered), (0, 1)), freq="W")
    em = d.emerging.set_index("cluster")
    assert set(em.index) == {0, 1}
    assert (em["via"] == "group").all() and (em["q_value"] < 0.05).all()
    assert d.summary["n_emerging_via_group"] == 2
    assert d.summary["n_groups_tested"] == len(base) - 2  # inner nodes of the tree, no root
    long = d.clusters
    assert long.loc[long["emerging"], "cluster"].tolist() == [0, 1]


def test_group_flags_need_neighbours_and_leave_covered_clusters_alone():
    base, grown = _split_topic_mixes()
    # The two growing clusters are far apart in the tree: no small group holds both.
    uncovered = np.r_[False, False, np.ones(len(base) - 2, bool)]
    far = compute_drift(
        _with_geometry(_stream([base, grown], 8000, 0, uncovered), (2, 3)), freq="W"
    )
    assert far.emerging.empty
    # Neighbours, but covered: mix drift among tested topics is not amplified by groups.
    covered = compute_drift(_with_geometry(_stream([base, grown], 8000, 0), (0, 1)), freq="W")
    assert covered.emerging.empty


def test_stationary_streams_with_geometry_raise_nothing():
    mix = np.random.default_rng(1).dirichlet(np.ones(40) * 2)
    uncovered = np.zeros(40, bool)
    for seed in range(5):
        s = _with_geometry(_stream([mix] * 6, 400, seed, uncovered), (0, 1), seed)
        d = compute_drift(s, freq="W")
        assert d.emerging.empty and d.fading.empty
