"""Cluster names without an LLM: c-TF-IDF keywords on real CLINC150 queries grouped by intent."""

from __future__ import annotations

import numpy as np

from evalcov.labels import _heaviest_per_cluster, ctfidf_keywords

INTENTS = ["translate", "weather", "pin_change", "book_flight", "alarm"]


def _grouped(clinc):
    rows = [(t, INTENTS.index(i)) for t, i in clinc["train"] if i in INTENTS]
    texts = [t for t, _ in rows]
    labels = np.array([c for _, c in rows])
    return texts, labels


def test_keywords_name_the_intent(clinc):
    texts, labels = _grouped(clinc)
    keywords = ctfidf_keywords(texts, labels, np.ones(len(texts)), len(INTENTS))
    assert {"french", "spanish"} & set(keywords[0])
    assert "weather" in " ".join(keywords[1])
    assert "pin" in " ".join(keywords[2])
    assert "flight" in " ".join(keywords[3])


def test_large_inputs_use_each_clusters_heaviest_texts_and_keep_the_keywords(clinc):
    texts, labels = _grouped(clinc)
    weights = np.random.default_rng(0).zipf(2.0, len(texts)).astype(float)
    full = ctfidf_keywords(texts, labels, weights, len(INTENTS))
    # 100 texts per cluster, cut to the 20 heaviest of each.
    capped = ctfidf_keywords(
        texts, labels, weights, len(INTENTS), max_texts=100, min_per_cluster=20
    )
    assert sum(len(set(a) & set(b)) for a, b in zip(full, capped, strict=True)) >= 12
    assert [k[0] for k in capped][:3] == [k[0] for k in full][:3]


def test_heaviest_per_cluster_picks_by_weight_then_row():
    labels = np.array([2, 0, 2, 1, 0, 2, 2])
    weights = np.array([1, 5, 3, 1, 5, 3, 9.0])
    assert _heaviest_per_cluster(labels, weights, 2).tolist() == [1, 2, 3, 4, 6]
    assert _heaviest_per_cluster(labels, weights, 10).tolist() == list(range(7))
