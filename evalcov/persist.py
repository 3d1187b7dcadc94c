"""Save a report's map and eval set, load it later, and place new traffic on it.

The file is a zip archive (no pickle anywhere), readable with any zip tool:

- ``meta.json``: ``{"format": "evalcov.map", "version": 1, ...}`` plus the embedder name,
  the coverage thresholds and the map's scalar parameters;
- ``arrays.npz``: numpy arrays only, read with ``np.load(allow_pickle=False)``: the map's
  fitted embeddings and labels, the eval embeddings and their claim radii, and per distinct
  traffic text of the saved report a 16-byte SHA-256 digest with its cluster and claim;
- ``clusters.parquet``: the cluster table (labels, status, keywords, redacted examples);
- ``evals.parquet``: the distinct eval prompts and their clusters.

No raw traffic text is stored: the digests let a query seen by the saved report keep its
exact cluster and claim, and the cluster examples are redacted as in the report.

Assignment rule (:meth:`SavedMap.assign`): a query whose text the saved report analyzed
keeps its cluster and claim; any other query goes to the cluster its nearest fitted
neighbours vote for (:meth:`evalcov.mapping.TrafficMap.assign`) and is *claimed* when it lies
within the saved claim radius of some eval prompt. A query is covered by the saved status of
its cluster, the same pooling the report used: all of a "covered" cluster's traffic is
covered, a "thin" cluster's claimed traffic only, an "uncovered" cluster's none. Keeping the
saved status (rather than re-judging each cluster on the new traffic) keeps verdicts
comparable across weeks while the eval set is unchanged. Queries that fit no saved cluster
(``novel``) are clustered among themselves; groups become *proposed* clusters with ids after
the saved ones, c-TF-IDF labels, and a status judged by the same thresholds on their claims.
"""

from __future__ import annotations

import html
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalcov._files import atomic_write
from evalcov.coverage import is_covered, nearest_and_claimed
from evalcov.mapping import TrafficMap
from evalcov.report import label_column, spread

__all__ = ["FORMAT", "FORMAT_VERSION", "AssignedTraffic", "SavedMap", "from_report", "load", "save"]

FORMAT = "evalcov.map"
FORMAT_VERSION = 1
_DIGEST_BYTES = 16
_CLUSTER_COLUMNS = [
    "cluster",
    "label",
    "n_queries",
    "n_unique",
    "traffic_share",
    "n_eval",
    "coverage",
    "claimed_share",
    "status",
    "keywords",
    "examples",
]
_MEMBERS = ("meta.json", "arrays.npz", "clusters.parquet", "evals.parquet")


def _digests(texts: list[str]) -> np.ndarray:
    from evalcov.cache import text_digest

    out = np.zeros((len(texts), _DIGEST_BYTES), dtype=np.uint8)
    for i, t in enumerate(texts):
        out[i] = np.frombuffer(text_digest(t)[:_DIGEST_BYTES], dtype=np.uint8)
    return out


