"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint, standard library only.

``get_embedder("openai:text-embedding-3-small")`` talks to OpenAI; ``base_url=`` (or
``OPENAI_BASE_URL``) points it at Azure, a gateway (LiteLLM) or a server the team runs (vLLM,
Text Embeddings Inference, Ollama). Unlike the local models, **this sends the texts to that
endpoint**: raw traffic unless ``redact_before_embedding=True``.

Requests carry up to ``batch_size`` texts and ``max_batch_tokens`` estimated tokens; up to
``max_concurrency`` run at once. A 429, a 5xx, a timeout or a dropped connection is retried with
exponential backoff, waiting what ``Retry-After`` says when the server says it. A 413, or a 400
saying the batch has too many inputs, halves the batch and remembers the smaller size. A 401,
403 or 404 stops at once with an error naming the endpoint and the model; the API key is never
part of a message, a ``repr`` or the cache key.
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import json
import logging
import math
import os
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

import numpy as np

from evalcov.embedders import _unit_rows

__all__ = ["EmbeddingEndpointError", "OpenAIEmbedder"]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Statuses worth retrying: rate limits, timeouts, and server-side failures.
_RETRY_STATUSES = frozenset({408, 409, 425, 429})
# How servers phrase "your batch is too big" in a 400 (OpenAI, TEI, vLLM, LiteLLM).
_TOO_MANY_INPUTS = re.compile(
    r"too many inputs|batch.{0,3}size|max(imum)?.{0,20}(inputs|batch|array)|payload too large",
    re.IGNORECASE,
)
# Longest wait a Retry-After header may impose before the request is tried again.
_MAX_RETRY_AFTER = 600.0


