"""Field access shared by the source readers: required columns, first present column, times."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["column", "epoch_ns", "require"]


def require(frame: pd.DataFrame, columns: tuple, what: str) -> str | None:
    """None when `frame` has every column, else the structure check's message."""
    missing = [c for c in columns if c not in frame.columns]
    return f"column(s) {', '.join(map(repr, missing))} ({what})" if missing else None


def column(frame: pd.DataFrame, *names: str) -> list:
    """Values of the first of `names` present in `frame`; Nones when none is."""
    for name in names:
        if name in frame.columns:
            return frame[name].tolist()
    return [None] * len(frame)


def epoch_ns(values: list) -> list:
    """ISO 8601 times (or datetimes) as epoch nanoseconds; None where missing."""
    t = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    ns = t.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return [None if m else int(v) for v, m in zip(ns, t.isna().to_numpy(), strict=True)]
