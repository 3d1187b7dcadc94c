"""Topics: the fine clusters of the map grouped into what a person calls one kind of request.

The map's k-means grain is set by the eval set (one cluster per two prompts), not by the
traffic, so a heavy request -- asked in many phrasings -- is split into several clusters. Those
fragments are one topic to a person reading the gap list. Two clusters are fragments of one
topic when the traffic itself runs across their border: a large share of their texts' nearest
neighbours lie on the other side (k-means cut through a dense region), where two different
requests meet at a thin seam. This is the connectivity of PAGA (Wolf et al., Genome Biology
2019): edges of the kNN graph between two partitions, relative to the edges they have.

Topics group clusters for reading; each cluster keeps its own coverage verdict.
"""

from __future__ import annotations

import numpy as np

from evalcov.mapping import _exact_knn

__all__ = ["cluster_connectivity", "merge_clusters"]

# Neighbours per text in the graph: the map's assignment vote uses as many.
_N_NEIGHBORS = 15
# A cluster joins a neighbour's topic when at least this share of the smaller one's kNN edges
# cross between them. Two halves of one k-means-split topic share far more; two requests that
# are merely related (CLINC's sibling intents) share a few percent.
_MIN_CONNECTIVITY = 0.1
# The graph is built on at most this many fitted texts (a seeded sample above it).
_MAX_GRAPH = 10000


def cluster_connectivity(
    X: np.ndarray, labels: np.ndarray, n_clusters: int, n_neighbors: int = _N_NEIGHBORS
) -> np.ndarray:
    """Share of kNN edges between each pair of clusters, relative to the smaller one's edges.

    Parameters
    ----------
    X : ndarray of shape (n, dim)
        Unit-norm embeddings.
    labels : ndarray of shape (n,), int
        Cluster of each row, 0..n_clusters-1.
    n_clusters : int
    n_neighbors : int, default=15

    Returns
    -------
    ndarray of shape (n_clusters, n_clusters)
        Symmetric, zero diagonal; entry (i, j) is the number of kNN edges (both directions)
        between clusters i and j over the smaller of the two clusters' edge totals.
    """
    k = int(min(n_neighbors + 1, len(X)))
    if k < 2:
        return np.zeros((n_clusters, n_clusters))
    index, _ = _exact_knn(np.asarray(X, dtype=np.float32), k)
    src = np.repeat(labels, k - 1)
    dst = labels[index[:, 1:].ravel()]
    edges = np.bincount(src * n_clusters + dst, minlength=n_clusters * n_clusters)
    edges = edges.reshape(n_clusters, n_clusters).astype(np.float64)
    edges += edges.T
    degree = edges.sum(axis=1)
    np.fill_diagonal(edges, 0.0)
    smaller = np.minimum(degree[:, None], degree[None, :])
    return np.divide(edges, smaller, out=np.zeros_like(edges), where=smaller > 0)


def merge_clusters(
    X: np.ndarray,
    labels: np.ndarray,
    n_clusters: int,
    min_connectivity: float = _MIN_CONNECTIVITY,
    random_state: int = 0,
) -> np.ndarray:
    """Topic of each cluster: clusters joined wherever their connectivity reaches the bound.

    Single linkage over :func:`cluster_connectivity`: a chain of strongly connected clusters
    is one topic. Topic ids are in order of each topic's lowest cluster id, so with clusters
    ordered by traffic the heaviest cluster's topic is topic 0.

    Returns
    -------
    ndarray of shape (n_clusters,), int64
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(X) > _MAX_GRAPH:
        rows = np.sort(
            np.random.default_rng(random_state).choice(len(X), _MAX_GRAPH, replace=False)
        )
        X, labels = X[rows], labels[rows]
    parent = np.arange(n_clusters)

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    conn = cluster_connectivity(X, labels, n_clusters)
    for a, b in zip(*np.nonzero(np.triu(conn >= min_connectivity, 1)), strict=True):
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([root(a) for a in range(n_clusters)])
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)
