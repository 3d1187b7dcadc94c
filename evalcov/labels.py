"""Name clusters without an LLM: c-TF-IDF keywords plus the most central queries.

c-TF-IDF (as in BERTopic) treats each cluster's traffic as one document, so a word scores high
when it is frequent in this cluster and rare across the others. A user-supplied callable can
turn keywords and examples into a nicer name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

__all__ = ["central_examples", "ctfidf_keywords", "label_clusters"]

Labeler = Callable[[list[str], list[str]], str]


def ctfidf_keywords(
    texts: Sequence[str],
    labels: np.ndarray,
    weights: np.ndarray,
    n_clusters: int,
    top: int = 4,
    max_texts: int = 50_000,
    min_per_cluster: int = 200,
) -> list[list[str]]:
    """Top c-TF-IDF terms (unigrams and bigrams) of each cluster, traffic-weighted.

    Above ``max_texts`` distinct texts, each cluster contributes only its heaviest texts (an
    equal quota per cluster, at least ``min_per_cluster``): a few top terms do not need the
    long tail, and vectorizing 400k texts took longer than the rest of the measurement.
    """
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=float)
    if len(texts) > max_texts:
        quota = max(min_per_cluster, max_texts // max(n_clusters, 1))
        keep = _heaviest_per_cluster(labels, weights, quota)
        texts = [texts[i] for i in keep]
        labels, weights = labels[keep], weights[keep]
    vectorizer = CountVectorizer(
        ngram_range=(1, 2), stop_words="english", min_df=1, token_pattern=r"(?u)\b\w[\w'-]*\w\b"
    )
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:
        return [[] for _ in range(n_clusters)]
    vocab = vectorizer.get_feature_names_out()
    from scipy import sparse

    member = sparse.csr_matrix(
        (np.asarray(weights, dtype=float), (labels, np.arange(len(labels)))),
        shape=(n_clusters, len(labels)),
    )
    tf = sparse.csr_matrix(member @ counts)
    words_per_cluster = np.asarray(tf.sum(axis=1)).ravel()
    avg_words = max(float(words_per_cluster.mean()), 1e-12)
    idf = np.log(1 + avg_words / np.maximum(np.asarray(tf.sum(axis=0)).ravel(), 1e-12))
    scale = np.divide(1.0, words_per_cluster, out=np.zeros(n_clusters), where=words_per_cluster > 0)
    score = sparse.csr_matrix(sparse.diags(scale) @ tf @ sparse.diags(idf))
    out = []
    for c in range(n_clusters):
        row = score.getrow(c)
        order = np.lexsort((row.indices, -row.data))[: top * 3]
        picked: list[str] = []
        for term in vocab[row.indices[order]]:
            # A bigram repeats its unigrams; keep whichever comes first, not both.
            if any(term in p or p in term for p in picked):
                continue
            picked.append(str(term))
            if len(picked) == top:
                break
        out.append(picked)
    return out


def _heaviest_per_cluster(labels: np.ndarray, weights: np.ndarray, quota: int) -> np.ndarray:
    """Sorted rows: each cluster's ``quota`` heaviest rows (ties: earlier row first)."""
    order = np.lexsort((np.arange(len(labels)), -weights, labels))
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, sorted_labels, side="left")
    rank = np.arange(len(order)) - starts
    return np.sort(order[rank < quota])


def central_examples(
    embeddings: np.ndarray,
    texts: Sequence[str],
    labels: np.ndarray,
    weights: np.ndarray,
    n_clusters: int,
    n: int = 3,
) -> list[list[str]]:
    """The n queries closest to each cluster's traffic-weighted centroid."""
    out = []
    for c in range(n_clusters):
        rows = np.flatnonzero(labels == c)
        if len(rows) == 0:
            out.append([])
            continue
        centroid = (embeddings[rows] * weights[rows, None]).sum(axis=0)
        norm = np.linalg.norm(centroid)
        sims = embeddings[rows] @ (centroid / norm if norm > 0 else centroid)
        order = np.lexsort((rows, -sims))
        out.append([texts[rows[i]] for i in order[:n]])
    return out


def label_clusters(
    keywords: list[list[str]], examples: list[list[str]], labeler: Labeler | None = None
) -> list[str]:
    """A readable name per cluster: ``labeler(keywords, examples)`` or the keywords joined."""
    names = []
    for c, (kw, ex) in enumerate(zip(keywords, examples, strict=True)):
        if labeler is not None:
            name = labeler(list(kw), list(ex))
            if not isinstance(name, str) or not name.strip():
                raise ValueError(
                    f"labeler returned {name!r} for cluster {c}; expected a non-empty str"
                )
            names.append(name.strip())
        elif kw:
            names.append(" / ".join(kw[:3]))
        elif ex:
            names.append(ex[0][:60])
        else:
            names.append(f"cluster {c}")
    return names
