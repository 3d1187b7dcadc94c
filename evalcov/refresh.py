"""Refresh the eval set: which traffic queries to add, and what eval scores mean for traffic.

``suggest_additions`` picks real production queries that, added as eval prompts, cover the most
traffic, and projects the coverage after each pick by the same rule :meth:`with_evals` measures
with. ``weighted_score`` re-weights per-prompt eval results by the traffic each cluster carries,
and says how much traffic no scored prompt speaks for.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from evalcov.coverage import cluster_levels, covered_from_claims, widen_radii

if TYPE_CHECKING:
    from evalcov.report import CoverageReport

__all__ = ["WeightedScore", "suggest_additions", "weighted_score"]

_BLOCK = 4096
# Greedy tie-break: among picks covering the same traffic (often none, when one prompt's claims
# cannot lift a large cluster past thin_share alone), prefer the one that claims the most
# not-yet-covered traffic, which sets up the next pick. Small enough never to outweigh a gain.
_PROGRESS_WEIGHT = 1e-3
_PROMPT_COLUMNS = ("prompt", "text", "query", "input", "question")
_ID_COLUMNS = ("eval_id", "id")
_SCORE_COLUMNS = ("score", "passed", "pass", "success", "correct")
_TRUE = {"true", "pass", "passed", "yes", "1"}
_FALSE = {"false", "fail", "failed", "no", "0"}


# ------------------------------------------------------------------- suggest_additions


def suggest_additions(
    report: CoverageReport,
    budget: int = 50,
    candidates_per_gap: int | None = 30,
    skip_pii: bool = True,
    by: str = "traffic",
) -> pd.DataFrame:
    """Greedy eval-set additions: real traffic queries that cover the most uncovered traffic.

    Each candidate is scored by the traffic it would newly cover if added as an eval prompt,
    under the report's own rule (:func:`evalcov.coverage.covered_from_claims`): it claims the
    distinct traffic texts within its claim radius (its similarity to its ``claim_k_``-th
    nearest traffic text, itself included, widened to the report's ``reach_similarity_``), it
    counts as one more prompt of the cluster the map assigns it to, and clusters pool claims
    and prompt counts into covered / thin / uncovered. The best candidate is added, and the
    next one is scored against the new state. Ties (typically zero gain, when one prompt
    cannot lift a large cluster on its own) go to the candidate claiming the most
    not-yet-covered traffic. The search stops early when no candidate adds anything.

    Parameters
    ----------
    report : CoverageReport
    budget : int, default=50
        Most prompts to suggest.
    candidates_per_gap : int or None, default=30
        Candidates per gap cluster: its uncovered distinct queries nearest the gap's
        traffic-weighted centroid. None considers every uncovered query of every gap.
    skip_pii : bool, default=True
        Leave out queries in which the default redactor finds PII (emails, phone numbers,
        ...): they would put a user's data into the eval set.
    by : {"traffic", "risk"}, default="traffic"
        What a pick gains. "traffic": traffic newly covered. "risk" (needs failure outcomes):
        failed traffic newly covered -- the same coverage rule decides what a pick covers,
        but covering a cluster counts for the failures in it, so the budget goes where the
        untested failures are; candidates are then the gap queries nearest the centroid of
        each gap's failed traffic.

    Returns
    -------
    DataFrame
        One row per suggestion in pick order: ``rank`` (1-based), ``id`` (as in
        :func:`evalcov.export.query_id`), ``text`` (the raw normalized query, not redacted,
        since it becomes an eval prompt), ``cluster``, ``label``, ``traffic_gain`` (share of
        all traffic newly covered by this pick) and ``projected_coverage`` (coverage after
        this pick); with ``by="risk"`` also ``failure_gain`` (share of all failures newly
        covered) and ``projected_untested_failures`` (share of all failures still in
        uncovered traffic after this pick). The last ``projected_coverage`` is
        ``report.with_evals(result["text"]).coverage``; earlier rows match
        ``with_evals(result["text"][:rank])`` up to traffic texts lying exactly on a claim
        radius, which float rounding in the engine may count either way.
    """
    from evalcov.export import query_id

    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise ValueError(f"budget must be an integer >= 0, got {budget!r}")
    if candidates_per_gap is not None and (
        not isinstance(candidates_per_gap, (int, np.integer)) or candidates_per_gap < 1
    ):
        raise ValueError(
            f"candidates_per_gap must be a positive integer or None, got {candidates_per_gap!r}"
        )
    if by not in ("traffic", "risk"):
        raise ValueError(f"by must be 'traffic' or 'risk', got {by!r}")
    u = report.unique_
    U = report.traffic_embeddings_
    labels = u["cluster"].to_numpy()
    w = u["weight"].to_numpy(dtype=np.float64)
    cs, ts = report.analyzer_.covered_share, report.analyzer_.thin_share
    total = w.sum()
    # The value a pick gains: traffic, or failed traffic (same coverage rule either way).
    v = w
    if by == "risk":
        from evalcov.outcomes import text_outcomes

        report.gaps(n=0, by="risk")  # raises the clear error when there are no failures
        v = text_outcomes(report.queries, report.traffic_dedup_.codes, len(u))["failed_weight"]
        v = v.to_numpy()
    cand = _candidates(report, candidates_per_gap, v)
    if skip_pii and len(cand):
        from evalcov.redact import get_redactor

        texts = u["text"].to_numpy(dtype=object)[cand].tolist()
        clean = get_redactor("default").redact(texts)
        cand = cand[[a == b for a, b in zip(texts, clean, strict=True)]]
    columns = ["rank", "id", "text", "cluster", "label", "traffic_gain", "projected_coverage"]
    if by == "risk":
        columns += ["failure_gain", "projected_untested_failures"]
    if budget == 0 or len(cand) == 0 or total <= 0:
        return pd.DataFrame({c: [] for c in columns})

    n_clusters = len(report.clusters)
    m = len(cand)
    A = _claims(U, cand, report.claim_k_, report.reach_similarity_)
    P = sparse.csr_matrix(
        (np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), n_clusters)
    )
    T = np.bincount(labels, weights=w, minlength=n_clusters)
    V = np.bincount(labels, weights=v, minlength=n_clusters)
    claimed = u["claimed"].to_numpy(dtype=bool).copy()
    eval_labels = np.asarray(report.eval_labels_, dtype=np.int64)
    # Scoring takes a candidate's prompt to count in its own cluster; the curve below uses the
    # map's assignment, as with_evals does (they differ only for queries at a cluster border).
    home = labels[cand]
    coverage = report.coverage
    available = np.ones(m, dtype=bool)
    picks: list[int] = []
    gains: list[float] = []
    curve: list[float] = []
    failure_curve: list[float] = []
    for _ in range(int(budget)):
        G = np.bincount(labels, weights=w * claimed, minlength=n_clusters)
        valid = eval_labels[eval_labels >= 0]
        n_eval = np.bincount(valid, minlength=n_clusters)
        # Every candidate adds its claims to the clusters they fall in and one prompt to its
        # home cluster; expected counts stay based on the original eval set.
        rule = _ClusterRule(T, report.eval_base_, cs, ts, V)
        base = rule.covered(G, n_eval)
        Y = (A.multiply(w * ~claimed).tocsr() @ P).tocsr()
        own = np.asarray(Y[np.arange(m), home]).ravel()
        C = Y.tocoo()
        away = C.col != home[C.row]
        r, c, y = C.row[away], C.col[away], C.data[away]
        after = rule.covered(G[c] + y, n_eval[c], c)
        gain = np.bincount(r, weights=after - base[c], minlength=m)
        gain += rule.covered(G[home] + own, n_eval[home] + 1, home) - base[home]
        progress = np.bincount(C.row, weights=C.data * (G[C.col] < cs * T[C.col]), minlength=m)
        score = np.where(available, gain + _PROGRESS_WEIGHT * progress, -np.inf)
        best = int(np.argmax(score))
        if not score[best] > 0:
            break
        available[best] = False
        claimed[A.indices[A.indptr[best] : A.indptr[best + 1]]] = True
        eval_labels = np.append(eval_labels, report.map_.assign(U[cand[best]][None]).labels)
        # The curve applies the engine's own rule to the updated claims and prompt counts.
        covered = covered_from_claims(
            claimed, labels, w, eval_labels, cs, ts, n_base=report.eval_base_
        )[0]
        new = float((w * covered).sum() / total)
        failure_curve.append(float((v * ~covered).sum() / v.sum()) if v.sum() > 0 else 0.0)
        picks.append(int(cand[best]))
        gains.append(new - coverage)
        curve.append(new)
        coverage = new
    if not picks:
        return pd.DataFrame({c: [] for c in columns})
    texts = [u["text"].iat[i] for i in picks]
    # The last point is what with_evals measures, by construction.
    exact = report.with_evals(pd.Series(texts, name="text")).coverage
    gains[-1] += exact - curve[-1]
    curve[-1] = exact
    picked_labels = labels[picks]
    names = report.clusters.set_index("cluster")["label"]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(picks) + 1),
            "id": [query_id(t) for t in texts],
            "text": texts,
            "cluster": picked_labels.astype(np.int64),
            "label": names.loc[picked_labels].tolist(),
            "traffic_gain": gains,
            "projected_coverage": curve,
        }
    )
    if by == "risk":
        start = float((v * ~u["covered"].to_numpy(dtype=bool)).sum() / v.sum())
        out["failure_gain"] = 0.0 - np.diff([start, *failure_curve])
        out["projected_untested_failures"] = failure_curve
    return out


class _ClusterRule:
    """Covered weight per cluster under the engine's pooling rule, vectorized over candidates.

    Applies the engine's own cluster rule (:func:`evalcov.coverage.cluster_levels`) to the
    per-cluster sums, so thousands of candidates are scored at once. It only ranks candidates:
    the reported curve uses :func:`evalcov.coverage.covered_from_claims` on the full claims.
    """

    def __init__(
        self, T: np.ndarray, n_eval_total: int, cs: float, ts: float, V: np.ndarray | None = None
    ):
        self.T = T
        self.V = T if V is None else V
        self.expected = n_eval_total * T / T.sum()
        self.cs, self.ts = cs, ts

    def covered(
        self, G: np.ndarray, n_eval: np.ndarray, clusters: np.ndarray | None = None
    ) -> np.ndarray:
        """Covered value per cluster: the cluster's total ``V`` (its traffic, or a value such
        as its failed traffic) when the traffic ``G`` claimed and its prompts make it tested,
        else 0."""
        T = self.T if clusters is None else self.T[clusters]
        V = self.V if clusters is None else self.V[clusters]
        expected = self.expected if clusters is None else self.expected[clusters]
        share = np.divide(G, T, out=np.zeros(len(G)), where=T > 0)
        tested, _ = cluster_levels(share, n_eval, expected, self.cs, self.ts)
        return np.where(tested, V, 0.0)


def _candidates(report: CoverageReport, per_gap: int | None, value: np.ndarray) -> np.ndarray:
    u = report.unique_
    U = report.traffic_embeddings_
    labels = u["cluster"].to_numpy()
    w = u["weight"].to_numpy(dtype=np.float64)
    open_ = ~u["covered"].to_numpy(dtype=bool) & (w > 0)
    out = []
    # Every untested cluster, not only the one a topic's gap row is shown by.
    for c in report.gaps(n=None, level="cluster")["cluster"]:
        pool = np.flatnonzero(open_ & (labels == c))
        if per_gap is not None and len(pool) > per_gap:
            # Centred on what the gain counts (traffic, or failed traffic when it has any).
            vw = value[pool] if value[pool].sum() > 0 else w[pool]
            centroid = (vw[:, None] * U[pool]).sum(axis=0)
            order = np.argsort(-(U[pool] @ centroid), kind="stable")
            pool = np.sort(pool[order[:per_gap]])
        out.append(pool)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _claims(U: np.ndarray, cand: np.ndarray, k: int, reach: float = np.inf) -> sparse.csr_matrix:
    """(n_candidates, n_traffic) 0/1 matrix: the traffic each candidate would claim.

    One pass per block of candidates: the k-th largest similarity, widened to ``reach``
    (:func:`evalcov.coverage.widen_radii`), is the claim radius, and everything at or above it
    is claimed (ties included, as in the engine).
    """
    k = int(min(max(k, 1), len(U)))
    # Blocks of ~16M similarities: large enough for fast matrix products, small in memory.
    step = max(1, 2**24 // max(len(U), 1))
    rows, cols = [], []
    for start in range(0, len(cand), step):
        S = U[cand[start : start + step]] @ U.T
        radii = widen_radii(-np.partition(-S, k - 1, axis=1)[:, k - 1], reach)
        q, t = np.nonzero(S >= radii[:, None])
        rows.append(q + start)
        cols.append(t)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(cand), len(U)))


# ---------------------------------------------------------------------- weighted_score


@dataclass
class WeightedScore:
    """Eval results re-weighted by production traffic.

    Definitions (clusters are the report's; an eval prompt belongs to the cluster the map
    assigns it to, as in ``report.evals``; repeated results for one prompt are averaged):

    - ``plain_score``: mean score over the distinct eval prompts that have a result.
    - ``weighted_score``: ``sum_c share_c * mean_c / sum_c share_c`` over the clusters with
      at least one scored eval prompt, where ``share_c`` is the cluster's traffic share and
      ``mean_c`` the mean score of its scored prompts: the score a user would see, over the
      traffic that has eval evidence. NaN when no cluster has evidence.
    - ``no_evidence_share``: traffic share of the clusters without a scored eval prompt.
    - ``expected_score_range``: bounds on the traffic-weighted score if that unevidenced
      traffic scored anywhere in [0, 1]:
      ``(weighted * (1 - no_evidence), weighted * (1 - no_evidence) + no_evidence)``.

    Attributes
    ----------
    plain_score, weighted_score, no_evidence_share : float
    expected_score_range : tuple of float
    n_scored : int
        Distinct eval prompts with a result.
    n_no_result : int
        Distinct eval prompts of the report without a result.
    clusters : DataFrame
        cluster, label, traffic_share, n_eval_scored, mean_score (NaN without evidence),
        status.
    """

    plain_score: float
    weighted_score: float
    no_evidence_share: float
    expected_score_range: tuple[float, float]
    n_scored: int
    n_no_result: int
    clusters: pd.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        low, high = self.expected_score_range
        return (
            f"<WeightedScore plain={self.plain_score:.3f} weighted={self.weighted_score:.3f} "
            f"no_evidence_share={self.no_evidence_share:.1%} range=[{low:.3f}, {high:.3f}] "
            f"n_scored={self.n_scored} n_no_result={self.n_no_result}>"
        )

    def _repr_html_(self) -> str:
        low, high = self.expected_score_range
        c = self.clusters.sort_values("traffic_share", ascending=False).head(10)
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{:.1%}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
                int(r.cluster),
                html.escape(str(r.label)),
                r.traffic_share,
                int(r.n_eval_scored),
                "–" if np.isnan(r.mean_score) else f"{r.mean_score:.3f}",
                html.escape(str(r.status)),
            )
            for r in c.itertuples()
        )
        return (
            '<div class="evalcov-weighted-score"><p><b>Traffic-weighted score: {:.3f}</b> '
            "(plain mean {:.3f} over {} scored prompts{}) &middot; {:.1%} of traffic has no "
            "scored eval prompt, so the traffic score lies in [{:.3f}, {:.3f}]</p><table>"
            "<thead><tr><th>cluster</th><th>label</th><th>traffic</th><th>scored prompts</th>"
            "<th>mean score</th><th>status</th></tr></thead><tbody>{}</tbody></table></div>"
        ).format(
            self.weighted_score,
            self.plain_score,
            self.n_scored,
            f", {self.n_no_result} without result" if self.n_no_result else "",
            self.no_evidence_share,
            low,
            high,
            rows,
        )


def weighted_score(
    report: CoverageReport,
    eval_results: Any,
    prompt_col: str | None = None,
    score_col: str | None = None,
) -> WeightedScore:
    """Traffic-weighted eval score, with the share of traffic no scored prompt speaks for.

    Parameters
    ----------
    report : CoverageReport
    eval_results : DataFrame, dict or Series
        Per eval prompt, a pass/fail (bool, or "pass"/"fail"/"true"/"false") or a score in
        [0, 1]. A dict maps prompt text to score, a Series is indexed by prompt text. A
        DataFrame names its prompt column (default: the first of prompt, text, query, input,
        question, matched by normalized text; else eval_id or id, matched to
        ``report.evals["id"]``) and its score column (default: the first of score, passed,
        pass, success, correct).
    prompt_col, score_col : str, optional
        Override the detected columns.

    Returns
    -------
    WeightedScore
        See its definitions.

    Raises
    ------
    ValueError
        A result names no eval prompt of the report, a score is missing or outside [0, 1],
        or a column cannot be found.
    TypeError
        ``eval_results`` is of another type, or a score is not a number or boolean.
    """
    keys, scores, by = _parse_results(eval_results, prompt_col, score_col)
    index = _match(report, keys, by)
    n_distinct = len(report.eval_dedup_.texts)
    sums = np.bincount(index, weights=scores, minlength=n_distinct)
    runs = np.bincount(index, minlength=n_distinct)
    has = runs > 0
    per_prompt = np.divide(sums, runs, out=np.full(n_distinct, np.nan), where=has)
    c = report.clusters
    n_clusters = len(c)
    eval_cluster = np.asarray(report.eval_labels_)
    scored = has & (eval_cluster >= 0)
    n_scored = np.bincount(eval_cluster[scored], minlength=n_clusters)
    total = np.bincount(eval_cluster[scored], weights=per_prompt[scored], minlength=n_clusters)
    mean = np.divide(total, n_scored, out=np.full(n_clusters, np.nan), where=n_scored > 0)
    share = c["traffic_share"].to_numpy(dtype=np.float64)
    evidence = n_scored > 0
    covered = share[evidence].sum()
    weighted = float((share[evidence] * mean[evidence]).sum() / covered) if covered > 0 else np.nan
    no_evidence = float(share[~evidence].sum())
    low = (weighted if covered > 0 else 0.0) * (1.0 - no_evidence)
    return WeightedScore(
        plain_score=float(per_prompt[has].mean()),
        weighted_score=weighted,
        no_evidence_share=no_evidence,
        expected_score_range=(float(low), float(low + no_evidence)),
        n_scored=int(has.sum()),
        n_no_result=int((~has).sum()),
        clusters=pd.DataFrame(
            {
                "cluster": c["cluster"].to_numpy(),
                "label": c["label"].to_numpy(),
                "traffic_share": share,
                "n_eval_scored": n_scored,
                "mean_score": mean,
                "status": c["status"].to_numpy(),
            }
        ),
    )


def _parse_results(
    results: Any, prompt_col: str | None, score_col: str | None
) -> tuple[list[Any], np.ndarray, str]:
    """(keys, scores, "text" or "id") from any accepted shape of eval results."""
    if isinstance(results, Mapping):
        keys, values, by, where = list(results.keys()), list(results.values()), "text", "key"
    elif isinstance(results, pd.Series):
        keys, values, by, where = list(results.index), results.tolist(), "text", "index"
    elif isinstance(results, pd.DataFrame):
        pcol = prompt_col or _find(results, _PROMPT_COLUMNS) or _find(results, _ID_COLUMNS)
        scol = score_col or _find(results, _SCORE_COLUMNS)
        for name, col, options in (
            ("prompt_col", pcol, _PROMPT_COLUMNS + _ID_COLUMNS),
            ("score_col", scol, _SCORE_COLUMNS),
        ):
            if col is None or col not in results.columns:
                raise ValueError(
                    f"{name}: {'column ' + repr(col) + ' not found' if col else 'no column'}"
                    f" in eval_results; expected one of {options} or pass {name}= (columns: "
                    f"{list(map(str, results.columns))})"
                )
        by = "id" if str(pcol).lower() in _ID_COLUMNS else "text"
        keys, values, where = results[pcol].tolist(), results[scol].tolist(), f"row of {scol!r}"
        if by == "id":
            keys = [str(k) for k in keys]
    else:
        raise TypeError(
            "eval_results must be a DataFrame, a dict prompt -> score or a Series indexed by "
            f"prompt, got {type(results).__name__}"
        )
    if not keys:
        raise ValueError("eval_results is empty")
    return keys, _scores(values, where), by


def _find(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[n] for n in names if n in lower), None)


def _scores(values: list[Any], where: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    bad_type, bad_value = [], []
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        elif isinstance(v, numbers.Real):
            out[i] = float(v)
        elif isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            out[i] = float(v.strip().lower() in _TRUE)
        else:
            bad_type.append((i, v))
            continue
        if not 0.0 <= out[i] <= 1.0:  # also catches NaN
            bad_value.append((i, v))
    if bad_type:
        raise TypeError(
            f"eval_results: scores must be numbers in [0, 1] or pass/fail booleans; "
            f"got {len(bad_type)} other value(s), e.g. at {where} {bad_type[:3]}"
        )
    if bad_value:
        raise ValueError(
            f"eval_results: scores must lie in [0, 1] (rescale other ranges, fill missing "
            f"results); {len(bad_value)} do not, e.g. at {where} {bad_value[:3]}"
        )
    return out


def _match(report: CoverageReport, keys: list[Any], by: str) -> np.ndarray:
    """Distinct-eval index (row of ``eval_embeddings_``) of each result key."""
    from evalcov.ingest import normalize_text

    if by == "id":
        ev = report.evals
        codes = report.eval_dedup_.codes
        lookup = {str(i): int(c) for i, c in zip(ev["id"], codes, strict=True) if c >= 0}
        index = [lookup.get(k, -1) for k in keys]
        what = "eval id"
    else:
        lookup = {t: i for i, t in enumerate(report.eval_dedup_.texts)}
        index = [lookup.get(normalize_text(k), -1) if isinstance(k, str) else -1 for k in keys]
        what = "eval prompt"
    missing = [k for k, i in zip(keys, index, strict=True) if i < 0]
    if missing:
        raise ValueError(
            f"eval_results: {len(missing)} of {len(keys)} results match no {what} of the "
            f"report (compared after whitespace/Unicode normalization), e.g. "
            f"{[str(m)[:80] for m in missing[:3]]}"
        )
    return np.asarray(index, dtype=np.int64)
