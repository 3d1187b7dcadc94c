"""Readable names: keyphrases from real queries, real MiniLM embeddings, and the sample data."""

from __future__ import annotations

import re

import numpy as np
import pytest

from evalcov.embedders import embed, get_embedder
from evalcov.labels import _phrase_analyzer, keyphrases, name_groups, stop_words_for
from evalcov.llm_labeler import naming_prompt

INTENTS = ["translate", "weather", "pin_change", "book_flight", "alarm", "bill_balance"]
EN_STOPS = stop_words_for([])


@pytest.fixture(scope="module")
def grouped(clinc):
    rows = [(t, INTENTS.index(i)) for t, i in clinc["train"] if i in INTENTS]
    texts = [t for t, _ in rows]
    labels = np.array([c for _, c in rows])
    weights = np.random.default_rng(0).integers(1, 20, len(texts)).astype(float)
    embedder = get_embedder("default")
    return texts, labels, weights, embed(texts, embedder), embedder


def test_digit_tokens_and_stop_words_never_form_phrases():
    analyze = _phrase_analyzer(EN_STOPS, 2)
    grams = analyze("Why can't I cancel my card 4242? Charged $50 on order qa5b9ea325d at 3pm")
    assert grams == [
        "cancel",
        "card",
        "charged",
        "order",
        "cancel card",
        "card charged",
        "charged order",
    ]


def test_stop_words_for_covers_every_language_asked_and_english():
    words = stop_words_for(["es", "de", "xx"])
    assert {"the", "my", "i'm", "don't", "mi", "la", "ich", "wie"} <= words
    # Topic words that the stop-words package's long English list would drop.
    assert not {"tarjeta", "karte", "card", "order", "date", "thanks", "maybe"} & words


def test_keyphrases_are_central_distinctive_phrases_of_each_intent(grouped):
    texts, labels, weights, U, embedder = grouped
    phrases = keyphrases(
        texts,
        labels,
        weights,
        U,
        len(INTENTS),
        stop_words=EN_STOPS,
        embed_phrases=embedder.embed,
    )
    joined = [" ".join(p) for p in phrases]
    assert "translat" in joined[0]
    assert "weather" in joined[1]
    assert "pin" in joined[2]
    assert "flight" in joined[3]
    assert "alarm" in joined[4]
    assert "bill" in joined[5] or "balance" in joined[5]
    for p in phrases:
        assert 2 <= len(p) <= 4
        for phrase in p:
            words = phrase.split()
            assert 1 <= len(words) <= 3
            assert not set(words) & EN_STOPS, phrase
            assert not re.search(r"\d", phrase), phrase
        # Diversity: no phrase repeats another's words.
        assert all(not set(a.split()) <= set(b.split()) for a in p for b in p if a != b)
    # Without a phrase embedder the texts holding each phrase stand in for it.
    fallback = keyphrases(texts, labels, weights, U, len(INTENTS), stop_words=EN_STOPS)
    assert "weather" in " ".join(fallback[1]) and "flight" in " ".join(fallback[3])


def test_names_are_deterministic_and_examples_most_typical(grouped):
    texts, labels, weights, U, embedder = grouped
    runs = [
        name_groups(
            texts,
            labels,
            weights,
            U,
            len(INTENTS),
            stop_words=EN_STOPS,
            embed_phrases=embedder.embed,
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    names, _, examples = runs[0]
    assert all(1 <= n.count(" / ") + 1 <= 2 for n in names)
    # The first example is the text closest to the weighted centre, not the first text.
    rows = np.flatnonzero(labels == 1)
    centre = (U[rows] * weights[rows, None]).sum(axis=0)
    assert examples[1][0] == texts[rows[np.argmax(U[rows] @ centre)]]
    assert examples[1][0] != texts[rows[0]]


def test_labeler_only_sees_redacted_examples():
    texts = [f"reset my password, mail me at user{i}@example.com" for i in range(4)]
    texts += [f"what's the weather in Paris day {i}" for i in range(4)]
    labels = np.array([0] * 4 + [1] * 4)
    U = np.eye(8, 4)[[0, 0, 1, 1, 2, 2, 3, 3]].astype(float) + 0.1
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    seen = []

    def labeler(keywords, examples):
        seen.append((keywords, examples))
        return "topic"

    from evalcov.redact import get_redactor

    names, _, examples = name_groups(
        texts, labels, np.ones(8), U, 2, labeler=labeler, redact=get_redactor("default").redact
    )
    assert names == ["topic", "topic"]
    assert not any("@" in e for _, ex in seen for e in ex)
    assert all("[EMAIL" in e for e in examples[0])


def test_naming_prompt_is_built_from_redacted_inputs():
    messages = naming_prompt(
        ["password reset", "jane.doe@example.com"],
        ["I'm Jane, call me on +1 415 555 0100", "card 4111 1111 1111 1111 locked"],
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    text = messages[1]["content"]
    assert "password reset" in text and "[EMAIL" in text and "[PHONE" in text
    assert "example.com" not in text and "555" not in text and "4111" not in text
    assert "3 to 6 words" in messages[0]["content"]
    raw = naming_prompt(["a@b.co"], [], redact=None)[1]["content"]
    assert "a@b.co" in raw


def test_sample_names_have_no_stop_word_or_bare_number(sample_report):
    traffic, report = sample_report
    stops = stop_words_for(traffic["lang"].unique())
    for label in report.clusters["label"]:
        # A language bin's "[es] " prefix is a marker, not part of the name.
        for word in re.split(r"[\s/]+", re.sub(r"^\[\w+\] ", "", label.lower())):
            if word:
                assert word not in stops, label
                assert not re.search(r"\d", word), label


def test_sample_languages_are_detected_and_summarized(sample_report):
    traffic, report = sample_report
    q = report.queries
    assert q["lang"].notna().all() and len(q) == len(traffic)
    assert (q["lang"].to_numpy() == traffic["lang"].to_numpy()).mean() >= 0.97
    langs = report.summary()["languages"]
    assert set(langs) >= {"en", "es", "de"}
    assert sum(v["share"] for v in langs.values()) == pytest.approx(1.0)
    assert langs["es"]["share"] == pytest.approx((q["lang"] == "es").mean())
    # The sample has ~6% non-English traffic and the default model reads English only.
    warning = report.summary()["language_warning"]
    assert 'embedder="multilingual"' in warning and 'by="lang"' in warning and "es " in warning
    assert "multilingual" in report._repr_html_()


def test_no_warning_when_traffic_is_in_the_embedders_languages(sample_report):
    from evalcov.languages import unsupported_warning

    langs = {"en": {"share": 0.985, "coverage": 0.5}, "de": {"share": 0.015, "coverage": 0.0}}
    assert unsupported_warning(langs, frozenset({"en"}), "m") is None
    langs = {"en": {"share": 0.97, "coverage": 0.5}, "de": {"share": 0.03, "coverage": 0.0}}
    assert "3.0%" in unsupported_warning(langs, frozenset({"en"}), "m")
    assert unsupported_warning(langs, frozenset({"en", "de"}), "m") is None
    assert unsupported_warning(langs, None, "m") is None
