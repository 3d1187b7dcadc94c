"""Pick a few queries out of many: budget split across gaps and diverse / weighted picks.

Pure functions on arrays, shared by the labeling export (:mod:`evalcov.export`) and the
benchmarks, so each rule can be tested on its own.
"""

from __future__ import annotations

import numpy as np

__all__ = ["allocate", "farthest_first", "near_duplicate_share", "weighted_sample"]

DUPLICATE_COSINE = 0.95


def allocate(budget: int, shares: np.ndarray, capacity: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Split ``budget`` picks across groups in proportion to ``shares``, with a floor.

    Every group first gets ``minimum`` picks (so a small gap is not starved), in the order
    given when the budget cannot cover every group's floor; the rest is split in proportion
    to ``shares`` by largest remainder. No group gets more than its ``capacity``; what a
    full group cannot take is split again over the others.

    Parameters
    ----------
    budget : int
        Total picks, >= 0.
    shares : ndarray of shape (n_groups,)
        Non-negative sizes (e.g. uncovered traffic), in priority order: ties and floors go
        to earlier groups first.
    capacity : ndarray of shape (n_groups,), int
        Most picks each group can supply.
    minimum : int, default=1
        Floor per group (capped by its capacity).

    Returns
    -------
    ndarray of shape (n_groups,), int64
        Picks per group; sums to ``min(budget, capacity.sum())``.
    """
    shares = np.asarray(shares, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.int64)
    out = np.zeros(len(shares), dtype=np.int64)
    left = int(min(budget, capacity.sum()))
    for g in range(len(shares)):
        take = min(minimum, capacity[g], left)
        out[g] = take
        left -= take
    while left > 0:
        open_ = out < capacity
        w = np.where(open_, shares, 0.0)
        if w.sum() <= 0:
            # Nothing to be proportional to (zero shares): fill open groups evenly in order.
            w = open_.astype(np.float64)
        quota = left * w / w.sum()
        add = np.minimum(np.floor(quota).astype(np.int64), capacity - out)
        rest = left - int(add.sum())
        if rest > 0:
            # Largest remainder, earlier groups first on ties (a stable sort keeps order).
            remainder = np.where(out + add < capacity, quota - np.floor(quota), -1.0)
            order = np.argsort(-remainder, kind="stable")
            for g in order[:rest]:
                if remainder[g] < 0:
                    break
                add[g] += 1
        if add.sum() == 0:
            break
        out += add
        left -= int(add.sum())
    return out


def farthest_first(
    X: np.ndarray,
    k: int,
    weights: np.ndarray | None = None,
    picked: np.ndarray | None = None,
    duplicate_cosine: float = DUPLICATE_COSINE,
) -> np.ndarray:
    """Greedy k-center picks over unit vectors, seeded by the most central one.

    The first pick is the row closest to the (weighted) centroid of ``X``, so a batch opens
    with the typical query of the group; each next pick is the row least similar to
    everything picked so far. A row whose cosine to an already picked vector (here or in
    ``picked``) is ``duplicate_cosine`` or more is skipped as a near-duplicate, so fewer
    than ``k`` rows come back when the group runs out of distinct ones. Deterministic:
    ties go to the lower row.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Unit-norm candidate vectors.
    k : int
        Most rows to pick.
    weights : ndarray of shape (n,), optional
        Traffic weights for the centroid (default: equal).
    picked : ndarray of shape (m, dim), optional
        Vectors picked elsewhere (other gaps), for the near-duplicate test.
    duplicate_cosine : float, default=0.95

    Returns
    -------
    ndarray of int64
        Row indices into ``X`` in pick order.
    """
    n = len(X)
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    X = np.asarray(X, dtype=np.float32)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    nearest = np.full(n, -np.inf, dtype=np.float32)
    if picked is not None and len(picked):
        nearest = (X @ np.asarray(picked, dtype=np.float32).T).max(axis=1)
    free = nearest < duplicate_cosine
    if not free.any():
        return np.zeros(0, dtype=np.int64)
    centroid = (w[:, None] * X).sum(axis=0).astype(np.float32)
    centrality = np.where(free, X @ centroid, -np.inf)
    out = [int(np.argmax(centrality))]
    while len(out) < k:
        nearest = np.maximum(nearest, X @ X[out[-1]])
        score = np.where(nearest < duplicate_cosine, nearest, np.inf)
        j = int(np.argmin(score))
        if not np.isfinite(score[j]):
            break
        out.append(j)
    return np.asarray(out, dtype=np.int64)


def weighted_sample(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct rows drawn with probability proportional to ``weights`` (> 0 only).

    Returns
    -------
    ndarray of int64
        Row indices in draw order; fewer than ``k`` when fewer rows have positive weight.
    """
    w = np.asarray(weights, dtype=np.float64)
    positive = np.flatnonzero(w > 0)
    k = min(int(k), len(positive))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    p = w[positive] / w[positive].sum()
    return positive[rng.choice(len(positive), size=k, replace=False, p=p)].astype(np.int64)


def near_duplicate_share(X: np.ndarray, duplicate_cosine: float = DUPLICATE_COSINE) -> float:
    """Share of rows whose cosine to some other row is ``duplicate_cosine`` or more."""
    if len(X) < 2:
        return 0.0
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    return float((S.max(axis=1) >= duplicate_cosine).mean())
