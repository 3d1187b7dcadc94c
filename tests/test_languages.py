"""Offline language detection on real multilingual queries (xSID)."""

from __future__ import annotations

import numpy as np
import pytest

from evalcov.languages import (
    detect_languages,
    language_table,
    languages_present,
    mark_language_bins,
)

LANGS = ["en", "de", "it", "tr", "ja", "nl", "kk"]


def _xsid(shared_data, lang: str, n: int = 120) -> list[str]:
    path = shared_data / "xsid" / f"{lang}.test.conll"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    texts = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        for line in block.splitlines():
            key, _, value = line.partition("=")
            # Translated files also carry the English original as "# text-en =".
            if key.strip() == "# text":
                texts.append(value.strip())
                break
    return texts[:n]


@pytest.mark.parametrize("lang", LANGS)
def test_each_language_of_xsid_is_recognized(shared_data, lang):
    detected = detect_languages(_xsid(shared_data, lang))
    assert (detected == lang).mean() >= 0.95


def test_short_english_queries_follow_the_traffic_s_language(shared_data):
    texts = _xsid(shared_data, "en", 300) + ["stop alarm", "delete all alarms", "weather"]
    detected = detect_languages(texts)
    assert list(detected[-3:]) == ["en", "en", "en"]
    # A clearly foreign query in English traffic keeps its language.
    mixed = detect_languages(_xsid(shared_data, "en", 300) + _xsid(shared_data, "de", 5))
    assert (mixed[-5:] == "de").all()


def test_texts_without_letters_are_undetermined_and_weights_are_checked():
    assert list(detect_languages(["1099", "?!", "my card was declined"])) == ["und", "und", "en"]
    with pytest.raises(ValueError, match="weights"):
        detect_languages(["a", "b"], np.ones(3))


def test_language_table_and_languages_present():
    lang = np.array(["en", "en", "es", "de", "und"], dtype=object)
    weights = np.array([90.0, 5.0, 3.0, 1.0, 1.0])
    covered = np.array([True, False, False, True, False])
    table = language_table(lang, weights, covered)
    assert table["lang"].tolist() == ["en", "es", "de", "und"]
    assert table["traffic_share"].tolist() == pytest.approx([0.95, 0.03, 0.01, 0.01])
    assert table["coverage"].tolist() == pytest.approx([90 / 95, 0.0, 1.0, 0.0])
    groups = np.array([0, 0, 1, 0, 0])
    # de is 1% of traffic but no group's majority: its stop words stay out; und never counts.
    assert languages_present(lang, groups, weights, min_share=0.02) == ["en", "es"]


def test_groups_mostly_in_an_unsupported_language_are_marked():
    lang = np.array(["es", "es", "en", "en", "de", "en"], dtype=object)
    groups = np.array([0, 0, 0, 1, 1, 2])
    weights = np.array([2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    names = ["tarjeta rechazada", "card / karte", "card declined"]
    marked = mark_language_bins(names, lang, groups, weights, frozenset({"en"}))
    assert marked == ["[es] tarjeta rechazada", "card / karte", "card declined"]
    assert mark_language_bins(names, lang, groups, weights, None) == names


def test_batched_detector_scores_equal_the_libraries_per_text_scores(shared_data):
    from evalcov.languages import _batch_scores, _identifier

    texts = [t for lang in ("en", "de", "ja", "ar", "sr") for t in _xsid(shared_data, lang, 60)]
    texts += ["HELLO THERE", "¿Dónde está?", "a b", "x" * 3000]
    ident = _identifier()
    expected = np.stack([ident._decide(t) for t in texts])
    got = _batch_scores(ident, texts)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()


def test_half_precision_probabilities_round_as_numpy_does():
    # Language probabilities are held as float16 through bit arithmetic (numpy's own
    # conversion is slow on the tiny values short texts have): it must round exactly as numpy.
    from evalcov._half import probabilities_to_float16, to_float32

    rng = np.random.default_rng(0)
    bits = rng.integers(0, np.float32(1.0).view(np.uint32), 2_000_000, dtype=np.uint32)
    # Every value in [0, 1]: zeros, float32 and float16 subnormals, halfway cases, 1.
    values = np.concatenate([bits.view(np.float32), np.float32([0.0, 2**-24, 2**-25, 6.1e-5, 1])])
    # Halfway between two float16 values (the bits just below the kept ten set to 1000...),
    # which round to the even one, for normal and subnormal float16 results.
    mantissa = np.arange(2**10, dtype=np.uint32) << 13 | 1 << 12
    ties = np.concatenate([mantissa + (e << 23) for e in (100, 112, 113, 120, 126)])
    values = np.concatenate([values, ties.astype(np.uint32).view(np.float32)])
    half = probabilities_to_float16(values)
    np.testing.assert_array_equal(half.view(np.uint16), values.astype(np.float16).view(np.uint16))
    np.testing.assert_array_equal(to_float32(half), half.astype(np.float32))


def test_blocks_scored_on_threads_give_the_serial_answer(shared_data, monkeypatch):
    from evalcov import languages

    # Several small blocks of real mixed-language queries, so threads take them out of order.
    texts = [t for lang in LANGS for t in _xsid(shared_data, lang, 60)]
    weights = np.arange(len(texts), dtype=float) % 7 + 1
    monkeypatch.setattr(languages, "_LANG_BLOCK", 37)
    monkeypatch.setattr(languages, "_LANG_THREADS", 1)
    serial = detect_languages(texts, weights)
    monkeypatch.setattr(languages, "_LANG_THREADS", 3)
    threaded = detect_languages(texts, weights)
    assert len(serial) == len(texts)
    np.testing.assert_array_equal(threaded, serial)
    assert set(serial) >= {"en", "de", "ja", "tr"}


def test_unsure_texts_keep_only_languages_that_can_still_win(shared_data):
    # Short queries are unsure; each keeps the languages within the prior's reach of its top
    # one. On the real detector's probabilities, under any prior the rounds can reach (floored
    # at 0.01 / n, at most 1), the kept values choose what the whole row would.
    from evalcov import languages

    texts = [t for lang in LANGS for t in _xsid(shared_data, lang, 60)]
    ident = languages._identifier()
    scores = languages._batch_scores(ident, texts).astype(np.float32)
    probs = scores / scores.sum(axis=1, keepdims=True)
    n = probs.shape[1]
    count, col, value = languages._kept(probs, languages._kept_ratio(n))
    assert len(count) == len(texts) and (count >= 1).all()
    row = np.repeat(np.arange(len(texts)), count)
    assert len(value) < probs.size / 2, "most languages of a query cannot win"
    rng = np.random.default_rng(0)
    for _ in range(20):
        prior = 0.99 * rng.dirichlet(np.full(n, 0.05)) + 0.01 / n
        dense = (probs.astype(np.float16).astype(np.float32) * prior).argmax(axis=1)
        kept = value.astype(np.float32) * prior[col]
        np.testing.assert_array_equal(col[languages._first_max(kept, row)], dense)
