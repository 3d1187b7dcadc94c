"""EmbeddingCache: hits and misses, persistence, damaged shards, concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest

from evalcov.cache import EmbeddingCache, _write_shard, default_cache_dir, text_digest

NAME = "test-model@1:fp32"
DIM = 8


def vectors_for(texts: list[str]) -> np.ndarray:
    """A fixed unit vector per text, so any process computes the same one."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(DIM)
        rows.append(v / np.linalg.norm(v))
    return np.array(rows, dtype=np.float32)


def shards(directory: Path) -> list[Path]:
    return sorted(directory.glob("embeddings/*/*.evc"))


def test_empty_cache_misses_everything(tmp_path):
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a", "b"])
    assert vectors is None
    assert hit.tolist() == [False, False]


def test_put_then_get_returns_exact_vectors_and_nan_for_misses(tmp_path):
    cache = EmbeddingCache(tmp_path)
    texts = ["book a flight", "what's my balance", "play jazz"]
    cache.put(NAME, texts, vectors_for(texts))
    vectors, hit = cache.get(NAME, ["play jazz", "unknown", "book a flight"])
    assert hit.tolist() == [True, False, True]
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[[0, 2]], vectors_for(["play jazz", "book a flight"]))
    assert np.isnan(vectors[1]).all()


def test_persists_across_instances_and_sees_other_writers(tmp_path):
    reader = EmbeddingCache(tmp_path)
    assert reader.get(NAME, ["x"])[1].tolist() == [False]
    EmbeddingCache(tmp_path).put(NAME, ["x"], vectors_for(["x"]))
    vectors, hit = reader.get(NAME, ["x"])
    assert hit.tolist() == [True]
    np.testing.assert_array_equal(vectors, vectors_for(["x"]))


def test_names_are_separate_keys(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["x"], vectors_for(["x"]))
    assert cache.get("other-model@1:fp32", ["x"])[1].tolist() == [False]


def test_put_skips_cached_texts_and_writes_no_empty_shard(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["a", "b", "a"], vectors_for(["a", "b", "a"]))
    assert len(shards(tmp_path)) == 1
    cache.put(NAME, ["a", "b"], vectors_for(["a", "b"]))
    assert len(shards(tmp_path)) == 1
    cache.put(NAME, ["a", "c"], vectors_for(["a", "c"]))
    assert len(shards(tmp_path)) == 2
    assert cache.get(NAME, ["a", "b", "c"])[1].all()


def test_bad_put_arguments(tmp_path):
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(ValueError, match=r"shape \(len\(texts\), dim\) = \(2, dim\)"):
        cache.put(NAME, ["a", "b"], vectors_for(["a"]))
    cache.put(NAME, ["a"], vectors_for(["a"]))
    with pytest.raises(ValueError, match="dimension 8, got 3"):
        cache.put(NAME, ["b"], np.ones((1, 3)))


def test_truncated_and_garbage_shards_are_ignored(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["a", "b"], vectors_for(["a", "b"]))
    (shard,) = shards(tmp_path)
    shard.write_bytes(shard.read_bytes()[:-40])  # a write cut short
    (shard.parent / "0-garbage.evc").write_bytes(os.urandom(500))
    fresh = EmbeddingCache(tmp_path)
    assert fresh.get(NAME, ["a", "b"])[1].tolist() == [False, False]
    fresh.put(NAME, ["a", "b"], vectors_for(["a", "b"]))
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a", "b"])
    assert hit.all()
    np.testing.assert_array_equal(vectors, vectors_for(["a", "b"]))


def test_flipped_bit_fails_the_checksum_and_is_never_returned(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["a", "b"], vectors_for(["a", "b"]))
    (shard,) = shards(tmp_path)
    data = bytearray(shard.read_bytes())
    data[-40] ^= 0xFF  # inside the last vector, same file size
    shard.write_bytes(bytes(data))
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a", "b"])
    assert vectors is None and not hit.any()
    assert not shard.exists()  # removed, so it is not checked again


