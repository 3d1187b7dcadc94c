"""Any sentence-transformers model, by Hugging Face hub id or by local folder.

``get_embedder("BAAI/bge-small-en-v1.5")`` or ``get_embedder("/models/our-encoder")``. A folder
on this machine is loaded with the hub switched off, so nothing leaves the machine; a hub id is
fetched by sentence-transformers (or read from its local cache when ``HF_HUB_OFFLINE=1``).

The cache key names what produced the vectors: the hub id and the commit it resolved to, or the
folder's name and a SHA-256 of its weights and configuration, so a model retrained in place gets
a new key and the same model copied to another folder keeps its key.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from evalcov.embedders import SentenceTransformerEmbedder, _offline

__all__ = ["load_sentence_transformer"]

# Alternative exports of the same weights that sentence-transformers does not read by default.
_SKIPPED_FOLDERS = frozenset({"onnx", "openvino"})


def load_sentence_transformer(
    model: str,
    *,
    device: str = "cpu",
    batch_size: int = 64,
    trust_remote_code: bool = False,
) -> SentenceTransformerEmbedder:
    """A sentence-transformers model by hub id or local folder, loaded once per process.

    Parameters
    ----------
    model : str
        A folder holding a sentence-transformers model (``/models/our-encoder``), or a hub
        id (``BAAI/bge-small-en-v1.5``).
    device : str, default="cpu"
        Torch device to run on (``"cuda"``, ``"cuda:1"``, ``"mps"``).
    batch_size : int, default=64
        Texts per forward pass.
    trust_remote_code : bool, default=False
        Let the model run Python code shipped with it (some hub models need it). Only for
        models whose code you have read.

    Returns
    -------
    SentenceTransformerEmbedder
        Named ``<hub id>@<commit>:<dtype>`` or ``<folder name>@sha256-<digest>:<dtype>``.

    Raises
    ------
    FileNotFoundError
        If ``model`` is written as a path (absolute, ``./``, ``~``) and no folder is there.
    OSError
        If the hub cannot provide the model; the message says how to pass a local folder.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    folder = Path(model).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        digest = _folder_digest(folder)[:16]
        loaded = _load(str(folder), device, trust_remote_code, digest)
        name = f"{folder.name}@sha256-{digest}"
    elif _looks_like_path(model):
        raise FileNotFoundError(
            f"embedder {model!r} looks like a path, but there is no model folder there"
        )
    else:
        loaded = _load(model, device, trust_remote_code, None)
        name = f"{model}@{_hub_revision(model)}"
    dtype = str(next(loaded.parameters()).dtype).removeprefix("torch.")
    return SentenceTransformerEmbedder(loaded, name=f"{name}:{dtype}", batch_size=batch_size)


def _looks_like_path(spec: str) -> bool:
    # A hub id is "name" or "org/name"; anything else written with slashes is meant as a path.
    return spec.startswith((".", "~", "/", "\\")) or spec.count("/") > 1 or "\\" in spec


@functools.lru_cache(maxsize=4)
def _load(source: str, device: str, trust_remote_code: bool, digest: str | None) -> Any:
    """Load once per process; a folder's ``digest`` is part of the key, so a model rewritten
    in place is loaded again rather than served stale."""
    from sentence_transformers import SentenceTransformer

    if digest is not None:
        with _offline():
            return SentenceTransformer(
                source, device=device, trust_remote_code=trust_remote_code, local_files_only=True
            )
    try:
        return SentenceTransformer(source, device=device, trust_remote_code=trust_remote_code)
    except OSError as exc:
        leaf = source.rsplit("/", 1)[-1]
        raise OSError(
            f"could not load the sentence-transformers model {source!r}: it is not a folder on "
            f"this machine and the Hugging Face hub could not provide it ({_first_line(exc)}). "
            "Where the hub is reachable, download it once (hf download "
            f"{source} --local-dir /models/{leaf}) or save it with "
            "SentenceTransformer(...).save(folder), copy the folder here and pass its path: "
            f"embedder='/models/{leaf}'"
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _hub_revision(repo_id: str) -> str:
    """The commit the hub id resolved to, read from the local hub cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return "hub"
    for filename in ("modules.json", "config.json"):
        path = try_to_load_from_cache(repo_id, filename)
        if isinstance(path, str):
            # <cache>/models--org--name/snapshots/<commit>/<filename>
            return Path(path).parent.name[:12]
    return "hub"


def _folder_digest(folder: Path) -> str:
    """SHA-256 over the relative paths and contents of the files the model is loaded from."""
    files = sorted(_model_files(folder))
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _digest(folder, tuple(files), stamp)


@functools.lru_cache(maxsize=8)
def _digest(folder: Path, files: tuple[Path, ...], stamp: tuple) -> str:
    # ``stamp`` (sizes, modification times) is only the memo key: unchanged files are not
    # read twice in a process.
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def _model_files(folder: Path) -> list[Path]:
    files = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if any(p.startswith(".") or p in _SKIPPED_FOLDERS for p in parts[:-1]):
            continue
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".md":
            files.append(path)
    return files
