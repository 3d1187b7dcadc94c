"""Coverage of traffic larger than one machine's memory, on a Dask cluster.

``evalcov.analyze`` hands a ``dask.dataframe.DataFrame`` to :func:`analyze_dask`::

    from dask.distributed import Client

    client = Client("tcp://scheduler-host:8786")  # an existing cluster; Client() starts a local one
    ddf = evalcov.distributed.read_traffic_dask("logs/2026-*.parquet")
    report = evalcov.analyze(ddf, "evals.csv", text="text", time="ts")
    report.coverage, report.clusters, report.gaps(), report.windows
    rows = evalcov.distributed.assign_partitions(report, ddf)  # every per-query row, lazily
    rows.to_parquet("per_query/")

Computations run on whatever client is current (``Client(...)`` makes itself the default). The
workers need evalcov and the embedder: a built-in is rebuilt on each worker by name (each worker
process loads the model once), an Embedder object such as
:class:`~evalcov.embedders.Precomputed` is pickled to them. With ``cache=True`` each worker
uses the cache folder of its own machine (``EVALCOV_CACHE_DIR``); point it to a shared disk to
reuse vectors across machines.

Where the work happens:

- on the workers, per partition: reading and normalizing rows, the global dedupe (a groupby
  on the text, ordered by first appearance so ids match the in-memory path), embedding each
  distinct text once, kNN assignment to the map, nearest-eval similarity, each eval prompt's
  top-k traffic similarities (merged by a tree reduction into the claim radii), the claims,
  per-cluster sums (traffic, claims, centroids, most central texts) and per-window sums;
- on the client: the map fit on a bounded sample of distinct texts (``max_fit``, default
  20,000; pulled with its embeddings), the cluster statuses from the per-cluster sums, the
  c-TF-IDF keywords (computed on that sample) and the report.

The result equals the in-memory path on the same data (same clusters and ids, coverage,
statuses); keywords are the sample's, which is all the data when it has at most ``max_fit``
distinct texts. :class:`DaskCoverageReport` holds the aggregates and a bounded random sample of
per-query rows; :func:`assign_partitions` gives all of them back as a Dask DataFrame (write it
with ``to_parquet``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalcov.coverage import (
    _wilson,
    closest_prompts,
    cluster_coverage,
    covered_from_claims,
    is_covered,
    nearest_eval,
    reach_similarity,
    widen_radii,
)
from evalcov.dedupe import dedupe
from evalcov.embedders import embed
from evalcov.ingest import read_evals, read_traffic
from evalcov.labels import ctfidf_keywords, label_clusters
from evalcov.mapping import TrafficMap
from evalcov.report import CoverageReport, topic_table

__all__ = ["DaskCoverageReport", "analyze_dask", "assign_partitions", "read_traffic_dask"]

_READ_OPTIONS = ("id", "weight", "user", "max_chars", "outcomes")
_N_EXAMPLES = 3
# Row position inside a partition takes the low bits of the global position.
_POS_BITS = 40


def read_traffic_dask(paths: Any, *, format: str | None = None, **kwargs: Any) -> Any:  # noqa: A002
    """Open CSV, JSONL or Parquet files (a glob or a list) lazily as a Dask DataFrame.

    Parameters
    ----------
    paths : str, Path or list
        A glob such as ``"logs/*.parquet"`` or a list of paths, possibly remote (``s3://``)
        where Dask reads them.
    format : {"csv", "jsonl", "parquet"}, optional
        Default: from the first path's extension (``.csv``, ``.jsonl``/``.ndjson``,
        ``.parquet``/``.pq``; ``.gz`` is looked through).
    **kwargs
        Passed to ``dask.dataframe.read_csv`` / ``read_json`` / ``read_parquet``.
    """
    import dask.dataframe as dd

    first = str(paths[0] if isinstance(paths, (list, tuple)) else paths)
    if format is None:
        suffixes = [s for s in Path(first).suffixes if s != ".gz"]
        format = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(
            suffixes[-1] if suffixes else "", "parquet" if first.endswith(".pq") else None
        )
    if format == "csv":
        return dd.read_csv(paths, **kwargs)
    if format == "jsonl":
        return dd.read_json(paths, lines=True, **kwargs)
    if format == "parquet":
        return dd.read_parquet(paths, **kwargs)
    raise ValueError(
        f"format must be 'csv', 'jsonl' or 'parquet' (or a path with such an extension); "
        f"got format={format!r} for {first!r}"
    )


class DaskCoverageReport(CoverageReport):
    """A :class:`~evalcov.CoverageReport` whose per-query data stays on the cluster.

    ``coverage``, ``clusters``, ``evals``, ``map_``, ``claim_k_``, ``gaps()``,
    ``overcovered()`` and ``summary()`` are as in memory. ``queries`` is a random sample of at
    most ``n_sample_rows`` per-query rows (their input index kept); ``unique_`` is a persisted
    Dask DataFrame of the distinct texts (index: the distinct text's id, as in memory);
    ``windows`` holds traffic, rows and covered traffic per time window and cluster (None
    without ``time=``). Methods that need every row in memory (drift, export, plots, save)
    raise; use :func:`assign_partitions` for per-query rows.
    """

    def __init__(self, **parts: Any):
        self.__dict__.update(parts)
        self.map_ = self.analyzer_.map_
        self.embedder_ = self.analyzer_.embedder_
        self.topics = topic_table(self.clusters, len(self.eval_dedup_.texts))

    def _traffic_summary(self) -> dict[str, Any]:
        return dict(self.totals_)

    def _in_memory_only(self, what: str) -> Any:
        raise NotImplementedError(
            f"{what} needs every query row in memory; a Dask report keeps them on the cluster. "
            "Get them with evalcov.distributed.assign_partitions(report, ddf) (or use "
            "report.windows for per-window traffic)"
        )

    def drift(self, freq: Any = "W", **options: Any) -> Any:
        return self._in_memory_only("drift")

    def assign(self, new_traffic: Any, **options: Any) -> Any:
        return self._in_memory_only("assign")

    def stability(self, n_maps: int = 4, level: str = "topic") -> pd.DataFrame:
        return self._in_memory_only("stability")

    def save(self, path: Any, **options: Any) -> Any:
        return self._in_memory_only("save")

    def export_for_labeling(self, path: Any = None, **options: Any) -> pd.DataFrame:
        return self._in_memory_only("export_for_labeling")

    def suggest_additions(self, budget: int = 50, **options: Any) -> pd.DataFrame:
        return self._in_memory_only("suggest_additions")

    def with_evals(self, evals: Any, **options: Any) -> Any:
        return self._in_memory_only("with_evals")

    def plot_map(self, **options: Any) -> Any:
        return self._in_memory_only("plot_map")


def analyze_dask(
    traffic: Any,
    evals: Any,
    text: str | None = None,
    time: str | None = None,
    embedder: Any = "default",
    random_state: int = 0,
    *,
    freq: Any = "W",
    n_sample_rows: int = 10_000,
    **options: Any,
) -> DaskCoverageReport:
    """:func:`evalcov.analyze` for a ``dask.dataframe.DataFrame`` of traffic.

    Parameters are those of :func:`evalcov.analyze` (reader options ``id``, ``weight``,
    ``user``, ``max_chars``, ``outcomes``, ``eval_text``, ``prompt_var`` and the
    :class:`~evalcov.CoverageAnalyzer` parameters), plus:

    freq : str, default="W"
        Window of ``report.windows`` (a pandas period alias), when ``time`` is given.
    n_sample_rows : int, default=10000
        Most per-query rows kept in ``report.queries``.

    Returns
    -------
    DaskCoverageReport
    """
    import dask
    import dask.dataframe as dd

    from evalcov.analyzer import CoverageAnalyzer

    if not isinstance(traffic, dd.DataFrame):
        raise TypeError(f"traffic must be a dask.dataframe.DataFrame, got {type(traffic)!r}")
    if not isinstance(n_sample_rows, (int, np.integer)) or n_sample_rows < 0:
        raise ValueError(f"n_sample_rows must be a non-negative integer, got {n_sample_rows!r}")
    read_keys = set(_READ_OPTIONS) | {"eval_text", "prompt_var"}
    unsupported = {"turns", "format", "unit", "eval_format"} & set(options)
    if unsupported:
        raise TypeError(
            f"option(s) {sorted(unsupported)} do not apply to a Dask DataFrame of traffic "
            "(one row per query, already parsed)"
        )
    if {"failure", "keep"} & set(options):
        raise NotImplementedError(
            "failure= and keep= (traffic outcomes) are not supported on a Dask DataFrame yet; "
            "analyze a pandas DataFrame, or a sample of the traffic"
        )
    read = {k: v for k, v in options.items() if k in read_keys}
    params = {k: v for k, v in options.items() if k not in read_keys}
    try:
        analyzer = CoverageAnalyzer(embedder=embedder, random_state=random_state, **params)
    except TypeError as exc:
        raise TypeError(f"analyze() got an unknown option: {exc}") from None
    analyzer._validate()
    read_opts = {"text": text, "time": time, **{k: read[k] for k in _READ_OPTIONS if k in read}}
    eval_frame = read_evals(
        evals,
        text=read.get("eval_text"),
        **{k: read[k] for k in ("prompt_var", "max_chars") if k in read},
    )
    from evalcov.embedders import get_embedder

    analyzer.embedder_ = get_embedder(embedder)
    de = dedupe(eval_frame)
    E = embed(de.texts, analyzer.embedder_, cache=analyzer.cache, show_progress=False)

    rows = _read_rows(traffic, read_opts)
    n_rows = rows.shape[0]
    kept = rows[~rows["excluded"]][["text", "weight", "_pos"]].assign(count=1)
    distinct = (
        kept.groupby("text", sort=False)
        .agg({"weight": "sum", "count": "sum", "_pos": "min"}, split_out=traffic.npartitions)
        .reset_index()
        .set_index("_pos")
    )
    distinct = distinct.persist()
    parts = distinct.to_delayed()
    lengths = np.asarray(dask.compute(*[dask.delayed(len)(p) for p in parts]), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n = int(offsets[-1])
    if n == 0:
        raise ValueError("no traffic row has text to analyze (every row is excluded)")

    # A built-in travels by name and is loaded once per worker process, not pickled with it.
    emb = embedder if isinstance(embedder, str) else dask.delayed(analyzer.embedder_, pure=True)
    vectors = [
        dask.delayed(_embed_part)(p, emb, analyzer.cache)
        for p in parts  # one embedding pass, kept on the workers
    ]
    vectors = dask.persist(*vectors)

    # Fit on the same sample of distinct texts the in-memory path would use.
    tmap = analyzer.new_map(len(de.texts))
    fit_index = tmap.sample_index(n)
    picks = [
        dask.delayed(_take)(p, x, fit_index[(fit_index >= lo) & (fit_index < hi)] - lo)
        for p, x, lo, hi in zip(parts, vectors, offsets[:-1], offsets[1:], strict=True)
    ]
    sample = dask.compute(*picks)
    Xf = np.concatenate([s[0] for s in sample])
    sample_texts = [t for s in sample for t in s[1]]
    sample_weights = np.concatenate([s[2] for s in sample])
    tmap.fit_sample(Xf, n)

    claim_k = max(1, math.ceil(analyzer.reach * n / len(de.texts)))
    k = min(claim_k, n)
    state = dask.delayed(
        {"map": tmap, "fit_index": fit_index, "evals": E, "k": k}, pure=True, traverse=False
    )
    scored = dask.persist(
        *[
            dask.delayed(_score_part)(p, x, int(lo), state)
            for p, x, lo in zip(parts, vectors, offsets[:-1], strict=True)
        ]
    )
    traffic_raw, tops = dask.compute(
        [dask.delayed(_get)(s, "traffic") for s in scored],
        _tree_merge([dask.delayed(_get)(s, "top") for s in scored], k),
    )
    remap = tmap.order_clusters(np.sum(traffic_raw, axis=0))
    # Widened as in the in-memory path (evalcov.coverage.widen_claims): the claims below come
    # from these radii through claimed_mask, which gives the same claims.
    radii = tops.min(axis=1)
    reach = reach_similarity(radii, analyzer.reach_floor)
    radii = widen_radii(radii, reach)
    analyzer.map_ = tmap
    eval_labels = tmap.assign(E).labels

    state2 = dask.delayed(
        {"remap": remap, "evals": E, "radii": radii, "n_clusters": tmap.n_clusters_},
        pure=True,
        traverse=False,
    )
    claimed = dask.persist(
        *[
            dask.delayed(_claim_part)(p, x, s, state2)
            for p, x, s in zip(parts, vectors, scored, strict=True)
        ]
    )
    sums = dask.compute(*[dask.delayed(_get)(c, "sums") for c in claimed])
    total = {key: np.sum([s[key] for s in sums], axis=0) for key in sums[0]}

    clusters, status = _cluster_table(total, eval_labels, analyzer)
    clusters = clusters.assign(**closest_prompts(total["centroid"], E, list(de.texts)))
    centroids = total["centroid"]
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    centroids = np.divide(centroids, norms, out=centroids.copy(), where=norms > 0)
    state3 = dask.delayed(
        {"status": status, "centroids": centroids, "eval_texts": list(de.texts)},
        pure=True,
        traverse=False,
    )
    finals = [
        dask.delayed(_finish_part)(p, x, c, int(lo), state3)
        for p, x, c, lo in zip(parts, vectors, claimed, offsets[:-1], strict=True)
    ]
    unique = dd.from_delayed(
        [dask.delayed(_get)(f, "unique") for f in finals],
        meta=_unique_meta(),
        divisions=[*offsets[:-1].tolist(), int(offsets[-1]) - 1],
        verify_meta=False,
    ).persist()
    candidates = dask.compute(*[dask.delayed(_get)(f, "central") for f in finals])
    examples = _merge_central(candidates, tmap.n_clusters_)

    sample_labels = remap[_sample_labels_raw(tmap, remap)]
    keywords = ctfidf_keywords(sample_texts, sample_labels, sample_weights, tmap.n_clusters_)
    names = label_clusters(keywords, examples, analyzer.labeler)
    if analyzer.redact:
        from evalcov.redact import get_redactor

        flat = [t for ex in examples for t in ex]
        clean = iter(get_redactor(analyzer.redact).redact(flat)) if flat else iter(())
        examples = [[next(clean) for _ in ex] for ex in examples]
    clusters.insert(1, "label", names)
    clusters.insert(2, "topic", tmap.topic_of_)
    clusters["keywords"] = keywords
    clusters["examples"] = examples

    per_row = _per_row_frame(rows, unique, _cluster_names(clusters), list(de.texts))
    windows = None
    if time is not None:
        windows = _windows(per_row, freq)
    n_rows_total, n_excluded, n_truncated = dask.compute(
        n_rows, rows["excluded"].sum(), rows["truncated"].sum()
    )
    frac = min(1.0, n_sample_rows / max(int(n_rows_total), 1))
    queries = (
        per_row.sample(frac=frac, random_state=analyzer.random_state)
        .compute()
        .sort_values("_pos")
        .head(n_sample_rows)
    )
    weight_total = float(total["weight"].sum())
    covered_w = float(total["covered_weight"].sum())
    eval_out = eval_frame.copy()
    codes = de.codes
    ok = codes >= 0
    cl = np.full(len(eval_frame), -1, dtype=np.int64)
    cl[ok] = eval_labels[codes[ok]]
    label_arr = clusters["label"].to_numpy(dtype=object)
    eval_out["cluster"] = cl
    eval_out["cluster_label"] = np.where(ok, label_arr[np.maximum(cl, 0)], None)
    return DaskCoverageReport(
        analyzer_=analyzer,
        coverage=covered_w / weight_total if weight_total > 0 else 0.0,
        clusters=clusters,
        evals=eval_out,
        eval_frame_=eval_frame,
        eval_dedup_=de,
        eval_labels_=eval_labels,
        eval_embeddings_=E,
        claim_k_=claim_k,
        claim_radii_=radii,
        reach_similarity_=reach,
        unique_=unique,
        queries=queries,
        windows=windows,
        read_options_=read_opts,
        totals_={
            "n_rows": int(n_rows_total),
            "n_analyzed": int(n_rows_total - n_excluded),
            "n_excluded": int(n_excluded),
            "n_truncated": int(n_truncated),
            "n_unique": n,
            "traffic_weight": weight_total,
            "n_outliers": int(total["outlier"].sum()),
        },
    )


def assign_partitions(report: DaskCoverageReport, traffic: Any) -> Any:
    """Every per-query row of ``traffic`` as a lazy Dask DataFrame, one partition per input one.

    Columns are those of :attr:`evalcov.CoverageReport.queries` plus ``_pos`` (partition
    number << 40 | row in partition), with the input index in each partition. Texts the report
    analyzed get their results; others are not part of the report and raise ``ValueError``
    when computed (place new traffic with ``report.map_`` instead). Call ``to_parquet`` on the
    result to keep it.
    """
    if not isinstance(report, DaskCoverageReport):
        raise TypeError(f"report must be a DaskCoverageReport, got {type(report)!r}")
    rows = _read_rows(traffic, report.read_options_)
    return _per_row_frame(
        rows, report.unique_, _cluster_names(report.clusters), list(report.eval_dedup_.texts)
    )


# ---------------------------------------------------------------- partition functions


def _read_rows(traffic: Any, read_opts: dict) -> Any:
    import dask.dataframe as dd

    if not isinstance(traffic, dd.DataFrame):
        raise TypeError(f"traffic must be a dask.dataframe.DataFrame, got {type(traffic)!r}")
    head = traffic.partitions[0].head(5)
    if head.empty:
        head = traffic.head(5, npartitions=-1)
    meta = _read_part(head, read_opts, 0).iloc[:0]
    return traffic.map_partitions(_read_part, read_opts, meta=meta, enforce_metadata=False)


def _read_part(pdf: pd.DataFrame, read_opts: dict, partition_info: Any = None) -> pd.DataFrame:
    number = partition_info["number"] if isinstance(partition_info, dict) else 0
    if len(pdf) == 0:
        out = read_traffic(pd.concat([pdf, pdf.iloc[:0]]).head(0).reindex([0]), **read_opts)
        out = out.iloc[:0]
    else:
        out = read_traffic(pdf, **read_opts)
    out["_index"] = out.index
    out["_pos"] = (np.int64(number) << _POS_BITS) + np.arange(len(out), dtype=np.int64)
    return out


def _embed_part(part: pd.DataFrame, embedder: Any, cache: Any) -> np.ndarray:
    return embed(part["text"].tolist(), embedder, cache=cache, show_progress=False)


def _take(part: pd.DataFrame, X: np.ndarray, local: np.ndarray) -> tuple:
    return X[local], part["text"].iloc[local].tolist(), part["weight"].to_numpy()[local]


def _get(obj: dict, key: str) -> Any:
    return obj[key]


def _score_part(part: pd.DataFrame, X: np.ndarray, offset: int, state: dict) -> dict:
    """Labels (fit order), outliers, nearest eval and each eval prompt's top-k similarities."""
    tmap: TrafficMap = state["map"]
    fit_index = state["fit_index"]
    E, k = state["evals"], state["k"]
    rank = offset + np.arange(len(part))
    labels = tmap.assign_labels(X) if len(X) else np.empty(0, np.int64)
    pos = np.searchsorted(fit_index, rank)
    in_fit = (pos < len(fit_index)) & (fit_index[np.minimum(pos, len(fit_index) - 1)] == rank)
    labels[in_fit] = tmap.fit_labels_[pos[in_fit]]
    outlier = np.zeros(len(X), dtype=bool)
    outlier[in_fit] = tmap.fit_outlier_[pos[in_fit]]
    sim, nearest = nearest_eval(X, E)
    weights = part["weight"].to_numpy(dtype=float)
    sims = E @ X.T
    if sims.shape[1] > k:
        sims = -np.partition(-sims, k - 1, axis=1)[:, :k]
    return {
        "labels": labels,
        "outlier": outlier,
        "similarity": sim,
        "nearest": nearest,
        "traffic": np.bincount(labels, weights=weights, minlength=tmap.n_clusters_),
        "top": sims,
    }


def _merge_top(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    merged = np.concatenate([a, b], axis=1)
    if merged.shape[1] > k:
        merged = -np.partition(-merged, k - 1, axis=1)[:, :k]
    return merged


def _tree_merge(tops: list, k: int) -> Any:
    import dask

    while len(tops) > 1:
        tops = [
            dask.delayed(_merge_top)(tops[i], tops[i + 1], k) if i + 1 < len(tops) else tops[i]
            for i in range(0, len(tops), 2)
        ]
    return tops[0]


def _claim_part(part: pd.DataFrame, X: np.ndarray, scored: dict, state: dict) -> dict:
    """Final labels, claims, and per-cluster sums for the cluster table and centroids."""
    from evalcov.coverage import centroid_sums, claimed_mask

    labels = state["remap"][scored["labels"]]
    claimed = claimed_mask(X, state["evals"], state["radii"])
    weights = part["weight"].to_numpy(dtype=float)
    counts = part["count"].to_numpy(dtype=np.int64)
    m = state["n_clusters"]

    def per_cluster(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        sel = slice(None) if mask is None else mask
        return np.bincount(labels[sel], weights=values[sel], minlength=m)

    sums = {
        "weight": per_cluster(weights),
        "claimed_weight": per_cluster(weights, claimed),
        "unclaimed_weight": per_cluster(weights, ~claimed),
        "claimed_rows": per_cluster(counts.astype(float), claimed),
        "unclaimed_rows": per_cluster(counts.astype(float), ~claimed),
        "claimed_unique": per_cluster(np.ones(len(labels)), claimed),
        "unique": per_cluster(np.ones(len(labels))),
        "outlier": np.array([scored["outlier"].sum()]),
        "centroid": centroid_sums(X, labels, weights, m),
    }
    return {
        "labels": labels,
        "claimed": claimed,
        "sums": sums,
        **{key: scored[key] for key in ("outlier", "similarity", "nearest")},
    }


def _cluster_table(total: dict, eval_labels: np.ndarray, analyzer: Any) -> tuple:
    """Cluster statuses and table from per-cluster sums, by the in-memory functions.

    Each cluster becomes two pseudo-queries (its claimed and unclaimed traffic): the statuses
    and shares depend only on those sums. n_unique and its Wilson interval are set from the
    true distinct counts afterwards.
    """
    m = len(total["weight"])
    labels = np.repeat(np.arange(m), 2)
    claimed = np.tile([True, False], m)
    weights = np.column_stack([total["claimed_weight"], total["unclaimed_weight"]]).ravel()
    counts = np.column_stack([total["claimed_rows"], total["unclaimed_rows"]]).ravel()
    covered, share, status = covered_from_claims(
        claimed, labels, weights, eval_labels, analyzer.covered_share, analyzer.thin_share
    )
    table = cluster_coverage(
        labels, weights, covered, share, status, eval_labels, np.rint(counts).astype(np.int64)
    )
    n_unique = np.rint(total["unique"]).astype(np.int64)
    table["n_unique"] = n_unique
    table["coverage_low"], table["coverage_high"] = _wilson(share, n_unique)
    total["covered_weight"] = np.bincount(labels, weights=weights * covered, minlength=m)
    return table, status


def _finish_part(
    part: pd.DataFrame, X: np.ndarray, claimed: dict, offset: int, state: dict
) -> dict:
    """Per distinct text results, and each cluster's most central texts in this partition."""
    labels, is_claimed = claimed["labels"], claimed["claimed"]
    status = state["status"][labels] if len(labels) else np.empty(0, dtype=object)
    covered = is_covered(status)
    rank = offset + np.arange(len(part))
    unique = pd.DataFrame(
        {
            "text": part["text"].to_numpy(dtype=object),
            "weight": part["weight"].to_numpy(dtype=np.float64),
            "count": part["count"].to_numpy(dtype=np.int64),
            "cluster": labels.astype(np.int64),
            "outlier": claimed["outlier"],
            "similarity": claimed["similarity"],
            "nearest_eval": claimed["nearest"],
            "claimed": is_claimed,
            "covered": covered.astype(bool),
        },
        index=pd.Index(rank, name="code"),
    )
    central = []
    if len(labels):
        cs = np.einsum("ij,ij->i", X, state["centroids"][labels])
        order = np.lexsort((rank, -cs, labels))
        sorted_labels = labels[order]
        starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
        texts = part["text"].to_numpy(dtype=object)
        for s in starts:
            for i in order[s : s + _N_EXAMPLES]:
                if labels[i] != sorted_labels[s]:
                    break
                central.append((int(labels[i]), -float(cs[i]), int(rank[i]), texts[i]))
    return {"unique": unique, "central": central}


def _merge_central(candidates: tuple, n_clusters: int) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(n_clusters)]
    for label, _, _, text in sorted(c for part in candidates for c in part):
        if len(out[label]) < _N_EXAMPLES:
            out[label].append(text)
    return out


def _sample_labels_raw(tmap: TrafficMap, remap: np.ndarray) -> np.ndarray:
    """Sample labels in the clusterer's order (fit_labels_ is already renumbered)."""
    inverse = np.empty_like(remap)
    inverse[remap] = np.arange(len(remap))
    return inverse[tmap.fit_labels_]


def _unique_meta() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": pd.Series([], dtype=object),
            "weight": pd.Series([], dtype=np.float64),
            "count": pd.Series([], dtype=np.int64),
            "cluster": pd.Series([], dtype=np.int64),
            "outlier": pd.Series([], dtype=bool),
            "similarity": pd.Series([], dtype=np.float32),
            "nearest_eval": pd.Series([], dtype=np.int64),
            "claimed": pd.Series([], dtype=bool),
            "covered": pd.Series([], dtype=bool),
        },
        index=pd.Index([], dtype=np.int64, name="code"),
    )


