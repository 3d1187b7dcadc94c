"""The committed sample data is reproducible and has the structure the README promises."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
GENERATED_FILES = (
    "traffic.csv.gz",
    "traffic_topics.csv",
    "evals.csv",
    "eval_results.csv",
    "promptfooconfig.yaml",
    "chat_logs.jsonl",
)
LAUNCH_TOPIC = "crypto_wallet"
FADING_TOPIC = "legacy_app_sunset"
# The planted outcome structure (README, "Outcomes: failing and untested").
UNTESTED_FAILING = LAUNCH_TOPIC
TESTED_FAILING = "international_transfer_fees"
UNTESTED_HAPPY = "talk_to_human"
PLANTED = {UNTESTED_FAILING: 0.35, TESTED_FAILING: 0.30, UNTESTED_HAPPY: 0.01}
BASE_RATE = 0.04
EMAIL = r"[\w.+-]+@example\.(?:com|org|net)"
PHONE = r"555-01\d\d"
CARD = r"\b\d{4}[ -]?\d{4,6}[ -]?\d{4,5}(?:[ -]?\d{4})?\b"


def _load_script(monkeypatch):
    """Import the generator script by path (sample_data is a folder, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "make_sample_data", SAMPLE_DATA / "make_sample_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve their module through sys.modules while the script executes.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def _luhn_valid(number: str) -> bool:
    digits = [int(d) for d in re.sub(r"\D", "", number)][::-1]
    total = sum(
        d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)
    )
    return total % 10 == 0


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    """The log joined with its ground-truth topics, with a parsed UTC time and a week number."""
    log = pd.read_csv(SAMPLE_DATA / "traffic.csv.gz", keep_default_na=False)
    truth = pd.read_csv(SAMPLE_DATA / "traffic_topics.csv", keep_default_na=False)
    assert list(truth["query_id"]) == list(log["query_id"])
    df = log.assign(topic=truth["topic"].to_numpy(), planted=truth["failure_rate"].to_numpy())
    df["utc"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
    df["week"] = (df["utc"] - pd.Timestamp("2026-06-01", tz="UTC")).dt.days // 7 + 1
    return df


@pytest.fixture(scope="module")
def evals() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DATA / "evals.csv", keep_default_na=False)


def test_regenerating_gives_byte_identical_files(tmp_path, monkeypatch):
    _load_script(monkeypatch).main(["--out", str(tmp_path)])
    for name in GENERATED_FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE_DATA / name).read_bytes(), name


def test_folder_is_small_and_documented():
    total = sum(path.stat().st_size for path in SAMPLE_DATA.iterdir() if path.is_file())
    assert total < 4 * 1024**2
    readme = (SAMPLE_DATA / "README.md").read_text()
    assert "synthetic" in readme.lower()
    assert "python sample_data/make_sample_data.py" in readme


def test_traffic_looks_like_a_log(traffic):
    assert len(traffic) == 30_000
    assert list(traffic.columns[:10]) == [
        "query_id",
        "timestamp",
        "user_id",
        "text",
        "channel",
        "lang",
        "error",
        "feedback",
        "latency_s",
        "cost",
    ]
    assert traffic["query_id"].is_unique
    assert (traffic["text"].str.strip() != "").all()
    assert set(traffic["channel"]) == {"app", "web"}
    assert set(traffic["lang"]) == {"en", "es", "fr", "de", "pt"}
    assert traffic["utc"].min() >= pd.Timestamp("2026-06-01", tz="UTC")
    assert traffic["utc"].max() < pd.Timestamp("2026-08-24", tz="UTC")
    assert traffic["utc"].is_monotonic_increasing
    assert set(traffic["week"]) == set(range(1, 13))
    offsets = traffic["timestamp"].str[-6:].value_counts(normalize=True)
    assert offsets["+00:00"] > 0.95
    assert offsets.get("+02:00", 0) > 0.003  # a few rows need time-zone handling


def test_users_are_heavy_tailed(traffic):
    per_user = traffic["user_id"].value_counts()
    assert 2_000 <= len(per_user) <= 5_000
    assert per_user.iloc[0] > 20 * per_user.median()
    assert (per_user == 1).sum() > 300


def test_daily_and_weekly_rhythm(traffic):
    # Customers are on US Eastern time: 08 UTC is 4am local, 16 UTC is noon.
    by_hour = traffic["utc"].dt.hour.value_counts()
    assert by_hour[16] > 5 * by_hour[8]
    by_weekday = traffic["utc"].dt.day_of_week.value_counts()
    assert by_weekday[0] > 1.5 * by_weekday[6]


