"""Presence and depth on production-shaped traffic, and topics, on real CLINC150 queries.

Production traffic is Zipf-shaped while eval sets are not: a heavy request with the same five
prompts as every other one is *tested* (presence) but *thin* (depth). These tests build that
shape from real queries, analyze it with the real default model, and check that the two
questions stay apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_analyze import _by_intent

import evalcov
from evalcov.stability import confirmed_clusters
from evalcov.topics import cluster_connectivity, merge_clusters

HEAVY = "translate"
COVERED = ["weather", "book_flight", "pin_change", "alarm", "recipe", "timezone", "play_music"]
HELD_OUT = ["tire_pressure", "roll_dice"]


@pytest.fixture(scope="module")
def zipf(clinc):
    """One heavy tested intent (its 40 texts asked 60 times each, ~80% of the traffic), seven
    light tested ones and two untested ones (40 texts each, once); 5 prompts per tested intent."""
    train, test = _by_intent(clinc, "train"), _by_intent(clinc, "test")
    rows = []
    for intent in [HEAVY, *COVERED, *HELD_OUT]:
        texts = test[intent][:30] + train[intent][60:70]
        weight = 60 if intent == HEAVY else 1
        rows += [(t, intent, weight) for t in texts]
    traffic = pd.DataFrame(rows, columns=["text", "intent", "weight"])
    evals = [t for i in [HEAVY, *COVERED] for t in train[i][:5]]
    report = evalcov.analyze(traffic, evals, text="text", weight="weight", random_state=0)
    return traffic, report


def test_a_heavy_tested_topic_is_covered_whatever_its_volume(zipf):
    traffic, report = zipf
    q = report.queries
    heavy = (traffic["intent"] == HEAVY).to_numpy()
    w = traffic["weight"].to_numpy()
    assert w[heavy].sum() / w.sum() > 0.75
    covered = q["covered"].to_numpy()
    # Presence: the heavy request has prompts, so its traffic is covered ...
    assert np.average(covered[heavy], weights=w[heavy]) >= 0.95
    # ... while the untested requests are flagged.
    for intent in HELD_OUT:
        rows = (traffic["intent"] == intent).to_numpy()
        assert covered[rows].mean() <= 0.2, intent
    truth = ~traffic["intent"].isin(HELD_OUT).to_numpy()
    assert abs(report.coverage - np.average(truth, weights=w)) <= 0.03


def test_a_gap_shows_the_eval_prompt_closest_to_it(zipf, clinc):
    traffic, report = zipf
    c = report.clusters
    # Definition: the prompt nearest the normalized traffic-weighted centre of the cluster.
    u, U, E = report.unique_, report.traffic_embeddings_, report.eval_embeddings_
    sums = np.zeros((len(c), U.shape[1]))
    np.add.at(sums, u["cluster"].to_numpy(), U * u["weight"].to_numpy()[:, None])
    centres = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    products = centres @ E.T
    best = products.argmax(axis=1)
    assert c["closest_eval"].tolist() == [report.eval_dedup_.texts[i] for i in best]
    np.testing.assert_allclose(c["closest_similarity"], products.max(axis=1), atol=1e-5)
    # What it is for: a gap that is a fragment of a tested request shows one of that
    # request's prompts, closer than any held-out request's gap comes to a prompt.
    train = _by_intent(clinc, "train")
    intent_of = {t: i for i in [HEAVY, *COVERED] for t in train[i][:5]}
    majority = (
        report.queries.assign(intent=traffic["intent"].to_numpy())
        .groupby("cluster")["intent"]
        .agg(lambda s: s.value_counts().index[0])
    )
    gaps = report.gaps(None)
    gaps["intent"] = gaps["cluster"].map(majority)
    held = gaps[gaps["intent"].isin(HELD_OUT)]
    fragments = gaps[~gaps["intent"].isin(HELD_OUT)]
    assert set(held["intent"]) == set(HELD_OUT) and len(fragments) >= 1
    assert (fragments["closest_eval"].map(intent_of) == fragments["intent"]).all()
    assert fragments["closest_similarity"].min() > held["closest_similarity"].max() + 0.1
    tested = c[c["status"] != "uncovered"]
    assert (tested["closest_eval"].map(intent_of) == tested["cluster"].map(majority)).all()
    assert held["closest_similarity"].max() < tested["closest_similarity"].min()


def test_labeling_and_suggestions_draw_on_every_untested_cluster_of_a_gap(zipf):
    from evalcov.refresh import _candidates

    _, report = zipf
    c = report.clusters
    untested = set(c.loc[c["status"] == "uncovered", "cluster"])
    shown = set(report.gaps(None)["cluster"])
    hidden = sorted(untested - shown)
    # Gap topics here are split into several untested clusters; a row is shown by one.
    assert len(hidden) >= 3
    batch = report.export_for_labeling(n=30)
    assert set(batch["cluster"]) == untested
    alone = report.export_for_labeling(n=5, clusters=[hidden[0]])
    assert alone["cluster"].tolist() == [hidden[0]] * 5
    tested = int(c.loc[c["status"] != "uncovered", "cluster"].iloc[0])
    with pytest.raises(ValueError, match=r"are tested \(covered or thin\)"):
        report.export_for_labeling(n=5, clusters=[tested])
    # suggest_additions' candidates come from every untested cluster too.
    cand = _candidates(report, 30, report.unique_["weight"].to_numpy(dtype=float))
    assert set(report.unique_["cluster"].to_numpy()[cand]) == untested


def test_the_heavy_topic_is_thin_and_thin_counts_as_covered(zipf):
    traffic, report = zipf
    heavy_topics = set(report.queries.loc[(traffic["intent"] == HEAVY).to_numpy(), "topic"])
    thin = report.thin()
    # Depth: 5 of 40 prompts for ~80% of the traffic is far below its proportional share.
    assert heavy_topics & set(thin["topic"])
    row = thin[thin["topic"].isin(heavy_topics)].iloc[0]
    assert row["n_eval"] < row["expected_eval"] and row["p_under"] < 0.05
    assert row["missing_eval"] == int(np.ceil(row["expected_eval"] - row["n_eval"]))
    # Thin traffic is tested: no thin cluster's query is flagged, and none is a gap.
    c = report.clusters
    thin_clusters = set(c.loc[c["status"] == "thin", "cluster"])
    assert thin_clusters
    q = report.queries
    assert q.loc[q["cluster"].isin(thin_clusters), "covered"].all()
    assert not thin_clusters & set(report.gaps(None, level="cluster")["cluster"])
    # The report-level depth: the heavy topic has a small share of its proportional prompts.
    assert 0.0 < report.depth < 0.5


def test_topics_table_adds_up_to_the_clusters(zipf):
    _, report = zipf
    t, c, q = report.topics, report.clusters, report.queries
    assert t["traffic_share"].sum() == pytest.approx(1.0)
    assert sorted(sum(t["clusters"], [])) == sorted(c["cluster"])
    for row in t.itertuples():
        members = c[c["topic"] == row.topic]
        assert sorted(members["cluster"]) == sorted(row.clusters)
        assert row.n_eval == members["n_eval"].sum()
        assert row.traffic_share == pytest.approx(members["traffic_share"].sum())
    analyzed = q[~q["excluded"]]
    topic_of = c.set_index("cluster")["topic"]
    assert (analyzed["topic"].to_numpy() == topic_of.loc[analyzed["cluster"]].to_numpy()).all()
    assert set(t["status"]) <= {"covered", "thin", "partial", "uncovered"}
    # Gaps per topic hold exactly the uncovered traffic, as the cluster-level gaps do.
    uncovered = 1.0 - report.coverage
    assert report.gaps(None)["uncovered_share"].sum() == pytest.approx(uncovered)
    assert report.gaps(None, level="cluster")["uncovered_share"].sum() == pytest.approx(uncovered)
    with pytest.raises(ValueError, match="level"):
        report.gaps(level="intent")


def test_presence_never_depends_on_volume_depth_does():
    """The rule itself: five prompts in a cluster that expects forty are tested and thin; the
    same five prompts where five are expected are tested and not thin; a lone prompt needs
    claims behind it; claims alone need half of the cluster."""
    from evalcov.coverage import cluster_levels

    share = np.array([0.1, 0.1, 0.1, 0.25, 0.6, 0.4])
    n_eval = np.array([5, 5, 1, 1, 0, 0])
    expected = np.array([40.0, 5.0, 40.0, 1.0, 3.0, 3.0])
    tested, thin = cluster_levels(share, n_eval, expected, covered_share=0.5, thin_share=0.2)
    assert tested.tolist() == [True, True, False, True, True, False]
    assert thin.tolist() == [True, False, False, False, True, False]


def _noisy(text: str, n: int) -> list[str]:
    """``text`` and ``n`` renderings of it with a filler and, every third, a dropped letter."""
    before, after = ["hey ", "pls ", "um ", "hi ", "ok so "], [" thanks", " please", " asap", " ?"]
    out = [text]
    for j in range(n):
        v = before[j % 5] + text if j % 2 == 0 else text + after[j % 4]
        if j % 3 == 0:
            i = 3 + j % (len(v) - 4)
            v = v[:i] + v[i + 1 :]
        out.append(v)
    return out


def test_a_request_asked_in_many_spellings_is_reached_by_its_prompts(clinc):
    """A narrow assistant: one request is 65% of the traffic, each of its 30 texts asked in 13
    spellings. Its prompts find their k nearest texts among one text's spellings; the reach
    floor lets them claim as far as most prompts do, so the request is covered while the two
    untested requests stay flagged."""
    train, test = _by_intent(clinc, "train"), _by_intent(clinc, "test")
    heavy, held = "direct_deposit", ["taxes", "w2"]
    light = ["income", "insurance", "insurance_change", "meeting_schedule", "next_holiday"]
    light += ["payday", "pto_balance", "pto_request", "pto_request_status", "pto_used"]
    light += ["rollover_401k", "schedule_meeting"]
    rows = [(v, heavy) for t in test[heavy][:30] for v in _noisy(t, 12)]
    rows += [(t, i) for i in light + held for t in test[i][:15]]
    traffic = pd.DataFrame(rows, columns=["text", "intent"])
    evals = [t for i in [heavy, *light] for t in train[i][:5]]
    is_heavy = (traffic["intent"] == heavy).to_numpy()
    is_held = traffic["intent"].isin(held).to_numpy()
    assert is_heavy.mean() > 0.6
    covered, error = {}, {}
    for floor in (0.75, None):
        report = evalcov.analyze(traffic, evals, text="text", reach_floor=floor, random_state=0)
        covered[floor] = report.queries["covered"].to_numpy(dtype=bool)
        if floor is not None:
            assert (report.claim_radii_ <= report.reach_similarity_ + 1e-6).all()
            # Added prompts keep the fitted eval set's reach: coverage can only grow.
            more = report.with_evals([test[held[0]][20]])
            assert more.reach_similarity_ == report.reach_similarity_
            assert more.coverage >= report.coverage
        error[floor] = abs(report.coverage - (1 - is_held.mean()))
    assert covered[0.75][is_heavy].mean() >= 0.8
    assert covered[None][is_heavy].mean() <= 0.6  # each prompt's own k texts: fragments
    assert covered[0.75][is_held].mean() <= 0.1
    assert covered[None][is_held].mean() <= 0.1
    assert error[0.75] <= 0.15 and error[None] >= error[0.75] + 0.1, error


def test_fragments_of_one_request_are_one_topic_and_other_requests_stay_apart(clinc):
    """A request k-means cut in two is one topic; a different request is not merged in."""
    from sklearn.cluster import KMeans

    from evalcov.embedders import embed, get_embedder

    by_intent = _by_intent(clinc, "train")
    a, b = by_intent["translate"], by_intent["tire_pressure"]
    X = embed(a + b, get_embedder("default"), cache=False)
    halves = KMeans(2, n_init=3, random_state=0).fit_predict(X[: len(a)])
    labels = np.concatenate([halves, np.full(len(b), 2)])
    conn = cluster_connectivity(X, labels, 3)
    assert conn[0, 1] > 3 * max(conn[0, 2], conn[1, 2])
    topic = merge_clusters(X, labels, 3)
    assert topic[0] == topic[1] != topic[2]


def test_saved_map_keeps_the_topics(zipf, tmp_path):
    _, report = zipf
    path = report.save(tmp_path / "map.zip")
    saved = evalcov.load(path)
    np.testing.assert_array_equal(saved.map_.topic_of_, report.map_.topic_of_)


def _variants(text: str, n: int) -> list[str]:
    """n distinct noisy phrasings of a query, as a heavy request collects them: fillers in
    front and behind, and a dropped letter."""
    fillers = ["hey", "pls", "um", "ok so", "quick q", "hi there", "hello", "yo"]
    out = [f"{fillers[i % len(fillers)]} {text}" for i in range(n // 2)]
    out += [
        f"{text[: 2 + i]}{text[3 + i :]} {fillers[-1 - i % len(fillers)]}"
        for i in range(n - n // 2)
    ]
    return out


def test_a_crowded_request_gets_less_weight_and_fewer_clusters(clinc):
    """A request asked in many phrasings crowds its region: spread weights give it less weight
    per text, so the weighted k-means spends fewer of its centres there than plain k-means
    (``TrafficMap(spread=0.5)``; off by default, see its docstring)."""
    from sklearn.cluster import KMeans

    from evalcov.embedders import embed, get_embedder
    from evalcov.mapping import spread_weights

    by_intent = _by_intent(clinc, "train")
    crowded = [v for t in by_intent[HEAVY][:30] for v in [t, *_variants(t, 8)]]
    light = [t for intent in COVERED for t in by_intent[intent][:30]]
    X = embed(crowded + light, get_embedder("default"), cache=False)
    heavy = np.arange(len(X)) < len(crowded)
    w = spread_weights(X, random_state=0)
    assert w.shape == (len(X),) and w.mean() == pytest.approx(1.0)
    assert w[heavy].mean() < 0.6 * w[~heavy].mean()

    def centres_on_heavy(labels):
        return len(set(labels[heavy]) - set(labels[~heavy]))

    def kmeans(weights):
        return KMeans(16, n_init=3, random_state=0).fit(X, sample_weight=weights).labels_

    # Plain k-means spends about as many centres on the crowd as its share of texts (2/3).
    assert centres_on_heavy(kmeans(w)) < centres_on_heavy(kmeans(None))
    # The map applies them when asked, and only then.
    from evalcov.mapping import TrafficMap

    def fit_map(spread):
        return TrafficMap(n_clusters=16, spread=spread, random_state=0).fit(X).labels_

    assert centres_on_heavy(fit_map(0.5)) < centres_on_heavy(fit_map(0.0))


def test_stability_refits_the_map_and_confirms_the_real_gaps(zipf):
    traffic, report = zipf
    table = report.stability(n_maps=3, level="cluster")
    c = report.clusters.sort_values("cluster")
    assert table["cluster"].tolist() == c["cluster"].tolist()
    assert table["status"].tolist() == c["status"].tolist()
    share = table["traffic_share"].to_numpy()
    np.testing.assert_allclose(share, c["traffic_share"], atol=1e-9)
    here = table["untested_here"].to_numpy()
    np.testing.assert_array_equal(here, (c["status"] == "uncovered").to_numpy(dtype=float))
    assert table.attrs["coverage_by_map"][0] == report.coverage
    assert len(table.attrs["coverage_by_map"]) == 4
    states = table.attrs["random_states"]
    assert len(set(states)) == 3 and report.analyzer_.random_state not in states
    assert 0 < table.attrs["agreement"] <= 1
    # Tested clusters have no untested traffic to confirm.
    assert table.loc[here == 0, "confirmed"].isna().all()
    untested = table[table["status"] == "uncovered"]
    sure = untested.loc[untested["confirmed"] >= 0.5, "cluster"].tolist()
    assert confirmed_clusters(report, n_maps=3) == sure and 0 < len(sure) <= len(untested)
    # Behaviour: the two requests with no prompt stay untested on every other map, while the
    # heavy tested request stays tested.
    intent = traffic["intent"].to_numpy()
    w = traffic["weight"].to_numpy(dtype=float)
    q = report.queries
    per_row = q["cluster"].map(table.set_index("cluster")["untested_elsewhere"]).to_numpy()
    for held in HELD_OUT:
        rows = intent == held
        assert np.average(per_row[rows], weights=w[rows]) >= 0.8, held
    heavy = intent == HEAVY
    assert np.average(per_row[heavy], weights=w[heavy]) <= 0.05
    # Same report, same table; topics sum their clusters.
    pd.testing.assert_frame_equal(report.stability(n_maps=3, level="cluster"), table)
    topics = report.stability(n_maps=3)
    assert topics["topic"].tolist() == sorted(report.topics["topic"])
    assert table["topic"].tolist() == c["topic"].tolist()
    # Both levels read the same other maps.
    assert topics.attrs == table.attrs
    by_topic = (
        table.assign(topic=c["topic"].to_numpy(), part=share * table["untested_elsewhere"])
        .groupby("topic")["part"]
        .sum()
    )
    np.testing.assert_allclose(
        topics["untested_elsewhere"] * topics["traffic_share"], by_topic.to_numpy(), atol=1e-9
    )
    assert (
        abs((topics["untested_here"] * topics["traffic_share"]).sum() - (1 - report.coverage))
        < 1e-9
    )
    with pytest.raises(ValueError, match="n_maps"):
        report.stability(n_maps=0)
    with pytest.raises(ValueError, match="level"):
        report.stability(level="query")
