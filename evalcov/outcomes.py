"""Outcomes of production traffic: which queries failed, and where failures meet untested traffic.

Pure functions on a ``report.queries``-like frame (one row per input row, with ``weight``,
``excluded``, ``covered`` and a group column such as ``cluster`` or ``topic``). Outcomes use the
standard column names every reader produces: ``error`` (bool), ``feedback`` (higher is better;
thumbs-up 1, thumbs-down 0), ``latency_s``, ``cost``, ``score_<name>`` and ``session``.

Statistics, and why:

- **Failure rate** of a group: traffic-weighted share of its rows with a known outcome that
  failed. Rows whose outcome is unknown (no error flag, no feedback) are left out of both the
  numerator and the denominator, not counted as successes: most users never press a thumb.
- **Interval**: Wilson score interval at the Kish effective sample size
  ``n_eff = (sum w)^2 / sum w^2`` of the group's rows with an outcome. With unit weights this
  is the row count; when a few rows carry most of the weight (a query logged once with a
  repeat count of 500) it shrinks towards the number of rows that matter, so the interval does
  not pretend the 500 repeats were 500 independent outcomes.
- **Lift** is the group's rate over the rate of all traffic; its **test** is a one-sided
  Fisher exact test of the group against the rest of the traffic, on effective counts, and the
  p-values are **Holm**-adjusted over the groups. Holm controls the family-wise error rate
  under any dependence between the tests (every group-vs-rest test shares the same traffic),
  and a list of "topics that fail significantly more" is read as a list of problems to act on,
  so each entry should be real; BH's false discovery rate would tolerate a share of false
  alarms in exchange for power that a short list does not need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evalcov.coverage import _wilson as _coverage_wilson
from evalcov.sources._outcomes import coerce_outcome, to_flags

__all__ = [
    "OUTCOME_COLUMNS",
    "coerce_outcome",
    "failed_rows",
    "feedback_midpoint",
    "group_outcomes",
    "outcome_columns",
    "outcome_summary",
    "text_outcomes",
]

OUTCOME_COLUMNS = ("error", "feedback", "latency_s", "cost", "session")
_SCORE_PREFIX = "score_"
# Feedback scales in use: thumbs 0/1, -1/+1, stars 1..5, 0..10, percentages.
_SCALE_TOPS = (1.0, 5.0, 10.0, 100.0)
_Z = 1.959963984540054


def _numeric_outcomes(frame: pd.DataFrame) -> list[str]:
    """Outcome columns that can be averaged: numbers and booleans. A categorical score (a
    label such as "friendly") and text columns (session, response) are carried, not averaged."""
    return [
        c
        for c in outcome_columns(frame.columns)
        if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])
    ]


def outcome_columns(columns: Sequence[Any]) -> list[str]:
    """The standard outcome columns among ``columns``, in their order."""
    return [
        c
        for c in columns
        if isinstance(c, str) and (c in OUTCOME_COLUMNS or c.startswith(_SCORE_PREFIX))
    ]


def feedback_midpoint(feedback: np.ndarray) -> float:
    """Midpoint of the feedback scale the observed values come from.

    The scale runs from -1 (when any value is negative), 0, or 1 (when every value is at
    least 1: stars) up to the first of 1, 5, 10 or 100 that bounds the values; thumbs 0/1
    give 0.5, -1/+1 give 0, stars 1..5 give 3. Pass ``feedback_scale=`` to
    :func:`failed_rows` when the data do not reveal the scale (e.g. only 4- and 5-star
    ratings were given).
    """
    x = feedback[~np.isnan(feedback)]
    if len(x) == 0:
        return np.nan
    lo = -1.0 if x.min() < 0 else (1.0 if x.min() >= 1 else 0.0)
    hi = next((t for t in _SCALE_TOPS if x.max() <= t), float(x.max()))
    return (lo + hi) / 2


def failed_rows(
    queries: pd.DataFrame,
    failure: str | pd.Series | Callable[[pd.DataFrame], Any] | None = None,
    feedback_scale: tuple[float, float] | None = None,
) -> pd.Series | None:
    """Which rows failed: nullable boolean per row, NA where the outcome is unknown.

    Parameters
    ----------
    queries : DataFrame
        ``report.queries``-like rows.
    failure : str, boolean Series, callable or None, default=None
        None: a row failed when ``error`` is true or ``feedback`` is below the midpoint of its
        scale (:func:`feedback_midpoint`); it succeeded when at least one of them is known and
        neither says it failed; unknown otherwise. A str names a column of booleans
        (true/false, 1/0, yes/no; blank is unknown). A Series must carry the index of
        ``queries`` (the traffic input's). A callable receives ``queries`` and returns one
        boolean per row (a Series on that index, or an array).
    feedback_scale : (low, high), optional
        The feedback scale, when it cannot be read off the values.

    Returns
    -------
    Series of dtype "boolean" on ``queries.index``, or None when there is no outcome data
    (default definition and neither ``error`` nor ``feedback`` present).
    """
    # Row names for error messages, read only for the rows named: one string per row would
    # be 600 MB at ten million rows.
    labels = queries.index
    if failure is None:
        has = [c for c in ("error", "feedback") if c in queries.columns]
        if not has:
            return None
        known = np.zeros(len(queries), dtype=bool)
        failed = np.zeros(len(queries), dtype=bool)
        if "error" in queries.columns:
            err = coerce_outcome("error", queries["error"].tolist(), labels)
            known |= err.notna().to_numpy()
            failed |= err.fillna(False).to_numpy(dtype=bool)
        if "feedback" in queries.columns:
            fb = coerce_outcome("feedback", queries["feedback"].tolist(), labels).to_numpy()
            if feedback_scale is not None:
                low, high = feedback_scale
                if not low < high:
                    raise ValueError(f"feedback_scale must be (low, high), got {feedback_scale!r}")
                mid = (low + high) / 2
            else:
                mid = feedback_midpoint(fb)
            known |= ~np.isnan(fb)
            failed |= ~np.isnan(fb) & (fb < mid)
        out = pd.array(failed, dtype="boolean")
        out[~known] = pd.NA
        return pd.Series(out, index=queries.index, name="failed")
    if isinstance(failure, str):
        if failure not in queries.columns:
            raise ValueError(
                f"failure={failure!r} is not a column of the traffic; columns are "
                f"{list(queries.columns)}"
            )
        values = queries[failure].tolist()
        what = f"failure column {failure!r}"
    elif isinstance(failure, pd.Series):
        if not failure.index.equals(queries.index):
            raise ValueError(
                "failure: a boolean Series must carry the traffic's index (one value per "
                f"input row); got {len(failure)} values for {len(queries)} rows"
            )
        values, what = failure.tolist(), "failure Series"
    elif callable(failure):
        result = failure(queries)
        if isinstance(result, pd.Series) and not result.index.equals(queries.index):
            raise ValueError("failure: the callable must return a Series on queries' index")
        values = list(np.asarray(result, dtype=object).ravel())
        if len(values) != len(queries):
            raise ValueError(
                f"failure: the callable returned {len(values)} values for {len(queries)} rows"
            )
        what = "failure callable's result"
    else:
        raise TypeError(
            "failure must be a column name, a boolean Series, a callable on the queries or "
            f"None; got {type(failure).__name__}"
        )
    parsed = to_flags(values, labels, what)
    return pd.Series(parsed.array, index=queries.index, name="failed")


def _wilson(p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson interval (the coverage module's), NaN where there is no outcome."""
    low, high = _coverage_wilson(np.nan_to_num(p), n, z=_Z)
    # At a rate of exactly 0 (or 1) the bound is exactly 0 (or 1), not rounding noise.
    low, high = np.where(p == 0, 0.0, low), np.where(p == 1, 1.0, high)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN, not counted)."""
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def _fisher_greater(k: np.ndarray, n: np.ndarray, k_all: float, n_all: float) -> np.ndarray:
    """One-sided Fisher exact p of each group failing more than the rest (effective counts)."""
    p = np.full(len(k), np.nan)
    for g in range(len(k)):
        a, b = round(k[g]), round(n[g] - k[g])
        c, d = round(k_all - k[g]), round(n_all - n[g] - (k_all - k[g]))
        if a + b == 0 or c + d == 0:
            continue
        p[g] = stats.fisher_exact([[a, b], [max(c, 0), max(d, 0)]], alternative="greater")[1]
    return p


def _analyzed(queries: pd.DataFrame, group: str) -> pd.DataFrame:
    if group not in queries.columns:
        raise ValueError(
            f"group column {group!r} is not in the queries; columns are {list(queries.columns)}"
        )
    keep = ~queries["excluded"].to_numpy(dtype=bool) if "excluded" in queries.columns else None
    return queries if keep is None else queries[keep]


def _failure_rates(
    codes: np.ndarray, w: np.ndarray, f: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group of ``codes``: outcome weight, failed weight, failure rate (NaN without
    weight), Kish effective size and the rate's 95% Wilson interval. ``w`` is 0 on rows whose
    outcome is unknown."""
    sw = np.bincount(codes, weights=w, minlength=n)
    sw2 = np.bincount(codes, weights=w**2, minlength=n)
    fail_w = np.bincount(codes, weights=w * f, minlength=n)
    rate = np.divide(fail_w, sw, out=np.full(n, np.nan), where=sw > 0)
    n_eff = np.divide(sw**2, sw2, out=np.zeros(n), where=sw2 > 0)
    low, high = _wilson(rate, n_eff)
    return sw, fail_w, rate, n_eff, low, high


