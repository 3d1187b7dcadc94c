"""Deduplication: every input row is accounted for exactly once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalcov.dedupe import Deduped, dedupe
from evalcov.ingest import read_traffic

DATA = Path(__file__).resolve().parent / "data"


def assert_accounts_for_every_row(frame: pd.DataFrame, d: Deduped) -> None:
    kept = ~frame["excluded"].to_numpy()
    assert d.codes.shape == (len(frame),) and d.codes.dtype == np.int64
    assert d.counts.dtype == np.int64 and d.weights.dtype == np.float64
    assert (d.codes[~kept] == -1).all() and (d.codes[kept] >= 0).all()
    assert d.counts.sum() == kept.sum()
    assert d.weights.sum() == pytest.approx(frame["weight"][kept].sum())
    rows = np.concatenate([d.rows_of(i) for i in range(len(d))])
    assert np.array_equal(np.sort(rows), np.flatnonzero(kept))
    texts = frame["text"].to_numpy()
    for i, t in enumerate(d.texts):
        assert (texts[d.rows_of(i)] == t).all()


def test_dedupe_real_csv():
    frame = read_traffic(DATA / "traffic.csv", weight="count")
    d = dedupe(frame)
    assert_accounts_for_every_row(frame, d)
    # Row 8 differs from row 0 only in whitespace, so normalization merged them.
    assert d.texts[0] == "How do I reset my password?"
    assert d.rows_of(0).tolist() == [0, 8]
    assert d.weights[0] == 3 + 4 and d.counts[0] == 2
    assert len(d) == 7  # 10 rows, 2 empty, one duplicate
    assert d.codes.tolist() == [0, 1, 2, 3, -1, -1, 4, 5, 0, 6]


def test_dedupe_keeps_order_of_first_appearance_and_case():
    frame = read_traffic(str(DATA / "logs" / "*.jsonl"))
    d = dedupe(frame)
    assert d.texts == [
        "track my package",
        "where is my refund",
        "Track my package",
        "change delivery address to 12 Rue de la Paix",
    ]
    assert d.counts.tolist() == [2, 1, 1, 1]
    assert d.rows_of(0).tolist() == [0, 3]
    assert d.rows_of(-1).tolist() == [4]


def test_dedupe_chat_turns_and_zero_weights():
    frame = read_traffic(DATA / "chat_logs.jsonl", turns="all")
    d = dedupe(frame)
    assert_accounts_for_every_row(frame, d)
    assert d.codes[5] == -1  # the conversation without a user turn

    zero = read_traffic(pd.DataFrame({"text": ["a", "b", "a"], "w": [0, 0, 2.5]}), weight="w")
    dz = dedupe(zero)
    assert dz.weights.tolist() == [2.5, 0.0]
    assert dz.counts.tolist() == [2, 1]


def test_dedupe_random_table_matches_groupby():
    rng = np.random.default_rng(0)
    n = 5000
    vocab = np.array([f"query {k}" for k in range(300)], dtype=object)
    texts = vocab[rng.integers(0, 300, n)]
    texts[rng.random(n) < 0.05] = " "
    frame = read_traffic(
        pd.DataFrame({"text": texts, "w": rng.integers(0, 50, n)}, index=rng.permutation(n)),
        weight="w",
    )
    d = dedupe(frame)
    assert_accounts_for_every_row(frame, d)
    kept = frame[~frame["excluded"]]
    grouped = kept.groupby("text", sort=False)["weight"].agg(["sum", "size"])
    assert d.texts == grouped.index.tolist()
    assert np.array_equal(d.weights, grouped["sum"].to_numpy())
    assert np.array_equal(d.counts, grouped["size"].to_numpy())


def test_dedupe_rejects_other_frames():
    with pytest.raises(ValueError, match="lacks column.*excluded, weight.*columns present: text"):
        dedupe(pd.DataFrame({"text": ["a"]}))
    with pytest.raises(TypeError, match="must be a DataFrame"):
        dedupe(["a", "b"])
    d = dedupe(read_traffic(["a"]))
    with pytest.raises(IndexError, match="out of range for 1 unique texts"):
        d.rows_of(1)
