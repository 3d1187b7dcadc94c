"""Name clusters without an LLM: keyphrases plus the most central queries.

c-TF-IDF (as in BERTopic) treats each cluster's traffic as one document, so a word scores high
when it is frequent in this cluster and rare across the others. :func:`keyphrases` takes the
c-TF-IDF candidates (1-3 word phrases without stop words or numbers), keeps those closest to
the group's centre in embedding space and diverse among themselves -- the recipe of BERTopic's
``KeyBERTInspired`` and ``MaximalMarginalRelevance`` representations
(``bertopic/representation/_keybert.py`` and ``_mmr.py`` in MaartenGr/BERTopic). A
user-supplied callable can turn keyphrases and examples into a nicer name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

__all__ = [
    "central_examples",
    "ctfidf_keywords",
    "keyphrases",
    "label_clusters",
    "name_groups",
    "stop_words_for",
]

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
    score = _ctfidf(counts, labels, weights, n_clusters)
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


def _membership(labels: np.ndarray, weights: np.ndarray, n_groups: int) -> sparse.csr_matrix:
    """(n_groups, n_texts) matrix holding each text's weight in its group's row."""
    return sparse.csr_matrix(
        (np.asarray(weights, dtype=float), (labels, np.arange(len(labels)))),
        shape=(n_groups, len(labels)),
    )


def _ctfidf(
    counts: sparse.spmatrix, labels: np.ndarray, weights: np.ndarray, n_groups: int
) -> sparse.csr_matrix:
    """Traffic-weighted c-TF-IDF, (n_groups, n_terms): term frequency in the group's text,
    times log(1 + average words per group / the term's frequency over all groups)."""
    tf = sparse.csr_matrix(_membership(labels, weights, n_groups) @ counts)
    words_per_group = np.asarray(tf.sum(axis=1)).ravel()
    avg_words = max(float(words_per_group.mean()), 1e-12)
    idf = np.log(1 + avg_words / np.maximum(np.asarray(tf.sum(axis=0)).ravel(), 1e-12))
    scale = np.divide(1.0, words_per_group, out=np.zeros(n_groups), where=words_per_group > 0)
    return sparse.csr_matrix(sparse.diags(scale) @ tf @ sparse.diags(idf))


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
    # Each cluster's rows from one stable sort (not a scan of every row per cluster).
    by_cluster = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[by_cluster], np.arange(n_clusters + 1))
    for c in range(n_clusters):
        rows = by_cluster[bounds[c] : bounds[c + 1]]
        if len(rows) == 0:
            out.append([])
            continue
        members = np.asarray(embeddings[rows], dtype=np.float64)
        centroid = weights[rows] @ members
        norm = np.linalg.norm(centroid)
        sims = members @ (centroid / norm if norm > 0 else centroid)
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


