"""On-disk cache of text embeddings, safe under concurrent writers and killed runs.

Layout: ``<directory>/embeddings/<embedder slug>/<shard>.evc``. Every :meth:`EmbeddingCache.put`
appends one immutable shard file holding the SHA-256 digests of its texts, their vectors and a
checksum over both. A shard is written to a temporary file in the same folder, fsynced and then
renamed into place with :func:`os.replace`, so a reader sees either the whole shard or none of
it, and two writers never touch the same file. Opening the cache reads only the digests of every
shard into a sorted in-memory index; vectors are read (and the checksum verified) only for the
shards that hold requested texts. A damaged shard is deleted and its texts count as misses, so
they are recomputed rather than returned.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evalcov._files import fsync_dir

__all__ = ["EmbeddingCache", "default_cache_dir", "text_digest"]

_MAGIC = b"EVCSHRD1"
# magic, number of rows, vector dimension
_HEADER = struct.Struct("<8sQI")
_DIGEST_SIZE = 32
_SUFFIX = ".evc"
_TMP_PREFIX = ".tmp-"
# A temporary file this old was left by a killed writer, not by one still running.
_STALE_TMP_SECONDS = 3600.0


def default_cache_dir() -> Path:
    """Return ``$EVALCOV_CACHE_DIR`` if set, else the platform's user cache folder for evalcov."""
    env = os.environ.get("EVALCOV_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("evalcov"))


def text_digest(text: str) -> bytes:
    """SHA-256 of a text's UTF-8 bytes; lone surrogates are kept rather than rejected."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _slug(name: str) -> str:
    # Embedder names contain ':' '/' '@'; a readable prefix plus a hash keeps them distinct.
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60]
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


@dataclass
class _Index:
    """Digests of every valid shard of one embedder, sorted for binary search."""

    shards: list[Path] = field(default_factory=list)
    dim: int | None = None
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=f"S{_DIGEST_SIZE}"))
    shard_of: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    row_of: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    verified: set[int] = field(default_factory=set)

    def lookup(self, digests: np.ndarray) -> np.ndarray:
        """Position in ``keys`` of each digest, -1 when absent."""
        if len(self.keys) == 0 or len(digests) == 0:
            return np.full(len(digests), -1, dtype=np.int64)
        pos = np.searchsorted(self.keys, digests)
        pos = np.minimum(pos, len(self.keys) - 1)
        return np.where(self.keys[pos] == digests, pos, -1)

    def drop_shard(self, shard_id: int) -> None:
        """Forget a damaged shard, so its texts are found in another shard or recomputed."""
        keep = self.shard_of != shard_id
        self.keys, self.shard_of, self.row_of = (
            self.keys[keep],
            self.shard_of[keep],
            self.row_of[keep],
        )


class EmbeddingCache:
    """Embeddings keyed by (embedder name, SHA-256 of the text), stored in append-only shards.

    Parameters
    ----------
    directory : str or Path, optional
        Root folder of the cache. Default: ``$EVALCOV_CACHE_DIR`` if set, else
        ``platformdirs.user_cache_dir("evalcov")``. Created on first write.

    Notes
    -----
    Safe to share between processes: writers never modify an existing file, and each
    :meth:`get` picks up shards written by other processes since the last call. The
    embedder name is the whole identity of a model: two models must never share a name. The
    built-in encoders name model, version and precision; a model folder its SHA-256; a hub
    model its commit; an ``openai:`` encoder its model, endpoint, ``dimensions`` and whether
    texts are redacted before sending (never its API key). Each name gets its own folder.

    Examples
    --------
    >>> cache = EmbeddingCache(tmp_dir)  # doctest: +SKIP
    >>> cache.put("my-model@1:fp32", ["hi"], vectors)  # doctest: +SKIP
    >>> vectors, hit = cache.get("my-model@1:fp32", ["hi", "new"])  # doctest: +SKIP
    >>> hit  # doctest: +SKIP
    array([ True, False])
    """

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._indexes: dict[str, _Index] = {}

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.directory)!r})"

    def get(self, embedder_name: str, texts: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """Look texts up.

        Parameters
        ----------
        embedder_name : str
            The embedder's ``name`` (model id, version and precision).
        texts : list of str
            Texts to look up, exactly as they were (or will be) embedded.

        Returns
        -------
        vectors : ndarray of shape (n_texts, dim), float32, or None
            Cached vectors in the order of ``texts``; rows of misses are NaN. None when
            no text is in the cache (the dimension is then unknown).
        hit : ndarray of shape (n_texts,), bool
            True where the row of ``vectors`` comes from the cache.
        """
        index = self._refresh(embedder_name)
        digests = np.array([text_digest(t) for t in texts], dtype=f"S{_DIGEST_SIZE}")
        pos = index.lookup(digests)
        # A shard that fails its checksum is dropped from the index; look up again so its
        # texts are served from another shard that also holds them, or become misses.
        while True:
            hit = pos >= 0
            if not hit.any():
                return None, hit
            vectors = np.full((len(texts), index.dim), np.nan, dtype=np.float32)
            if self._gather(index, pos, vectors):
                return vectors, hit
            pos = index.lookup(digests)

    def put(self, embedder_name: str, texts: list[str], vectors: np.ndarray) -> None:
        """Store vectors for texts as one new shard; texts already cached are skipped.

        Parameters
        ----------
        embedder_name : str
            The embedder's ``name``.
        texts : list of str
            Texts that were embedded.
        vectors : array-like of shape (n_texts, dim)
            Their embeddings; stored as float32.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(
                f"vectors must have shape (len(texts), dim) = ({len(texts)}, dim), "
                f"got {vectors.shape}"
            )
        index = self._refresh(embedder_name)
        if index.dim is not None and vectors.shape[1] != index.dim:
            raise ValueError(
                f"the cache for embedder {embedder_name!r} holds vectors of dimension "
                f"{index.dim}, got {vectors.shape[1]}: give each model a distinct name"
            )
        digests = np.array([text_digest(t) for t in texts], dtype=f"S{_DIGEST_SIZE}")
        _, first = np.unique(digests, return_index=True)
        keep = np.sort(first)
        keep = keep[index.lookup(digests[keep]) < 0]
        if len(keep) == 0:
            return
        folder = self._folder(embedder_name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SUFFIX}"
        _write_shard(path, digests[keep], vectors[keep])
        self._refresh(embedder_name)

    def _folder(self, embedder_name: str) -> Path:
        return self.directory / "embeddings" / _slug(embedder_name)

    def _refresh(self, embedder_name: str) -> _Index:
        """Add shards written since the last call (by any process) to the index."""
        index = self._indexes.get(embedder_name)
        if index is None:
            index = self._indexes[embedder_name] = _Index()
            _remove_stale_tmp(self._folder(embedder_name))
        folder = self._folder(embedder_name)
        if not folder.is_dir():
            return index
        known = set(index.shards)
        new = sorted(p for p in folder.glob(f"*{_SUFFIX}") if p not in known)
        added_keys, added_shard, added_row = [], [], []
        for path in new:
            keys = _read_keys(path, index.dim)
            if keys is None:
                continue
            if index.dim is None:
                index.dim = _read_header(path)[1]
            shard_id = len(index.shards)
            index.shards.append(path)
            added_keys.append(keys)
            added_shard.append(np.full(len(keys), shard_id, dtype=np.int64))
            added_row.append(np.arange(len(keys), dtype=np.int64))
        if added_keys:
            keys = np.concatenate([index.keys, *added_keys])
            shard_of = np.concatenate([index.shard_of, *added_shard])
            row_of = np.concatenate([index.row_of, *added_row])
            order = np.argsort(keys, kind="stable")
            index.keys, index.shard_of, index.row_of = keys[order], shard_of[order], row_of[order]
        return index

    def _gather(self, index: _Index, pos: np.ndarray, out: np.ndarray) -> bool:
        """Copy cached rows into ``out``; False if a shard turned out damaged (now dropped)."""
        hit = np.flatnonzero(pos >= 0)
        shards = index.shard_of[pos[hit]]
        rows = index.row_of[pos[hit]]
        intact = True
        for shard_id in np.unique(shards):
            data = _read_vectors(index.shards[shard_id], verify=shard_id not in index.verified)
            if data is None:
                index.drop_shard(int(shard_id))
                _unlink_quietly(index.shards[shard_id])
                intact = False
                continue
            index.verified.add(int(shard_id))
            mine = shards == shard_id
            out[hit[mine]] = data[rows[mine]]
        return intact


def _write_shard(path: Path, digests: np.ndarray, vectors: np.ndarray) -> None:
    n, dim = vectors.shape
    body = b"".join(
        [
            _HEADER.pack(_MAGIC, n, dim),
            digests.tobytes(),
            np.ascontiguousarray(vectors, dtype="<f4").tobytes(),
        ]
    )
    tmp = path.with_name(f"{_TMP_PREFIX}{path.name}")
    try:
        with open(tmp, "wb") as f:
            f.write(body)
            f.write(hashlib.sha256(body).digest())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def _shard_size(n: int, dim: int) -> int:
    return _HEADER.size + n * _DIGEST_SIZE + n * dim * 4 + _DIGEST_SIZE


def _read_header(path: Path) -> tuple[int, int] | None:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
        size = path.stat().st_size
    except OSError:
        return None
    if len(head) != _HEADER.size:
        return None
    magic, n, dim = _HEADER.unpack(head)
    if magic != _MAGIC or dim == 0 or size != _shard_size(n, dim):
        return None
    return n, dim


def _read_keys(path: Path, expected_dim: int | None) -> np.ndarray | None:
    """Digests of a shard whose header and length are consistent, else None (shard ignored)."""
    header = _read_header(path)
    if header is None or (expected_dim is not None and header[1] != expected_dim):
        return None
    n, _ = header
    with open(path, "rb") as f:
        f.seek(_HEADER.size)
        raw = f.read(n * _DIGEST_SIZE)
    return np.frombuffer(raw, dtype=f"S{_DIGEST_SIZE}").copy()


def _read_vectors(path: Path, verify: bool) -> np.ndarray | None:
    """The shard's vectors (memory-mapped), or None if it is gone or fails its checksum."""
    header = _read_header(path)
    if header is None:
        return None
    n, dim = header
    try:
        if verify:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                remaining = _shard_size(n, dim) - _DIGEST_SIZE
                while remaining:
                    chunk = f.read(min(remaining, 1 << 22))
                    if not chunk:
                        return None
                    h.update(chunk)
                    remaining -= len(chunk)
                if h.digest() != f.read(_DIGEST_SIZE):
                    return None
        offset = _HEADER.size + n * _DIGEST_SIZE
        return np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(n, dim))
    except OSError:
        return None


def _remove_stale_tmp(folder: Path) -> None:
    if not folder.is_dir():
        return
    now = time.time()
    for tmp in folder.glob(f"{_TMP_PREFIX}*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                tmp.unlink()
        except OSError:
            pass


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