class EmbeddingEndpointError(OSError):
    """An embeddings endpoint refused or failed a request; the message names endpoint and model.

    Attributes
    ----------
    endpoint : str
        The URL requests were sent to, without credentials or query.
    model : str
    status : int or None
        The last HTTP status, None when no response arrived.
    """

    def __init__(self, message: str, *, endpoint: str, model: str, status: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.model = model
        self.status = status


class _Stopped(Exception):
    """Another request of the same run failed; this one gives up without sending."""


class _BatchTooLarge(Exception):
    """The endpoint rejected a request for its number of inputs; the batch should shrink."""


@dataclass
class _Result:
    vectors: np.ndarray
    tokens: int
    requests: int
    retries: int


class OpenAIEmbedder:
    """An :class:`~evalcov.embedders.Embedder` calling an OpenAI-compatible embeddings API.

    Parameters
    ----------
    model : str
        Model name as the endpoint knows it, e.g. ``"text-embedding-3-small"``.
    base_url : str, optional
        API root, e.g. ``"http://localhost:8000/v1"``; ``/embeddings`` is appended. Default:
        ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``. A query string (Azure's
        ``?api-version=``) is kept.
    api_key : str, optional
        Sent as ``Authorization: Bearer``. Default: ``$OPENAI_API_KEY``; without either no
        key is sent (servers run locally often need none).
    dimensions : int, optional
        Passed to the endpoint (models that can shorten their vectors); checked on return.
    batch_size : int, default=256
        Most texts per request. Shrinks by itself when the endpoint says a batch is too large.
    max_batch_tokens : int, default=100_000
        Most estimated tokens per request (OpenAI caps a request at 300,000).
    max_concurrency : int, default=4
        Requests in flight at once.
    max_retries : int, default=6
        Retries of one request after a 429, 5xx, timeout or connection failure.
    backoff : float, default=1.0
        First wait in seconds between retries without ``Retry-After``; doubles each time,
        with jitter, up to ``max_backoff``.
    max_backoff : float, default=60.0
    timeout : float, default=60.0
        Seconds to wait for one response.
    headers : mapping, optional
        Extra HTTP headers, e.g. ``{"api-key": ...}`` for Azure.
    redact_before_embedding : bool, default=False
        Replace PII with placeholders (:func:`evalcov.redact`, each text on its own) before
        the text leaves the machine. The vectors then describe the redacted text.
    price_per_million_tokens : float, optional
        Used to estimate the cost of a run before it starts.
    max_cost : float, optional
        Refuse to start a run whose estimated cost exceeds this (needs the price).
    warn_tokens : int, default=1_000_000
        Warn before a run estimated to send more tokens than this.

    Attributes
    ----------
    name : str
        ``openai:<model>@<endpoint>`` plus ``;dimensions=<d>`` and ``;redacted`` when set:
        the cache key, so vectors of two models or two endpoints never mix.
    endpoint : str
        The URL requests go to, shown without its query string.
    tokens_sent_, requests_, retries_ : int
        Running totals for this object (tokens as the endpoint reports them, else estimated).
    """

    # embed() hands over large chunks and this object splits them into concurrent requests.
    batches_internally = True
    reports_progress = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        max_batch_tokens: int = 100_000,
        max_concurrency: int = 4,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        redact_before_embedding: bool = False,
        price_per_million_tokens: float | None = None,
        max_cost: float | None = None,
        warn_tokens: int = 1_000_000,
    ):
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model must be a non-empty str, got {model!r}")
        for arg, value, low in (
            ("batch_size", batch_size, 1),
            ("max_batch_tokens", max_batch_tokens, 1),
            ("max_concurrency", max_concurrency, 1),
            ("max_retries", max_retries, 0),
            ("warn_tokens", warn_tokens, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{arg} must be an integer >= {low}, got {value!r}")
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
            raise ValueError(f"dimensions must be a positive integer or None, got {dimensions!r}")
        waits = (("backoff", backoff), ("max_backoff", max_backoff), ("timeout", timeout))
        for arg, value in waits:
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{arg} must be a number >= 0, got {value!r}")
        prices = (("price_per_million_tokens", price_per_million_tokens), ("max_cost", max_cost))
        for arg, value in prices:
            if value is not None and (not isinstance(value, (int, float)) or not value >= 0):
                raise ValueError(f"{arg} must be a number >= 0 or None, got {value!r}")
        if max_cost is not None and price_per_million_tokens is None:
            raise ValueError("max_cost needs price_per_million_tokens to estimate a run's cost")
        self.model = model
        self.base_url = base_url
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.redact_before_embedding = bool(redact_before_embedding)
        self.price_per_million_tokens = price_per_million_tokens
        self.max_cost = max_cost
        self.warn_tokens = warn_tokens

        root = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self._url, self.endpoint = _endpoint(root)
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._api_key = key or None
        host = urllib.parse.urlsplit(self._url).hostname or ""
        if self._api_key is None and host.endswith("openai.com"):
            raise ValueError(
                f"the endpoint {self.endpoint} needs an API key: set OPENAI_API_KEY or pass "
                "api_key="
            )
        if self._api_key is not None and self._url.startswith("http://") and not _loopback(host):
            warnings.warn(
                f"the API key would travel unencrypted to {self.endpoint}; use https://",
                UserWarning,
                stacklevel=2,
            )
        suffix = f";dimensions={dimensions}" if dimensions is not None else ""
        suffix += ";redacted" if self.redact_before_embedding else ""
        self.name = f"openai:{model}@{self.endpoint}{suffix}"
        self._batch_limit = batch_size
        self.tokens_sent_ = 0
        self.requests_ = 0
        self.retries_ = 0

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, endpoint={self.endpoint!r})"

    @property
    def chunk_size(self) -> int:
        """Texts embed() hands over per call: enough to keep every request slot busy a while,
        few enough that progress and the cache advance often."""
        return min(8192, self.batch_size * self.max_concurrency * 4)

    # ------------------------------------------------------------------ cost

    def estimate(self, texts: Sequence[str]) -> dict[str, Any]:
        """Requests, estimated tokens and, with a price, estimated cost of embedding ``texts``.

        Tokens are estimated as UTF-8 bytes / 4, rounded up per text: close for English with
        OpenAI's tokenizers, an overestimate for most other scripts.
        """
        tokens = [_estimate_tokens(t) for t in self._outgoing(texts)]
        price = self.price_per_million_tokens
        return {
            "n_texts": len(tokens),
            "n_requests": len(self._batches(tokens, self._batch_limit)),
            "tokens": int(sum(tokens)),
            "cost": None if price is None else sum(tokens) / 1e6 * price,
        }

    def plan_run(self, texts: Sequence[str]) -> dict[str, Any]:
        """Log what a run will send; warn when it is large; refuse it above ``max_cost``.

        Called by :func:`evalcov.embed` with the texts missing from the cache, before any
        request.
        """
        plan = self.estimate(texts)
        cost = "" if plan["cost"] is None else f", about ${plan['cost']:,.2f}"
        message = (
            f"embedding {plan['n_texts']:,} texts with {self.model!r} at {self.endpoint}: "
            f"{plan['n_requests']:,} requests, about {plan['tokens']:,} tokens{cost}"
        )
        if self.max_cost is not None and plan["cost"] > self.max_cost:
            raise ValueError(
                f"{message}, above max_cost={self.max_cost}; raise max_cost or embed less"
            )
        if plan["tokens"] > self.warn_tokens:
            warnings.warn(message, UserWarning, stacklevel=3)
        else:
            logger.info(message)
        return plan

    # ------------------------------------------------------------------ embedding

    def embed(self, texts: list[str], progress: Callable[[int], Any] | None = None) -> np.ndarray:
        """Unit-norm float32 vectors of ``texts``, in order; ``progress(n)`` after each batch."""
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dimensions or 0), np.float32)
        outgoing = self._outgoing(texts)
        tokens = [_estimate_tokens(t) for t in outgoing]
        batches = self._batches(tokens, self._batch_limit)
        parts: dict[int, np.ndarray] = {}
        # Set when a batch fails, so the other threads stop instead of sending more.
        stop = threading.Event()

        def run(rows: list[int]) -> _Result:
            try:
                return self._embed_batch(
                    [outgoing[i] for i in rows], [tokens[i] for i in rows], stop
                )
            except BaseException:
                # Before this worker takes the next batch: the run has failed.
                stop.set()
                raise

        pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="evalcov-embed")
        try:
            futures = {pool.submit(run, rows): b for b, rows in enumerate(batches)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                failed = [f.exception() for f in done if f.exception() is not None]
                if failed:
                    # The batch that failed, not one that gave up because of it.
                    raise next((e for e in failed if not isinstance(e, _Stopped)), failed[0])
                for future in done:
                    result = future.result()
                    parts[futures[future]] = result.vectors
                    self.tokens_sent_ += result.tokens
                    self.requests_ += result.requests
                    self.retries_ += result.retries
                    if progress is not None:
                        progress(len(result.vectors))
        except BaseException:
            stop.set()
            raise
        finally:
            # On failure, requests not yet started are dropped; running ones finish first.
            pool.shutdown(wait=True, cancel_futures=True)
        dims = {v.shape[1] for v in parts.values()}
        if len(dims) > 1:
            raise self._error(f"returned vectors of different dimensions {sorted(dims)}")
        vectors = np.concatenate([parts[b] for b in range(len(batches))])
        return _unit_rows(vectors, texts, f"the endpoint {self.endpoint} (model {self.model!r})")

    def _outgoing(self, texts: Sequence[str]) -> list[str]:
        if not self.redact_before_embedding:
            return list(texts)
        from evalcov.redact import get_redactor

        redactor = get_redactor("default")
        # One text per call: placeholders are numbered within a call, and a text's vector must
        # not depend on which other texts shared its batch.
        return [redactor.redact([t])[0] for t in texts]

    def _batches(self, tokens: Sequence[int], limit: int) -> list[list[int]]:
        """Consecutive row ranges of at most ``limit`` texts and ``max_batch_tokens`` tokens."""
        batches: list[list[int]] = []
        current: list[int] = []
        budget = 0
        for i, n in enumerate(tokens):
            if current and (len(current) >= limit or budget + n > self.max_batch_tokens):
                batches.append(current)
                current, budget = [], 0
            current.append(i)
            budget += n
        if current:
            batches.append(current)
        return batches

    def _embed_batch(self, texts: list[str], tokens: list[int], stop: threading.Event) -> _Result:
        """One batch, split first if the endpoint has since shown it accepts fewer inputs."""
        if len(texts) > self._batch_limit:
            return self._join(texts, tokens, self._batch_limit, stop)
        try:
            return self._request(texts, sum(tokens), stop)
        except _BatchTooLarge as exc:
            if len(texts) == 1:
                raise self._error(f"rejected a single text as too large ({exc})") from None
            smaller = max(1, len(texts) // 2)
            # Threads may race here; each only ever lowers the limit.
            self._batch_limit = min(self._batch_limit, smaller)
            logger.info("%s: batches of %d rejected, trying %d", self.endpoint, len(texts), smaller)
            result = self._join(texts, tokens, smaller, stop)
            result.requests += 1
            return result

    def _join(
        self, texts: list[str], tokens: list[int], size: int, stop: threading.Event
    ) -> _Result:
        results = [
            self._embed_batch(texts[i : i + size], tokens[i : i + size], stop)
            for i in range(0, len(texts), size)
        ]
        return _Result(
            np.concatenate([r.vectors for r in results]),
            sum(r.tokens for r in results),
            sum(r.requests for r in results),
            sum(r.retries for r in results),
        )

    def _request(self, texts: list[str], estimated_tokens: int, stop: threading.Event) -> _Result:
        body: dict[str, Any] = {"model": self.model, "input": texts}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "evalcov", **self.headers}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = ""
        retry_after: float | None = None
        for attempt in range(self.max_retries + 1):
            if stop.is_set() or (attempt and stop.wait(self._delay(attempt, retry_after))):
                raise _Stopped
            retry_after = None
            request = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
            except urllib.error.HTTPError as err:
                status, detail = err.code, self._detail(err)
                if status in _RETRY_STATUSES or status >= 500:
                    retry_after = _retry_after(err.headers)
                    last = f"HTTP {status}: {detail}"
                    continue
                raise self._refusal(status, detail, len(texts)) from None
            except (urllib.error.URLError, HTTPException, OSError) as err:
                reason = getattr(err, "reason", err)
                last = f"no response: {type(reason).__name__}: {reason}"
                continue
            vectors, used = self._parse(payload, len(texts))
            return _Result(vectors, used if used is not None else estimated_tokens, 1, attempt)
        raise self._error(
            f"failed {self.max_retries + 1} times (last: {last}); with a cache, embed() keeps "
            "the vectors finished before this, so running it again sends only the rest"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, _MAX_RETRY_AFTER)
        # Full jitter keeps concurrent requests from retrying in lockstep.
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1)

    def _refusal(self, status: int, detail: str, n_texts: int) -> Exception:
        if status == 413 or (status == 400 and _TOO_MANY_INPUTS.search(detail)):
            return _BatchTooLarge(f"HTTP {status} for {n_texts} texts: {detail}")
        if status in (401, 403):
            hint = (
                "the API key was refused: check OPENAI_API_KEY or api_key="
                if self._api_key is not None
                else "no API key was sent: set OPENAI_API_KEY or pass api_key="
            )
            return self._error(f"answered HTTP {status} ({detail}); {hint}", status)
        if status == 404:
            return self._error(
                f"answered HTTP 404 ({detail}): the model does not exist there, or base_url is "
                "not the API root (it usually ends in /v1)",
                status,
            )
        return self._error(f"answered HTTP {status}: {detail}", status)

    def _detail(self, err: urllib.error.HTTPError) -> str:
        try:
            raw = err.read(4000).decode("utf-8", "replace")
        except OSError:
            raw = ""
        try:
            obj = json.loads(raw)
            message = obj.get("error", obj) if isinstance(obj, dict) else obj
            if isinstance(message, dict):
                message = message.get("message", message)
            raw = str(message)
        except ValueError:
            pass
        text = " ".join(raw.split())[:300] or str(err.reason)
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _parse(self, payload: bytes, n: int) -> tuple[np.ndarray, int | None]:
        try:
            obj = json.loads(payload)
            items = obj["data"]
            if not isinstance(items, list):
                raise TypeError("data is not a list")
            index = [int(item["index"]) for item in items]
            vectors = [_vector(item["embedding"]) for item in items]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise self._error(f"gave a response that is not an embeddings list ({exc})") from None
        if sorted(index) != list(range(n)):
            raise self._error(
                f"returned indices {sorted(index)[:10]} for {n} inputs; expected each of "
                f"0..{n - 1} once"
            )
        if len({len(v) for v in vectors}) != 1:
            raise self._error("returned vectors of different lengths in one response")
        matrix = np.empty((n, len(vectors[0])), np.float32)
        matrix[index] = vectors
        if self.dimensions is not None and matrix.shape[1] != self.dimensions:
            raise self._error(
                f"returned {matrix.shape[1]}-d vectors for dimensions={self.dimensions}; the "
                "model may not support shortening them"
            )
        usage = obj.get("usage") if isinstance(obj, dict) else None
        used = None
        if isinstance(usage, dict):
            used = usage.get("total_tokens", usage.get("prompt_tokens"))
        return matrix, int(used) if isinstance(used, (int, float)) else None

    def _error(self, what: str, status: int | None = None) -> EmbeddingEndpointError:
        return EmbeddingEndpointError(
            f"the embeddings endpoint {self.endpoint} (model {self.model!r}) {what}",
            endpoint=self.endpoint,
            model=self.model,
            status=status,
        )


def _endpoint(root: str) -> tuple[str, str]:
    """(URL to POST to, the same URL shown without query) from an API root URL."""
    if not isinstance(root, str):
        raise TypeError(f"base_url must be a str, got {type(root).__name__}")
    parts = urllib.parse.urlsplit(root.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL such as https://host/v1, got {root!r}")
    if parts.username or parts.password:
        raise ValueError("base_url must not hold credentials; pass the key as api_key=")
    path = parts.path.rstrip("/")
    if not path.endswith("/embeddings"):
        path += "/embeddings"
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if ":" in parts.hostname:
        netloc = f"[{parts.hostname}]" + ("" if parts.port is None else f":{parts.port}")
    shown = urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, "")), shown


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4))


def _vector(embedding: Any) -> list[float] | np.ndarray:
    if isinstance(embedding, str):
        # encoding_format="base64": little-endian float32.
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    if not isinstance(embedding, list):
        raise TypeError(f"embedding is {type(embedding).__name__}, expected a list of numbers")
    return embedding


def _retry_after(headers: Any) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``Retry-After`` (seconds or date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
