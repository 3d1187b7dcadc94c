"""CoverageReport: the measured tables, and the questions users ask of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from evalcov.coverage import is_covered

if TYPE_CHECKING:
    from evalcov.analyzer import CoverageAnalyzer
    from evalcov.dedupe import Deduped

__all__ = ["CoverageReport", "topic_table"]

# Level of the depth test, as in evalcov.coverage.cluster_levels.
_ALPHA = 0.05


def spread(values: np.ndarray, index: np.ndarray, fill: Any, dtype: Any = None) -> np.ndarray:
    """``values[index]``, ``fill`` where ``index`` is -1 (an excluded row, a row without a
    name): one gather with the fill appended as the last value, no masked copies (at ten
    million rows each int64 temporary was 80 MB on the run's peak)."""
    values = np.asarray(values, dtype=dtype)
    return np.append(values, np.asarray([fill], dtype=values.dtype))[index]


def label_column(names: np.ndarray, index: np.ndarray, ids: Any = None) -> pd.Categorical:
    """A per-row column of names (cluster, topic or eval prompt), held as a categorical.

    ``index`` gives each row's position in ``names`` (or, with ``ids``, its id among ``ids``),
    -1 for rows without one (missing). Rows repeat a few hundred names, so codes cost a few
    bytes per row where strings cost their length: as strings the three name columns of
    ``report.queries`` took 115 MB per million rows of ``bench_scale`` traffic.
    """
    names = np.asarray(names, dtype=object)
    index = np.asarray(index, dtype=np.int64)
    categories, inverse = np.unique(names.astype(str), return_inverse=True)
    # Position -> code, gathered straight into the codes' small dtype.
    table = inverse.astype(np.min_scalar_type(-max(len(categories), 1)))
    if ids is not None:
        ids = np.asarray(ids)
        if ids.dtype.kind in "iu" and len(ids) and ids.min() >= 0:
            # Id -> code, the same gather (ids are small non-negative integers: topics).
            top = max(int(ids.max()), int(index.max()) if len(index) else -1)
            by_id = np.full(top + 1, -1, dtype=table.dtype)  # an id not in ids has no name
            by_id[ids] = table
            table = by_id
        else:
            position = pd.Index(ids).get_indexer(index)
            position[index < 0] = -1
            index = position
    return pd.Categorical.from_codes(spread(table, index, -1), categories=categories)


def _string_column(values: pd.Series, index: np.ndarray) -> Any:
    """``values[index]`` as a pandas string array, missing where ``index`` is -1.

    Built in Arrow from the distinct values (factorized where they are: a string column of
    the distinct texts' frame), never as Python strings: spreading those over ten million
    rows and converting them back held 500 MB more at the run's peak than this.
    """
    import pyarrow as pa

    distinct = pd.Categorical(values)
    codes = spread(distinct.codes, index, -1)
    dictionary = pa.array(distinct.categories.astype(str).tolist(), type=pa.large_string())
    strings = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary)
    return pd.array(strings.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", np.nan))


class CoverageReport:
    """How an eval set covers production traffic, per query and per cluster.

    Built by :func:`evalcov.analyze`; every table is a pandas DataFrame.

    Attributes
    ----------
    coverage : float
        Traffic-weighted share of analyzed production queries the eval set covers.
    queries : DataFrame
        One row per input traffic row, in input order with the input's index: text, excluded,
        reason, id, weight, (time, user), outcome columns (error, feedback, latency_s, cost,
        score_<name>, session, ...) when the traffic has them, cluster, cluster_label, topic,
        topic_label, similarity (cosine to the nearest eval prompt), nearest_eval, covered,
        outlier, lang (ISO 639-1 code detected offline, "und" without letters), and ``failed``
        (nullable boolean, NA where the outcome is unknown) when outcomes define failures.
        cluster_label, topic_label and nearest_eval are categoricals (missing on excluded
        rows): they compare and take ``.str`` methods like strings, and cost a few bytes a
        row; ``.astype(str)`` gives plain strings.
        Excluded rows have cluster and topic -1, NaN similarity, covered False and lang None.
    clusters : DataFrame
        One row per cluster of the map (the grain at which the eval set testifies), cluster 0
        the largest by traffic: cluster, label, topic, n_queries, n_unique, traffic_share,
        n_eval, expected_eval, coverage, claimed_share, coverage_low, coverage_high, p_under,
        status ("covered", "thin": tested with significantly fewer prompts than its traffic
        share predicts, "uncovered"), closest_eval (the eval prompt closest to the cluster's
        traffic-weighted centre: what to compare a gap with, to tell a phrasing of a tested
        request from a request of its own), closest_similarity (their cosine), keywords,
        examples.
    topics : DataFrame
        One row per topic (clusters that are fragments of one kind of request, see
        :mod:`evalcov.topics`), topic 0 holding the largest cluster: topic, label, n_clusters,
        clusters, n_queries, n_unique, traffic_share, n_eval, expected_eval, depth (prompts
        per prompt a traffic-proportional eval set would give), p_under, coverage,
        uncovered_share, status ("covered", "thin", "partial": some of its clusters tested,
        "uncovered"), keywords, examples.
    depth : float
        Traffic-weighted share of the eval prompts a traffic-proportional eval set would give
        each topic that it has, capped at 1 per topic: 1.0 when every topic is tested at
        least in proportion to its traffic, 0.0 when nothing is tested.
    evals : DataFrame
        One row per input eval row: text, excluded, reason, id, cluster, cluster_label.
    unique_ : DataFrame
        One row per distinct traffic text (the unit the map works on): text, weight, count,
        cluster, outlier, similarity, nearest_eval (row of ``eval_embeddings_``), claimed,
        covered, lang. Row i matches row i of ``traffic_embeddings_``.
    traffic_embeddings_, eval_embeddings_ : ndarray
        Unit-norm embeddings of the distinct traffic texts and distinct eval prompts.
    map_ : TrafficMap
        The fitted map; ``map_.assign(embeddings)`` places new traffic in the same clusters.
    claim_k_ : int
        Traffic texts each eval prompt stands for (kept fixed by :meth:`with_evals`).
    claim_radii_ : ndarray of shape (n_eval,)
        Each eval prompt's similarity to its ``claim_k_``-th nearest traffic text (what
        :func:`evalcov.persist.from_report` keeps for assigning new traffic), widened to
        ``reach_similarity_`` where it was tighter.
    reach_similarity_ : float
        Similarity every eval prompt claims down to (the ``reach_floor`` quantile of the
        fitted eval set's radii; ``inf`` when off; kept fixed by :meth:`with_evals`).
    eval_base_ : int
        Eval set size that expected prompt counts per cluster are based on (the original
        eval set's; kept fixed by :meth:`with_evals`).
    """

    def __init__(
        self,
        *,
        traffic_frame: pd.DataFrame,
        traffic_dedup: Deduped,
        unique: pd.DataFrame,
        clusters: pd.DataFrame,
        eval_frame: pd.DataFrame,
        eval_dedup: Deduped,
        eval_labels: np.ndarray,
        traffic_embeddings: np.ndarray,
        eval_embeddings: np.ndarray,
        claim_k: int,
        claim_radii: np.ndarray,
        eval_base: int,
        analyzer: CoverageAnalyzer,
        reach_similarity: float = float("inf"),
    ):
        self.traffic_frame_ = traffic_frame
        self.traffic_dedup_ = traffic_dedup
        self.unique_ = unique
        self.clusters = clusters
        self.eval_frame_ = eval_frame
        self.eval_dedup_ = eval_dedup
        self.eval_labels_ = eval_labels
        self.traffic_embeddings_ = traffic_embeddings
        self.eval_embeddings_ = eval_embeddings
        self.claim_k_ = claim_k
        self.claim_radii_ = claim_radii
        self.reach_similarity_ = float(reach_similarity)
        self.eval_base_ = eval_base
        self.analyzer_ = analyzer
        self.map_ = analyzer.map_
        self.embedder_ = analyzer.embedder_
        weights = unique["weight"].to_numpy()
        total = weights.sum()
        self.coverage = float((weights * unique["covered"]).sum() / total) if total > 0 else 0.0
        self.topics = topic_table(clusters, eval_base)
        self.queries = self._per_row()
        self.evals = self._per_eval_row()

    def _per_row(self) -> pd.DataFrame:
        frame = self.traffic_frame_
        codes = self.traffic_dedup_.codes
        u = self.unique_
        labels = self.clusters["label"].to_numpy(dtype=object)
        eval_texts = np.asarray(self.eval_dedup_.texts, dtype=object)
        out = frame.copy()
        cluster = spread(u["cluster"], codes, -1, np.int64)
        out["cluster"] = cluster
        out["cluster_label"] = label_column(labels, cluster)
        topic = spread(self.clusters["topic"], cluster, -1, np.int64)
        out["topic"] = topic
        names = self.topics.set_index("topic")["label"]
        out["topic_label"] = label_column(names.to_numpy(dtype=object), topic, names.index)
        out["similarity"] = spread(u["similarity"], codes, np.nan, np.float64)
        out["nearest_eval"] = label_column(eval_texts, spread(u["nearest_eval"], codes, -1))
        out["covered"] = spread(u["covered"], codes, False, bool)
        out["outlier"] = spread(u["outlier"], codes, False, bool)
        if "lang" in u:
            out["lang"] = _string_column(u["lang"], codes)
        from evalcov.outcomes import failed_rows

        failed = failed_rows(out, getattr(self.analyzer_, "failure", None))
        if failed is not None:
            out["failed"] = failed
        return out

    def _per_eval_row(self) -> pd.DataFrame:
        frame = self.eval_frame_
        codes = self.eval_dedup_.codes
        ok = codes >= 0
        labels = self.clusters["label"].to_numpy(dtype=object)
        cluster = np.full(len(frame), -1, dtype=np.int64)
        cluster[ok] = self.eval_labels_[codes[ok]]
        out = frame.copy()
        out["cluster"] = cluster
        out["cluster_label"] = np.where(ok, labels[np.maximum(cluster, 0)], None)
        return out

    # ------------------------------------------------------------------ questions

    @property
    def depth(self) -> float:
        """Traffic-weighted share of its proportional prompt count each topic has, capped at 1."""
        share = self.topics["traffic_share"].to_numpy()
        return float((share * np.minimum(self.topics["depth"].to_numpy(), 1.0)).sum())

    @property
    def uncovered_share(self) -> float:
        """Traffic-weighted share of analyzed queries the eval set does not cover."""
        return 1.0 - self.coverage

    def gaps(self, n: int | None = 10, level: str = "topic", by: str = "traffic") -> pd.DataFrame:
        """Traffic the eval set does not test, ranked by its share of all traffic (or failures).

        Parameters
        ----------
        n : int or None, default=10
            Rows to return; None returns every gap.
        level : {"topic", "cluster"}, default="topic"
            ``"topic"``: one row per topic with untested traffic (a request split into
            several clusters is one gap), with the columns of :attr:`topics` and ``cluster``,
            its heaviest untested cluster (with ``by="risk"``: the one with the most excess
            failures), whose label, keywords, examples and closest eval prompt
            (``closest_eval``, ``closest_similarity``) the row shows.
            ``"cluster"``: one row per uncovered cluster, with
            the columns of :attr:`clusters`.
        by : {"traffic", "risk"}, default="traffic"
            "traffic": by ``uncovered_share``, the share of *all* traffic that is in the row
            and not covered. "risk" (needs outcome data): by ``excess_failures``, the failures
            in the gap's uncovered traffic beyond what the overall failure rate predicts
            there, then ``untested_failures`` (all failures in its uncovered traffic). Ranking
            by excess keeps a large gap that fails at the usual rate (users are as happy there
            as anywhere) below a smaller one that fails far more often.

        When the traffic has outcomes, the rows carry the columns of :meth:`outcomes` for the
        same level (``failure_rate``, ``failure_rate_low``, ``failure_rate_high``,
        ``untested_failures``, ...). Thin traffic is tested, so it is no gap: see :meth:`thin`
        for the depth question.
        """
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
            raise ValueError(f"n must be a non-negative integer or None, got {n!r}")
        if by not in ("traffic", "risk"):
            raise ValueError(f"by must be 'traffic' or 'risk', got {by!r}")
        if level == "cluster":
            c = self.clusters
            gaps = c[c["status"] == "uncovered"].copy()
            gaps.insert(4, "uncovered_share", gaps["traffic_share"] * (1 - gaps["coverage"]))
        elif level == "topic":
            t = self.topics
            gaps = t[t["uncovered_share"] > 0].copy()
            c = self.clusters
            open_ = c[c["status"] == "uncovered"]
            rank = ["traffic_share", "cluster"]
            by_cluster = self.outcomes(group="cluster") if by == "risk" else None
            if by_cluster is not None and "excess_failures" in by_cluster.columns:
                # Ranked by risk, a topic is shown by the untested cluster that fails most
                # beyond the usual rate: a failing request merged into a topic with a heavier,
                # healthy one would otherwise be listed under the healthy one's name.
                open_ = open_.merge(by_cluster[["cluster", "excess_failures"]], on="cluster")
                rank = ["excess_failures", *rank]
            open_ = open_.sort_values(rank, ascending=[False] * (len(rank) - 1) + [True])
            shown = open_.groupby("topic", sort=False)["cluster"].first()
            gaps.insert(1, "cluster", gaps["topic"].map(shown).astype(np.int64))
            # A gap is named and shown by the traffic it leaves untested: in a partial topic
            # the heaviest cluster may be a tested one.
            named = c.set_index("cluster").loc[gaps["cluster"]]
            for column in ("label", "keywords", "examples", "closest_eval", "closest_similarity"):
                gaps[column] = named[column].to_numpy()
        else:
            raise ValueError(f"level must be 'topic' or 'cluster', got {level!r}")
        outcomes = self.outcomes(group=level)
        if by == "risk" and (outcomes is None or "untested_failures" not in outcomes.columns):
            raise ValueError(
                "gaps(by='risk') needs failure outcomes: the traffic has no 'error' or "
                "'feedback' column; pass failure=<column, Series or callable> to analyze()"
            )
        if outcomes is not None:
            gaps = gaps.merge(outcomes, on=level, how="left")
        keys = (
            ["excess_failures", "untested_failures", level]
            if by == "risk"
            else ["uncovered_share", level]
        )
        gaps = gaps.sort_values(keys, ascending=[False] * (len(keys) - 1) + [True])
        return gaps.head(n).reset_index(drop=True) if n is not None else gaps.reset_index(drop=True)

    def thin(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tested topics with significantly fewer eval prompts than their traffic share
        predicts (``p_under < alpha``), most under-represented traffic first.

        The depth question: "5 prompts for 21% of our traffic". ``missing_eval`` is how many
        prompts a traffic-proportional eval set would add (expected minus present, rounded up).
        """
        t = self.topics
        keep = (t["status"] != "uncovered") & (t["p_under"] < alpha)
        out = t[keep].copy()
        out["missing_eval"] = np.ceil(out["expected_eval"] - out["n_eval"]).astype(int)
        return out.sort_values(["p_under", "topic"]).reset_index(drop=True)

    def outcomes(self, group: str = "cluster", alpha: float = 0.05) -> pd.DataFrame | None:
        """Outcomes per cluster (or per ``group`` column of :attr:`queries`), or None without
        outcome data; see :func:`evalcov.outcomes.group_outcomes` for the columns and tests."""
        from evalcov.outcomes import group_outcomes

        return group_outcomes(self.queries, group=group, alpha=alpha)

    def failing_covered(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tested clusters (covered or thin) that fail significantly more than the rest.

        The eval set tests these, yet production fails there: a quality problem for the model
        or the prompts, not a gap of the eval set. A cluster is listed when its status is
        covered and the one-sided test of its failure rate against the rest, Holm-adjusted
        over all clusters, is below ``alpha`` (see :func:`evalcov.outcomes.group_outcomes`).
        Sorted by failure rate, highest first.
        """
        outcomes = self.outcomes(alpha=alpha)
        if outcomes is None or "failure_rate" not in outcomes.columns:
            raise ValueError(
                "failing_covered() needs failure outcomes: the traffic has no 'error' or "
                "'feedback' column; pass failure=<column, Series or callable> to analyze()"
            )
        c = self.clusters.merge(outcomes, on="cluster", how="left")
        keep = is_covered(c["status"].to_numpy()) & c["significant"].to_numpy(dtype=bool)
        out = c[keep].sort_values(["failure_rate", "cluster"], ascending=[False, True])
        return out.reset_index(drop=True)

    def overcovered(self, min_ratio: float = 3.0, alpha: float = 0.05) -> pd.DataFrame:
        """Clusters where eval prompts pile up relative to their traffic (eval redundancy).

        A cluster is listed when it holds at least ``min_ratio`` times the eval prompts a
        traffic-proportional eval set would give it, at least 2 of them, and a Poisson test
        says so at level ``alpha``. ``surplus_eval`` is how many prompts exceed that share.
        """
        c = self.clusters.copy()
        expected = c["expected_eval"].to_numpy()
        n_eval = c["n_eval"].to_numpy()
        c["ratio"] = np.divide(n_eval, expected, out=np.full(len(c), np.inf), where=expected > 0)
        c["p_over"] = stats.poisson.sf(n_eval - 1, expected)
        c["surplus_eval"] = np.maximum(n_eval - np.ceil(expected), 0).astype(int)
        keep = (c["ratio"] >= min_ratio) & (n_eval >= 2) & (c["p_over"] < alpha)
        cols = [
            "cluster",
            "label",
            "traffic_share",
            "n_eval",
            "expected_eval",
            "ratio",
            "surplus_eval",
            "p_over",
            "examples",
        ]
        out = c.loc[keep, cols].sort_values(["ratio", "cluster"], ascending=[False, True])
        return out.reset_index(drop=True)

    def with_evals(self, more_evals: Any, **read_options: Any) -> CoverageReport:
        """Same map, coverage recomputed with ``more_evals`` added to the eval set.

        ``more_evals`` takes anything :func:`evalcov.read_evals` reads (a list of str, a
        DataFrame such as :meth:`suggest_additions` returns, a file). Each eval prompt keeps
        standing for ``claim_k_`` traffic texts and claiming down to ``reach_similarity_``, and
        expected prompt counts stay based on the original eval set (``eval_base_``), so adding
        prompts never lowers a query's or a cluster's coverage. Cluster names, keywords and
        examples are this report's: they describe the traffic, which does not change (a
        ``labeler`` is not asked again).
        """
        from evalcov.analyzer import build_report
        from evalcov.dedupe import dedupe
        from evalcov.embedders import embed
        from evalcov.ingest import read_evals

        extra = read_evals(more_evals, **read_options)
        frame = pd.concat(
            [self.eval_frame_, extra.assign(id=extra["id"].astype(str))], ignore_index=True
        )
        de = dedupe(frame)
        a = self.analyzer_
        E = embed(de.texts, self.embedder_, cache=a.cache, show_progress=a.show_progress)
        named = self.clusters.set_index("cluster").loc[np.arange(len(self.clusters))]
        return build_report(
            analyzer=a,
            traffic_frame=self.traffic_frame_,
            traffic_dedup=self.traffic_dedup_,
            traffic_embeddings=self.traffic_embeddings_,
            labels=self.unique_["cluster"].to_numpy(),
            outlier=self.unique_["outlier"].to_numpy(),
            eval_frame=frame,
            eval_dedup=de,
            eval_embeddings=E,
            claim_k=self.claim_k_,
            eval_base=self.eval_base_,
            reach=self.reach_similarity_,
            lang=self.unique_["lang"].to_numpy() if "lang" in self.unique_ else None,
            names=tuple(named[c].tolist() for c in ("label", "keywords", "examples")),
        )

    # ------------------------------------------------------- delegated to their modules

    def drift(self, freq: Any = "W", **options: Any) -> Any:
        """Coverage and cluster shares per time window; see :func:`evalcov.drift.compute_drift`."""
        from evalcov.drift import compute_drift

        return compute_drift(self, freq=freq, **options)

    def stability(self, n_maps: int = 4, level: str = "topic") -> pd.DataFrame:
        """How much of each gap other maps of the same traffic also call untested; see
        :func:`evalcov.stability.map_stability`."""
        from evalcov.stability import map_stability

        return map_stability(self, n_maps=n_maps, level=level)

    def assign(self, new_traffic: Any, **options: Any) -> Any:
        """Place new traffic into this map's clusters; see :func:`evalcov.drift.assign_traffic`."""
        from evalcov.drift import assign_traffic

        return assign_traffic(self, new_traffic, **options)

    def save(self, path: Any, **options: Any) -> Any:
        """Save the fitted map and tables; see :func:`evalcov.persist.save`."""
        from evalcov.persist import save

        return save(self, path, **options)

    def export_for_labeling(self, path: Any = None, **options: Any) -> pd.DataFrame:
        """Pick gap queries for labelers; see :func:`evalcov.export.export_for_labeling`."""
        from evalcov.export import export_for_labeling

        return export_for_labeling(self, path, **options)

    def suggest_additions(self, budget: int = 50, **options: Any) -> pd.DataFrame:
        """Greedy eval-set additions; see :func:`evalcov.refresh.suggest_additions`."""
        from evalcov.refresh import suggest_additions

        return suggest_additions(self, budget=budget, **options)

    def write_additions(
        self, path: Any, budget: int = 50, append: bool = True, **options: Any
    ) -> pd.DataFrame:
        """Suggest additions and write them into an eval file in its own format.

        :meth:`suggest_additions` picks up to ``budget`` queries, then
        :func:`evalcov.writers.write_evals` writes them (``append=True`` adds them to an
        existing file; ``options``: format, key, redact, by, max_ids). Returns its table with
        the suggestions' ``rank`` and ``projected_coverage``.
        """
        from evalcov.refresh import suggest_additions
        from evalcov.writers import write_evals

        suggestions = suggest_additions(self, budget=budget)
        cases = write_evals(suggestions, path, self, append=append, **options)
        cases.insert(0, "rank", suggestions["rank"].to_numpy())
        cases["projected_coverage"] = suggestions["projected_coverage"].to_numpy()
        return cases

    def weighted_score(self, eval_results: Any, **options: Any) -> Any:
        """Traffic-weighted eval score; see :func:`evalcov.refresh.weighted_score`."""
        from evalcov.refresh import weighted_score

        return weighted_score(self, eval_results, **options)

    def plot_map(self, **options: Any) -> Any:
        """2-D map of traffic and eval prompts; see :func:`evalcov.plots.plot_map`."""
        from evalcov.plots import plot_map

        return plot_map(self, **options)

    def plot_gaps(self, **options: Any) -> Any:
        """Topics (or clusters) by traffic share and coverage; see
        :func:`evalcov.plots.plot_gaps`."""
        from evalcov.plots import plot_gaps

        return plot_gaps(self, **options)

    def to_html(self, path: Any = None, **options: Any) -> str:
        """Standalone offline HTML report; see :func:`evalcov.html_report.to_html`."""
        from evalcov.html_report import to_html

        return to_html(self, path, **options)

    def summary(self) -> dict[str, Any]:
        """Headline numbers as a plain dict (what the HTML report and CLI print)."""
        status = self.clusters["status"].value_counts()
        return {
            "coverage": self.coverage,
            "uncovered_share": self.uncovered_share,
            **self._traffic_summary(),
            "n_eval_rows": int(len(self.evals)),
            "n_eval": int(len(self.eval_dedup_.texts)),
            "n_eval_excluded": int(self.evals["excluded"].sum()),
            "n_clusters": int(len(self.clusters)),
            "n_covered": int(status.get("covered", 0)),
            "n_thin": int(status.get("thin", 0)),
            "n_uncovered": int(status.get("uncovered", 0)),
            "n_topics": int(len(self.topics)),
            "n_thin_topics": int(len(self.thin())),
            "n_gaps": int((self.topics["uncovered_share"] > 0).sum()),
            "depth": self.depth,
            "embedder": self.embedder_.name,
            "claim_k": int(self.claim_k_),
            "reach_similarity": (
                round(self.reach_similarity_, 6) if np.isfinite(self.reach_similarity_) else None
            ),
            "random_state": int(self.analyzer_.random_state),
            **self._outcome_summary(),
            **self._language_summary(),
        }

    def _outcome_summary(self) -> dict[str, Any]:
        """Outcome headline numbers, present only when the traffic has outcomes."""
        from evalcov.outcomes import outcome_summary

        out = outcome_summary(self.queries)
        if "failure_rate" in out:
            out["n_failing_covered"] = int(len(self.failing_covered()))
        return out

    def _language_summary(self) -> dict[str, Any]:
        """``languages`` (lang -> traffic share and coverage) and ``language_warning``."""
        from evalcov.languages import embedder_languages, language_table, unsupported_warning

        u = self.unique_
        if "lang" not in u:
            return {}
        table = language_table(u["lang"].to_numpy(), u["weight"].to_numpy(), u["covered"])
        languages = {
            str(r.lang): {"share": float(r.traffic_share), "coverage": float(r.coverage)}
            for r in table.itertuples()
        }
        warning = unsupported_warning(
            languages, embedder_languages(self.embedder_), self.embedder_.name
        )
        return {"languages": languages, "language_warning": warning}

    def _traffic_summary(self) -> dict[str, Any]:
        """Row accounting of the traffic (a Dask report counts it on the workers instead)."""
        q = self.queries
        return {
            "n_rows": int(len(q)),
            "n_analyzed": int((~q["excluded"]).sum()),
            "n_excluded": int(q["excluded"].sum()),
            "excluded_reasons": {
                str(k): int(v) for k, v in q.loc[q["excluded"], "reason"].value_counts().items()
            },
            "n_truncated": int(q["truncated"].sum()),
            "n_unique": int(len(self.unique_)),
            "traffic_weight": float(self.unique_["weight"].sum()),
            "n_outliers": int(self.unique_["outlier"].sum()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"<CoverageReport coverage={s['coverage']:.1%} of {s['n_analyzed']} queries "
            f"({s['n_unique']} distinct) by {s['n_eval']} eval prompts; depth={s['depth']:.1%}; "
            f"{s['n_topics']} topics ({s['n_clusters']} clusters), {s['n_gaps']} gaps, "
            f"{s['n_thin_topics']} thin>"
        )

    def _repr_html_(self) -> str:
        from evalcov.html_report import report_html_fragment

        return report_html_fragment(self)


def topic_table(clusters: pd.DataFrame, n_base: int) -> pd.DataFrame:
    """One row per topic from the cluster table (see :attr:`CoverageReport.topics`).

    Sums traffic and prompts over each topic's clusters; names it by its heaviest cluster.
    """
    c = clusters.sort_values(["topic", "traffic_share", "cluster"], ascending=[True, False, True])
    c = c.assign(
        covered_share=c["traffic_share"] * c["coverage"],
        tested=c["status"] != "uncovered",
    )
    g = c.groupby("topic", sort=True)
    table = pd.DataFrame(
        {
            "topic": g["topic"].first().to_numpy(),
            "label": g["label"].first().to_numpy(),
            "n_clusters": g.size().to_numpy(),
            "clusters": [list(map(int, ids)) for ids in g["cluster"].agg(list)],
            "n_queries": g["n_queries"].sum().to_numpy(),
            "n_unique": g["n_unique"].sum().to_numpy(),
            "traffic_share": g["traffic_share"].sum().to_numpy(),
            "n_eval": g["n_eval"].sum().to_numpy(),
        }
    )
    total = table["traffic_share"].sum()
    expected = n_base * table["traffic_share"].to_numpy() / (total if total > 0 else 1.0)
    table["expected_eval"] = expected
    table["depth"] = np.divide(
        table["n_eval"].to_numpy(dtype=float),
        expected,
        out=np.ones(len(table)),
        where=expected > 0,
    )
    table["p_under"] = stats.poisson.cdf(table["n_eval"].to_numpy(), expected)
    covered = g["covered_share"].sum().to_numpy()
    share = table["traffic_share"].to_numpy()
    table["coverage"] = np.divide(covered, share, out=np.zeros(len(table)), where=share > 0)
    table["uncovered_share"] = np.clip(share - covered, 0.0, None)
    all_tested = g["tested"].all().to_numpy()
    any_tested = g["tested"].any().to_numpy()
    thin = table["p_under"].to_numpy() < _ALPHA
    table["status"] = pd.Series(
        np.where(
            ~any_tested,
            "uncovered",
            np.where(~all_tested, "partial", np.where(thin, "thin", "covered")),
        ),
        dtype=object,
    )
    table["keywords"] = g["keywords"].first().to_numpy()
    table["examples"] = g["examples"].first().to_numpy()
    return table