class SavedMap:
    """A report's map, clusters and eval set, enough to place and judge new traffic.

    Build one with :func:`from_report` or :func:`load`; ``report.save(path)`` writes one.

    Attributes
    ----------
    clusters : DataFrame
        The saved cluster table: cluster, label, n_queries, n_unique, traffic_share, n_eval,
        coverage, claimed_share, status, keywords, examples (redacted).
    eval_texts : list of str
        Distinct eval prompts; row i matches ``eval_embeddings_[i]``.
    map_ : TrafficMap
    eval_embeddings_ : ndarray of shape (n_eval, dim)
    claim_radii_ : ndarray of shape (n_eval,)
    embedder_name : str
    meta : dict
        Everything in ``meta.json``.
    """

    def __init__(
        self,
        *,
        meta: dict[str, Any],
        arrays: dict[str, np.ndarray],
        clusters: pd.DataFrame,
        evals: pd.DataFrame,
        embedder: Any = None,
        labeler: Any = None,
        redact: Any = "default",
    ):
        self.meta = meta
        self.clusters = clusters.reset_index(drop=True)
        self.eval_texts = [str(t) for t in evals["text"]]
        self.eval_clusters_ = evals["cluster"].to_numpy(dtype=np.int64)
        self.eval_embeddings_ = np.asarray(arrays["eval_embeddings"], dtype=np.float32)
        self.claim_radii_ = np.asarray(arrays["claim_radii"], dtype=np.float32)
        self.map_ = TrafficMap.from_state(
            {
                "fit_embeddings": arrays["fit_embeddings"],
                "fit_labels": arrays["fit_labels"],
                "fit_outlier": arrays["fit_outlier"],
                "topic_of": arrays.get("topic_of"),
                "novelty_threshold": meta["novelty_threshold"],
                "assign_k": meta["assign_k"],
                "assign_by": meta.get("assign_by", "vote"),
                "random_state": meta["random_state"],
            }
        )
        self.embedder_name = str(meta["embedder"])
        self._seen_digests = np.asarray(arrays["traffic_digests"], dtype=np.uint8)
        self._seen = {bytes(d): i for i, d in enumerate(self._seen_digests)}
        self._seen_cluster = np.asarray(arrays["traffic_cluster"], dtype=np.int64)
        self._seen_claimed = np.asarray(arrays["traffic_claimed"], dtype=bool)
        self._embedder = embedder
        self.labeler = labeler
        self.redact = redact

    @property
    def embedder_(self) -> Any:
        """The embedder, re-created from its name on first use for the built-in models."""
        if self._embedder is None:
            from evalcov.embedders import get_embedder

            spec = self.meta.get("embedder_spec")
            if spec is None:
                raise ValueError(
                    f"this map was saved with the custom embedder {self.embedder_name!r}; "
                    "pass it again: evalcov.load(path, embedder=...)"
                )
            self._embedder = _check_embedder(get_embedder(spec), self.embedder_name)
        return self._embedder

    def __repr__(self) -> str:
        return (
            f"<SavedMap {len(self.clusters)} clusters, {len(self.eval_texts)} eval prompts, "
            f"embedder {self.embedder_name!r}>"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write this map to ``path`` (see :func:`save`)."""
        return _write(self, path)

    def assign(
        self,
        new_traffic: Any,
        *,
        text: str | None = None,
        time: str | None = None,
        min_cluster_size: int | None = None,
        cache: Any = True,
        show_progress: bool | None = None,
        **read_options: Any,
    ) -> AssignedTraffic:
        """Place new traffic into the saved clusters and judge its coverage.

        Parameters
        ----------
        new_traffic : DataFrame, list of str, path or glob
            Anything :func:`evalcov.read_traffic` reads; ``text``, ``time`` and
            ``read_options`` (id, weight, user, turns, format, max_chars) are passed to it.
        min_cluster_size : int, optional
            Smallest group of novel queries proposed as a new cluster. Default:
            ``max(5, round(sqrt(n_novel) / 4))`` distinct texts.
        cache, show_progress
            Embedding cache and progress bar, see :func:`evalcov.embed`.

        Returns
        -------
        AssignedTraffic
            Same cluster ids and labels as the saved report, plus proposed clusters; call
            ``.drift(...)`` on it to compare windows (traffic read with ``time=``).
        """
        from evalcov.dedupe import dedupe
        from evalcov.embedders import embed
        from evalcov.ingest import read_traffic

        if min_cluster_size is not None and (
            not isinstance(min_cluster_size, (int, np.integer)) or min_cluster_size < 2
        ):
            raise ValueError(f"min_cluster_size must be an integer >= 2, got {min_cluster_size!r}")
        frame = read_traffic(new_traffic, text=text, time=time, **read_options)
        dt = dedupe(frame)
        U = embed(dt.texts, self.embedder_, cache=cache, show_progress=show_progress)
        if U.shape[1] != self.eval_embeddings_.shape[1]:
            raise ValueError(
                f"the embedder gives {U.shape[1]}-d vectors, the saved map "
                f"{self.eval_embeddings_.shape[1]}-d: use the embedder it was saved with"
            )
        return _assign(self, frame, dt, U, min_cluster_size)


def _check_embedder(embedder: Any, saved_name: str) -> Any:
    if getattr(embedder, "name", None) != saved_name:
        raise ValueError(
            f"embedder mismatch: the map was saved with embedder {saved_name!r}, the given "
            f"embedder is {getattr(embedder, 'name', None)!r}; vectors of different models "
            "are not comparable"
        )
    return embedder


def _assign(
    saved: SavedMap, frame: pd.DataFrame, dt: Any, U: np.ndarray, min_cluster_size: int | None
) -> AssignedTraffic:
    n = len(dt.texts)
    digests = _digests(dt.texts)
    seen_row = np.array([saved._seen.get(bytes(d), -1) for d in digests], dtype=np.int64)
    seen = seen_row >= 0
    cluster = np.empty(n, dtype=np.int64)
    claimed = np.empty(n, dtype=bool)
    novel = np.zeros(n, dtype=bool)
    confidence = np.ones(n, dtype=np.float32)
    cluster[seen] = saved._seen_cluster[seen_row[seen]]
    claimed[seen] = saved._seen_claimed[seen_row[seen]]
    new = ~seen
    # One pass over the (traffic, eval) similarities gives nearest prompts and claims.
    sim, nearest, fresh = nearest_and_claimed(U, saved.eval_embeddings_, saved.claim_radii_)
    if new.any():
        a = saved.map_.assign(U[new])
        cluster[new] = a.labels
        confidence[new] = a.confidence
        novel[new] = a.novel
        claimed[new] = fresh[new]
    nearest_cluster = cluster.copy()
    n_saved = len(saved.clusters)
    proposed = _group_novel(U, novel, n_saved, min_cluster_size)
    grouped = proposed >= 0
    cluster[grouped] = proposed[grouped]
    n_total = int(cluster.max()) + 1 if n else n_saved
    n_total = max(n_total, n_saved)

    # Saved clusters keep their verdict; proposed ones are judged on their own claims.
    status = np.empty(n_total, dtype=object)
    status[:n_saved] = saved.clusters["status"].to_numpy(dtype=object)
    if n_total > n_saved:
        # Eval prompts all sit in saved clusters, so a proposed cluster is judged by the
        # share of its traffic the prompts claim, with the saved thresholds.
        ids = cluster[grouped]
        w = dt.weights[grouped]
        total = np.bincount(ids, weights=w, minlength=n_total)[n_saved:]
        got = np.bincount(ids, weights=w * claimed[grouped], minlength=n_total)[n_saved:]
        share = got / total
        # No prompt sits in a proposed cluster, so only its claims can show it is tested.
        status[n_saved:] = np.where(share >= saved.meta["covered_share"], "covered", "uncovered")
    covered = is_covered(status[cluster])

    clusters = _cluster_table(saved, dt, U, cluster, covered, claimed, novel, status, n_total)
    unique = pd.DataFrame(
        {
            "text": dt.texts,
            "weight": dt.weights,
            "count": dt.counts,
            "cluster": cluster,
            "nearest_cluster": nearest_cluster,
            "confidence": confidence,
            "novel": novel,
            "seen": seen,
            "similarity": sim,
            "nearest_eval": nearest,
            "claimed": claimed,
            "covered": covered,
        }
    )
    return AssignedTraffic(
        saved=saved, frame=frame, dedup=dt, unique=unique, clusters=clusters, embeddings=U
    )


def _group_novel(
    U: np.ndarray,
    novel: np.ndarray,
    first_id: int,
    min_cluster_size: int | None,
) -> np.ndarray:
    """Cluster the novel queries alone (HDBSCAN on their embeddings); -1 where ungrouped.

    As in the map, HDBSCAN's noise joins the group of its most similar grouped query, so
    every novel query lands in a proposed cluster once there is one.
    """
    out = np.full(len(U), -1, dtype=np.int64)
    rows = np.flatnonzero(novel)
    mcs = min_cluster_size or max(5, int(round(np.sqrt(len(rows)) / 4)))
    if len(rows) < 2 * mcs:
        return out
    import hdbscan

    X = U[rows].astype(np.float64)
    labels = hdbscan.HDBSCAN(
        min_cluster_size=mcs, min_samples=min(5, mcs), allow_single_cluster=True
    ).fit_predict(X)
    grouped = labels >= 0
    if not grouped.any():
        return out
    noise = ~grouped
    if noise.any():
        labels[noise] = labels[grouped][(X[noise] @ X[grouped].T).argmax(axis=1)]
    groups, sizes = np.unique(labels, return_counts=True)
    # Largest group first, so proposed ids read as a ranking like the saved ones.
    for new_id, g in enumerate(groups[np.lexsort((groups, -sizes))]):
        out[rows[labels == g]] = first_id + new_id
    return out


def _cluster_table(
    saved: SavedMap,
    dt: Any,
    U: np.ndarray,
    cluster: np.ndarray,
    covered: np.ndarray,
    claimed: np.ndarray,
    novel: np.ndarray,
    status: np.ndarray,
    n_total: int,
) -> pd.DataFrame:
    from evalcov.labels import central_examples, ctfidf_keywords, label_clusters

    w = dt.weights
    traffic = np.bincount(cluster, weights=w, minlength=n_total)
    total = traffic.sum()
    n_saved = len(saved.clusters)
    old = saved.clusters
    keywords = list(old["keywords"].map(list)) + [[] for _ in range(n_total - n_saved)]
    examples = list(old["examples"].map(list)) + [[] for _ in range(n_total - n_saved)]
    labels = list(old["label"])
    if n_total > n_saved:
        # Keywords against all new traffic, so a proposed cluster's words are what set it apart.
        kw = ctfidf_keywords(dt.texts, cluster, w, n_total)[n_saved:]
        ex = central_examples(U, dt.texts, cluster, w, n_total)[n_saved:]
        if saved.redact:
            from evalcov.redact import get_redactor

            flat = [t for e in ex for t in e]
            clean = iter(get_redactor(saved.redact).redact(flat))
            ex = [[next(clean) for _ in e] for e in ex]
        names = label_clusters(kw, ex, saved.labeler)
        keywords[n_saved:] = kw
        examples[n_saved:] = ex
        labels += [f"new: {name}" for name in names]
    saved_share = np.full(n_total, np.nan)
    saved_share[:n_saved] = old["traffic_share"].to_numpy(dtype=float)
    cov_w = np.bincount(cluster, weights=w * covered, minlength=n_total)
    # Saved clusters keep their topics; each proposed cluster is a topic of its own.
    saved_topics = np.asarray(saved.map_.topic_of_, dtype=np.int64)
    first_new = int(saved_topics.max()) + 1 if len(saved_topics) else 0
    topics = np.concatenate([saved_topics, first_new + np.arange(n_total - n_saved)])
    return pd.DataFrame(
        {
            "cluster": np.arange(n_total),
            "label": labels,
            "topic": topics,
            "proposed": np.arange(n_total) >= n_saved,
            "n_queries": np.bincount(cluster, weights=dt.counts, minlength=n_total).astype(
                np.int64
            ),
            "n_unique": np.bincount(cluster, minlength=n_total),
            "traffic_share": traffic / total if total > 0 else np.zeros(n_total),
            "saved_share": saved_share,
            "coverage": np.divide(cov_w, traffic, out=np.zeros(n_total), where=traffic > 0),
            "claimed_share": np.divide(
                np.bincount(cluster, weights=w * claimed, minlength=n_total),
                traffic,
                out=np.zeros(n_total),
                where=traffic > 0,
            ),
            "novel_share": np.divide(
                np.bincount(cluster, weights=w * novel, minlength=n_total),
                traffic,
                out=np.zeros(n_total),
                where=traffic > 0,
            ),
            "status": pd.Series(status, dtype=object),
            "keywords": keywords,
            "examples": examples,
        }
    )


class AssignedTraffic:
    """New traffic placed on a saved map: the report-like result of :meth:`SavedMap.assign`.

    Attributes
    ----------
    queries : DataFrame
        One row per input row, in input order: the read columns (text, excluded, reason, id,
        weight, [time, user]), then cluster (-1 if excluded), cluster_label, topic (the
        saved map's; -1 if excluded), proposed (the cluster is a proposed new one), novel
        (fits no saved cluster), seen (the saved report analyzed this exact text),
        confidence, similarity, nearest_eval, claimed, covered.
    clusters : DataFrame
        Saved clusters then proposed ones: cluster, label ("new: ..." when proposed), topic
        (the saved map's topics; each proposed cluster a new one), proposed, n_queries,
        n_unique, traffic_share (in this traffic), saved_share (in the saved report; NaN
        when proposed), coverage, claimed_share, novel_share, status, keywords, examples.
    proposed : DataFrame
        The proposed clusters only.
    coverage : float
        Traffic-weighted covered share.
    novel_share : float
        Traffic-weighted share of queries that fit no saved cluster.
    unique_ : DataFrame
        One row per distinct text (the unit assigned).
    traffic_embeddings_ : ndarray of shape (n_unique, dim)
        Row i embeds ``unique_`` row i.
    saved : SavedMap
    """

    def __init__(
        self,
        *,
        saved: SavedMap,
        frame: pd.DataFrame,
        dedup: Any,
        unique: pd.DataFrame,
        clusters: pd.DataFrame,
        embeddings: np.ndarray,
    ):
        self.saved = saved
        self.traffic_embeddings_ = embeddings
        self.traffic_frame_ = frame
        self.traffic_dedup_ = dedup
        self.unique_ = unique
        self.clusters = clusters
        w = unique["weight"].to_numpy()
        total = w.sum()
        self.coverage = float((w * unique["covered"]).sum() / total) if total > 0 else 0.0
        self.novel_share = float((w * unique["novel"]).sum() / total) if total > 0 else 0.0
        self.queries = self._per_row()

    @property
    def proposed(self) -> pd.DataFrame:
        """The proposed new clusters, largest first."""
        return self.clusters[self.clusters["proposed"]].reset_index(drop=True)

    def _per_row(self) -> pd.DataFrame:
        codes = self.traffic_dedup_.codes
        u = self.unique_
        out = self.traffic_frame_.copy()

        def column(name: str, fill: Any, dtype: Any) -> np.ndarray:
            return spread(u[name], codes, fill, dtype)

        cluster = column("cluster", -1, np.int64)
        labels = self.clusters["label"].to_numpy(dtype=object)
        is_new = self.clusters["proposed"].to_numpy(dtype=bool)
        eval_texts = np.asarray(self.saved.eval_texts, dtype=object)
        out["cluster"] = cluster
        out["cluster_label"] = label_column(labels, cluster)
        out["topic"] = spread(self.clusters["topic"], cluster, -1, np.int64)
        out["proposed"] = spread(is_new, cluster, False)
        out["novel"] = column("novel", False, bool)
        out["seen"] = column("seen", False, bool)
        out["confidence"] = column("confidence", np.nan, np.float64)
        out["similarity"] = column("similarity", np.nan, np.float64)
        out["nearest_eval"] = label_column(eval_texts, column("nearest_eval", -1, np.int64))
        out["claimed"] = column("claimed", False, bool)
        out["covered"] = column("covered", False, bool)
        from evalcov.outcomes import failed_rows

        # The default failure definition: a custom one (a callable) is not saved with the map.
        failed = failed_rows(out)
        if failed is not None:
            out["failed"] = failed
        return out

    def drift(self, freq: Any = "W", **options: Any) -> Any:
        """Windows of this traffic against a baseline; see :func:`evalcov.drift.compute_drift`."""
        from evalcov.drift import compute_drift

        return compute_drift(self, freq=freq, **options)

    def summary(self) -> dict[str, Any]:
        """Headline numbers as a plain dict."""
        q = self.queries
        return {
            "coverage": self.coverage,
            "uncovered_share": 1.0 - self.coverage,
            "novel_share": self.novel_share,
            "n_rows": int(len(q)),
            "n_analyzed": int((~q["excluded"]).sum()),
            "n_excluded": int(q["excluded"].sum()),
            "n_unique": int(len(self.unique_)),
            "n_seen": int(self.unique_["seen"].sum()),
            "n_clusters": int(len(self.clusters)),
            "n_proposed": int(self.clusters["proposed"].sum()),
            "embedder": self.saved.embedder_name,
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<AssignedTraffic coverage={s['coverage']:.1%} of {s['n_analyzed']} queries, "
            f"{s['novel_share']:.1%} novel, {s['n_proposed']} proposed clusters>"
        )

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{:.1%}</td><td>{:.1%}</td><td>{}</td></tr>".format(
                int(r.cluster),
                html.escape(str(r.label)),
                r.traffic_share,
                r.coverage,
                html.escape(" | ".join(list(r.examples)[:2])),
            )
            for r in self.proposed.head(10).itertuples()
        )
        table = (
            "<table><thead><tr><th>cluster</th><th>proposed label</th><th>traffic</th>"
            f"<th>coverage</th><th>examples</th></tr></thead><tbody>{rows}</tbody></table>"
            if rows
            else ""
        )
        return (
            '<div class="evalcov-assigned"><p><b>Eval coverage: {:.1%}</b> of {} new queries '
            "on a saved map of {} clusters &middot; {:.1%} novel &middot; {} proposed "
            "clusters</p>{}</div>"
        ).format(
            s["coverage"],
            s["n_analyzed"],
            s["n_clusters"] - s["n_proposed"],
            s["novel_share"],
            s["n_proposed"],
            table,
        )


# ------------------------------------------------------------------------------ save/load


def from_report(report: Any) -> SavedMap:
    """The :class:`SavedMap` of a live :class:`~evalcov.report.CoverageReport` (no file)."""
    from evalcov import __version__
    from evalcov.embedders import BUILTIN_EMBEDDERS

    a = report.analyzer_
    state = report.map_.get_state()
    u = report.unique_
    spec = a.embedder if isinstance(a.embedder, str) and a.embedder in BUILTIN_EMBEDDERS else None
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "evalcov_version": __version__,
        "embedder": report.embedder_.name,
        "embedder_spec": spec,
        "dim": int(report.eval_embeddings_.shape[1]),
        "covered_share": float(a.covered_share),
        "thin_share": float(a.thin_share),
        "claim_k": int(report.claim_k_),
        "novelty_threshold": float(state["novelty_threshold"]),
        "assign_k": int(state["assign_k"]),
        "assign_by": state["assign_by"],
        "random_state": int(state["random_state"]),
        "n_clusters": int(len(report.clusters)),
        "coverage": float(report.coverage),
        "n_traffic_unique": int(len(u)),
        "n_eval": int(len(report.eval_dedup_.texts)),
    }
    arrays = {
        "fit_embeddings": state["fit_embeddings"],
        "fit_labels": state["fit_labels"],
        "fit_outlier": state["fit_outlier"],
        "topic_of": state["topic_of"],
        "eval_embeddings": report.eval_embeddings_,
        "claim_radii": report.claim_radii_,
        "traffic_digests": _digests(list(u["text"])),
        "traffic_cluster": u["cluster"].to_numpy(dtype=np.int64),
        "traffic_claimed": u["claimed"].to_numpy(dtype=bool),
    }
    evals = pd.DataFrame(
        {"text": list(report.eval_dedup_.texts), "cluster": np.asarray(report.eval_labels_)}
    )
    redact = a.redact if isinstance(a.redact, str) or a.redact is None else "default"
    return SavedMap(
        meta=meta,
        arrays=arrays,
        clusters=report.clusters[_CLUSTER_COLUMNS].copy(),
        evals=evals,
        embedder=report.embedder_,
        labeler=a.labeler,
        redact=redact,
    )


def save(source: Any, path: str | os.PathLike) -> Path:
    """Write a report's map, cluster table and eval set to one zip file (no pickle).

    Parameters
    ----------
    source : CoverageReport or SavedMap
    path : str or Path
        The file to write (conventionally ``*.zip``); replaced atomically if it exists.

    Returns
    -------
    Path
        ``path``. Read it back with :func:`load` (``evalcov.load``).
    """
    saved = source if isinstance(source, SavedMap) else from_report(source)
    return _write(saved, path)


def _write(saved: SavedMap, path: str | os.PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a directory; give a file name such as map.zip")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} of path does not exist")
    m = saved.map_
    arrays = {
        "fit_embeddings": m.fit_embeddings_,
        "fit_labels": m.fit_labels_,
        "fit_outlier": m.fit_outlier_,
        "topic_of": m.topic_of_,
        "eval_embeddings": saved.eval_embeddings_,
        "claim_radii": saved.claim_radii_,
        "traffic_digests": saved._seen_digests,
        "traffic_cluster": saved._seen_cluster,
        "traffic_claimed": saved._seen_claimed,
    }
    npz = io.BytesIO()
    np.savez_compressed(npz, **arrays)
    clusters = saved.clusters.copy()
    for col in ("keywords", "examples"):
        clusters[col] = clusters[col].map(lambda v: [str(x) for x in v])
    evals = pd.DataFrame({"text": saved.eval_texts, "cluster": saved.eval_clusters_})
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.json", json.dumps(saved.meta, indent=1, sort_keys=True))
        z.writestr("arrays.npz", npz.getvalue())
        z.writestr("clusters.parquet", clusters.to_parquet(index=False))
        z.writestr("evals.parquet", evals.to_parquet(index=False))
    return path


def load(path: str | os.PathLike, embedder: Any = None) -> SavedMap:
    """Read a map written by :func:`save`.

    Parameters
    ----------
    path : str or Path
    embedder : optional
        Needed when the map was saved with a custom embedder (anything
        :func:`evalcov.get_embedder` accepts); its ``name`` must equal the saved one. The
        built-ins ("default", "fast", "multilingual") are re-created by name on first use.

    Returns
    -------
    SavedMap
        ``.assign(new_traffic, text=..., time=...)`` places new traffic on it.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not an evalcov map, has a format version this evalcov does not read,
        or ``embedder`` has a different name than the saved one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no evalcov map file at {str(path)!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not an evalcov map file (expected a zip archive)")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if "meta.json" not in names:
            raise ValueError(f"{str(path)!r} is not an evalcov map file (no meta.json)")
        meta = json.loads(z.read("meta.json"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(
                f"{str(path)!r} is not an evalcov map file (format "
                f"{meta.get('format') if isinstance(meta, dict) else None!r}, "
                f"expected {FORMAT!r})"
            )
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} has evalcov map format version {meta.get('version')!r}; this "
                f"evalcov ({_version()}) reads version {FORMAT_VERSION} only: upgrade evalcov "
                "or save the map again with this version"
            )
        missing = [m for m in _MEMBERS if m not in names]
        if missing:
            raise ValueError(f"{str(path)!r} is incomplete: missing {', '.join(missing)}")
        with np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        clusters = pd.read_parquet(io.BytesIO(z.read("clusters.parquet")))
        evals = pd.read_parquet(io.BytesIO(z.read("evals.parquet")))
    for col in ("keywords", "examples"):
        clusters[col] = clusters[col].map(lambda v: [str(x) for x in v])
    resolved = None
    if embedder is not None:
        from evalcov.embedders import get_embedder

        resolved = _check_embedder(get_embedder(embedder), str(meta["embedder"]))
    return SavedMap(meta=meta, arrays=arrays, clusters=clusters, evals=evals, embedder=resolved)


def _version() -> str:
    from evalcov import __version__

    return __version__
