"""Arize Phoenix spans: ``px.Client().get_spans_dataframe()`` and that frame saved as Parquet.

One row per span with ``context.span_id``, ``context.trace_id``, ``parent_id``, ``span_kind``,
``start_time``, ``end_time``, ``status_code`` (``OK``/``ERROR``/``UNSET``) and the
OpenInference attributes as ``attributes.<dotted.key>`` columns (``attributes.llm.input_messages``
holds a list of ``{"message.role", "message.content"}`` mappings). Schema:
https://github.com/Arize-ai/phoenix (``phoenix.trace.dsl``, spans dataframe) and
https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalcov.sources._fields import column, epoch_ns, require
from evalcov.sources._messages import is_missing
from evalcov.sources.spans import Span, spans_frame

__all__ = ["check", "read"]

_REQUIRED = ("context.span_id", "context.trace_id")


def check(frame: pd.DataFrame) -> str | None:
    """None when `frame` is a Phoenix spans DataFrame, else what is missing."""
    return require(frame, _REQUIRED, "Phoenix spans")


def read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Standard rows (see `evalcov.sources.spans.spans_frame`) from a Phoenix spans frame."""
    n = len(frame)
    attr_cols = [c for c in frame.columns if str(c).startswith("attributes.")]
    starts = epoch_ns(column(frame, "start_time"))
    ends = epoch_ns(column(frame, "end_time"))
    status = frame["status_code"].astype(str).str.upper() if "status_code" in frame else None
    kinds = frame["span_kind"].tolist() if "span_kind" in frame else [None] * n
    parents = frame["parent_id"].tolist() if "parent_id" in frame else [None] * n
    records = frame[attr_cols].to_dict("records")
    spans = []
    for i, (record, kind) in enumerate(zip(records, kinds, strict=True)):
        attrs = {k[len("attributes.") :]: v for k, v in record.items() if not _absent(v)}
        if not is_missing(kind) and "openinference.span.kind" not in attrs:
            attrs["openinference.span.kind"] = kind
        spans.append(
            Span(
                trace_id=str(frame["context.trace_id"].iat[i]),
                span_id=str(frame["context.span_id"].iat[i]),
                parent_id=None if _absent(parents[i]) else str(parents[i]),
                start_ns=starts[i],
                end_ns=ends[i],
                error=status is not None and status.iat[i] == "ERROR",
                attrs=attrs,
            )
        )
    return spans_frame(spans, unit)


def _absent(v: object) -> bool:
    # Lists and arrays (input messages) are present even when pandas cannot test them for NA.
    return not isinstance(v, (list, tuple, np.ndarray, dict)) and is_missing(v)
