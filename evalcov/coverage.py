"""Measure how well eval prompts cover traffic: pure functions on embeddings and cluster labels.

The method, in three steps:

1. **Nearest eval** (per query, original embedding space): cosine similarity to the closest
   eval prompt, by blocked matrix products so memory stays bounded.
2. **Claims** (per eval prompt): each eval prompt stands for the ``k`` traffic texts nearest to
   it, where ``k = reach * n_traffic_unique / n_eval``. This is the base rate: an eval set of
   50 prompts against 20,000 distinct queries lets each prompt stand for 400 of them, one of
   500 prompts for 40. It is a rank in the data, so it needs no similarity constant tuned to a
   model. A query is *claimed* when it lies within the claim radius of at least one eval
   prompt (the similarity of that prompt's k-th nearest traffic text).

   A rank shrinks where the traffic crowds: a prompt inside a heavy request asked in
   thousands of phrasings finds its k texts among that request's own variants, and claims a
   sliver of it. So no prompt claims less far than the most crowded quarter of the eval set's
   prompts would at their border (:func:`reach_similarity`): a radius tighter than the 75th
   percentile of the radii (as similarities) is widened to it. The bound is again read off
   the data, the eval set's own radii.
3. **Clusters pool the evidence** and answer two separate questions
   (:func:`cluster_levels`):

   - *presence* -- is this kind of request tested at all? A cluster is tested when the eval
     set holds two of its prompts, or one prompt that claims part of it, or when prompts claim
     half of its traffic. Presence never depends on how heavy the cluster is: a topic with
     five prompts is tested whether it carries 1% of the traffic or 40%. Every query of a
     tested cluster is covered, none of an untested one.
   - *depth* -- is it tested in proportion to its traffic? A tested cluster is **thin** when
     it holds significantly fewer prompts than a traffic-proportional eval set would give it
     (Poisson, ``p_under < alpha``). Thin traffic is covered: it is tested, not often enough.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats

from evalcov._half import to_float32

__all__ = [
    "claim_radii",
    "centroid_sums",
    "claimed_mask",
    "closest_prompts",
    "cluster_levels",
    "cluster_coverage",
    "covered_from_claims",
    "eval_counts",
    "is_covered",
    "nearest_and_claimed",
    "nearest_and_claims",
    "nearest_eval",
    "reach_similarity",
    "widen_claims",
    "widen_radii",
]

_BLOCK = 4096
_TOLERANCE = 1e-6


def nearest_eval(traffic: np.ndarray, evals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of each traffic vector to its nearest eval vector.

    Parameters
    ----------
    traffic : ndarray of shape (n_traffic, dim)
        Unit-norm traffic embeddings.
    evals : ndarray of shape (n_eval, dim)
        Unit-norm eval embeddings, n_eval >= 1.

    Returns
    -------
    similarity : ndarray of shape (n_traffic,), float32
    index : ndarray of shape (n_traffic,), int64
        Row of the nearest eval vector.
    """
    sim, idx, _ = nearest_and_claimed(traffic, evals)
    return sim, idx


