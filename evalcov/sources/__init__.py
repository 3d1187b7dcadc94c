"""Readers of the places teams keep traffic and eval sets, one module per source.

Each source is registered with its structure check: ``check(frame)`` returns None when a
loaded table has the source's shape and otherwise names what is missing, so the same check
both detects the source and explains why a forced ``format=`` does not fit. ``read(frame,
unit)`` returns the standard rows `evalcov.ingest` finishes: ``text`` (the user's words,
None when there are none), ``reason`` (why a row has no text), optionally ``id``, ``time``,
``user`` and the outcome columns of `evalcov.sources._outcomes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from evalcov.sources import helicone, langfuse, langsmith, mlflow, otel, phoenix
from evalcov.sources._outcomes import OUTCOME_COLUMNS, coerce_outcome, is_outcome, score_column
from evalcov.sources.evalsets import EVAL_SOURCES

__all__ = [
    "EVAL_FORMATS",
    "OUTCOME_COLUMNS",
    "SOURCES",
    "TRAFFIC_FORMATS",
    "Source",
    "coerce_outcome",
    "detect",
    "is_outcome",
    "score_column",
]


@dataclass(frozen=True)
class Source:
    """A source format: its name, what it holds, its structure check and its reader."""

    name: str
    kind: str  # "traffic" or "evals"
    check: Callable[[pd.DataFrame], str | None]
    read: Callable[[pd.DataFrame, str], pd.DataFrame]


def _langfuse_check(frame: pd.DataFrame) -> str | None:
    if langfuse.check_observations(frame) is None:
        return None
    return langfuse.check_traces(frame)


def _langfuse_read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    if langfuse.check_observations(frame) is None:
        return langfuse.read_observations(frame, unit)
    return langfuse.read_traces(frame, unit)


_TRAFFIC = (
    Source("otel", "traffic", otel.check, otel.read),
    Source("phoenix", "traffic", phoenix.check, phoenix.read),
    Source("langsmith", "traffic", langsmith.check, langsmith.read),
    Source("langfuse", "traffic", _langfuse_check, _langfuse_read),
    Source("helicone", "traffic", helicone.check, helicone.read),
    Source("mlflow", "traffic", mlflow.check, mlflow.read),
)
_EVALS = tuple(Source(name, "evals", check, read) for name, (check, read) in EVAL_SOURCES.items())
SOURCES = {s.name: s for s in (*_TRAFFIC, *_EVALS)}
TRAFFIC_FORMATS = tuple(s.name for s in _TRAFFIC)
EVAL_FORMATS = (*tuple(s.name for s in _EVALS), "promptfoo")


def detect(frame: pd.DataFrame, kind: str) -> Source | None:
    """The first source of `kind` whose structure check accepts `frame`, else None."""
    for source in _TRAFFIC if kind == "traffic" else _EVALS:
        if source.check(frame) is None:
            return source
    return None
