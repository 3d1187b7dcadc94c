"""MLflow traces: the DataFrame ``mlflow.search_traces()`` returns, and that frame as Parquet.

MLflow 3 columns: ``trace_id``, ``request_time`` (ms), ``state`` (``OK``/``ERROR``),
``execution_duration`` (ms), ``request``, ``response``, ``trace_metadata`` (the user is
``mlflow.trace.user``, the session ``mlflow.trace.session``, tokens
``mlflow.trace.tokenUsage``), ``assessments`` (feedback and expectations). MLflow 2 names them
``request_id``, ``timestamp_ms``, ``status``, ``execution_time_ms``, ``request_metadata``.
``request`` holds the traced function's inputs (a JSON string or a dict: ``messages`` for chat,
or named inputs). Schema: https://mlflow.org/docs/latest/genai/tracing/search-traces/ and
https://mlflow.org/docs/2.20.1/llms/tracing/search-traces.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._fields import column
from evalcov.sources._messages import is_missing, maybe_json, request_text, response_text
from evalcov.sources._outcomes import score_columns

__all__ = ["check", "read"]


def check(frame: pd.DataFrame) -> str | None:
    """None when `frame` is an MLflow traces frame, else what is missing."""
    cols = set(frame.columns)
    if not cols & {"trace_id", "request_id"} or "request" not in cols:
        return "columns 'trace_id' (or 'request_id') and 'request' (MLflow traces)"
    if not cols & {"request_time", "timestamp_ms", "execution_duration", "execution_time_ms"}:
        return "a 'request_time' or 'timestamp_ms' column (MLflow traces)"
    return None


def _meta(value: Any) -> Mapping:
    value = maybe_json(value)
    return value if isinstance(value, dict) else {}


def _tokens(meta: Mapping, key: str) -> float:
    usage = maybe_json(meta.get("mlflow.trace.tokenUsage"))
    if isinstance(usage, dict) and not is_missing(usage.get(key)):
        return float(usage[key])
    return np.nan


def _assessments(value: Any) -> dict:
    value = maybe_json(value)
    if not isinstance(value, (list, tuple, np.ndarray)):
        return {}
    out = {}
    for a in value:
        if not isinstance(a, dict):
            continue
        name = a.get("assessment_name", a.get("name"))
        feedback = a.get("feedback")
        if name is None or not isinstance(feedback, dict):
            continue  # expectations (ground truth) are not outcomes of the request
        out[str(name)] = feedback.get("value")
    return out


def _ms(values: list) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64)


def read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One standard row per MLflow trace (`unit` does not apply)."""
    metas = [_meta(m) for m in column(frame, "trace_metadata", "request_metadata")]
    texts = [request_text(v) for v in column(frame, "request")]
    states = [str(s).upper() for s in column(frame, "state", "status")]
    out = pd.DataFrame(
        {
            "text": texts,
            "reason": ["" if t else "no user message" for t in texts],
            "id": column(frame, "trace_id", "request_id"),
            "time": column(frame, "request_time", "timestamp_ms"),
            "user": [m.get("mlflow.trace.user") for m in metas],
            "session": [m.get("mlflow.trace.session") for m in metas],
            "response": [response_text(v) for v in column(frame, "response")],
            "error": [s == "ERROR" if s in ("OK", "ERROR") else None for s in states],
            "latency_s": _ms(column(frame, "execution_duration", "execution_time_ms")) / 1000,
            "input_tokens": [_tokens(m, "input_tokens") for m in metas],
            "output_tokens": [_tokens(m, "output_tokens") for m in metas],
            "cost": np.nan,
        }
    )
    per_row = [_assessments(v) for v in column(frame, "assessments")]
    for name, values in score_columns(per_row).items():
        out[name] = values
    return out
