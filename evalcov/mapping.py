"""The map of traffic: cluster a bounded sample once, then assign everything else.

Fitting runs k-means in the original embedding space on at most ``max_fit`` distinct texts
(UMAP + HDBSCAN, or any estimator, on request). Every other text -- texts outside the fit
sample, a later week's traffic, HDBSCAN's noise points when it is used -- is assigned in the
*original* embedding space: to the nearest k-means centre, or for other clusterers by a
similarity-weighted vote of its nearest fitted neighbours (found exhaustively, or through a
cell index above 5,000 fitted texts; the nearest neighbour also decides novelty). That keeps
assignment cheap, deterministic and independent of UMAP's transform, and lets a saved map
place new traffic into the same cluster IDs.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalcov._cpus import usable_cpus
from evalcov._half import to_float32

__all__ = ["Assignment", "TrafficMap"]

_BLOCK = 1024
# Reference sets up to this size are searched exhaustively when assigning; larger ones
# through a _CellIndex probing _N_PROBE cells.
_EXACT_MAX_REF = 5000
# umap-learn computes an exact neighbour graph itself below 4096 points, with pynndescent above.
_UMAP_EXACT_BELOW = 4096
_N_PROBE = 16
# k-means starts. With few clusters one poor k-means++ start merges two whole topics and splits
# another (six CLINC intents, six clusters: ARI 0.76 against the full fit with one start), so
# small maps keep three starts. On 300-cluster CLINC maps one float32-seeded start agreed with
# the former three scikit-learn starts as well as those agree with themselves across seeds
# (rows with the same covered flag: uniform 92.2% against 90.6% seed to seed, Zipf 100% against
# 88.9%; benchmarks/bench_scale.py) at a third of the cost; its effect on the verdict's F1 on
# the production-shaped benchmark is not measured yet, so every map keeps three starts.
_N_INIT = 3
# One start from this many clusters: none for now (see above).
_ONE_START_FROM = np.inf
# Spread weights of the k-means fit: neighbours that set the crowding radius, and the size of
# the reference sample crowds are counted against.
_SPREAD_NEIGHBORS = 10
_SPREAD_REFERENCE = 5000
# Queries searched per call of the index: it loops over cells, so more queries per call
# means fewer, larger matrix products.
_SEARCH_BLOCK = 64 * _BLOCK


@dataclass(frozen=True)
class Assignment:
    """Where queries land on a fitted map.

    Attributes
    ----------
    labels : ndarray of shape (n,), int64
        Cluster id of each query (never -1: every query lands in a cluster).
    confidence : ndarray of shape (n,), float32
        Share of the neighbour vote won by that cluster (0..1).
    similarity : ndarray of shape (n,), float32
        Cosine similarity to the nearest fitted query.
    novel : ndarray of shape (n,), bool
        The query is farther from every fitted query than ``novelty_threshold_``: it fits no
        cluster well (emerging traffic).
    """

    labels: np.ndarray
    confidence: np.ndarray
    similarity: np.ndarray
    novel: np.ndarray


class TrafficMap:
    """Clusterer (optionally after a reducer) fitted on a sample, with nearest-neighbour
    assignment.

    Parameters
    ----------
    reducer : "umap", None or estimator, default=None
        Any object with ``fit_transform(X)``; None clusters the embeddings directly.
    clusterer : "kmeans", "hdbscan" or estimator, default="kmeans"
        Any object with ``fit_predict(X)`` returning labels (-1 for noise).
    n_clusters : int, optional
        Clusters k-means makes. :class:`~evalcov.CoverageAnalyzer` sets it from the eval set
        (two prompts expected per cluster); without it, ``round(sqrt(n / 2))`` for n distinct
        texts. Capped at ``n // min_cluster_size``.
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster, and k-means' smallest average cluster. Default:
        ``max(10, round(sqrt(n_fit) / 10))`` distinct texts.
    n_components : int, default=5
        UMAP output dimension.
    n_neighbors : int, default=15
        UMAP neighbourhood size (capped below the sample size).
    max_fit : int, default=20000
        Most distinct texts the reducer and clusterer see; the rest are assigned.
    assign_k : int, default=15
        Neighbours that vote when assigning a query.
    random_state : int, default=0
        Seeds the sample and UMAP: same inputs and seed give the same clusters.
    spread : float, default=0.0
        k-means only: weight each fitted text by ``crowd ** -spread`` (see
        :func:`spread_weights`) so a request asked in many phrasings gets fewer centres. Off by
        default: measured on production-shaped CLINC150 (``benchmarks/results/
        coverage_production_spread.md``), 0.5 raised the median F1 at Zipf 0.8 and 1.2 and
        with paraphrased heavy intents but lowered it at Zipf 1.0 and on uniform traffic, and
        it splits a lexically diverse heavy request into untested fragments.
    """

    def __init__(
        self,
        reducer: Any = None,
        clusterer: Any = "kmeans",
        n_clusters: int | None = None,
        min_cluster_size: int | None = None,
        n_components: int = 5,
        n_neighbors: int = 15,
        max_fit: int = 20000,
        assign_k: int = 15,
        random_state: int = 0,
        spread: float = 0.0,
    ):
        self.reducer = reducer
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.min_cluster_size = min_cluster_size
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.max_fit = max_fit
        self.assign_k = assign_k
        self.random_state = random_state
        self.spread = spread

    def fit(
        self,
        X: np.ndarray,
        weights: np.ndarray | None = None,
        fit_rows: np.ndarray | None = None,
    ) -> TrafficMap:
        """Fit on distinct-text embeddings X (n, dim); weights order cluster ids by traffic.

        X may be float16 (as :class:`~evalcov.CoverageAnalyzer` holds millions of texts): the
        fit sample and each slab of assigned rows are computed in float32. ``fit_rows``, the
        float32 rows ``sample_index(n)`` of X before they were rounded to float16, fits the
        map on exact values: k-means amplifies float16 rounding into other clusters (4% of
        rows changed verdict at 200,000 rows without them), while assignment does not.

        Sets ``fit_index_`` (rows of X in the fit sample), ``fit_embeddings_``,
        ``fit_labels_`` (noise already assigned), ``fit_outlier_`` (HDBSCAN noise),
        ``n_clusters_``, ``topic_of_`` (the topic of each cluster, see
        :func:`evalcov.topics.merge_clusters`), ``novelty_threshold_`` and ``labels_`` (every
        row of X).
        """
        X = np.asarray(X)
        if X.dtype != np.float16:
            X = X.astype(np.float32, copy=False)
        n = len(X)
        weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        fit_index = self.sample_index(n)
        if fit_rows is not None and np.shape(fit_rows) != (len(fit_index), X.shape[1]):
            raise ValueError(
                f"fit_rows must have shape ({len(fit_index)}, {X.shape[1]}) (the rows "
                f"sample_index({n}) of X), got {np.shape(fit_rows)}"
            )
        self.fit_sample(X[fit_index] if fit_rows is None else fit_rows, n)
        all_labels = np.empty(n, dtype=np.int64)
        all_labels[fit_index] = self.fit_labels_
        rest = np.setdiff1d(np.arange(n), fit_index)
        # Assigned a slab at a time: float16 rows are widened a slab at a time, not all at once
        # (a query's cluster does not depend on the slab it comes in).
        for start in range(0, len(rest), _SEARCH_BLOCK):
            slab = rest[start : start + _SEARCH_BLOCK]
            all_labels[slab] = self.assign_labels(X[slab])
        traffic = np.bincount(all_labels, weights=weights, minlength=self.n_clusters_)
        self.labels_ = self.order_clusters(traffic)[all_labels]
        return self

    def sample_index(self, n: int) -> np.ndarray:
        """Sorted rows of an n-row matrix that the reducer and clusterer are fitted on."""
        return _sample(n, self.max_fit, np.random.default_rng(self.random_state))

    def fit_sample(self, Xf: np.ndarray, n: int) -> TrafficMap:
        """Fit on the sample rows ``X[sample_index(n)]`` alone, for when X is too big to hold.

        :meth:`fit` is this, then :meth:`assign` for the other rows, then
        :meth:`order_clusters` with every row's traffic; until that last call, cluster ids
        are in the clusterer's order.
        """
        Xf = np.asarray(Xf, dtype=np.float32)
        rng = np.random.default_rng(self.random_state)
        fit_index = _sample(n, self.max_fit, rng)
        if len(fit_index) != len(Xf):
            raise ValueError(
                f"Xf has {len(Xf)} rows, but the sample of {n} rows has {len(fit_index)}"
            )
        raw = self._cluster(Xf, n)
        outlier = raw < 0
        if outlier.all():
            raw = np.zeros(len(Xf), dtype=np.int64)
            outlier = np.zeros(len(Xf), dtype=bool)
        labels = raw.copy()
        if outlier.any():
            ref = ~outlier
            labels[outlier] = _vote(Xf[outlier], Xf[ref], raw[ref], self.assign_k)[0]
        self.fit_index_ = fit_index
        self.fit_embeddings_ = Xf
        self.fit_outlier_ = outlier
        self.fit_labels_ = labels
        self.n_clusters_ = int(labels.max()) + 1
        from evalcov.topics import merge_clusters

        self.topic_of_ = merge_clusters(
            Xf, labels, self.n_clusters_, random_state=self.random_state
        )
        self.novelty_threshold_ = _novelty_threshold(Xf, rng)
        self.assign_by_ = "centroid" if self.clusterer == "kmeans" else "vote"
        return self

    def order_clusters(self, traffic: np.ndarray) -> np.ndarray:
        """Renumber clusters by descending traffic (ties: lower id first); return old -> new.

        Cluster 0 carries the most traffic: ids read as a ranking and stay stable per seed.
        """
        self._check_fitted()
        order = np.lexsort((np.arange(self.n_clusters_), -np.asarray(traffic, dtype=float)))
        remap = np.empty_like(order)
        remap[order] = np.arange(len(order))
        self.fit_labels_ = remap[self.fit_labels_]
        topic = np.empty_like(self.topic_of_)
        topic[remap] = self.topic_of_
        self.topic_of_ = _first_seen_order(topic)
        return remap

    def assign(self, X: np.ndarray) -> Assignment:
        """Place new embeddings (n, dim) into the fitted clusters."""
        self._check_fitted()
        X = to_float32(X)
        labels, confidence, similarity = _vote(
            X,
            self.fit_embeddings_,
            self.fit_labels_,
            self.assign_k,
            self._reference_index(),
            self._centroids(),
        )
        return Assignment(labels, confidence, similarity, similarity < self.novelty_threshold_)

    def assign_labels(self, X: np.ndarray) -> np.ndarray:
        """``assign(X).labels`` alone. A k-means map labels by nearest centroid, so the
        neighbour vote that :meth:`assign` adds (confidence, novelty) is skipped: at 4M rows
        it was most of the map's time."""
        self._check_fitted()
        centroids = self._centroids()
        if centroids is None:
            return self.assign(X).labels
        return _nearest_centroid(to_float32(X), centroids)

    def _centroids(self) -> np.ndarray | None:
        """Mean fitted vector per cluster when the map assigns by nearest centroid, else None."""
        if self.assign_by_ != "centroid":
            return None
        cached = getattr(self, "_centroid_cache", None)
        if cached is not None and cached[0] is self.fit_labels_:
            return cached[1]
        order = np.argsort(self.fit_labels_, kind="stable")
        counts = np.bincount(self.fit_labels_, minlength=self.n_clusters_)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(self.fit_embeddings_[order].astype(np.float64), starts, axis=0)
        centroids = (sums / counts[:, None]).astype(np.float32)
        self._centroid_cache = (self.fit_labels_, centroids)
        return centroids

    def _reference_index(self) -> _CellIndex | None:
        """The fitted sample's neighbour index, built on first use (None: exact search)."""
        if len(self.fit_embeddings_) <= _EXACT_MAX_REF:
            return None
        index = getattr(self, "_cell_index", None)
        if index is None or index.ref is not self.fit_embeddings_:
            index = self._cell_index = _CellIndex(self.fit_embeddings_)
        return index

    def _cluster(self, Xf: np.ndarray, n_total: int) -> np.ndarray:
        n = len(Xf)
        mcs = self.min_cluster_size or max(10, int(round(np.sqrt(n) / 10)))
        if n < max(2 * mcs, 20):
            warnings.warn(
                f"only {n} distinct traffic texts (fewer than twice the minimum cluster size "
                f"{mcs}): reporting them as one cluster",
                UserWarning,
                stacklevel=3,
            )
            return np.zeros(n, dtype=np.int64)
        Z = Xf
        reducer = self._make_reducer(Xf)
        if reducer is not None:
            with warnings.catch_warnings():
                # The map assigns new traffic itself; UMAP's own transform is never used.
                warnings.filterwarnings("ignore", "precomputed_knn", UserWarning)
                Z = reducer.fit_transform(Xf)
        clusterer = self._make_clusterer(mcs, n_total)
        if isinstance(clusterer, _KMeans) and self.spread > 0:
            weights = spread_weights(Z, power=self.spread, random_state=self.random_state)
            labels = np.asarray(clusterer.fit_predict(Z, sample_weight=weights), dtype=np.int64)
        else:
            labels = np.asarray(clusterer.fit_predict(Z), dtype=np.int64)
        if len(labels) != n:
            raise ValueError(
                f"clusterer returned {len(labels)} labels for {n} texts; expected one per text"
            )
        return labels

    def _make_reducer(self, Xf: np.ndarray) -> Any:
        n = len(Xf)
        if self.reducer is None:
            return None
        if isinstance(self.reducer, str):
            if self.reducer != "umap":
                raise ValueError(
                    f"reducer must be 'umap', None or an estimator, got {self.reducer!r}"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import umap

            n_neighbors = min(self.n_neighbors, n - 1)
            knn = None
            if n >= _UMAP_EXACT_BELOW:
                # Past this size UMAP would search neighbours with pynndescent, whose numba
                # kernels compile in every fresh process (~100 s here) for a 1-2 s search. An
                # exact graph from blocked matrix products is faster and has no approximation.
                knn = (*_exact_knn(Xf, n_neighbors), None)
            return umap.UMAP(
                n_components=min(self.n_components, n - 2),
                n_neighbors=n_neighbors,
                min_dist=0.0,
                metric="cosine",
                random_state=self.random_state,
                n_jobs=1,
                precomputed_knn=knn or (None, None, None),
            )
        if not hasattr(self.reducer, "fit_transform"):
            raise TypeError("reducer must have a fit_transform(X) method")
        from sklearn.base import clone

        return clone(self.reducer)

    def _make_clusterer(self, mcs: int, n_total: int) -> Any:
        if isinstance(self.clusterer, str):
            if self.clusterer == "kmeans":
                # Granularity follows all the traffic, so a sample fit makes the same clusters.
                k = self.n_clusters or round(np.sqrt(n_total / 2))
                return _KMeans(min(max(1, k), max(1, n_total // mcs)), self.random_state)
            if self.clusterer != "hdbscan":
                raise ValueError(
                    f"clusterer must be 'kmeans', 'hdbscan' or an estimator, got {self.clusterer!r}"
                )
            import hdbscan

            return hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=5)
        if not hasattr(self.clusterer, "fit_predict"):
            raise TypeError("clusterer must have a fit_predict(X) method")
        from sklearn.base import clone

        return clone(self.clusterer)

    def _check_fitted(self) -> None:
        if not hasattr(self, "fit_labels_"):
            raise RuntimeError("this TrafficMap is not fitted yet; call fit(X) first")

    def get_state(self) -> dict[str, Any]:
        """Arrays and plain parameters that fully describe the fitted map (for saving)."""
        self._check_fitted()
        return {
            "fit_embeddings": self.fit_embeddings_,
            "fit_labels": self.fit_labels_,
            "fit_outlier": self.fit_outlier_,
            "topic_of": self.topic_of_,
            "novelty_threshold": float(self.novelty_threshold_),
            "assign_k": int(self.assign_k),
            "assign_by": self.assign_by_,
            "random_state": int(self.random_state),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TrafficMap:
        """Rebuild a map that assigns exactly like the one ``get_state`` came from."""
        m = cls(assign_k=int(state["assign_k"]), random_state=int(state["random_state"]))
        m.fit_embeddings_ = np.asarray(state["fit_embeddings"], dtype=np.float32)
        m.fit_labels_ = np.asarray(state["fit_labels"], dtype=np.int64)
        m.fit_outlier_ = np.asarray(state["fit_outlier"], dtype=bool)
        m.fit_index_ = np.arange(len(m.fit_labels_))
        m.n_clusters_ = int(m.fit_labels_.max()) + 1
        # Maps saved before topics existed: each cluster is its own topic.
        topic_of = state.get("topic_of")
        m.topic_of_ = (
            np.arange(m.n_clusters_) if topic_of is None else np.asarray(topic_of, dtype=np.int64)
        )
        m.novelty_threshold_ = float(state["novelty_threshold"])
        # Files written before k-means maps existed assign by neighbour vote.
        assign_by = state.get("assign_by", "vote")
        if assign_by not in ("vote", "centroid"):
            raise ValueError(f"assign_by must be 'vote' or 'centroid', got {assign_by!r}")
        m.assign_by_ = assign_by
        return m


class _KMeans:
    """k-means (best of ``_N_INIT`` seeded k-means++ starts, one from ``_ONE_START_FROM``
    clusters) that allows k == 1."""

    def __init__(self, k: int, random_state: int):
        self.k = k
        self.random_state = random_state

    def fit_predict(self, X: np.ndarray, sample_weight: np.ndarray | None = None) -> np.ndarray:
        if self.k == 1:
            return np.zeros(len(X), dtype=np.int64)
        from sklearn.cluster import KMeans

        X = np.asarray(X, dtype=np.float32)
        # Centred like scikit-learn does before seeding, for the same rounding of distances.
        Xc = X - X.mean(axis=0, dtype=np.float64).astype(np.float32)
        rng = np.random.RandomState(self.random_state)
        best, best_inertia = None, np.inf
        with warnings.catch_warnings():
            # Fewer distinct points than k: k-means says so, and the ids are made consecutive.
            warnings.filterwarnings("ignore", "Number of distinct clusters", UserWarning)
            for _ in range(1 if self.k >= _ONE_START_FROM else _N_INIT):
                # Seeded here, in float32: scikit-learn's k-means++ upcasts every distance
                # block to float64, which took 80% of a 20,000-text fit (110 s of 132).
                init = _kmeans_plusplus(Xc, self.k, rng, sample_weight)
                model = KMeans(self.k, init=init, n_init=1, random_state=self.random_state)
                labels = model.fit_predict(Xc, sample_weight=sample_weight)
                if model.inertia_ < best_inertia:
                    best, best_inertia = labels, model.inertia_
        return np.unique(best, return_inverse=True)[1].astype(np.int64)


def _kmeans_plusplus(
    X: np.ndarray, k: int, rng: np.random.RandomState, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Greedy k-means++ seeds (Arthur & Vassilvitskii; ``2 + log k`` trials per centre), as
    scikit-learn's ``_kmeans_plusplus`` draws them (weighted alike), with float32 distances."""
    n = len(X)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    trials = 2 + int(np.log(k))
    norms = np.einsum("ij,ij->i", X, X)

    def sq_dist(rows: np.ndarray) -> np.ndarray:
        # X @ X[rows].T rather than X[rows] @ X.T: the same distances (up to float32
        # rounding) from a tall-skinny product, which BLAS runs 1.6x faster here.
        d = X @ X[rows].T
        d *= -2.0
        d += norms[:, None]
        d += norms[rows][None, :]
        return np.maximum(d, 0.0, out=d).T

    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.choice(n, p=w / w.sum())
    closest = sq_dist(chosen[:1])[0].astype(np.float64)
    potential = closest @ w
    for c in range(1, k):
        candidates = np.searchsorted(np.cumsum(closest * w), rng.uniform(size=trials) * potential)
        np.clip(candidates, None, n - 1, out=candidates)
        with_candidate = np.minimum(closest[None, :], sq_dist(candidates))
        pots = with_candidate @ w
        best = int(np.argmin(pots))
        potential, closest = pots[best], with_candidate[best]
        chosen[c] = candidates[best]
    return X[chosen]


def spread_weights(
    X: np.ndarray,
    n_neighbors: int = _SPREAD_NEIGHBORS,
    power: float = 0.5,
    max_reference: int = _SPREAD_REFERENCE,
    random_state: int = 0,
) -> np.ndarray:
    """k-means sample weights that give a crowded region of the space fewer centres.

    A heavy request is asked in many phrasings (paraphrases, typos, fillers), so its distinct
    texts crowd one region; unweighted k-means spends centres on that crowd in proportion to
    its texts and cuts one request into many clusters, most of which hold none of its eval
    prompts. Each text is weighted by ``crowd ** -power``, where ``crowd`` counts the
    reference texts within the radius at which a typical reference text has ``n_neighbors``
    neighbours (the median similarity to its ``n_neighbors``-th nearest reference text).
    ``power=0.5`` places centres in proportion to the square root of the density: halfway
    between following the traffic (0) and following the space (1), like the square-root
    resampling long-tailed label sets are trained with (Mahajan et al., ECCV 2018). Full
    weighting starved light requests of centres when measured. Radius and counts are ranks
    in the data: no similarity constant is tied to a model.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Unit-norm embeddings.
    n_neighbors : int, default=10
    power : float, default=0.5
    max_reference : int, default=5000
        Crowds are counted against a seeded sample of this many texts (all texts below it).
    random_state : int, default=0

    Returns
    -------
    ndarray of shape (n,), float64, with mean 1.
    """
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n <= n_neighbors + 1:
        return np.ones(n)
    rng = np.random.default_rng(random_state)
    ref = X if n <= max_reference else X[np.sort(rng.choice(n, max_reference, replace=False))]
    k = min(n_neighbors, len(ref) - 1)
    kth = np.empty(len(ref), dtype=np.float32)
    for start in range(0, len(ref), _BLOCK):
        block = ref[start : start + _BLOCK] @ ref.T
        # Position k of the descending order is the k-th neighbour (the text itself is 0th).
        kth[start : start + _BLOCK] = -np.partition(-block, k, axis=1)[:, k]
    radius = float(np.median(kth))
    crowd = np.empty(n, dtype=np.float64)
    for start in range(0, n, _BLOCK):
        crowd[start : start + _BLOCK] = (X[start : start + _BLOCK] @ ref.T >= radius).sum(axis=1)
    weights = np.maximum(crowd, 1.0) ** -power
    return weights / weights.mean()


def _exact_knn(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each unit row's k nearest rows (itself first) and cosine distances, ascending.

    Blocked matrix products: memory stays at one (block, n) slab.
    """
    n = len(X)
    index = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        sims = X[start : start + _BLOCK] @ X.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = np.inf  # itself first, even among exact duplicates
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-s, axis=1, kind="stable")
        index[start : start + _BLOCK] = np.take_along_axis(top, order, axis=1)
        d = 1.0 - np.take_along_axis(s, order, axis=1)
        d[:, 0] = 0.0
        dist[start : start + _BLOCK] = np.clip(d, 0.0, 2.0)
    return index, dist


def _first_seen_order(ids: np.ndarray) -> np.ndarray:
    """Renumber ids 0, 1, ... in the order they first appear."""
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]


def _sample(n: int, max_fit: int, rng: np.random.Generator) -> np.ndarray:
    if n > max_fit:
        return np.sort(rng.choice(n, max_fit, replace=False))
    return np.arange(n)


def _vote(
    X: np.ndarray,
    ref: np.ndarray,
    ref_labels: np.ndarray,
    k: int,
    index: _CellIndex | None = None,
    centroids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Similarity-weighted k-nearest-neighbour vote of X against labelled reference vectors.

    With ``centroids`` (one row per label), each query goes to its nearest centroid -- the
    exact rule of a k-means partition -- and the confidence is the share of the neighbour
    vote that agrees.

    Up to ``_EXACT_MAX_REF`` reference vectors the neighbours are exact. Above that they come
    from a :class:`_CellIndex` (pass ``index`` to reuse one): a full scan of a 20,000-row
    sample costs as much as the rest of the analysis of a million rows. The choice depends on
    the reference alone, so a query's result never depends on the batch it comes in.
    """
    k = min(k, len(ref))
    n_labels = int(ref_labels.max()) + 1
    if index is None and len(ref) > _EXACT_MAX_REF:
        index = _CellIndex(ref)
    labels = np.empty(len(X), dtype=np.int64)
    confidence = np.empty(len(X), dtype=np.float32)
    nearest = np.empty(len(X), dtype=np.float32)
    for start in range(0, len(X), _BLOCK):
        block = X[start : start + _BLOCK]
        if index is not None and start % _SEARCH_BLOCK == 0:
            found_s, found_top = index.search(X[start : start + _SEARCH_BLOCK], k)
        if index is None:
            sims = block @ ref.T
            if k < sims.shape[1]:
                top = np.argpartition(sims, -k, axis=1)[:, -k:]
                s = np.take_along_axis(sims, top, axis=1)
            else:
                top = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
                s = sims
        else:
            within = slice(start % _SEARCH_BLOCK, start % _SEARCH_BLOCK + _BLOCK)
            s, top = found_s[within], found_top[within]
        # A query whose probed cells hold fewer than k rows has -inf fillers: they get no vote.
        w = np.where(np.isfinite(s), np.clip(s, 1e-6, None), 0.0)
        # One bincount over (row, label) pairs sums each row's votes per label.
        pair = np.arange(len(s))[:, None] * n_labels + ref_labels[top]
        votes = np.bincount(pair.ravel(), weights=w.ravel(), minlength=len(s) * n_labels)
        votes = votes.reshape(len(s), n_labels)
        won = votes.argmax(axis=1) if centroids is None else _nearest_centroid(block, centroids)
        labels[start : start + _BLOCK] = won
        confidence[start : start + _BLOCK] = votes[np.arange(len(s)), won] / votes.sum(axis=1)
        nearest[start : start + _BLOCK] = s.max(axis=1)
    return labels, confidence, nearest


def _nearest_centroid(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Row of the nearest centroid of each X (the rule of a k-means partition), computed in
    ``_BLOCK``-row products so a row's answer never depends on the batch it comes in."""
    # argmin |x - c|^2 == argmax (x.c - |c|^2 / 2)
    half_norm = 0.5 * (centroids**2).sum(axis=1)
    out = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), _BLOCK):
        out[start : start + _BLOCK] = (X[start : start + _BLOCK] @ centroids.T - half_norm).argmax(
            axis=1
        )
    return out


class _CellIndex:
    """Approximate nearest neighbours by cosine, over spherical k-means cells of the reference.

    The reference is split into about ``2 * sqrt(n)`` cells. A query goes to its closest cell
    centre and is compared exactly with the members of the ``n_probe`` cells whose centres
    are closest to that centre, so all queries of a cell share one dense matrix product.
    Built from the reference alone with a fixed seed: the same reference always gives the
    same index (a saved and reloaded map assigns identically), and a query's neighbours depend
    on nothing but the query.
    """

    def __init__(self, ref: np.ndarray, n_probe: int = _N_PROBE, n_iter: int = 10):
        self.ref = ref
        n_cells = int(min(len(ref), max(1, round(2 * np.sqrt(len(ref))))))
        rng = np.random.default_rng(0)
        centres = ref[np.sort(rng.choice(len(ref), n_cells, replace=False))]
        for _ in range(n_iter):
            cell = _nearest_centre(ref, centres)
            order = np.argsort(cell, kind="stable")
            used, starts = np.unique(cell[order], return_index=True)
            sums = np.add.reduceat(ref[order], starts, axis=0)
            # An emptied cell keeps its old centre (and is dropped below).
            centres[used] = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
        cell = _nearest_centre(ref, centres)
        kept, cell = np.unique(cell, return_inverse=True)
        self.centres = centres[kept].astype(np.float32)
        members = np.split(np.argsort(cell, kind="stable"), np.cumsum(np.bincount(cell))[:-1])
        n_probe = min(n_probe, len(kept))
        near = np.argsort(-(self.centres @ self.centres.T), axis=1, kind="stable")[:, :n_probe]
        self.candidates = [np.sort(np.concatenate([members[c] for c in row])) for row in near]

    def search(self, X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Similarities (n, k) and reference rows (n, k) of (about) the k nearest of each X.

        A query with fewer than k candidates gets -inf similarities in the spare columns.
        """
        sims = np.full((len(X), k), -np.inf, dtype=np.float32)
        rows = np.zeros((len(X), k), dtype=np.int64)
        home = _nearest_centre(X, self.centres)
        order = np.argsort(home, kind="stable")
        bounds = np.searchsorted(home[order], np.arange(len(self.centres) + 1))

        def cell(c: int) -> None:
            cand = self.candidates[c]
            ref = self.ref[cand]
            queries = order[bounds[c] : bounds[c + 1]]
            for start in range(0, len(queries), _BLOCK):
                q = queries[start : start + _BLOCK]
                block = X[q] @ ref.T
                if len(cand) > k:
                    top = np.argpartition(block, -k, axis=1)[:, -k:]
                    sims[q] = np.take_along_axis(block, top, axis=1)
                    rows[q] = cand[top]
                else:
                    sims[q, : len(cand)] = block
                    rows[q, : len(cand)] = cand

        # Cells run on threads with single-threaded BLAS (numpy releases the GIL): many small
        # products split over BLAS threads were 5x slower on a busy machine.
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(usable_cpus()) as pool:
            list(pool.map(cell, np.flatnonzero(np.diff(bounds))))
        return sims, rows


def _nearest_centre(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    # Single-threaded: see _CellIndex.search; these products are small too.
    with threadpool_limits(1, user_api="blas"):
        return np.concatenate(
            [(X[i : i + _BLOCK] @ centres.T).argmax(axis=1) for i in range(0, len(X), _BLOCK)]
            or [np.empty(0, dtype=np.int64)]
        )


def _novelty_threshold(Xf: np.ndarray, rng: np.random.Generator, quantile: float = 0.01) -> float:
    """A low quantile of how close fitted queries are to their nearest other fitted query.

    New traffic farther than this from every fitted query is less typical than 99% of the
    traffic the map was fitted on.
    """
    if len(Xf) < 2:
        return -1.0
    probe = rng.choice(len(Xf), min(len(Xf), 5000), replace=False)
    best = np.empty(len(probe), dtype=np.float32)
    for start in range(0, len(probe), _BLOCK):
        rows = probe[start : start + _BLOCK]
        sims = Xf[rows] @ Xf.T
        sims[np.arange(len(rows)), rows] = -np.inf
        best[start : start + _BLOCK] = sims.max(axis=1)
    return float(np.quantile(best, quantile))