# A token is a run of letters, digits, apostrophes and hyphens; tokens holding a digit
# (amounts, dates, order ids, "3pm") never name a topic, so they are dropped whole rather than
# leaving fragments such as "qa" from "qa5b9ea325d".
_TOKEN = re.compile(r"[\w'-]+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
# Languages whose stop words are always removed: English words appear in any traffic.
_ALWAYS = ("en",)


def stop_words_for(languages: Iterable[str]) -> frozenset[str]:
    """Stop words of ``languages`` (ISO 639-1 codes) and English; languages without a list
    are skipped.

    English uses scikit-learn's list plus the contractions ("i'm", "don't") of the
    ``stop-words`` package's; other languages use the ``stop-words`` package. Its own English
    list (1,333 words) holds topic words such as "order", "date", "thanks", "maybe", "help"
    and "problem": with it, CLINC gap names held a word of their intent in 66% of clusters
    against 76% with this one (benchmarks/bench_names.py).
    """
    import stop_words
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    out: set[str] = set(ENGLISH_STOP_WORDS)
    for lang in dict.fromkeys([*_ALWAYS, *languages]):
        try:
            words = [w.lower().translate(_APOSTROPHES) for w in stop_words.get_stop_words(lang)]
        except stop_words.StopWordError:
            continue
        out.update(w for w in words if lang != "en" or "'" in w)
    return frozenset(out)


def _phrase_analyzer(stop_words: frozenset[str], max_words: int) -> Callable[[str], list[str]]:
    def analyze(text: str) -> list[str]:
        # A token of letters only (most) has no digit or underscore: no per-character test.
        tokens = [
            t.strip("'-")
            for t in _TOKEN.findall(text.lower().translate(_APOSTROPHES))
            if t.isalpha() or not any(ch.isdigit() or ch == "_" for ch in t)
        ]
        # Stop words go before phrases are formed, so "cancel my card" yields "cancel card".
        words = [t for t in tokens if len(t) > 1 and t not in stop_words]
        out = words[:] if max_words >= 1 else []  # single words pass the distinctness test
        for n in range(2, max_words + 1):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if len(set(gram)) == n:
                    out.append(" ".join(gram))
        return out

    return analyze


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


def keyphrases(
    texts: Sequence[str],
    labels: np.ndarray,
    weights: np.ndarray,
    embeddings: np.ndarray,
    n_groups: int,
    *,
    stop_words: Iterable[str] = (),
    embed_phrases: Callable[[list[str]], np.ndarray] | None = None,
    top: int = 4,
    n_candidates: int = 20,
    max_words: int = 3,
    diversity: float = 0.3,
    max_texts: int = 50_000,
    min_per_group: int = 200,
) -> list[list[str]]:
    """Distinctive, central and diverse 1-3 word phrases of each group, best first.

    1. Candidates: each group's ``n_candidates`` best phrases by traffic-weighted c-TF-IDF,
       among phrases of up to ``max_words`` words formed after stop words and tokens with
       digits are removed, found in at least two of the group's texts (one if it has one).
    2. Relevance: cosine between each phrase's vector and the group's traffic-weighted
       centre, as BERTopic's ``KeyBERTInspired`` does. Phrase vectors come from
       ``embed_phrases``; without it, a phrase stands for the weighted mean of the group's
       texts that contain it.
    3. Maximal marginal relevance picks ``top`` phrases: each maximizes
       ``(1 - diversity) * relevance - diversity * max similarity to those picked``, and a
       phrase whose words are all in a picked phrase (or the reverse) is skipped.

    Parameters
    ----------
    texts : sequence of str, length n
    labels : int array of shape (n,)
        Group of each text, in ``0 .. n_groups - 1``.
    weights : array of shape (n,)
        Traffic weight of each text.
    embeddings : array of shape (n, dim)
        Unit-norm text embeddings.
    n_groups : int
    stop_words : iterable of str
        Words never part of a phrase, lowercase (see :func:`stop_words_for`).

    Returns
    -------
    list of n_groups lists of str
        Deterministic for the same inputs: ties go to the alphabetically first phrase.
    """
    labels = np.asarray(labels)
    weights = np.asarray(weights, dtype=float)
    embeddings = np.asarray(embeddings)
    if not (len(texts) == len(labels) == len(weights) == len(embeddings)):
        raise ValueError(
            "texts, labels, weights and embeddings must have one row per text, got lengths "
            f"{len(texts)}, {len(labels)}, {len(weights)}, {len(embeddings)}"
        )
    if len(texts) > max_texts:
        quota = max(min_per_group, max_texts // max(n_groups, 1))
        keep = _heaviest_per_cluster(labels, weights, quota)
        texts = [texts[i] for i in keep]
        labels, weights, embeddings = labels[keep], weights[keep], embeddings[keep]
    vectorizer = CountVectorizer(
        analyzer=_phrase_analyzer(frozenset(stop_words), max_words), binary=True
    )
    try:
        counts = sparse.csr_matrix(vectorizer.fit_transform(texts))
    except ValueError:  # no phrase at all
        return [[] for _ in range(n_groups)]
    vocab = vectorizer.get_feature_names_out()
    score = _ctfidf(counts, labels, weights, n_groups)
    n_texts = np.bincount(labels, minlength=n_groups)
    doc_freq = sparse.csr_matrix(_membership(labels, np.ones(len(labels)), n_groups) @ counts)
    centres = _unit(np.asarray(_membership(labels, weights, n_groups) @ embeddings))

    candidates: list[np.ndarray] = []
    for g in range(n_groups):
        row = score.getrow(g)
        df = np.asarray(doc_freq[g, row.indices].todense()).ravel()
        ok = df >= min(2, n_texts[g])
        idx, val = row.indices[ok], row.data[ok]
        order = np.lexsort((idx, -val))[:n_candidates]
        candidates.append(idx[order])
    pool = np.unique(np.concatenate(candidates)) if candidates else np.array([], int)
    if embed_phrases is not None and len(pool):
        vectors = _unit(np.asarray(embed_phrases([str(vocab[j]) for j in pool]), dtype=float))
        phrase_vec = dict(zip(pool.tolist(), vectors, strict=True))

    out = []
    for g, cand in enumerate(candidates):
        if len(cand) == 0:
            out.append([])
            continue
        if embed_phrases is not None:
            vecs = np.stack([phrase_vec[j] for j in cand.tolist()])
        else:
            rows = np.flatnonzero(labels == g)
            has = counts[rows][:, cand].T.toarray() * weights[rows]
            vecs = _unit(has @ embeddings[rows])
        relevance = vecs @ centres[g]
        out.append(_mmr([str(vocab[j]) for j in cand], vecs, relevance, top, diversity))
    return out


def _mmr(
    phrases: list[str], vecs: np.ndarray, relevance: np.ndarray, top: int, diversity: float
) -> list[str]:
    """Maximal marginal relevance over candidate phrases (given in c-TF-IDF order)."""
    picked: list[int] = []
    words = [set(p.split()) for p in phrases]
    left = list(range(len(phrases)))
    while left and len(picked) < top:
        if picked:
            redundancy = (vecs[left] @ vecs[picked].T).max(axis=1)
        else:
            redundancy = np.zeros(len(left))
        gain = (1 - diversity) * relevance[left] - diversity * redundancy
        best = left[int(np.argmax(gain))]
        left.remove(best)
        if any(words[best] <= words[p] or words[p] <= words[best] for p in picked):
            continue
        picked.append(best)
    return [phrases[i] for i in picked]


def name_groups(
    texts: Sequence[str],
    labels: np.ndarray,
    weights: np.ndarray,
    embeddings: np.ndarray,
    n_groups: int,
    *,
    stop_words: Iterable[str] = (),
    embed_phrases: Callable[[list[str]], np.ndarray] | None = None,
    n_examples: int = 3,
    labeler: Labeler | None = None,
    redact: Callable[[list[str]], list[str]] | None = None,
) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Name, keyphrases and most typical examples of each group.

    The name is the two best keyphrases (``"card declined / refund"``), or ``labeler``'s
    answer. Examples are the texts closest to the group's traffic-weighted centre; with
    ``redact`` they are redacted before ``labeler`` sees them and in what is returned.

    Returns
    -------
    names : list of str
    phrases : list of list of str
    examples : list of list of str
    """
    phrases = keyphrases(
        texts,
        labels,
        weights,
        embeddings,
        n_groups,
        stop_words=stop_words,
        embed_phrases=embed_phrases,
    )
    examples = central_examples(embeddings, texts, labels, weights, n_groups, n=n_examples)
    if redact is not None:
        flat = [t for ex in examples for t in ex]
        clean = iter(redact(flat)) if flat else iter(())
        examples = [[next(clean) for _ in ex] for ex in examples]
    shown = phrases if labeler is not None else [p[:2] for p in phrases]
    return label_clusters(shown, examples, labeler), phrases, examples
