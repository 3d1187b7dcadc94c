"""OpenTelemetry traces as OTLP JSON, the way the collector's file exporter writes them.

Each line (or the whole file) is one ``ExportTraceServiceRequest``:
``{"resourceSpans": [{"resource": ..., "scopeSpans": [{"scope": ..., "spans": [...]}]}]}``,
attributes as ``[{"key": ..., "value": {"stringValue" | "intValue" | ...: ...}}]`` and 64-bit
integers (``startTimeUnixNano``, ``intValue``) as decimal strings. Schema:
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding and
https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/trace/v1/trace.proto
(file exporter: https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/fileexporter).
GenAI, OpenLLMetry and OpenInference attributes inside the spans are read by
`evalcov.sources.spans`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from evalcov.sources._messages import is_missing
from evalcov.sources.spans import Span, spans_frame

__all__ = ["check", "read"]

_RESOURCE_SPANS = ("resourceSpans", "resource_spans")
_SCOPE_SPANS = ("scopeSpans", "scope_spans", "instrumentationLibrarySpans")
# OTLP status code 2 is ERROR; JSON writes the enum as a number or its name.
_ERROR_CODES = (2, "2", "STATUS_CODE_ERROR", "ERROR")


def check(frame: pd.DataFrame) -> str | None:
    """None when `frame` holds OTLP export requests, else what is missing."""
    if any(c in frame.columns for c in _RESOURCE_SPANS):
        return None
    return "a 'resourceSpans' field (OTLP JSON: one export request per line)"


def _any(value: Mapping) -> Any:
    """Python value of an OTLP ``AnyValue``."""
    for kind, v in value.items():
        if kind == "stringValue":
            return v
        if kind == "intValue":
            return int(v)
        if kind == "doubleValue":
            return float(v)
        if kind == "boolValue":
            return bool(v)
        if kind == "arrayValue":
            return [_any(x) for x in (v or {}).get("values", ())]
        if kind == "kvlistValue":
            return _attrs((v or {}).get("values", ()))
        if kind == "bytesValue":
            return v
    return None


def _attrs(pairs: Any) -> dict:
    return {kv["key"]: _any(kv.get("value") or {}) for kv in pairs or ()}


def _get(d: Mapping, keys: tuple) -> Any:
    for key in keys:
        if key in d:
            return d[key]
    return None


def _ns(value: Any) -> int | None:
    return None if value in (None, "", 0, "0") else int(value)


def _span(raw: Mapping) -> Span:
    status = raw.get("status") or {}
    attrs = _attrs(raw.get("attributes"))
    parent = raw.get("parentSpanId") or raw.get("parent_span_id") or None
    return Span(
        trace_id=str(raw.get("traceId", raw.get("trace_id", ""))),
        span_id=str(raw.get("spanId", raw.get("span_id", ""))),
        parent_id=parent,
        start_ns=_ns(raw.get("startTimeUnixNano", raw.get("start_time_unix_nano"))),
        end_ns=_ns(raw.get("endTimeUnixNano", raw.get("end_time_unix_nano"))),
        error=status.get("code") in _ERROR_CODES or "error.type" in attrs,
        attrs=attrs,
        events=[(e.get("name"), _attrs(e.get("attributes"))) for e in raw.get("events") or ()],
    )


def read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Standard rows (see `evalcov.sources.spans.spans_frame`) from OTLP export requests."""
    column = next(c for c in _RESOURCE_SPANS if c in frame.columns)
    spans = []
    for resources in frame[column]:
        if is_missing(resources):
            continue
        for resource in resources:
            for scope in _get(resource, _SCOPE_SPANS) or ():
                spans.extend(_span(s) for s in scope.get("spans") or ())
    if not spans:
        raise ValueError("OTLP JSON holds no spans (every resourceSpans/scopeSpans is empty)")
    return spans_frame(spans, unit)
