"""Langfuse traces and observations, as the public API returns them and the UI exports them.

Traces (``GET /api/public/traces``, the trace export as JSON, JSONL or CSV): ``id``,
``timestamp``, ``input`` (a string, a dict, or an OpenAI-style messages list), ``output``,
``userId``, ``sessionId``, ``latency`` (seconds), ``totalCost``, ``scores`` (objects with
``name``, ``value``, ``stringValue``, ``dataType``; the list endpoint gives ids only) and
``observations``. Observations (``GET /api/public/observations``): ``id``, ``traceId``,
``type`` (``GENERATION``/``SPAN``/``EVENT``), ``startTime``, ``endTime``, ``input``,
``output``, ``level`` (``ERROR`` marks a failure), ``usage``/``usageDetails``,
``calculatedTotalCost``/``costDetails``. An API page ``{"data": [...], "meta": {...}}`` reads
as its ``data``. Schema: https://api.reference.langfuse.com (Trace, TraceWithFullDetails,
ObservationsView, ScoreV1) and https://langfuse.com/docs/tracing-data-model
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._fields import column, epoch_ns, require
from evalcov.sources._messages import is_missing, maybe_json, request_text, response_text
from evalcov.sources._outcomes import score_columns
from evalcov.sources.spans import Span, spans_frame

__all__ = ["check_observations", "check_traces", "read_observations", "read_traces"]

# Fields only Langfuse writes next to a trace's input (camelCase, as its API spells them).
_TRACE_MARKERS = ("userId", "sessionId", "htmlPath", "projectId", "totalCost", "latency")


def check_traces(frame: pd.DataFrame) -> str | None:
    """None when `frame` holds Langfuse traces, else what is missing."""
    cols = set(frame.columns)
    if "input" not in cols or "id" not in cols:
        return "columns 'id' and 'input' (Langfuse traces)"
    if len(cols.intersection(_TRACE_MARKERS)) < 2:
        return f"two of the trace fields {', '.join(_TRACE_MARKERS)}"
    return None


def check_observations(frame: pd.DataFrame) -> str | None:
    """None when `frame` holds Langfuse observations, else what is missing."""
    return require(frame, ("traceId", "type", "startTime"), "Langfuse observations")


def _scores(value: Any) -> dict:
    value = maybe_json(value)
    out: dict[str, Any] = {}
    if not isinstance(value, (list, tuple, np.ndarray)):
        return out
    for score in value:
        if isinstance(score, dict) and "name" in score:
            v = score.get("value")
            out[str(score["name"])] = score.get("stringValue") if is_missing(v) else v
    return out


def _usage(obs: Mapping, key: str, old: str) -> float:
    for field in ("usageDetails", "usage"):
        usage = obs.get(field)
        if isinstance(usage, dict) and not is_missing(usage.get(key)):
            return float(usage[key])
    value = obs.get(old)
    return np.nan if is_missing(value) else float(value)


def _cost(obs: Mapping) -> float:
    details = obs.get("costDetails")
    if isinstance(details, dict) and not is_missing(details.get("total")):
        return float(details["total"])
    for key in ("calculatedTotalCost", "totalCost"):
        if not is_missing(obs.get(key)):
            return float(obs[key])
    return np.nan


def _nested_sum(observations: Any, get: Any) -> float:
    values = [get(o) for o in observations if isinstance(o, dict)]
    values = [v for v in values if not np.isnan(v)]
    return float(sum(values)) if values else np.nan


def read_traces(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One standard row per Langfuse trace (`unit` does not apply: a trace is one row)."""
    texts = [request_text(v) for v in column(frame, "input")]
    observations = [maybe_json(v) for v in column(frame, "observations")]
    observations = [v if isinstance(v, (list, tuple, np.ndarray)) else [] for v in observations]
    nested = [any(isinstance(o, dict) for o in obs) for obs in observations]
    errors = [
        any(isinstance(o, dict) and o.get("level") == "ERROR" for o in obs) if known else None
        for obs, known in zip(observations, nested, strict=True)
    ]
    out = pd.DataFrame(
        {
            "text": texts,
            "reason": ["" if t else "no user message" for t in texts],
            "id": column(frame, "id"),
            "time": column(frame, "timestamp"),
            "user": column(frame, "userId"),
            "session": column(frame, "sessionId"),
            "response": [response_text(v) for v in column(frame, "output")],
            "error": errors,
            "latency_s": column(frame, "latency"),
            "input_tokens": [
                _nested_sum(obs, lambda o: _usage(o, "input", "promptTokens"))
                for obs in observations
            ],
            "output_tokens": [
                _nested_sum(obs, lambda o: _usage(o, "output", "completionTokens"))
                for obs in observations
            ],
            "cost": column(frame, "totalCost"),
        }
    )
    for name, values in score_columns([_scores(v) for v in column(frame, "scores")]).items():
        out[name] = values
    return out


def read_observations(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Standard rows from Langfuse observations: one per trace, or per observation."""
    starts = epoch_ns(column(frame, "startTime"))
    ends = epoch_ns(column(frame, "endTime"))
    parents = column(frame, "parentObservationId")
    spans = []
    for i, obs in enumerate(frame.to_dict("records")):
        generation = str(obs.get("type")).upper() == "GENERATION"
        spans.append(
            Span(
                trace_id=str(obs["traceId"]),
                span_id=str(obs.get("id")),
                parent_id=None if is_missing(parents[i]) else str(parents[i]),
                start_ns=starts[i],
                end_ns=ends[i],
                error=obs.get("level") == "ERROR",
                attrs={
                    "gen_ai.operation.name": "chat" if generation else str(obs.get("type")),
                    "input.value": obs.get("input"),
                    "output.value": obs.get("output"),
                    "gen_ai.usage.input_tokens": _usage(obs, "input", "promptTokens"),
                    "gen_ai.usage.output_tokens": _usage(obs, "output", "completionTokens"),
                    "llm.cost.total": _cost(obs),
                },
            )
        )
    return spans_frame(spans, unit)