def test_topic_mix_is_long_tailed(traffic):
    shares = traffic["topic"].value_counts(normalize=True)
    assert len(shares) >= 20
    assert shares.iloc[:5].sum() > 0.5
    assert (shares < 0.01).sum() >= 8
    assert shares.min() > 0.001  # every tail topic is still big enough to form a cluster


def test_launch_topic_appears_mid_period(traffic):
    weekly = pd.crosstab(traffic["week"], traffic["topic"], normalize="index")[LAUNCH_TOPIC]
    assert (weekly.loc[1:5] == 0).all()
    assert (weekly.loc[10:12] >= 0.05).all()
    assert weekly.loc[12] > weekly.loc[6]


def test_fading_topic_drops(traffic):
    weekly = pd.crosstab(traffic["week"], traffic["topic"], normalize="index")[FADING_TOPIC]
    assert (weekly.loc[1:3] > 0.06).all()
    assert (weekly.loc[10:12] < 0.005).all()


def test_travel_notices_rise_in_summer(traffic):
    month = traffic["utc"].dt.month
    travel = traffic["topic"] == "travel_notice"
    assert travel[month == 8].mean() > 1.5 * travel[month == 6].mean()


def test_texts_vary_like_real_traffic(traffic):
    english = traffic[traffic["lang"] == "en"]["text"]
    assert 0.03 < (traffic["lang"] != "en").mean() < 0.08
    counts = traffic["text"].value_counts()
    assert counts["reset password"] > 20  # exact duplicates
    assert 0.2 < traffic["text"].nunique() / len(traffic) < 0.6
    assert english.str.fullmatch(r"[^A-Z]+").mean() > 0.3  # lowercase / informal
    assert english.str.contains(" and also | btw ").sum() > 300  # compound questions
    assert english.str.contains(r"\bcadr\b|\bcrad\b|\bdeclnied\b|\bpasword\b").any()  # typos


def test_some_queries_carry_fake_pii(traffic):
    text = traffic["text"]
    has_pii = text.str.contains(EMAIL) | text.str.contains(PHONE) | text.str.contains(CARD)
    assert 0.01 < has_pii.mean() < 0.06
    for kind in (EMAIL, PHONE, CARD):
        assert text.str.contains(kind).sum() > 50, kind
    cards = text.str.extractall(f"({CARD})")[0]
    assert all(_luhn_valid(card) for card in cards)


def test_eval_set_covers_early_topics_with_gaps(traffic, evals):
    assert list(evals.columns) == ["eval_id", "prompt", "topic"]
    assert 130 <= len(evals) <= 170
    assert evals["eval_id"].is_unique and evals["prompt"].is_unique
    covered = set(evals["topic"])
    assert LAUNCH_TOPIC not in covered
    early = set(traffic.loc[traffic["week"] <= 3, "topic"])
    assert covered <= early
    assert 0.7 <= len(covered) / len(early) <= 0.8
    shares = traffic["topic"].value_counts(normalize=True)
    missed = shares.drop(list(covered))
    assert missed.max() > 0.03  # a real gap, not only tiny topics


def test_promptfoo_config_matches_evals_csv(evals):
    config = yaml.safe_load((SAMPLE_DATA / "promptfooconfig.yaml").read_text())
    assert any("{{query}}" in prompt for prompt in config["prompts"])
    assert config["providers"]
    assert [test["vars"]["query"] for test in config["tests"]] == list(evals["prompt"])
    assert all(test["assert"] for test in config["tests"])


def test_eval_results_weigh_differently_by_traffic(traffic, evals):
    results = pd.read_csv(SAMPLE_DATA / "eval_results.csv")
    assert list(results.columns) == ["eval_id", "prompt", "passed", "score"]
    assert results["passed"].dtype == bool
    assert list(results["eval_id"]) == list(evals["eval_id"])
    assert results["score"].between(0, 1).all()
    plain = results["passed"].mean()
    assert 0.85 <= plain <= 0.95
    per_topic = results.assign(topic=evals["topic"]).groupby("topic")["passed"].mean()
    assert per_topic.min() < 0.75
    weights = traffic["topic"].value_counts().reindex(per_topic.index)
    weighted = (per_topic * weights).sum() / weights.sum()
    assert plain - weighted > 0.02


