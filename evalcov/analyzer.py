"""``analyze`` and ``CoverageAnalyzer``: read, dedupe, embed, map, measure -> CoverageReport."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from evalcov._half import to_float16
from evalcov.coverage import (
    centroid_sums,
    closest_prompts,
    cluster_coverage,
    covered_from_claims,
    nearest_and_claims,
    reach_similarity,
    widen_claims,
)
from evalcov.dedupe import Deduped, dedupe
from evalcov.embedders import _PROGRESS_THRESHOLD, embed, get_embedder
from evalcov.ingest import read_evals, read_traffic
from evalcov.labels import name_groups, stop_words_for
from evalcov.languages import (
    detect_languages,
    embedder_languages,
    languages_present,
    mark_language_bins,
)
from evalcov.mapping import TrafficMap
from evalcov.report import CoverageReport
from evalcov.stages import Stages

__all__ = ["CoverageAnalyzer", "analyze"]

_READ_OPTIONS = (
    "id",
    "weight",
    "user",
    "turns",
    "prompt_var",
    "format",
    "max_chars",
    "unit",
    "outcomes",
    "eval_format",
    "keep",
)

# Stages of fit, timed in timings_ and said to the evalcov.stages logger.
_STAGES = ("read", "dedupe", "embed", "map", "measure")
_EMBEDDING_DTYPES = ("auto", "float32", "float16")
# "auto" holds traffic embeddings in float16 above this many distinct texts (1.5 GB as float32).
_HALF_ABOVE = 1_000_000
# Texts embedded per block when the result is float16: a 200 MB float32 block at 384-d.
_HALF_BLOCK = 131_072


class CoverageAnalyzer:
    """Fit a map of production traffic and measure how the eval set covers it.

    Parameters
    ----------
    embedder : str, Embedder, SentenceTransformer or callable, default="default"
        See :func:`evalcov.embedders.get_embedder`.
    reducer, clusterer : estimator or str, default=None and "kmeans"
        Swappable steps of the map, see :class:`evalcov.mapping.TrafficMap`
        (``reducer="umap", clusterer="hdbscan"`` is the density map of earlier versions).
    n_clusters : int, optional
        Clusters of the default k-means map. Default: half the distinct eval prompts, so
        each cluster expects two prompts if the eval set followed traffic -- the fewest the
        pooling rule's count test can use, and the finest resolution at which the eval set
        can testify about a topic. At most one cluster per ``min_cluster_size`` texts.
    labeler : callable (keywords, examples) -> str, optional
        Names clusters; default joins the top c-TF-IDF keywords.
    min_cluster_size : int, optional
        Smallest cluster (HDBSCAN) or smallest average cluster (k-means), in distinct texts
        (default grows with the sqrt of the sample, at least 10).
    reach : float, default=1.0
        How many traffic texts one eval prompt stands for, as a multiple of the base rate
        ``n_traffic_unique / n_eval``.
    reach_floor : float or None, default=0.75
        No eval prompt claims less far than this quantile of the prompts' claim radii (their
        similarity to their k-th nearest text, see :func:`evalcov.coverage.reach_similarity`):
        a prompt crowded by the many phrasings of a heavy request claims as far as most
        prompts do. None: every prompt keeps its rank-based radius (the rule before 2026-12-02).
    covered_share, thin_share : float, default=0.5 and 0.2
        Claimed traffic share at which a cluster is covered, and thin.
    max_fit : int, default=20000
        Most distinct texts the reducer and clusterer are fitted on.
    redact : str, callable or None, default="default"
        Redactor for texts made for people to read (cluster examples); None keeps them raw.
    cache : bool or path, default=True
        Embedding cache, see :func:`evalcov.embedders.embed`.
    show_progress : bool, optional
        Progress bars while embedding.
    random_state : int, default=0
        Same inputs and seed give the same clusters and numbers.
    embedding_dtype : {"auto", "float32", "float16"}, default="auto"
        How the distinct traffic texts' embeddings are held. ``"float16"`` halves their memory
        (4 million texts: 3.1 GB instead of 6.1 GB); they are embedded and cast a block at a
        time, and every product with them is computed in float32. ``"auto"`` is float32 up to
        1,000,000 distinct texts and float16 above. Measured on ``benchmarks/bench_scale.py``:
        float16 gives the same per-row verdict as float32 on >= 99% of rows.
    failure : str, boolean Series, callable or None, default=None
        Which traffic rows failed, see :func:`evalcov.outcomes.failed_rows` (default: ``error``
        true or ``feedback`` below the middle of its scale). A column name is read from the
        traffic even when it is not a standard outcome column. Adds ``failed`` to
        ``report.queries`` and the outcome columns to gaps and summary.

    Attributes
    ----------
    report_ : CoverageReport
    map_ : TrafficMap
    embedder_ : Embedder
    timings_ : dict of str to float
        Wall seconds of each stage of the last fit (read, dedupe, embed, map, measure).
    """

    def __init__(
        self,
        embedder: Any = "default",
        reducer: Any = None,
        clusterer: Any = "kmeans",
        n_clusters: int | None = None,
        labeler: Any = None,
        min_cluster_size: int | None = None,
        reach: float = 1.0,
        reach_floor: float | None = 0.75,
        covered_share: float = 0.5,
        thin_share: float = 0.2,
        max_fit: int = 20000,
        redact: Any = "default",
        cache: Any = True,
        show_progress: bool | None = None,
        random_state: int = 0,
        failure: Any = None,
        embedding_dtype: str = "auto",
    ):
        self.embedder = embedder
        self.reducer = reducer
        self.clusterer = clusterer
        self.n_clusters = n_clusters
        self.labeler = labeler
        self.min_cluster_size = min_cluster_size
        self.reach = reach
        self.reach_floor = reach_floor
        self.covered_share = covered_share
        self.thin_share = thin_share
        self.max_fit = max_fit
        self.redact = redact
        self.cache = cache
        self.show_progress = show_progress
        self.random_state = random_state
        self.failure = failure
        self.embedding_dtype = embedding_dtype

    def new_map(self, n_eval: int, random_state: int | None = None) -> TrafficMap:
        """The unfitted map this analyzer fits for an eval set of ``n_eval`` distinct prompts
        (shared by the in-memory and Dask paths, so both build the same map); another
        ``random_state`` gives the same map with another seed (see :mod:`evalcov.stability`)."""
        return TrafficMap(
            reducer=self.reducer,
            clusterer=self.clusterer,
            n_clusters=self.n_clusters_for(n_eval),
            min_cluster_size=self.min_cluster_size,
            max_fit=self.max_fit,
            random_state=self.random_state if random_state is None else random_state,
        )

    def n_clusters_for(self, n_eval: int) -> int:
        """Clusters of the k-means map for ``n_eval`` distinct eval prompts."""
        return self.n_clusters or max(1, round(n_eval / 2))

    def _validate(self) -> None:
        if self.n_clusters is not None and not (
            isinstance(self.n_clusters, (int, np.integer)) and self.n_clusters >= 1
        ):
            raise ValueError(
                f"n_clusters must be a positive integer or None, got {self.n_clusters!r}"
            )
        if not (isinstance(self.reach, (int, float)) and self.reach > 0):
            raise ValueError(f"reach must be a positive number, got {self.reach!r}")
        floor = self.reach_floor
        if floor is not None and (
            isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 < floor <= 1
        ):
            raise ValueError(
                f"reach_floor must be a quantile in (0, 1] or None, got {self.reach_floor!r}"
            )
        if not 0 < self.thin_share <= self.covered_share <= 1:
            raise ValueError(
                "expected 0 < thin_share <= covered_share <= 1, got "
                f"thin_share={self.thin_share!r}, covered_share={self.covered_share!r}"
            )
        if self.embedding_dtype not in _EMBEDDING_DTYPES:
            raise ValueError(
                f"embedding_dtype must be one of {list(_EMBEDDING_DTYPES)}, "
                f"got {self.embedding_dtype!r}"
            )
        if self.labeler is not None and not callable(self.labeler):
            raise TypeError("labeler must be a callable (keywords, examples) -> str or None")

    def fit(
        self,
        traffic: Any,
        evals: Any,
        *,
        text: str | None = None,
        time: str | None = None,
        eval_text: str | None = None,
        **read_options: Any,
    ) -> CoverageAnalyzer:
        """Read, embed and map ``traffic``; measure its coverage by ``evals``.

        ``traffic`` and ``evals`` take anything :func:`evalcov.read_traffic` and
        :func:`evalcov.read_evals` take. ``text``/``time`` name traffic columns, ``eval_text``
        the eval prompt column (auto-detected when None); ``id``, ``weight``, ``user``,
        ``turns``, ``prompt_var``, ``format``, ``max_chars``, ``unit`` and ``outcomes`` are
        passed to the readers (``eval_format`` is the eval set's ``format``).
        """
        self._validate()
        unknown = set(read_options) - set(_READ_OPTIONS)
        if unknown:
            raise TypeError(
                f"unexpected argument(s) {sorted(unknown)}; "
                f"reader options are {list(_READ_OPTIONS)}"
            )
        # A promptfoo variable names the eval prompt; id/weight/user are traffic columns.
        eval_options = {k: v for k, v in read_options.items() if k in ("prompt_var", "max_chars")}
        if read_options.get("eval_format") is not None:
            eval_options["format"] = read_options["eval_format"]
        traffic_options = {
            k: v for k, v in read_options.items() if k not in ("prompt_var", "eval_format")
        }
        if isinstance(self.failure, str):
            keep = traffic_options.get("keep") or []
            keep = [keep] if isinstance(keep, str) else list(keep)
            traffic_options["keep"] = [*keep, self.failure]
        stages = Stages(_STAGES, show=self.show_progress)
        with stages.stage("read"):
            traffic_frame = read_traffic(traffic, text=text, time=time, **traffic_options)
            eval_frame = read_evals(evals, text=eval_text, **eval_options)
            self.embedder_ = get_embedder(self.embedder)
        with stages.stage("dedupe", f"{len(traffic_frame):,} traffic rows"):
            dt = dedupe(traffic_frame)
            de = dedupe(eval_frame)
        # As embed's own bar: by default shown only when there is much to do.
        stages.show_if(len(dt.texts) > _PROGRESS_THRESHOLD)
        with stages.stage("embed", f"{len(dt.texts):,} distinct texts, {len(de.texts):,} prompts"):
            self.map_ = self.new_map(len(de.texts))
            U, fit_rows = self._embed_traffic(dt.texts, self.map_.sample_index(len(dt.texts)))
            E = self._embed(de.texts)
        with stages.stage("map", f"k-means on at most {self.max_fit:,} texts, the rest assigned"):
            self.map_.fit(U, dt.weights, fit_rows=fit_rows)
        outlier = np.zeros(len(dt.texts), dtype=bool)
        outlier[self.map_.fit_index_] = self.map_.fit_outlier_
        claim_k = max(1, math.ceil(self.reach * len(dt.texts) / len(de.texts)))
        with stages.stage("measure", "claims, coverage, names, languages"):
            self.report_ = build_report(
                analyzer=self,
                traffic_frame=traffic_frame,
                traffic_dedup=dt,
                traffic_embeddings=U,
                labels=self.map_.labels_,
                outlier=outlier,
                eval_frame=eval_frame,
                eval_dedup=de,
                eval_embeddings=E,
                claim_k=claim_k,
            )
        self.timings_ = stages.timings
        return self

    def _embed(self, texts: list[str]) -> np.ndarray:
        return embed(texts, self.embedder_, cache=self.cache, show_progress=self.show_progress)

    def _embed_traffic(
        self, texts: list[str], fit_index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Embeddings of the distinct traffic texts, in float16 when ``embedding_dtype`` says
        so: then embedded (or read from the cache) a block at a time, so a float32 copy of
        them all is never held. Returns them and, when float16, the float32 rows
        ``fit_index`` (sorted) that the map is fitted on (None otherwise)."""
        half = self.embedding_dtype == "float16" or (
            self.embedding_dtype == "auto" and len(texts) > _HALF_ABOVE
        )
        if not half:
            return self._embed(texts), None
        out: np.ndarray | None = None
        fit_rows: np.ndarray | None = None
        for start in range(0, len(texts), _HALF_BLOCK):
            block = self._embed(texts[start : start + _HALF_BLOCK])
            if out is None:
                out = np.empty((len(texts), block.shape[1]), dtype=np.float16)
                fit_rows = np.empty((len(fit_index), block.shape[1]), dtype=np.float32)
            out[start : start + len(block)] = to_float16(block)
            lo, hi = np.searchsorted(fit_index, [start, start + len(block)])
            fit_rows[lo:hi] = block[fit_index[lo:hi] - start]
        if out is None:
            return to_float16(self._embed(texts)), None
        return out, fit_rows


def build_report(
    *,
    analyzer: CoverageAnalyzer,
    traffic_frame: pd.DataFrame,
    traffic_dedup: Deduped,
    traffic_embeddings: np.ndarray,
    labels: np.ndarray,
    outlier: np.ndarray,
    eval_frame: pd.DataFrame,
    eval_dedup: Deduped,
    eval_embeddings: np.ndarray,
    claim_k: int,
    eval_base: int | None = None,
    reach: float | None = None,
    lang: np.ndarray | None = None,
    names: tuple[list, list, list] | None = None,
) -> CoverageReport:
    """Measure coverage of mapped traffic by an eval set (shared by fit and with_evals).

    ``claim_k``, ``eval_base`` (the eval set size that expected prompt counts are based on)
    and ``reach`` (the similarity every prompt claims down to, from the fitted eval set's radii
    by default) are fixed at fit time, so that adding prompts later only ever adds claims and
    prompts.
    ``lang`` (language per distinct text) is detected when not given. ``names`` (label,
    keywords and examples per cluster, in cluster order) are computed when not given; they
    depend on the traffic and its clusters only, so :meth:`CoverageReport.with_evals` passes
    the report's own.
    """
    dt, de, U, E = traffic_dedup, eval_dedup, traffic_embeddings, eval_embeddings
    eval_base = len(de.texts) if eval_base is None else eval_base
    n_clusters = int(labels.max()) + 1
    radii, sim, nearest, claimed = nearest_and_claims(U, E, claim_k)
    if reach is None:
        reach = reach_similarity(radii, analyzer.reach_floor)
    radii, claimed = widen_claims(radii, sim, claimed, reach)
    # Labels alone: assign() would first build the fit sample's neighbour index (2 s at
    # 20,000 fitted texts) for a confidence and novelty flag this report does not keep.
    eval_labels = analyzer.map_.assign_labels(E)
    covered, claimed_share, status = covered_from_claims(
        claimed,
        labels,
        dt.weights,
        eval_labels,
        analyzer.covered_share,
        analyzer.thin_share,
        n_base=eval_base,
    )
    clusters = cluster_coverage(
        labels, dt.weights, covered, claimed_share, status, eval_labels, dt.counts, eval_base
    )
    sums = centroid_sums(U, labels, dt.weights, n_clusters)
    clusters = clusters.assign(**closest_prompts(sums, E, de.texts))
    if lang is None:
        lang = detect_languages(dt.texts, dt.weights)
    if names is not None:
        names, keywords, examples = names
    else:
        names, keywords, examples = name_groups(
            dt.texts,
            labels,
            dt.weights,
            U,
            n_clusters,
            stop_words=stop_words_for(languages_present(lang, labels, dt.weights)),
            embed_phrases=_phrase_embedder(analyzer),
            labeler=analyzer.labeler,
            redact=_redact_function(analyzer.redact),
        )
        if analyzer.labeler is None:
            supported = embedder_languages(analyzer.embedder_)
            names = mark_language_bins(names, lang, labels, dt.weights, supported)
    clusters.insert(1, "label", names)
    clusters.insert(2, "topic", analyzer.map_.topic_of_)
    clusters["keywords"] = keywords
    clusters["examples"] = examples
    unique = pd.DataFrame(
        {
            "text": dt.texts,
            "weight": dt.weights,
            "count": dt.counts,
            "cluster": labels,
            "outlier": outlier,
            "similarity": sim,
            "nearest_eval": nearest,
            "claimed": claimed,
            "covered": covered,
            "lang": lang,
        }
    )
    return CoverageReport(
        traffic_frame=traffic_frame,
        traffic_dedup=dt,
        unique=unique,
        clusters=clusters,
        eval_frame=eval_frame,
        eval_dedup=de,
        eval_labels=eval_labels,
        traffic_embeddings=U,
        eval_embeddings=E,
        claim_k=claim_k,
        claim_radii=radii,
        reach_similarity=reach,
        eval_base=eval_base,
        analyzer=analyzer,
    )


def _phrase_embedder(analyzer: CoverageAnalyzer) -> Any:
    """Embeds keyphrase candidates with the analyzer's model; None for a lookup table, which
    cannot embed text it was not given, and for a remote endpoint, where a thousand phrases
    per report would be paid requests the user did not ask for (names then use the texts
    holding each phrase)."""
    from evalcov.embedders import Precomputed
    from evalcov.embedders.openai_api import OpenAIEmbedder

    if isinstance(analyzer.embedder_, (Precomputed, OpenAIEmbedder)):
        return None
    return lambda phrases: embed(phrases, analyzer.embedder_, cache=analyzer.cache)


def _redact_function(redact: Any) -> Any:
    """Redaction for examples, applied before a labeler (which may send them away) sees them."""
    if not redact:
        return None
    from evalcov.redact import get_redactor

    return get_redactor(redact).redact


def analyze(
    traffic: Any,
    evals: Any,
    text: str | None = None,
    time: str | None = None,
    embedder: Any = "default",
    random_state: int = 0,
    by: str | None = None,
    **options: Any,
) -> Any:
    """Measure how well an eval set covers production traffic.

    Parameters
    ----------
    traffic : DataFrame, list of str, path, glob or dask DataFrame
        Production queries; anything :func:`evalcov.read_traffic` reads. A
        ``dask.dataframe.DataFrame`` is analyzed on the Dask cluster by
        :func:`evalcov.distributed.analyze_dask`.
    evals : DataFrame, list of str, path or glob
        Eval prompts; anything :func:`evalcov.read_evals` reads (promptfoo YAML included).
    text, time : str, optional
        Traffic text and timestamp columns (text is auto-detected when None).
    embedder : default="default"
        "default", "fast", "multilingual", a sentence-transformers model folder or hub id,
        "openai:<model>" (sends the texts to that endpoint), an Embedder, SentenceTransformer
        or callable; see :func:`evalcov.get_embedder`.
    random_state : int, default=0
        Same inputs and seed give the same clusters and numbers.
    by : {"lang"}, optional
        ``"lang"`` runs one analysis per language of the traffic (each against the whole
        eval set) and combines them, see :func:`evalcov.by_language.analyze_by_language`.
    **options
        Reader options (``eval_text``, ``id``, ``weight``, ``user``, ``turns``,
        ``prompt_var``, ``format``, ``max_chars``, ``unit``, ``outcomes``, ``eval_format``,
        ``keep``) and :class:`CoverageAnalyzer` parameters (``failure=`` defines which traffic
        rows failed, see :func:`evalcov.outcomes.failed_rows`).

    Returns
    -------
    CoverageReport, or LanguageSplitReport with ``by="lang"``
    """
    if by is not None:
        if by != "lang":
            raise ValueError(f'by must be None or "lang", got {by!r}')
        from evalcov.by_language import analyze_by_language

        return analyze_by_language(
            traffic, evals, text, time, embedder=embedder, random_state=random_state, **options
        )
    if type(traffic).__module__.startswith("dask."):
        from evalcov.distributed import analyze_dask

        return analyze_dask(traffic, evals, text, time, embedder, random_state, **options)
    read_keys = set(_READ_OPTIONS) | {"eval_text"}
    read = {k: v for k, v in options.items() if k in read_keys}
    params = {k: v for k, v in options.items() if k not in read_keys}
    try:
        analyzer = CoverageAnalyzer(embedder=embedder, random_state=random_state, **params)
    except TypeError as exc:
        raise TypeError(f"analyze() got an unknown option: {exc}") from None
    return analyzer.fit(traffic, evals, text=text, time=time, **read).report_
