"""Spans of LLM calls, as OpenTelemetry GenAI, OpenLLMetry and OpenInference describe them.

The OTLP and Phoenix readers turn their records into `Span` objects; this module finds the
user's request in a span's attributes and folds spans into one row per trace (or one row
per span). Attribute names follow these published conventions:

- OpenTelemetry GenAI semantic conventions (``gen_ai.input.messages`` with role + parts,
  ``gen_ai.output.messages``, ``gen_ai.usage.input_tokens``/``output_tokens``,
  ``gen_ai.conversation.id``, ``error.type``; the deprecated ``gen_ai.prompt`` attribute and
  ``gen_ai.user.message`` / ``gen_ai.content.prompt`` events):
  https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/ and
  https://github.com/open-telemetry/semantic-conventions/tree/main/docs/gen-ai
- OpenLLMetry's indexed attributes ``gen_ai.prompt.{i}.role/content`` and
  ``gen_ai.completion.{i}.content``: https://github.com/traceloop/openllmetry
  (``opentelemetry-semantic-conventions-ai``).
- OpenInference (Arize Phoenix): ``openinference.span.kind``, ``input.value``,
  ``output.value``, ``llm.input_messages.{i}.message.role/content/contents``,
  ``llm.token_count.prompt/completion``, ``llm.cost.total``, ``user.id``, ``session.id``:
  https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._messages import (
    is_missing,
    last_user_text,
    maybe_json,
    request_text,
    response_text,
)
from evalcov.sources._outcomes import OUTCOME_COLUMNS

__all__ = ["Span", "spans_frame"]

# Operations that are one call to a model (not tools, agents or embeddings).
_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
_INDEXED = re.compile(
    r"^(gen_ai\.prompt|gen_ai\.completion|llm\.input_messages|llm\.output_messages)\.(\d+)\.(.+)$"
)
_CONTENTS = re.compile(r"^message\.contents\.(\d+)\.message_content\.text$")
_USER_KEYS = ("user.id", "enduser.id")
_SESSION_KEYS = ("gen_ai.conversation.id", "session.id")
_INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
_OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
_COST = ("llm.cost.total", "gen_ai.usage.cost")


@dataclass
class Span:
    """One span, its attributes flattened to ``{dotted.key: value}``."""

    trace_id: str
    span_id: str
    parent_id: str | None
    start_ns: int | None
    end_ns: int | None
    error: bool
    attrs: dict
    events: list = field(default_factory=list)  # (name, attributes) pairs


def _first(attrs: Mapping, keys: tuple) -> Any:
    for key in keys:
        value = attrs.get(key)
        if not is_missing(value):
            return value
    return None


def _indexed(attrs: Mapping, prefix: str) -> list[dict]:
    """Messages written as ``prefix.{i}.role`` / ``.content`` keys, in index order."""
    found: dict[int, dict] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        m = _INDEXED.match(key)
        if m and m.group(1) == prefix:
            found.setdefault(int(m.group(2)), {})[m.group(3)] = value
    messages = []
    for i in sorted(found):
        d = found[i]
        content = d.get("content", d.get("message.content"))
        if content is None:
            parts = sorted((int(m.group(1)), v) for k, v in d.items() if (m := _CONTENTS.match(k)))
            content = "\n".join(str(v) for _, v in parts) if parts else None
        messages.append({"role": d.get("role", d.get("message.role")), "content": content})
    return messages


def _has_indexed(attrs: Mapping, prefix: str) -> bool:
    # Indexed messages start at 0 and always name a role or a content: four lookups instead
    # of a scan of every attribute key of every span.
    return any(f"{prefix}.0.{k}" in attrs for k in ("role", "content", "message.role"))


def _prompt(span: Span) -> tuple[bool, str | None]:
    """Whether the span records a prompt, and the last user message's text in it."""
    a = span.attrs
    for key in ("gen_ai.input.messages", "llm.input_messages", "gen_ai.prompt"):
        if key in a and not is_missing(a[key]):
            value = maybe_json(a[key])
            return True, last_user_text(value) if not isinstance(value, str) else value
    for prefix in ("llm.input_messages", "gen_ai.prompt"):
        if _has_indexed(a, prefix):
            return True, last_user_text(_indexed(a, prefix))
    users = [e for name, e in span.events if name == "gen_ai.user.message"]
    if users:
        return True, request_text(users[-1].get("content"))
    for name, e in span.events:
        if name == "gen_ai.content.prompt" and "gen_ai.prompt" in e:
            return True, last_user_text(e["gen_ai.prompt"])
    if "input.value" in a and not is_missing(a["input.value"]):
        return True, request_text(a["input.value"])
    return False, None


def _response(a: Mapping) -> str | None:
    for key in ("gen_ai.output.messages", "llm.output_messages"):
        if key in a and not is_missing(a[key]):
            return response_text(a[key])
    for prefix in ("llm.output_messages", "gen_ai.completion"):
        if _has_indexed(a, prefix):
            return response_text(_indexed(a, prefix))
    return response_text(a.get("output.value"))


def _declared_llm(span: Span) -> bool | None:
    """Whether the span says it is a model call; None when it says nothing of its kind."""
    a = span.attrs
    op, kind = a.get("gen_ai.operation.name"), a.get("openinference.span.kind")
    if op is not None or kind is not None:
        return op in _LLM_OPERATIONS or str(kind).upper() == "LLM"
    return None


