"""The outcome of each request, under the same column names whatever the source.

``session`` (str), ``response`` (str, the model's output; never embedded), ``error``
(nullable boolean), ``latency_s``, ``input_tokens``, ``output_tokens``, ``cost`` (float64,
NaN when unknown), ``feedback`` (float64, higher is better: a thumbs-up is 1, a thumbs-down
0) and one ``score_<name>`` column per named score (float64, or str for categorical scores).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalcov.sources._messages import is_missing

__all__ = [
    "OUTCOME_COLUMNS",
    "coerce_outcome",
    "feedback_value",
    "is_outcome",
    "score_column",
    "to_flags",
]

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
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0", "error", "failed", "failure", "fail"})
_FALSE = frozenset(
    {"false", "f", "no", "n", "0", "0.0", "ok", "success", "succeeded", "passed", "pass", "unset"}
)
FLAGS = "booleans, 0/1, or true/false, yes/no, error/ok, failed/success"
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
    """True/False/NA from a flag, or ValueError: one rule for ``error`` and ``failure=``."""
    if _blank(v):
        return pd.NA
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Real) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    raise ValueError(repr(v))


def _bad_values(what: str, expected: str, bad: list[tuple[Any, Any]]) -> ValueError:
    """The one error for unreadable outcome values: what, what was expected, and which rows."""
    shown = ", ".join(f"{label} ({value!r})" for label, value in bad[:_MAX_LISTED])
    more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
    return ValueError(f"{what} must hold {expected}; bad values at rows {shown}{more}")


def to_flags(values: Sequence[Any], labels: Sequence[Any], what: str) -> pd.Series:
    """Nullable booleans from flags, naming every row that holds something else.

    Parameters
    ----------
    values : sequence
        Booleans, 0/1, or true/false, yes/no, error/ok, failed/success, ... (any case);
        blank cells and missing values are NA (unknown).
    labels : sequence
        Row names for error messages, one per value.
    what : str
        The column or argument the values come from, named in error messages.

    Returns
    -------
    Series of dtype "boolean" (positional index)

    Raises
    ------
    ValueError
        Naming ``what`` and the rows (up to five, with their values) that hold anything
        else: an error *message* or a status code is not a flag; convert it first (e.g.
        ``df["error"].notna()``) or pass ``analyze(failure=...)``.
    """
    out: list[Any] = []
    bad: list[tuple[Any, Any]] = []
    for v, label in zip(values, labels, strict=True):
        try:
            out.append(_flag(v))
        except ValueError:
            bad.append((label, v))
            out.append(pd.NA)
    if bad:
        raise _bad_values(what, FLAGS, bad)
    return pd.Series(out, dtype="boolean")


def coerce_outcome(
    name: str, values: Sequence[Any], labels: Sequence[Any], column: Any = None
) -> pd.Series:
    """Convert one outcome column's values to its standard type.

    ``session`` and ``response`` become str (blank is missing), ``error`` nullable booleans
    (:func:`to_flags`), ``feedback`` and ``score_<name>`` float64 from numbers, booleans and
    thumbs (up/down, 👍/👎, positive/negative, ...; a ``score_`` column holding labels stays
    text: a categorical score), every other outcome float64. Blank cells are missing (NaN, NA).

    Parameters
    ----------
    name : str
        The standard name (``error``, ``cost``, ``score_x``, ...).
    values : sequence
        The raw values, one per row (CSV cells arrive as strings).
    labels : sequence
        Row names for error messages (``"traffic.csv:12"``).
    column : Any, optional
        The source column, named in error messages; default ``name``.

    Returns
    -------
    Series (positional index)

    Raises
    ------
    ValueError
        ``column '<column>' (outcome '<name>') must hold <what>; bad values at rows <label>
        (<value>), ...`` for a value that cannot mean what the column says (``error="maybe"``,
        ``cost="a lot"``, an infinite latency).
    """
    values = list(values)
    column = name if column is None else column
    what = f"column {column!r}" if column == name else f"column {column!r} (outcome {name!r})"
    if name in _TEXT:
        return pd.Series([None if _blank(v) else str(v) for v in values], dtype=object)
    if name == "error":
        return to_flags(values, labels, what)
    if name == "feedback" or name.startswith("score_"):
        floats = np.array([feedback_value(v) for v in values], dtype=np.float64)
        unread = [i for i in np.flatnonzero(np.isnan(floats)) if not _blank(values[i])]
        if unread and name.startswith("score_"):
            # A categorical score (a label, not a number) stays as its text.
            return pd.Series([None if _blank(v) else str(v) for v in values], dtype=object)
        expected = "numbers, booleans or thumbs up/down"
    else:
        if all(v is None or type(v) is float or type(v) is int for v in values):
            floats = np.array(values, dtype=np.float64)  # None becomes NaN
        else:
            raw = pd.Series(values, dtype=object)
            floats = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        unread = [i for i in np.flatnonzero(np.isnan(floats)) if not _blank(values[i])]
        expected = "finite numbers"
    unread += [i for i in np.flatnonzero(np.isinf(floats))]
    if unread:
        raise _bad_values(what, expected, [(labels[i], values[i]) for i in sorted(unread)])
    return pd.Series(floats, dtype=np.float64)


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
