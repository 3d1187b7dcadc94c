"""Eval-set refresh: suggest_additions agrees with with_evals; weighted_score by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA

from evalcov import analyze
from evalcov.embedders import embed
from evalcov.export import query_id
from evalcov.refresh import WeightedScore, suggest_additions, weighted_score

INTENTS = [
    "balance", "bill_balance", "book_flight", "book_hotel", "calculator", "calendar",
    "cancel", "car_rental", "change_language", "confirm_reservation", "cook_time",
    "credit_limit",
]  # fmt: skip
HELD_OUT = ["car_rental", "cook_time", "credit_limit", "calendar"]
PII_TEXT = "call me on +1-202-555-0143 about the cook time of rice"


@pytest.fixture(scope="module")
def setup(clinc, tmp_path_factory):
    """480 CLINC150 queries of 12 intents, 4 of them without any eval prompt."""
    rows = pd.DataFrame(clinc["train"], columns=["text", "intent"])
    rows = rows[rows["intent"].isin(INTENTS)]
    evals = rows[~rows["intent"].isin(HELD_OUT)].groupby("intent").head(4)
    traffic = rows.drop(evals.index).groupby("intent").head(40).reset_index(drop=True)
    traffic.loc[len(traffic)] = [PII_TEXT, "cook_time"]
    # Repeats make weights differ from one, so shares are traffic-weighted for real.
    traffic = pd.concat([traffic, traffic[traffic["intent"] == "cancel"].head(20)])
    traffic = traffic.reset_index(drop=True)
    # Module fixtures run before conftest's per-test cache fixture: point at the same cache.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALCOV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        report = analyze(traffic, evals[["text"]], text="text", reducer=PCA(10, random_state=0))
    return report, evals.reset_index(drop=True)


def test_suggestions_project_what_with_evals_measures(setup):
    report, _ = setup
    sug = suggest_additions(report, budget=8)
    assert list(sug.columns) == [
        "rank", "id", "text", "cluster", "label", "traffic_gain", "projected_coverage",
    ]  # fmt: skip
    assert 1 <= len(sug) <= 8 and sug["rank"].tolist() == list(range(1, len(sug) + 1))
    assert sug["text"].is_unique
    assert sug["id"].tolist() == [query_id(t) for t in sug["text"]]
    after = report.with_evals(sug["text"])
    assert after.coverage == pytest.approx(sug["projected_coverage"].iloc[-1], abs=1e-12)
    assert after.coverage > report.coverage
    # The curve starts from the report's coverage and adds up the gains.
    np.testing.assert_allclose(
        sug["projected_coverage"], report.coverage + sug["traffic_gain"].cumsum(), atol=1e-12
    )
    # Each prefix measures (almost) what the curve says: only texts lying exactly on a claim
    # radius may be counted differently by float rounding.
    n_texts = len(report.unique_)
    for k in (1, len(sug) // 2):
        prefix = report.with_evals(sug["text"][:k]).coverage
        assert prefix == pytest.approx(sug["projected_coverage"].iloc[k - 1], abs=3 / n_texts)
    # Suggestions are real uncovered queries from gap clusters.
    u = report.unique_.set_index("text")
    assert not u.loc[sug["text"], "covered"].any()
    assert set(sug["cluster"]) <= set(report.gaps(n=None)["cluster"])
    assert (u.loc[sug["text"], "cluster"].to_numpy() == sug["cluster"].to_numpy()).all()


def test_suggested_text_embeds_to_its_traffic_vector(setup):
    report, _ = setup
    sug = suggest_additions(report, budget=3)
    rows = report.unique_.reset_index().set_index("text").loc[sug["text"], "index"]
    again = embed(sug["text"].tolist(), report.embedder_, cache=report.analyzer_.cache)
    np.testing.assert_array_equal(again, report.traffic_embeddings_[rows.to_numpy()])


def test_greedy_beats_random_picks_and_is_deterministic(setup):
    report, _ = setup
    sug = suggest_additions(report, budget=4, candidates_per_gap=None)
    pd.testing.assert_frame_equal(sug, suggest_additions(report, 4, candidates_per_gap=None))
    assert (sug["traffic_gain"] >= 0).all()
    # The first pick is the best single addition (every uncovered query is a candidate).
    u = report.unique_
    open_ = u.index[~u["covered"]].to_numpy()
    rng = np.random.default_rng(0)
    for i in rng.choice(open_, 5, replace=False):
        single = report.with_evals([u["text"].iat[i]]).coverage
        assert single <= sug["projected_coverage"].iloc[0] + 3 / len(u)


def test_pii_queries_are_not_suggested(setup):
    report, _ = setup
    assert PII_TEXT in set(report.unique_["text"])
    everything = dict(budget=200, candidates_per_gap=None)
    assert PII_TEXT not in set(suggest_additions(report, **everything)["text"])
    # When allowed, the same search may pick it (it lies in a held-out intent).
    allowed = suggest_additions(report, skip_pii=False, **everything)
    assert len(allowed) >= len(suggest_additions(report, **everything))


def test_suggest_bad_arguments_and_empty_budget(setup):
    report, _ = setup
    assert len(suggest_additions(report, budget=0)) == 0
    with pytest.raises(ValueError, match="budget"):
        suggest_additions(report, budget=-1)
    with pytest.raises(ValueError, match="candidates_per_gap"):
        suggest_additions(report, candidates_per_gap=0)


def _cluster_of_eval(report, evals: pd.DataFrame) -> pd.Series:
    return pd.Series(report.evals["cluster"].to_numpy(), index=evals["text"])


def test_weighted_score_by_hand(setup):
    report, evals = setup
    cluster_of = _cluster_of_eval(report, evals)
    share = report.clusters.set_index("cluster")["traffic_share"]
    # One cluster scores 1, every other scored prompt 0 (pass/fail results).
    target = int(cluster_of.value_counts().index[0])
    results = pd.DataFrame({"prompt": evals["text"], "passed": (cluster_of == target).to_numpy()})
    ws = report.weighted_score(results)
    assert isinstance(ws, WeightedScore)
    evidenced = sorted(set(cluster_of))
    no_evidence = 1.0 - share.loc[evidenced].sum()
    assert ws.weighted_score == pytest.approx(share[target] / share.loc[evidenced].sum())
    assert ws.plain_score == pytest.approx((cluster_of == target).mean())
    assert ws.no_evidence_share == pytest.approx(no_evidence)
    assert ws.no_evidence_share > 0  # the held-out intents have no eval prompt
    low, high = ws.expected_score_range
    assert low == pytest.approx(share[target])
    assert high == pytest.approx(share[target] + no_evidence)
    assert ws.n_scored == len(evals) and ws.n_no_result == 0
    table = ws.clusters.set_index("cluster")
    assert table.loc[target, "mean_score"] == 1.0
    assert table.loc[evidenced, "n_eval_scored"].sum() == len(evals)
    assert table.drop(index=evidenced)["mean_score"].isna().all()
    assert "Traffic-weighted score" in ws._repr_html_()


def test_weighted_score_input_shapes(setup):
    report, evals = setup
    scores = np.linspace(0, 1, len(evals))
    frame = report.weighted_score(pd.DataFrame({"text": evals["text"], "score": scores}))
    as_dict = weighted_score(report, dict(zip(evals["text"], scores, strict=True)))
    as_series = weighted_score(report, pd.Series(scores, index=evals["text"]))
    # Whitespace and case of the column name do not matter; strings pass/fail work.
    messy = pd.DataFrame(
        {"Prompt": ["  " + t.replace(" ", "  ") for t in evals["text"]], "Score": scores}
    )
    for other in (as_dict, as_series, weighted_score(report, messy)):
        assert other.weighted_score == pytest.approx(frame.weighted_score)
        assert other.plain_score == pytest.approx(scores.mean())
    by_id = pd.DataFrame({"eval_id": report.evals["id"], "score": scores})
    assert weighted_score(report, by_id).weighted_score == pytest.approx(frame.weighted_score)
    words = pd.DataFrame({"prompt": evals["text"], "result": ["pass", "fail"] * 16})
    assert weighted_score(report, words, score_col="result").plain_score == 0.5


def test_weighted_score_partial_and_bad_results(setup):
    report, evals = setup
    half = dict.fromkeys(evals["text"][:10], 1.0)
    ws = weighted_score(report, half)
    assert ws.n_scored == 10 and ws.n_no_result == len(evals) - 10
    assert ws.weighted_score == 1.0
    with pytest.raises(ValueError, match="match no eval prompt.*not an eval prompt"):
        weighted_score(report, {**half, "not an eval prompt": 1.0})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        weighted_score(report, {evals["text"][0]: 7.0})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        weighted_score(report, {evals["text"][0]: float("nan")})
    with pytest.raises(TypeError, match="scores must be"):
        weighted_score(report, {evals["text"][0]: "great"})
    with pytest.raises(ValueError, match="score_col"):
        weighted_score(report, pd.DataFrame({"prompt": evals["text"]}))
    with pytest.raises(TypeError, match="eval_results"):
        weighted_score(report, [1.0, 0.0])
