"""The outcome of each request, under the same column names whatever the source.

``session`` (str), ``response`` (str, the model's output; never embedded), ``error``
(nullable boolean), ``latency_s``, ``input_tokens``, ``output_tokens``, ``cost`` (float64,
NaN when unknown), ``feedback`` (float64, higher is better: a thumbs-up is 1, a thumbs-down
0) and one ``score_<name>`` column per named score (float64, or str for categorical scores).
"""

from __future__ import annotations

import numbers
import re
from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._messages import is_missing

__all__ = ["OUTCOME_COLUMNS", "coerce_outcome", "feedback_value", "is_outcome", "score_column"]

OUTCOME_COLUMNS = (
    "session",
    "response",
    "error",
    "latency_s",
    "input_tokens",
    "output_tokens",
    "cost",
    "feedback",
)
_TEXT = ("session", "response")
# Names tools and teams give the end user's own rating; any of them fills ``feedback``.
FEEDBACK_NAMES = frozenset(
    {"feedback", "user_feedback", "thumbs", "thumbs_up", "user_score", "user_rating", "rating"}
)
_UP = frozenset({"up", "thumbs_up", "thumbsup", "positive", "good", "like", "yes", "true", "👍"})
_DOWN = frozenset(
    {"down", "thumbs_down", "thumbsdown", "negative", "bad", "dislike", "no", "false", "👎"}
)
_TRUE = frozenset({"true", "t", "yes", "y", "1", "error", "failed", "failure", "fail"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "ok", "success", "succeeded", "unset"})
_MAX_LISTED = 5


def score_column(name: Any) -> str:
    """``score_<name>`` with the name lower-cased and runs of other characters as ``_``."""
    return "score_" + (re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_") or "unnamed")


def is_outcome(column: Any) -> bool:
    """Whether a column name is one of the standard outcome columns (or a ``score_``)."""
    return column in OUTCOME_COLUMNS or str(column).startswith("score_")


def is_feedback_name(name: Any) -> bool:
    """Whether a score or feedback key names the end user's own rating."""
    return score_column(name)[len("score_") :] in FEEDBACK_NAMES


def feedback_value(v: Any) -> float:
    """A number from a rating: numbers as they are, booleans and thumbs as 1/0, else NaN."""
    if type(v) is float or type(v) is int:
        return float(v)
    if is_missing(v):
        return np.nan
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        s = v.strip().lower().replace("-", "_").replace(" ", "_")
        if s in _UP:
            return 1.0
        if s in _DOWN:
            return 0.0
        try:
            return float(s)
        except ValueError:
            return np.nan
    return np.nan


def _blank(v: Any) -> bool:
    return is_missing(v) or (isinstance(v, str) and not v.strip())


def _flag(v: Any) -> Any:
    if _blank(v):
        return pd.NA
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Real):
        return bool(v != 0)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise ValueError(repr(v))


def coerce_outcome(name: str, values: list, labels: Any, column: Any) -> pd.Series:
    """Convert one outcome column's values to its standard type.

    Parameters
    ----------
    name : str
        The standard name (``error``, ``cost``, ``score_x``, ...).
    values : list
        The raw values, one per row.
    labels : array of str
        Row names for error messages.
    column : Any
        The source column, named in error messages.

    Raises
    ------
    ValueError
        A value that cannot mean what the column says (``error="maybe"``, ``cost="a lot"``).
    """
    bad: list[tuple[str, str]] = []
    if name in _TEXT:
        return pd.Series([None if _blank(v) else str(v) for v in values], dtype=object)
    if name == "error":
        out = []
        for i, v in enumerate(values):
            try:
                out.append(_flag(v))
            except ValueError:
                bad.append((labels[i], repr(v)))
                out.append(pd.NA)
        expected = "booleans, 0/1, or true/false/yes/no/error/ok"
        result = pd.Series(out, dtype="boolean")
    elif name == "feedback" or name.startswith("score_"):
        numbers_ = np.array([feedback_value(v) for v in values], dtype=np.float64)
        result = pd.Series(numbers_)
        # A blank cell (a CSV's empty field) holds no feedback, as it holds no number below.
        unread = [
            i
            for i in np.flatnonzero(np.isnan(numbers_))
            if not (is_missing(values[i]) or _blank(values[i]))
        ]
        if unread and name.startswith("score_"):
            # A categorical score (a label, not a number) stays as its text.
            return pd.Series([None if is_missing(v) else str(v) for v in values], dtype=object)
        bad = [(labels[i], repr(values[i])) for i in unread]
        expected = "numbers, booleans or thumbs up/down"
    else:
        raw = pd.Series(values, dtype=object)
        if all(v is None or type(v) is float or type(v) is int for v in values):
            return pd.Series(np.array(values, dtype=np.float64))  # None becomes NaN
        result = pd.to_numeric(raw, errors="coerce").astype(np.float64)
        blank = raw.map(lambda v: is_missing(v) or (isinstance(v, str) and not v.strip()))
        unread = np.flatnonzero(result.isna().to_numpy() & ~blank.to_numpy(dtype=bool))
        bad = [(labels[i], repr(values[i])) for i in unread]
        expected = "numbers"
    if bad:
        shown = ", ".join(f"{lab} ({v})" for lab, v in bad[:_MAX_LISTED])
        more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise ValueError(
            f"column {column!r} (outcome {name!r}) must hold {expected}; bad values at rows "
            f"{shown}{more}"
        )
    return result


def score_columns(per_row: list[dict]) -> dict[str, list]:
    """``score_<name>`` columns (and ``feedback``) from one ``{name: value}`` dict per row.

    A name that denotes the end user's rating (``feedback``, ``thumbs``, ``user_score``, ...)
    also fills ``feedback``; several such names on one row average.
    """
    names: dict[str, str] = {}
    for scores in per_row:
        for n in scores:
            if n not in names:
                names[n] = score_column(n)
    rating = {n for n in names if is_feedback_name(n)}
    # A score called "feedback" is the feedback column itself, not also a score_feedback.
    columns = {c: [None] * len(per_row) for c in names.values() if c != "score_feedback"}
    feedback = [np.nan] * len(per_row)
    for i, scores in enumerate(per_row):
        rated = []
        for name, value in scores.items():
            if names[name] in columns:
                columns[names[name]][i] = value
            if name in rating:
                rated.append(feedback_value(value))
        rated = [v for v in rated if v == v]
        if rated:
            feedback[i] = sum(rated) / len(rated)
    if any(not np.isnan(v) for v in feedback):
        columns["feedback"] = feedback
    return columns