def test_chat_logs_are_openai_messages():
    lines = (SAMPLE_DATA / "chat_logs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200
    turns = []
    for line in lines:
        record = json.loads(line)
        roles = [message["role"] for message in record["messages"]]
        assert roles[0] == "system"
        assert roles[1:] == ["user", "assistant"] * ((len(roles) - 1) // 2)
        assert all(message["content"] for message in record["messages"])
        pd.Timestamp(record["created_at"])
        turns.append(roles.count("user"))
    assert max(turns) >= 3 and sum(n > 1 for n in turns) > 50


# ------------------------------------------------------------------------------ outcomes


def test_outcomes_look_like_a_log_and_carry_the_planted_rates(traffic, evals):
    assert traffic["error"].dtype == bool
    assert set(traffic["feedback"]) == {"up", "down", ""}
    assert (traffic["feedback"] == "").mean() > 0.8  # most users never rate an answer
    assert (traffic["latency_s"] > 0).all() and (traffic["cost"] > 0).all()
    assert (traffic.loc[traffic["latency_s"] == 30.0, "error"]).all()  # timeouts are errors
    # Every row fails with its topic's planted rate, recorded in the truth file.
    planted = traffic.groupby("topic")["planted"].agg(["min", "max"])
    assert (planted["min"] == planted["max"]).all()
    assert planted["min"].to_dict() == {t: PLANTED.get(t, BASE_RATE) for t in planted.index}
    assert UNTESTED_FAILING not in set(evals["topic"]) and UNTESTED_HAPPY not in set(evals["topic"])
    assert TESTED_FAILING in set(evals["topic"])
    # evalcov's default definition (error, or feedback below the scale's middle) measures it.
    failed = traffic["error"] | (traffic["feedback"] == "down")
    by_topic = failed.groupby(traffic["topic"])
    rate, n = by_topic.mean(), by_topic.size()
    p = traffic.groupby("topic")["planted"].first()
    assert (abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9).all()
    assert traffic["latency_s"].groupby(traffic["topic"]).median()[UNTESTED_HAPPY] < 1.6


@pytest.fixture(scope="module")
def sample_truth(sample_report) -> pd.DataFrame:
    """Ground truth of the rows ``sample_report`` analyzed (every 10th), in its row order."""
    truth = pd.read_csv(SAMPLE_DATA / "traffic_topics.csv").iloc[::10].reset_index(drop=True)
    assert truth["query_id"].tolist() == sample_report[0]["query_id"].tolist()
    return truth


def _main_topic(truth: pd.DataFrame, rows: np.ndarray) -> tuple[str, float]:
    """The true topic most of ``rows`` belong to, and its share of them."""
    shares = truth.loc[rows, "topic"].value_counts(normalize=True)
    return shares.index[0], shares.iloc[0]


def test_evalcov_ranks_the_untested_failing_topic_first(sample_report, sample_truth):
    report, truth = sample_report[1], sample_truth
    q = report.queries
    planted = truth["failure_rate"].to_numpy()
    risk = report.gaps(5, by="risk")
    top = risk.iloc[0]
    main, purity = _main_topic(truth, (q["topic"] == top["topic"]).to_numpy())
    assert main == UNTESTED_FAILING and purity > 0.8
    # Its interval holds the planted rate of the rows it measures.
    expected = planted[(q["topic"] == top["topic"]).to_numpy() & ~q["excluded"].to_numpy()].mean()
    assert top["failure_rate_low"] <= expected <= top["failure_rate_high"]
    assert top["failure_rate_low"] > report.summary()["failure_rate"]
    # The HTML report's "Failing and untested" section leads with it too.
    from evalcov.html_report import summarize

    section = summarize(report, plots=False)["risk"]
    assert section["gaps"][0]["cluster"] == top["cluster"]
    s = report.summary()
    assert s["failure_rate_low"] <= planted.mean() <= s["failure_rate_high"]


def test_evalcov_tells_tested_failures_and_happy_gaps_apart(sample_report, sample_truth):
    report, truth = sample_report[1], sample_truth
    q = report.queries
    failing = report.failing_covered()
    assert len(failing) >= 1
    for cluster in failing["cluster"]:
        assert _main_topic(truth, (q["cluster"] == cluster).to_numpy())[0] == TESTED_FAILING
    # The tested failing topic is no gap of the risk ranking: the eval set tests it.
    risk = report.gaps(5, by="risk")
    mains = [_main_topic(truth, (q["topic"] == t).to_numpy())[0] for t in risk["topic"]]
    assert TESTED_FAILING not in mains[:3] and UNTESTED_HAPPY not in mains[:3]
    # The happy gap is among the largest by traffic, yet fails less than the traffic does.
    by_traffic = report.gaps(5)
    happy = [
        r
        for r in by_traffic.itertuples()
        if _main_topic(truth, (q["topic"] == r.topic).to_numpy())[0] == UNTESTED_HAPPY
    ]
    assert happy and all(r.excess_failures < 0 for r in happy)
    assert all(r.failure_rate < report.summary()["failure_rate"] for r in happy)