def nearest_and_claimed(
    traffic: np.ndarray, evals: np.ndarray, radii: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`nearest_eval` and, given claim radii, :func:`claimed_mask` in one pass.

    Both read the same (traffic, eval) similarity blocks; at a million queries computing
    them once saves a fifth of the measurement. ``claimed`` is None without ``radii``.
    """
    sim = np.empty(len(traffic), dtype=np.float32)
    idx = np.empty(len(traffic), dtype=np.int64)
    claimed = None if radii is None else np.empty(len(traffic), dtype=bool)
    for start in range(0, len(traffic), _BLOCK):
        block = _rows(traffic, start) @ evals.T
        j = block.argmax(axis=1)
        idx[start : start + _BLOCK] = j
        sim[start : start + _BLOCK] = block[np.arange(len(j)), j]
        if claimed is not None:
            claimed[start : start + _BLOCK] = _inside(block, radii)
    return sim, idx, claimed


def claim_radii(evals: np.ndarray, traffic: np.ndarray, k: int) -> np.ndarray:
    """Similarity of each eval vector to its k-th nearest traffic vector.

    Returns
    -------
    ndarray of shape (n_eval,), float32
        The radii :func:`nearest_and_claims` computes, from the same products as its claims.
    """
    return nearest_and_claims(traffic, evals, k)[0]


def nearest_and_claims(
    traffic: np.ndarray, evals: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Claim radii, nearest eval and claims in one pass over the (traffic, eval) similarities.

    The pass reads blocks of traffic against all eval vectors, the same products as
    :func:`nearest_and_claimed`. Each eval vector keeps a buffer of candidates (similarity and
    traffic row); once it holds k of them, a similarity below its k-th best so far (less the
    tolerance) can neither change its radius nor be claimed by it, so after the first blocks
    almost nothing is kept and nothing is sorted. The radii and the claims come from the very
    same numbers. No (n_eval, n_traffic) matrix is held.

    Returns
    -------
    radii : ndarray of shape (n_eval,), float32
        Similarity of each eval vector to its k-th nearest traffic vector.
    similarity, index : as :func:`nearest_eval`
    claimed : ndarray of shape (n_traffic,), bool
        As :func:`claimed_mask` with these radii.
    """
    n_traffic, n = len(traffic), len(evals)
    k = int(min(max(k, 1), n_traffic))
    sim = np.empty(n_traffic, dtype=np.float32)
    idx = np.empty(n_traffic, dtype=np.int64)
    claimed = np.zeros(n_traffic, dtype=bool)
    if n_traffic == 0:
        return np.full(n, -np.inf, dtype=np.float32), sim, idx, claimed
    row_type = np.int32 if n_traffic < 2**31 else np.int64
    ev_type = np.uint16 if n < 2**16 else np.int64
    values = np.full((n, k + _BLOCK), -np.inf, dtype=np.float32)
    rows = np.zeros((n, k + _BLOCK), dtype=row_type)
    filled = np.zeros(n, dtype=np.int64)
    # Below this, a similarity can no longer matter to an eval vector (-inf until k are seen).
    floor = np.full(n, -np.inf, dtype=np.float32)
    for start in range(0, n_traffic, _BLOCK):
        block = _rows(traffic, start) @ evals.T
        j = block.argmax(axis=1)
        idx[start : start + _BLOCK] = j
        sim[start : start + _BLOCK] = block[np.arange(len(j)), j]
        hit = np.flatnonzero(block >= floor)  # flat (text, eval) positions, text-major
        ev = (hit % n).astype(ev_type)
        count = np.bincount(ev, minlength=n)
        full = np.flatnonzero(filled + count > values.shape[1])
        if len(full):
            values, rows = _compact(values, rows, filled, floor, full, k, _BLOCK)
            hit = hit[block.ravel()[hit] >= floor[ev]]
            ev = (hit % n).astype(ev_type)
            count = np.bincount(ev, minlength=n)
        # Each eval's candidates together, texts in order (a radix sort for 16-bit ids).
        order = np.argsort(ev, kind="stable")
        hit, ev = hit[order], ev[order]
        rank = np.arange(len(hit)) - np.repeat(np.cumsum(count) - count, count)
        at = filled[ev] + rank
        values[ev, at] = block.ravel()[hit]
        rows[ev, at] = start + hit // n
        filled += count
    radii = -np.partition(-values, k - 1, axis=1)[:, k - 1]
    # The tolerance keeps every text at a prompt's k-th place claimed whatever the product's
    # rounding (kept for radii computed elsewhere, e.g. by the Dask path or a saved map).
    inside = values >= (radii - _TOLERANCE)[:, None]
    claimed[rows[inside]] = True
    return radii, sim, idx, claimed


def reach_similarity(radii: np.ndarray, quantile: float | None = 0.75) -> float:
    """The similarity every eval prompt claims down to, whatever its rank-based radius.

    The ``quantile`` of the claim radii (similarities to each prompt's k-th nearest traffic
    text): prompts whose radius is tighter than this -- those crowded by many phrasings of one
    request -- are widened to it, the others keep their own. ``None`` (or no prompts) gives
    ``inf``: every prompt keeps its own radius.

    Measured in ``benchmarks/bench_coverage.py --production`` (``results/coverage_rules.md``):
    0.75 keeps CLINC as it comes at its F1 and intent recall (its coverage error 0.010 ->
    0.015) and brings the coverage error of the Zipf and narrow-domain scenarios down (Zipf
    1.2 0.096 -> 0.036, narrow 0.366 -> 0.075); lower quantiles gain more there and lose on
    uniform traffic.
    """
    radii = np.asarray(radii, dtype=np.float32)
    if quantile is None or len(radii) == 0:
        return float("inf")
    return float(np.quantile(radii, quantile))


def widen_claims(
    radii: np.ndarray, similarity: np.ndarray, claimed: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray]:
    """Radii no tighter than ``reach`` (:func:`reach_similarity`), and the claims they give.

    A text is inside ``min(radius_p, reach)`` of some prompt p exactly when it was inside
    ``radius_p`` of one or its nearest prompt is at least ``reach`` similar, so the claims
    follow from the nearest-prompt similarity without another pass over the products; the
    widened radii then give the same claims through :func:`claimed_mask` (the Dask path and
    saved maps).
    """
    claimed = claimed | (similarity >= np.float32(reach) - _TOLERANCE)
    return widen_radii(radii, reach), claimed


def widen_radii(radii: np.ndarray, reach: float) -> np.ndarray:
    """Claim radii (similarities) no tighter than ``reach``, as float32: the one place the
    floor of :func:`reach_similarity` is applied to radii (the engine, the Dask path and the
    candidates of :func:`evalcov.refresh.suggest_additions`)."""
    return np.minimum(np.asarray(radii, dtype=np.float32), np.float32(reach))


def _compact(
    values: np.ndarray,
    rows: np.ndarray,
    filled: np.ndarray,
    floor: np.ndarray,
    full: np.ndarray,
    k: int,
    room: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Shrink the buffers ``full`` to what can still matter: values at or above their k-th
    best, less the tolerance (ties and near-ties can exceed k). Raises their floors; widens
    every buffer when one still lacks ``room`` free places. Updates ``filled`` and ``floor``
    in place; returns the (possibly new) buffers."""
    kth = -np.partition(-values[full], k - 1, axis=1)[:, k - 1]
    floor[full] = kth - _TOLERANCE
    keep = values[full] >= floor[full, None]
    kept = keep.sum(axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept entries first, in buffer order
    values[full] = np.take_along_axis(values[full], order, axis=1)
    rows[full] = np.take_along_axis(rows[full], order, axis=1)
    width = values.shape[1]
    values[full] = np.where(np.arange(width) < kept[:, None], values[full], -np.inf)
    filled[full] = kept
    need = int(kept.max()) + room
    if need > width:
        grow = need - width + k
        values = np.pad(values, ((0, 0), (0, grow)), constant_values=-np.inf)
        rows = np.pad(rows, ((0, 0), (0, grow)))
    return values, rows


def claimed_mask(traffic: np.ndarray, evals: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """True for traffic vectors inside the claim radius of at least one eval vector."""
    out = np.empty(len(traffic), dtype=bool)
    for start in range(0, len(traffic), _BLOCK):
        out[start : start + _BLOCK] = _inside(_rows(traffic, start) @ evals.T, radii)
    return out


def _rows(traffic: np.ndarray, start: int) -> np.ndarray:
    """One block of traffic vectors as float32: float16 traffic widened first (by
    :func:`evalcov._half.to_float32`), faster than numpy's mixed-precision product."""
    return to_float32(traffic[start : start + _BLOCK])


def _inside(block: np.ndarray, radii: np.ndarray) -> np.ndarray:
    # The radius comes from a differently shaped matrix product, whose float32 rounding can
    # differ in the last bits: the tolerance keeps each prompt's own k-th neighbour claimed.
    return (block >= radii[None, :] - _TOLERANCE).any(axis=1)


def covered_from_claims(
    claimed: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    eval_labels: np.ndarray,
    covered_share: float,
    thin_share: float,
    alpha: float = 0.05,
    n_base: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn per-query claims into per-query coverage through the clusters.

    Each cluster is judged by :func:`cluster_levels`: **uncovered** when the eval set does not
    test it, **thin** when it is tested but with significantly fewer prompts than its traffic
    share predicts, **covered** otherwise. Queries in covered and thin clusters are covered.

    Parameters
    ----------
    claimed : ndarray of shape (n,), bool
    labels : ndarray of shape (n,), int
        Cluster of each query, 0..n_clusters-1.
    weights : ndarray of shape (n,)
        Traffic weight of each query.
    eval_labels : ndarray of shape (n_eval,), int
        Cluster of each eval prompt.
    covered_share, thin_share : float
        Claimed traffic share that makes a cluster tested on its own, and that a cluster
        holding a single eval prompt needs to count as tested.
    alpha : float, default=0.05
        Level of the under-representation (depth) test.
    n_base : int, optional
        Eval set size the expected counts are based on (default: ``len(eval_labels)``).
        :meth:`~evalcov.report.CoverageReport.with_evals` keeps the original size, so adding
        prompts never lowers a cluster's status.

    Returns
    -------
    covered : ndarray of shape (n,), bool
    claimed_share : ndarray of shape (n_clusters,)
        Traffic-weighted claimed share per cluster.
    status : ndarray of shape (n_clusters,), object
        "covered", "thin" or "uncovered".
    """
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    total = np.bincount(labels, weights=weights, minlength=n_clusters)
    got = np.bincount(labels, weights=weights * claimed, minlength=n_clusters)
    share = np.divide(got, total, out=np.zeros(n_clusters), where=total > 0)
    n_eval, expected, _ = eval_counts(eval_labels, total, n_base)
    present, thin = cluster_levels(share, n_eval, expected, covered_share, thin_share, alpha)
    status = np.where(thin, "thin", np.where(present, "covered", "uncovered")).astype(object)
    return present[labels], share, status


def is_covered(status: np.ndarray) -> np.ndarray:
    """Per-query coverage from the status of each query's cluster: thin traffic is tested."""
    return np.asarray(status, dtype=object) != "uncovered"


def cluster_levels(
    claimed_share: np.ndarray,
    n_eval: np.ndarray,
    expected: np.ndarray,
    covered_share: float,
    thin_share: float,
    alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """The rule of :func:`covered_from_claims` on per-cluster numbers, as booleans.

    Returns ``(tested, thin)``:

    - ``tested`` (presence): at least two eval prompts in the cluster, or one that, with the
      others, claims ``thin_share`` of its traffic, or claims reaching ``covered_share``. Two
      prompts are the fewest the map's grain asks of a topic (one cluster per two prompts);
      a lone prompt may be a neighbour's, so it needs its claims to back it. Nothing here
      scales with the cluster's traffic.
    - ``thin`` (depth): tested, and the Poisson probability of so few prompts under a
      traffic-proportional eval set is below ``alpha``.

    Vectorized so that callers scoring many what-if eval sets
    (:func:`evalcov.refresh.suggest_additions`) apply exactly the same rule.
    """
    tested = (
        (claimed_share >= covered_share)
        | (n_eval >= 2)
        | ((n_eval >= 1) & (claimed_share >= thin_share))
    )
    thin = tested & (stats.poisson.cdf(n_eval, expected) < alpha)
    return tested, thin


def eval_counts(
    eval_labels: np.ndarray, traffic: np.ndarray, n_base: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eval prompts per cluster, the count a traffic-proportional eval set of ``n_base``
    prompts (default: this one) would give, and the Poisson probability of seeing that few
    (small: the cluster is under-represented)."""
    valid = eval_labels[eval_labels >= 0]
    n_eval = np.bincount(valid, minlength=len(traffic))
    total = traffic.sum()
    n_base = len(valid) if n_base is None else n_base
    expected = n_base * (traffic / total if total > 0 else np.zeros(len(traffic)))
    return n_eval, expected, stats.poisson.cdf(n_eval, expected)


def cluster_coverage(
    labels: np.ndarray,
    weights: np.ndarray,
    covered: np.ndarray,
    claimed_share: np.ndarray,
    status: np.ndarray,
    eval_labels: np.ndarray,
    counts: np.ndarray,
    n_base: int | None = None,
) -> pd.DataFrame:
    """One row per cluster: traffic, eval prompts, coverage and its uncertainty.

    Columns: cluster, n_queries (input rows), n_unique, traffic_share, n_eval, expected_eval,
    coverage (traffic share covered), claimed_share, coverage_low/coverage_high (95% Wilson
    interval on claimed_share with the cluster's distinct queries as the sample size),
    p_under (Poisson probability of seeing this few eval prompts if the eval set were spread
    in proportion to traffic: small means the eval set under-represents the cluster given its
    own size, the base-rate-aware significance), status.
    """
    n_clusters = len(status)
    w_total = weights.sum()
    traffic = np.bincount(labels, weights=weights, minlength=n_clusters)
    share = traffic / w_total if w_total > 0 else np.zeros(n_clusters)
    cov_w = np.bincount(labels, weights=weights * covered, minlength=n_clusters)
    coverage = np.divide(cov_w, traffic, out=np.zeros(n_clusters), where=traffic > 0)
    n_unique = np.bincount(labels, minlength=n_clusters)
    n_rows = np.bincount(labels, weights=counts, minlength=n_clusters).astype(np.int64)
    n_eval, expected, p_under = eval_counts(eval_labels, traffic, n_base)
    low, high = _wilson(claimed_share, n_unique)
    return pd.DataFrame(
        {
            "cluster": np.arange(n_clusters),
            "n_queries": n_rows,
            "n_unique": n_unique,
            "traffic_share": share,
            "n_eval": n_eval,
            "expected_eval": expected,
            "coverage": coverage,
            "claimed_share": claimed_share,
            "coverage_low": low,
            "coverage_high": high,
            "p_under": p_under,
            "status": pd.Series(status, dtype=object),
        }
    )


def centroid_sums(
    traffic: np.ndarray, labels: np.ndarray, weights: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Traffic-weighted sum of each cluster's vectors, shape (n_clusters, dim), float64.

    Sums, not means: partial sums over blocks or partitions add up (the Dask path's), and
    :func:`closest_prompts` needs only their direction.
    """
    out = np.zeros((n_clusters, traffic.shape[1]))
    for start in range(0, len(traffic), _BLOCK):
        block = _rows(traffic, start).astype(np.float64)
        rows = slice(start, start + _BLOCK)
        # A (cluster, row) matrix of weights times the block: 16x faster than np.add.at.
        members = sparse.csr_matrix(
            (weights[rows], (labels[rows], np.arange(len(block)))), shape=(n_clusters, len(block))
        )
        out += members @ block
    return out


def closest_prompts(
    sums: np.ndarray, evals: np.ndarray, eval_texts: list[str]
) -> dict[str, np.ndarray]:
    """The eval prompt closest to each cluster's traffic-weighted centre, and their cosine.

    What a reader compares a gap with: a gap whose closest prompt asks the same thing in
    other words is a phrasing of a tested request that the verdict did not reach; one whose
    closest prompt asks something else is a request of its own.

    Parameters
    ----------
    sums : ndarray of shape (n_clusters, dim)
        :func:`centroid_sums`.
    evals : ndarray of shape (n_eval, dim)
        Unit-norm eval vectors.
    eval_texts : list of str
        The prompt of each eval vector.

    Returns
    -------
    dict
        The cluster table's columns ``closest_eval`` (object array of prompts; None for a
        cluster without traffic or when there are no prompts) and ``closest_similarity``
        (cosine of the normalized centre to that prompt; NaN where there is none).
    """
    n = len(sums)
    norms = np.linalg.norm(sums, axis=1)
    ok = norms > 0
    prompt = np.full(n, None, dtype=object)
    similarity = np.full(n, np.nan)
    if len(evals) and ok.any():
        centres = (sums[ok] / norms[ok, None]).astype(np.float32)
        products = centres @ to_float32(np.asarray(evals)).T
        best = products.argmax(axis=1)
        prompt[ok] = np.asarray(eval_texts, dtype=object)[best]
        similarity[ok] = products[np.arange(len(best)), best]
    return {"closest_eval": prompt, "closest_similarity": similarity}


def _wilson(p: np.ndarray, n: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    n = np.maximum(n, 1)
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
