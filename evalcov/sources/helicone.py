"""Helicone request exports (``npx @helicone/export`` as JSON, JSONL or CSV; the REST API's
``POST /v1/request/query-clickhouse`` records).

Fields read (``HeliconeRequest``): ``request_id``, ``request_created_at``, ``request_body``
(the provider request: ``messages`` for chat, ``prompt`` for completions), ``response_body``,
``response_status`` (200 is success), ``request_user_id``, ``request_properties`` (the session
is the ``Helicone-Session-Id`` property), ``delay_ms``, ``prompt_tokens``,
``completion_tokens``, ``cost``/``costUSD``, ``feedback_rating`` (true/false) and ``scores``
(name -> number). Schema: https://docs.helicone.ai/rest/request/post-v1requestquery-clickhouse
and https://docs.helicone.ai/tools/export
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._fields import column, require
from evalcov.sources._messages import is_missing, last_user_text, maybe_json, response_text
from evalcov.sources._outcomes import score_columns

__all__ = ["check", "read"]

_SESSION_KEYS = ("Helicone-Session-Id", "helicone-session-id", "session_id", "sessionId")


def check(frame: pd.DataFrame) -> str | None:
    """None when `frame` holds Helicone requests, else what is missing."""
    return require(frame, ("request_id", "request_body"), "Helicone requests")


def _session(properties: Any) -> str | None:
    properties = maybe_json(properties)
    if not isinstance(properties, dict):
        return None
    return next((str(properties[k]) for k in _SESSION_KEYS if properties.get(k)), None)


def _request_text(body: Any) -> str | None:
    """The user's words in a provider request: chat ``messages`` (OpenAI, Anthropic), Gemini
    ``contents``, or a completion ``prompt``; embedding and other requests have none."""
    body = maybe_json(body)
    if not isinstance(body, dict):
        return None
    for key in ("messages", "contents"):
        if key in body:
            return last_user_text(body[key])
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else None


def _response(body: Any) -> str | None:
    body = maybe_json(body)
    if isinstance(body, dict) and ("error" in body or "data" in body):
        return None  # an error or an embedding, not an answer
    return response_text(body)


def _error(status: Any, body: Any) -> Any:
    body = maybe_json(body)
    if isinstance(body, dict) and body.get("error"):
        return True
    if is_missing(status) or status in ("", 0, "0"):
        return None  # still pending: the outcome is unknown
    return float(status) != 200


def _scores(rating: Any, scores: Any) -> dict:
    out = dict(maybe_json(scores)) if isinstance(maybe_json(scores), dict) else {}
    if not is_missing(rating) and rating != "":
        out["feedback"] = rating
    return out


def read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One standard row per logged request (`unit` does not apply: a request is one call)."""
    texts = [_request_text(v) for v in column(frame, "request_body")]
    delay = pd.to_numeric(pd.Series(column(frame, "delay_ms"), dtype=object), errors="coerce")
    cost = column(frame, "costUSD", "cost")
    out = pd.DataFrame(
        {
            "text": texts,
            "reason": ["" if t else "no user message" for t in texts],
            "id": column(frame, "request_id"),
            "time": column(frame, "request_created_at"),
            "user": column(frame, "request_user_id"),
            "session": [_session(p) for p in column(frame, "request_properties", "properties")],
            "response": [_response(v) for v in column(frame, "response_body")],
            "error": [
                _error(s, b)
                for s, b in zip(
                    column(frame, "response_status"), column(frame, "response_body"), strict=True
                )
            ],
            "latency_s": (delay / 1000.0).to_numpy(dtype=np.float64),
            "input_tokens": column(frame, "prompt_tokens"),
            "output_tokens": column(frame, "completion_tokens"),
            "cost": cost,
        }
    )
    per_row = [
        _scores(r, s)
        for r, s in zip(column(frame, "feedback_rating"), column(frame, "scores"), strict=True)
    ]
    for name, values in score_columns(per_row).items():
        out[name] = values
    return out