def _expected_rates(
    q: pd.DataFrame, wk: np.ndarray, fk: np.ndarray, uncovered: np.ndarray, overall: float
) -> np.ndarray:
    """Per row, the failure rate its uncovered traffic is held against: the overall rate, or
    the lower bound of the 95% interval of its topic's tested traffic when that is higher.

    The bound, not the rate, so that a topic's tested part must fail significantly more
    than the traffic as a whole before its gaps' failures are discounted. Without a
    ``topic`` column every row gets the overall rate.
    """
    if "topic" not in q.columns:
        return np.full(len(q), overall)
    topics, codes = np.unique(q["topic"].to_numpy(), return_inverse=True)
    low = _failure_rates(codes, wk * ~uncovered, fk, len(topics))[4]
    return np.fmax(np.nan_to_num(low, nan=overall), overall)[codes]


def _weighted_mean(values: np.ndarray, w: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    ok = ~np.isnan(values)
    num = np.bincount(codes[ok], weights=(w * values)[ok], minlength=n)
    den = np.bincount(codes[ok], weights=w[ok], minlength=n)
    return np.divide(num, den, out=np.full(n, np.nan), where=den > 0)


def group_outcomes(
    queries: pd.DataFrame,
    group: str = "cluster",
    alpha: float = 0.05,
) -> pd.DataFrame | None:
    """Outcomes per group: failure rate with its interval, lift, test, untested failures, cost.

    Parameters
    ----------
    queries : DataFrame
        ``report.queries``-like rows with ``weight``, ``covered``, the ``group`` column and
        outcome columns (``failed`` from :func:`failed_rows`, ``latency_s``, ``cost``,
        ``score_<name>``). Excluded rows are left out.
    group : str, default="cluster"
        Column whose values are the groups (``"cluster"``; ``"topic"`` when topics exist).
    alpha : float, default=0.05
        Level of the Holm-adjusted test behind ``significant``; intervals are 95%.

    Returns
    -------
    DataFrame or None
        None when the rows carry no outcome column at all. Otherwise one row per group value,
        sorted by it: ``<group>``, ``n_outcome`` (rows with a known failure outcome),
        ``n_eff`` (Kish effective size), ``failure_rate``, ``failure_rate_low``,
        ``failure_rate_high``, ``lift`` (rate / rate of all traffic), ``p_value`` (one-sided
        Fisher, group vs the rest), ``p_adjusted`` (Holm over the groups), ``significant``,
        ``untested_failures`` (share of all failures that are in this group and not
        covered), ``excess_failures`` (those failures minus what the overall failure rate
        predicts for the group's uncovered traffic with an outcome, as a share of all failures;
        negative when the gap fails less than the traffic as a whole; where a ``topic``
        column is present and the topic's tested traffic fails significantly more than the
        whole, the lower bound of that rate's interval is expected instead: a gap of a topic
        that fails where it is tested hides no failure the eval set cannot see); then, for
        each of
        ``latency_s``, ``cost`` and ``score_<name>`` present, its traffic-weighted mean;
        with ``cost`` also ``cost_share`` and ``untested_cost_share`` (share of all cost
        spent on this group's uncovered traffic). Failure columns are absent when no row has
        a known failure outcome (e.g. only latency was logged).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    q = _analyzed(queries, group)
    metrics = [c for c in _numeric_outcomes(q) if c not in ("error", "feedback", "session")]
    has_failed = "failed" in q.columns and q["failed"].notna().any()
    if not has_failed and not metrics:
        return None
    values, codes = np.unique(q[group].to_numpy(), return_inverse=True)
    n = len(values)
    w = q["weight"].to_numpy(dtype=np.float64)
    uncovered = ~q["covered"].to_numpy(dtype=bool)
    out = pd.DataFrame({group: values})
    if has_failed:
        f = q["failed"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        known = ~np.isnan(f)
        fk = np.where(known, f, 0.0)
        wk = np.where(known, w, 0.0)
        sw, fail_w, rate, n_eff, low, high = _failure_rates(codes, wk, fk, n)
        total_w, total_fail = sw.sum(), fail_w.sum()
        total_eff = total_w**2 / (wk**2).sum() if total_w > 0 else 0.0
        overall = total_fail / total_w if total_w > 0 else np.nan
        # Effective failure counts keep the tested rates and the weights consistent.
        k_eff = np.nan_to_num(rate) * n_eff
        p = _fisher_greater(k_eff, n_eff, overall * total_eff, total_eff)
        p_adj = _holm(p)
        untested = np.bincount(codes, weights=wk * fk * uncovered, minlength=n)
        out["n_outcome"] = np.bincount(codes, weights=known, minlength=n).astype(np.int64)
        out["n_eff"] = n_eff
        out["failure_rate"] = rate
        out["failure_rate_low"] = np.where(sw > 0, low, np.nan)
        out["failure_rate_high"] = np.where(sw > 0, high, np.nan)
        out["lift"] = rate / overall if overall > 0 else np.nan
        out["p_value"] = p
        out["p_adjusted"] = p_adj
        out["significant"] = np.nan_to_num(p_adj, nan=1.0) < alpha
        out["untested_failures"] = untested / total_fail if total_fail > 0 else 0.0
        # Failures beyond what the overall rate predicts for this uncovered traffic: a large
        # gap failing at the usual rate holds many failures but no excess. Where the same
        # topic's tested traffic fails significantly more, its rate is what is expected: the
        # eval set already sees that failure (failing_covered), it is not hidden by the gap.
        expected = _expected_rates(q, wk, fk, uncovered, overall if total_w > 0 else 0.0)
        excess = untested - np.bincount(codes, weights=wk * uncovered * expected, minlength=n)
        out["excess_failures"] = excess / total_fail if total_fail > 0 else 0.0
    for m in metrics:
        x = q[m].to_numpy(dtype=np.float64, na_value=np.nan)
        out[m] = _weighted_mean(x, w, codes, n)
        if m == "cost":
            spent = np.where(np.isnan(x), 0.0, w * x)
            total = spent.sum()
            out["cost_share"] = np.bincount(codes, weights=spent, minlength=n) / total
            out["untested_cost_share"] = (
                np.bincount(codes, weights=spent * uncovered, minlength=n) / total
            )
    return out


def outcome_summary(queries: pd.DataFrame) -> dict[str, Any]:
    """Headline outcome numbers over all analyzed traffic; empty without outcome data.

    Keys (each only when its data exist): ``n_outcome``, ``failure_rate``,
    ``failure_rate_low``, ``failure_rate_high``, ``untested_failures`` (share of all failures
    in uncovered traffic), ``untested_failure_rate`` and ``tested_failure_rate`` (failure
    rate of uncovered and of covered traffic), ``latency_s``, ``cost`` (weighted means),
    ``untested_cost_share`` (share of all cost spent on uncovered traffic), ``score_<name>``.
    """
    q = queries.assign(_all=0)
    table = group_outcomes(q, group="_all")
    if table is None:
        return {}
    row = table.iloc[0].to_dict()
    out: dict[str, Any] = {}
    if "failure_rate" in row:
        out["n_outcome"] = int(row["n_outcome"])
        for k in ("failure_rate", "failure_rate_low", "failure_rate_high", "untested_failures"):
            out[k] = float(row[k])
        by_covered = group_outcomes(q.assign(_cov=q["covered"].astype(bool)), group="_cov")
        rates = dict(zip(by_covered["_cov"], by_covered["failure_rate"], strict=True))
        out["untested_failure_rate"] = float(rates.get(False, np.nan))
        out["tested_failure_rate"] = float(rates.get(True, np.nan))
    for k, v in row.items():
        if k in ("latency_s", "cost", "untested_cost_share") or k.startswith(_SCORE_PREFIX):
            out[k] = float(v)
    return out


def text_outcomes(queries: pd.DataFrame, codes: np.ndarray, n_texts: int) -> pd.DataFrame:
    """Outcomes per distinct text (the unit of ``report.unique_``), from its input rows.

    Parameters
    ----------
    queries : DataFrame
        ``report.queries``-like rows.
    codes : ndarray of shape (n_rows,), int
        Distinct text of each row (``report.traffic_dedup_.codes``; -1 for excluded rows).
    n_texts : int
        Number of distinct texts.

    Returns
    -------
    DataFrame of ``n_texts`` rows, with the columns that have data: ``failed_weight``
    (traffic weight of its failed rows), ``failure_rate`` (among rows with a known outcome,
    NaN when none), ``error`` (weighted share of rows with an error), and the weighted means of
    ``feedback``, ``latency_s``, ``cost`` and ``score_<name>``. No column without outcomes.
    """
    ok = codes >= 0
    c = codes[ok]
    w = queries["weight"].to_numpy(dtype=np.float64)[ok]
    out = pd.DataFrame(index=pd.RangeIndex(n_texts))
    if "failed" in queries.columns:
        f = queries["failed"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)[ok]
        known = ~np.isnan(f)
        out["failed_weight"] = np.bincount(
            c, weights=np.where(known, w * f, 0.0), minlength=n_texts
        )
        out["failure_rate"] = _weighted_mean(f, w, c, n_texts)
    for m in _numeric_outcomes(queries):
        x = queries[m].astype("Float64" if m == "error" else np.float64)
        out[m] = _weighted_mean(x.to_numpy(dtype=np.float64, na_value=np.nan)[ok], w, c, n_texts)
    return out
