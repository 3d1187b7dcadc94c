"""Collapse repeated texts so each unique query is embedded once.

Production logs repeat themselves ("hi", "cancel my order" thousands of
times); embedding every row would waste most of the time. `dedupe` keeps one
entry per unique normalized text with the summed traffic weight, plus the
mapping back to the input rows so every row can be reported again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Deduped", "dedupe"]


@dataclass(frozen=True, eq=False)
class Deduped:
    """Unique texts of a read table and the way back to its rows.

    Attributes
    ----------
    texts : list of str
        Unique normalized texts of the non-excluded rows, in order of first
        appearance.
    weights : ndarray of shape (n_unique,), float64
        Sum of the rows' ``weight`` per unique text.
    counts : ndarray of shape (n_unique,), int64
        Number of input rows per unique text.
    codes : ndarray of shape (n_rows,), int64
        Per input row, the index into `texts`; -1 for excluded rows.
    """

    texts: list[str]
    weights: np.ndarray
    counts: np.ndarray
    codes: np.ndarray
    # Rows grouped by code, and where each group starts: makes rows_of O(group size).
    _order: np.ndarray = field(init=False, repr=False)
    _starts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.texts)
        if self.weights.shape != (n,) or self.counts.shape != (n,):
            raise ValueError(
                f"weights and counts must have shape ({n},) like texts; got "
                f"{self.weights.shape} and {self.counts.shape}"
            )
        kept = np.flatnonzero(self.codes >= 0)
        order = kept[np.argsort(self.codes[kept], kind="stable")]
        starts = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.codes[kept], minlength=n), out=starts[1:])
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_starts", starts)

    def __len__(self) -> int:
        return len(self.texts)

    def rows_of(self, i: int) -> np.ndarray:
        """Positions (not index labels) of the input rows whose text is ``texts[i]``.

        Parameters
        ----------
        i : int
            Index into `texts`.

        Returns
        -------
        ndarray of int64
            Row positions in increasing order.
        """
        n = len(self.texts)
        if not -n <= i < n:
            raise IndexError(f"unique text index {i} out of range for {n} unique texts")
        i %= n
        return self._order[self._starts[i] : self._starts[i + 1]]


def dedupe(frame: pd.DataFrame) -> Deduped:
    """Group the non-excluded rows of a read table by their exact normalized text.

    Parameters
    ----------
    frame : DataFrame
        A table as returned by `evalcov.ingest.read_traffic` or
        `evalcov.ingest.read_evals` (columns ``text``, ``excluded``, ``weight``).
        Texts are compared as they are: they are already normalized.

    Returns
    -------
    Deduped
        Unique texts with summed weights and counts, and per-row codes.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"frame must be a DataFrame from read_traffic/read_evals; got {type(frame)}"
        )
    missing = [c for c in ("text", "excluded", "weight") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"frame lacks column(s) {', '.join(missing)}; pass the output of read_traffic or "
            f"read_evals (columns present: {', '.join(map(str, frame.columns))})"
        )
    kept = ~frame["excluded"].to_numpy(dtype=bool)
    weight = frame["weight"].to_numpy(dtype=np.float64)
    texts = frame["text"]
    # Factorizing the Series itself lets Arrow-backed strings hash without a copy to objects.
    kept_codes, uniques = pd.factorize(texts if kept.all() else texts[kept], sort=False)
    n_unique = len(uniques)
    codes = np.full(len(frame), -1, dtype=np.int64)
    codes[kept] = kept_codes
    return Deduped(
        texts=[str(t) for t in uniques.tolist()],
        weights=np.bincount(kept_codes, weights=weight[kept], minlength=n_unique).astype(
            np.float64
        ),
        counts=np.bincount(kept_codes, minlength=n_unique).astype(np.int64),
        codes=codes,
    )