class _Facts:
    """Per span, computed on demand: is it an LLM call, and its user text.

    Parsing a span's input messages is most of the reading cost, and a trace needs only its
    first LLM span's, so prompts are parsed when asked for and remembered.
    """

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.declared = [_declared_llm(s) for s in spans]
        self.prompts: dict[int, tuple[bool, str | None]] = {}

    def prompt(self, i: int) -> tuple[bool, str | None]:
        if i not in self.prompts:
            self.prompts[i] = _prompt(self.spans[i])
        return self.prompts[i]

    def llm(self, i: int) -> bool:
        declared = self.declared[i]
        return self.prompt(i)[0] if declared is None else declared

    def text(self, i: int) -> str | None:
        return self.prompt(i)[1]


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _sum(values: list[float]) -> float:
    known = [v for v in values if v == v]  # NaN is the one value unequal to itself
    return float(sum(known)) if known else np.nan


class _Rows:
    """Columns of the output, appended row by row."""

    COLUMNS = ("text", "reason", "id", "time", "user", *OUTCOME_COLUMNS[:-1])  # no feedback

    def __init__(self) -> None:
        self.cols: dict[str, list] = {c: [] for c in self.COLUMNS}

    def add(self, **values: Any) -> None:
        for c in self.COLUMNS:
            self.cols[c].append(values.get(c))

    def frame(self, extra: dict | None = None) -> pd.DataFrame:
        cols = dict(self.cols)
        start = pd.array(cols.pop("time"), dtype="Int64")
        out = pd.DataFrame(cols)
        out.insert(3, "time", pd.to_datetime(start, unit="ns", utc=True))
        for name, values in (extra or {}).items():
            out[name] = values
        return out


def _latency(start: Any, end: Any) -> float:
    if start is None or end is None:
        return np.nan
    return (end - start) / 1e9


def spans_frame(spans: list[Span], unit: str) -> pd.DataFrame:
    """One row per trace (``unit="trace"``) or per span, with the standard columns.

    A trace's text is the last user message of its first LLM span (by start time) that has
    one; its time and latency span the whole trace (first start to last end); tokens and cost
    add up over its LLM spans; it is an error when any span failed; its response is the last
    answer of its LLM spans (the agent's final answer), else the root span's output. Traces
    without an LLM span or without a user message, and in span mode spans that are not LLM
    calls, come back with a ``reason``.
    """
    rows = _Rows()
    facts = _Facts(spans)
    if unit == "span":
        trace_ids = []
        for i, s in enumerate(spans):
            a = s.attrs
            llm = facts.llm(i)
            text = facts.text(i) if llm else None
            reason = "" if llm and text else "no user message" if llm else "not an LLM span"
            rows.add(
                text=text if llm else None,
                reason=reason,
                id=s.span_id,
                time=s.start_ns,
                user=_first(a, _USER_KEYS),
                session=_first(a, _SESSION_KEYS),
                response=_response(a),
                error=s.error,
                latency_s=_latency(s.start_ns, s.end_ns),
                input_tokens=_number(_first(a, _INPUT_TOKENS)),
                output_tokens=_number(_first(a, _OUTPUT_TOKENS)),
                cost=_number(_first(a, _COST)),
            )
            trace_ids.append(s.trace_id)
        return rows.frame({"trace_id": trace_ids})

    traces: dict[str, list[int]] = {}
    for i, s in enumerate(spans):
        traces.setdefault(s.trace_id, []).append(i)
    for trace_id, members in traces.items():
        ids = {spans[i].span_id for i in members}
        order = sorted(members, key=lambda i: spans[i].start_ns or 0)
        roots = [i for i in order if spans[i].parent_id not in ids]
        llms = [i for i in order if facts.llm(i)]
        asked = next((i for i in llms if facts.text(i)), None)
        first = [spans[i] for i in roots[:1]] + [spans[i] for i in order]
        starts = [spans[i].start_ns for i in members if spans[i].start_ns is not None]
        ends = [spans[i].end_ns for i in members if spans[i].end_ns is not None]
        latency = _latency(min(starts), max(ends)) if starts and ends else np.nan
        response = next(
            (a for i in reversed(llms) if (a := _response(spans[i].attrs)) is not None), None
        )
        if response is None and roots:
            response = _response(spans[roots[0]].attrs)
        rows.add(
            text=None if asked is None else facts.text(asked),
            reason="" if asked is not None else "no user message" if llms else "no LLM span",
            id=trace_id,
            time=min(starts) if starts else None,
            user=next((v for s in first if (v := _first(s.attrs, _USER_KEYS))), None),
            session=next((v for s in first if (v := _first(s.attrs, _SESSION_KEYS))), None),
            response=response,
            error=any(spans[i].error for i in members),
            latency_s=latency,
            input_tokens=_sum([_number(_first(spans[i].attrs, _INPUT_TOKENS)) for i in llms]),
            output_tokens=_sum([_number(_first(spans[i].attrs, _OUTPUT_TOKENS)) for i in llms]),
            cost=_sum([_number(_first(spans[i].attrs, _COST)) for i in llms]),
        )
    return rows.frame()