def _format1_shard(path, texts):
    """A shard as evalcov wrote them before the CRC-32 format: SHA-256 of the body last."""
    import struct

    vectors = vectors_for(texts)
    digests = np.array([text_digest(t) for t in texts], dtype="S32")
    body = struct.pack("<8sQI", b"EVCSHRD1", *vectors.shape) + digests.tobytes()
    body += vectors.astype("<f4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body + hashlib.sha256(body).digest())


def test_shards_of_the_first_format_are_still_read_and_checked(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["new"], vectors_for(["new"]))
    (current,) = shards(tmp_path)
    assert current.read_bytes()[:8] == b"EVCSHRD2"
    old = current.with_name("0-old.evc")
    _format1_shard(old, ["a", "b"])
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["b", "new", "missing", "a"])
    assert hit.tolist() == [True, True, False, True]
    np.testing.assert_array_equal(vectors[[0, 1, 3]], vectors_for(["b", "new", "a"]))
    assert np.isnan(vectors[2]).all()
    data = bytearray(old.read_bytes())
    data[-40] ^= 0xFF  # inside the last vector
    old.write_bytes(bytes(data))
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a", "new"])
    assert hit.tolist() == [False, True]
    assert not old.exists()


def test_damaged_shard_falls_back_to_another_copy(tmp_path):
    # Two writers that raced both stored "a" (each checked the cache before the other wrote);
    # losing one copy must not lose the text.
    EmbeddingCache(tmp_path).put(NAME, ["a"], vectors_for(["a"]))
    first = shards(tmp_path)[0]
    digests = np.array([text_digest("a"), text_digest("b")], dtype="S32")
    _write_shard(first.with_name("1" + first.name), digests, vectors_for(["a", "b"]))
    assert len(shards(tmp_path)) == 2
    data = bytearray(first.read_bytes())
    data[-40] ^= 0xFF
    first.write_bytes(bytes(data))
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a", "b"])
    assert hit.all()
    np.testing.assert_array_equal(vectors, vectors_for(["a", "b"]))


def test_leftover_temp_files_are_ignored_and_stale_ones_removed(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["a"], vectors_for(["a"]))
    folder = shards(tmp_path)[0].parent
    stale, fresh = folder / ".tmp-killed.evc", folder / ".tmp-running.evc"
    stale.write_bytes(b"EVCSHRD1 partial")
    fresh.write_bytes(b"EVCSHRD1 partial")
    day_ago = time.time() - 86400
    os.utime(stale, (day_ago, day_ago))
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a"])
    assert hit.all()
    np.testing.assert_array_equal(vectors, vectors_for(["a"]))
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer still at work


def test_a_writers_complete_temp_file_is_not_read_as_a_shard(tmp_path):
    # A writer's temporary file is complete just before it is renamed into place; a reader
    # that indexed it would lose it a moment later (CI failed on 2026-12-02 when the rename
    # fell between two reads of its header). Only renamed shards count.
    cache = EmbeddingCache(tmp_path)
    cache.put(NAME, ["a"], vectors_for(["a"]))
    folder = shards(tmp_path)[0].parent
    in_flight = folder / ".tmp-00000000000000000001-1-abcdef12.evc"
    _write_shard(in_flight, np.array([text_digest("b")]), vectors_for(["b"]))
    assert in_flight.exists()
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, ["a", "b"])
    assert hit.tolist() == [True, False]
    np.testing.assert_array_equal(vectors[0], vectors_for(["a"])[0])


def _writer(directory: str, texts: list[str], rounds: int) -> None:
    cache = EmbeddingCache(directory)
    chunk = max(1, len(texts) // rounds)
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        cache.put(NAME, part, vectors_for(part))


def test_concurrent_writers_with_overlapping_texts(tmp_path):
    shared = [f"shared text {i}" for i in range(300)]
    first = [f"first {i}" for i in range(300)] + shared
    second = shared + [f"second {i}" for i in range(300)]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_writer, args=(str(tmp_path), texts, 15))
        for texts in (first, second)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    everything = first + second
    vectors, hit = EmbeddingCache(tmp_path).get(NAME, everything)
    assert hit.all()
    np.testing.assert_array_equal(vectors, vectors_for(everything))
    assert not list(tmp_path.glob("embeddings/*/.tmp-*"))


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("EVALCOV_CACHE_DIR", str(tmp_path / "here"))
    assert EmbeddingCache().directory == tmp_path / "here"
    monkeypatch.delenv("EVALCOV_CACHE_DIR")
    assert default_cache_dir().name == "evalcov"
