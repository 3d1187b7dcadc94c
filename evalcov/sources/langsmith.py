"""LangSmith runs as JSON lines: what ``Client.list_runs`` returns, serialized one per line.

Fields read (``langsmith.schemas.Run``): ``id``, ``trace_id``, ``parent_run_id`` (None for the
root run of a trace), ``run_type`` (``llm``, ``chain``, ``tool``, ``retriever``, ...),
``start_time``, ``end_time``, ``inputs`` (``{"messages": [...]}``, LangChain's nested
``[[...]]`` batches included, or named text inputs), ``outputs``, ``error``, ``extra.metadata``,
``feedback_stats`` (``{key: {"n": ..., "avg": ...}}``), ``prompt_tokens``,
``completion_tokens``, ``total_cost``. ``session_id`` is the tracing project, not the user's
conversation: the conversation is metadata ``session_id``/``thread_id``/``conversation_id``.
Schema: https://docs.smith.langchain.com/reference/data_formats/run_data_format and
https://github.com/langchain-ai/langsmith-sdk/blob/main/python/langsmith/schemas.py
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._fields import require
from evalcov.sources._messages import is_missing, maybe_json, request_text, response_text
from evalcov.sources._outcomes import score_columns

__all__ = ["check", "read"]

_SESSION_KEYS = ("session_id", "thread_id", "conversation_id")
_USER_KEYS = ("user_id", "userId", "user")


def check(frame: pd.DataFrame) -> str | None:
    """None when `frame` holds LangSmith runs, else what is missing."""
    return require(frame, ("run_type", "inputs", "start_time"), "LangSmith runs")


def _metadata(run: Mapping) -> Mapping:
    extra = maybe_json(run.get("extra"))
    meta = extra.get("metadata") if isinstance(extra, dict) else None
    meta = meta if isinstance(meta, dict) else maybe_json(run.get("metadata"))
    return meta if isinstance(meta, dict) else {}


def _pick(meta: Mapping, keys: tuple) -> Any:
    return next((str(meta[k]) for k in keys if not is_missing(meta.get(k))), None)


def _feedback(run: Mapping) -> dict:
    stats = maybe_json(run.get("feedback_stats"))
    if not isinstance(stats, dict):
        return {}
    return {
        str(k): v.get("avg") if isinstance(v, dict) else v
        for k, v in stats.items()
        if not (isinstance(v, dict) and is_missing(v.get("avg")))
    }


def _num(value: Any) -> float:
    return np.nan if is_missing(value) else float(value)


def _seconds(start: Any, end: Any) -> float:
    if is_missing(start) or is_missing(end):
        return np.nan
    return (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()


def _row(run: Mapping, text: str | None, reason: str, rid: Any) -> dict:
    meta = _metadata(run)
    return {
        "text": text,
        "reason": reason,
        "id": str(rid),
        "time": run.get("start_time"),
        "user": _pick(meta, _USER_KEYS),
        "session": _pick(meta, _SESSION_KEYS),
        "response": response_text(run.get("outputs")),
        "error": not is_missing(run.get("error")) and bool(run.get("error")),
        "latency_s": _seconds(run.get("start_time"), run.get("end_time")),
        "input_tokens": _num(run.get("prompt_tokens")),
        "output_tokens": _num(run.get("completion_tokens")),
        "cost": _num(run.get("total_cost")),
    }


def _is_root(run: Mapping) -> bool:
    return is_missing(run.get("parent_run_id")) or run.get("is_root") is True


def read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Standard rows: one per trace (its root run), or one per run with ``unit="span"``."""
    runs = frame.to_dict("records")
    rows, feedback = [], []
    if unit == "span":
        for run in runs:
            llm = run.get("run_type") == "llm"
            text = request_text(run.get("inputs")) if llm else None
            reason = "" if text else "no user message" if llm else "not an LLM span"
            rows.append({**_row(run, text, reason, run.get("id")), "trace_id": run.get("trace_id")})
            feedback.append(_feedback(run))
    else:
        traces: dict[str, list[Mapping]] = {}
        for run in runs:
            key = run.get("trace_id")
            traces.setdefault(str(run.get("id") if is_missing(key) else key), []).append(run)
        for trace_id, members in traces.items():
            root = next((r for r in members if _is_root(r)), None)
            if root is None:
                starts = [
                    r.get("start_time") for r in members if not is_missing(r.get("start_time"))
                ]
                first = min(starts, key=pd.Timestamp) if starts else None
                rows.append({"text": None, "reason": "no root run", "id": trace_id, "time": first})
                feedback.append({})
                continue
            text = request_text(root.get("inputs"))
            if text is None:
                llms = sorted(
                    (r for r in members if r.get("run_type") == "llm"),
                    key=lambda r: str(r.get("start_time")),
                )
                text = next((t for r in llms if (t := request_text(r.get("inputs")))), None)
            row = _row(root, text, "" if text else "no user message", trace_id)
            row["error"] = any(not is_missing(r.get("error")) and r.get("error") for r in members)
            rows.append(row)
            feedback.append(_feedback(root))
    out = pd.DataFrame.from_records(rows)
    for name, values in score_columns(feedback).items():
        out[name] = values
    return out