def _cluster_names(clusters: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: its label, its topic and the topic's label (as CoverageReport.topics)."""
    topic_names = topic_table(clusters, 1).set_index("topic")["label"]
    return pd.DataFrame(
        {
            "label": clusters["label"].to_numpy(dtype=object),
            "topic": clusters["topic"].to_numpy(dtype=np.int64),
            "topic_label": topic_names.reindex(clusters["topic"]).to_numpy(dtype=object),
        }
    )


def _per_row_frame(rows: Any, unique: Any, labels: pd.DataFrame, eval_texts: list) -> Any:
    """Per input row results (the columns of CoverageReport.queries), by a join on the text."""
    results = unique[["text", "cluster", "similarity", "nearest_eval", "covered", "outlier"]]
    results = results.astype({"text": rows["text"].dtype})
    merged = rows.merge(
        results.rename(columns={c: f"_u_{c}" for c in results.columns if c != "text"}),
        how="left",
        on="text",
    )
    meta = _rows_result(merged._meta, labels, eval_texts)
    return merged.map_partitions(_rows_result, labels, eval_texts, meta=meta)


def _rows_result(part: pd.DataFrame, labels: pd.DataFrame, eval_texts: list) -> pd.DataFrame:
    excluded = part["excluded"].to_numpy(dtype=bool)
    found = part["_u_cluster"].notna().to_numpy()
    missing = ~excluded & ~found
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"{int(missing.sum())} traffic row(s) have a text the report did not analyze, e.g. "
            f"row {part['_index'].iloc[i]!r}: {part['text'].iloc[i]!r:.80}; assign_partitions "
            "returns the analyzed traffic's rows"
        )
    ok = ~excluded
    out = part.drop(columns=[c for c in part.columns if c.startswith("_u_")] + ["_index"])
    out.index = pd.Index(part["_index"].to_numpy(), name=None)
    cluster = np.where(ok, part["_u_cluster"].fillna(-1).to_numpy(), -1).astype(np.int64)
    names = labels["label"].to_numpy(dtype=object)
    evals = np.asarray(eval_texts, dtype=object)
    nearest = part["_u_nearest_eval"].fillna(0).to_numpy().astype(np.int64)
    out["cluster"] = cluster
    out["cluster_label"] = np.where(ok, names[np.maximum(cluster, 0)], None)
    topic = labels["topic"].to_numpy(dtype=np.int64)[np.maximum(cluster, 0)]
    out["topic"] = np.where(ok, topic, -1)
    topic_names = labels["topic_label"].to_numpy(dtype=object)
    out["topic_label"] = np.where(ok, topic_names[np.maximum(cluster, 0)], None)
    out["similarity"] = np.where(ok, part["_u_similarity"].to_numpy(dtype=np.float64), np.nan)
    out["nearest_eval"] = np.where(ok, evals[nearest] if len(evals) else None, None)
    out["covered"] = ok & part["_u_covered"].fillna(False).to_numpy(dtype=bool)
    out["outlier"] = ok & part["_u_outlier"].fillna(False).to_numpy(dtype=bool)
    pos = out.pop("_pos")
    out["_pos"] = pos.to_numpy()
    return out.sort_values("_pos", kind="stable")


def _windows(per_row: Any, freq: Any) -> pd.DataFrame:
    """Traffic, rows and covered traffic per (window, cluster), summed on the workers."""
    use = per_row[~per_row["excluded"] & per_row["time"].notnull()]
    use = use.assign(
        window=use["time"].dt.tz_convert(None).dt.to_period(freq).dt.start_time,
        covered_traffic=use["weight"] * use["covered"],
        rows=1,
    )
    table = (
        use.groupby(["window", "cluster"])
        .agg({"rows": "sum", "weight": "sum", "covered_traffic": "sum"})
        .compute()
        .rename(columns={"weight": "traffic"})
        .reset_index()
        .sort_values(["window", "cluster"], ignore_index=True)
    )
    table["window"] = table["window"].dt.tz_localize("UTC")
    table["coverage"] = table["covered_traffic"] / table["traffic"].where(table["traffic"] > 0)
    return table
