"""Drift over time windows: how the traffic mix and its coverage move, and what emerges.

The method:

1. **Windows.** Every analyzed query with a timestamp (UTC) falls in one window of a pandas
   offset alias (``"D"``, ``"W"``, ``"MS"``, ``"QS"``, ...) or of explicit window starts.
   Windows run from the one holding the earliest query to the one holding the latest, empty
   ones included, so a week without traffic shows up as a row with ``n_queries`` 0.
2. **Baseline.** The reference mix is the first window (``baseline=1``), the first ``k``
   windows, or the windows that start within a ``(start, end)`` date range.
3. **Mix drift per window.** A chi-squared test of homogeneity compares the window's cluster
   counts with the baseline's; clusters with an expected count below 5 are pooled so the
   test's approximation holds. Windows are tested only when they hold ``min_queries``
   queries. ``drifted`` is Benjamini-Hochberg adjusted across windows at ``alpha``.
   ``divergence`` is the Jensen-Shannon divergence (base 2, 0..1) of the two mixes.
4. **Emerging and fading clusters.** Per (window, cluster), a one-sided Fisher exact
   (hypergeometric) test asks whether the cluster's share of the window exceeds (emerging)
   or falls below (fading) its baseline share, conditioning on both totals so the baseline's
   own sampling noise is accounted for. All these tests form one Benjamini-Hochberg family.
   A flag also needs a minimum effect: the share at least ``min_ratio`` times the baseline
   share and at least ``min_increase`` above it (mirrored for fading), so large windows do
   not flag tiny but significant wiggles. A cluster absent from the baseline that grows
   past ``min_increase`` is emerging.
5. **Emerging groups.** A new topic often lands in several neighbouring clusters, none of
   which alone clears ``min_increase``. When the source holds its traffic embeddings, the
   clusters are arranged in a tree (average linkage on cosine distance between their
   traffic-weighted centroids) and every group of the tree is tested like a cluster, in the
   same Benjamini-Hochberg family. A cluster the eval set does not test in proportion to
   its traffic (status "uncovered" or "thin") emerges through a flagged group when its own
   share rose too: at least ``min_ratio`` times its baseline share, and
   significant at ``alpha`` Bonferroni-corrected among the group's members (hierarchical
   testing). Covered clusters must emerge on their own: groups are there to find
   untested or under-tested traffic the map split, not to amplify mix drift. Such rows
   carry ``via`` "group" in :attr:`Drift.emerging`.

**Drift is not the same as a coverage gap.** A shift in the mix of topics the eval set
already covers is drift (``drifted`` is True, covered clusters may emerge) but adds no
uncovered traffic: each emerging row carries ``covered`` (the cluster is tested: its status
is "covered" or "thin", as in :attr:`CoverageReport.queries`), and ``windows`` carries
``uncovered_share`` and ``uncovered_change`` (versus the baseline), so "the mix moved but the
eval set still covers it" reads directly off the table.

**Counting.** A query is one unit of traffic weight: with the default weight of 1 that is
one input row, and a weight column of repeat counts counts each repeat. Shares are
traffic-weighted like the rest of evalcov; the exact tests use the weights rounded to whole
queries. ``n_queries`` counts input rows.

Prospective use: save a report (:func:`evalcov.persist.save`), load it next quarter and
assign the new traffic (:meth:`evalcov.persist.SavedMap.assign`), then call ``drift`` on the
result; the cluster ids are those of the saved report, so windows compare cluster by cluster::

    saved = evalcov.load("q1.zip")
    both = saved.assign(pd.concat([q1_traffic, q2_traffic]), time="timestamp")
    d = both.drift(freq="W", baseline=("2024-01-01", "2024-04-01"))

Queries that fit no saved cluster are flagged ``novel`` there and grouped into proposed
clusters, which then show up here as emerging clusters with no baseline traffic.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from evalcov.coverage import is_covered

__all__ = ["MIN_QUERIES", "Drift", "assign_traffic", "compute_drift", "window_index"]

MIN_QUERIES = 50
# chi2/hypergeometric tails underflow to 0 for overwhelming evidence; p-values stay in (0, 1].
_P_FLOOR = np.finfo(float).tiny


@dataclass
class Drift:
    """Cluster mix and coverage per time window, against a baseline window.

    Attributes
    ----------
    windows : DataFrame
        One row per window: window (start, UTC), end, n_queries (input rows), traffic
        (weight), coverage, uncovered_share, uncovered_change (versus the baseline),
        [novel_share for assigned traffic], divergence (Jensen-Shannon, base 2, versus the
        baseline mix), p_value (chi-squared homogeneity), q_value (Benjamini-Hochberg
        across windows), drifted, note ("baseline", "no traffic", "insufficient data" or "").
    clusters : DataFrame
        Long table, one row per (window, cluster): window, cluster, label, share, n_queries,
        covered (share of the cluster's traffic in that window that is covered; NaN when it
        has none), baseline_share, emerging, fading (flagged in that window).
    emerging, fading : DataFrame
        One row per flagged cluster: cluster, topic (when the source's clusters have
        topics: fragments of one request share it), label, first_window, baseline_share,
        share_first (in the first flagged window), share_now (in the latest tested window),
        covered (the cluster is tested: status "covered" or "thin"), status, n_flagged
        (windows), p_value and q_value (in the first flagged window), via ("cluster": flagged
        on its own in its first window; "group": through a flagged group of neighbouring
        clusters, whose q_value is given). Fading is tested per cluster only: its ``via`` is
        always "cluster".
    failing : DataFrame or None
        With failure outcomes (``failed`` in the queries), one row per cluster whose failure
        rate jumped, flagged like an emerging cluster: cluster, topic, label, first_window,
        baseline_failure_rate, failure_rate_first (in the first flagged window),
        failure_rate_now (latest tested window with outcomes in the cluster), covered, status,
        n_flagged, p_value, q_value. None without outcomes; ``windows`` then also lacks
        ``failure_rate`` and ``clusters`` lacks ``failure_rate`` and ``failing``.
    summary : dict
        Parameters and headline counts, including ``excluded`` and ``excluded_reasons``.
    excluded : int
        Analyzed rows left out of every window (missing time, or before the first explicit
        window start); never dropped silently.
    """

    windows: pd.DataFrame
    clusters: pd.DataFrame
    emerging: pd.DataFrame
    fading: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    excluded: int = 0
    failing: pd.DataFrame | None = None

    def plot(self, top: int = 8) -> Any:
        """Cluster shares over time (the ``top`` clusters stacked, the rest as "other") and
        coverage on a secondary axis, as a plotly Figure."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        from evalcov.plots import shorten
        from evalcov.safe_html import plot_text

        if not isinstance(top, (int, np.integer)) or top < 1:
            raise ValueError(f"top must be a positive integer, got {top!r}")
        long = self.clusters
        wide = long.pivot(index="window", columns="cluster", values="share").fillna(0.0)
        labels = long.drop_duplicates("cluster").set_index("cluster")["label"]
        # Emerging clusters are what the chart is for: show them before the merely large ones.
        flagged = list(self.emerging["cluster"])
        rest = wide.max().drop(flagged, errors="ignore").sort_values(ascending=False).index
        shown = (flagged + list(rest))[:top]
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        x = wide.index
        for c in shown:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=wide[c],
                    name=f"{c}: {plot_text(shorten(str(labels[c]), 40))}",
                    stackgroup="share",
                    mode="lines",
                ),
                secondary_y=False,
            )
        others = wide.drop(columns=shown).sum(axis=1)
        fig.add_trace(
            go.Scatter(x=x, y=others, name="other", stackgroup="share", mode="lines"),
            secondary_y=False,
        )
        w = self.windows
        fig.add_trace(
            go.Scatter(
                x=w["window"],
                y=w["coverage"],
                name="coverage",
                mode="lines+markers",
                line={"color": "black", "dash": "dash"},
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title_text="share of traffic", tickformat=".0%", secondary_y=False)
        fig.update_yaxes(title_text="coverage", tickformat=".0%", range=[0, 1], secondary_y=True)
        fig.update_layout(title="Traffic mix and eval coverage over time", hovermode="x unified")
        return fig

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<Drift {s.get('n_windows', 0)} windows ({s.get('freq')}), "
            f"{s.get('n_drifted', 0)} drifted, {s.get('n_emerging', 0)} emerging "
            f"({s.get('n_emerging_uncovered', 0)} uncovered), {s.get('n_fading', 0)} fading>"
        )

    def _repr_html_(self) -> str:
        w = self.windows
        rows = "".join(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "</tr>".format(
                r.window.strftime("%Y-%m-%d %H:%M") if r.window.hour else r.window.date(),
                int(r.n_queries),
                _pct(r.coverage),
                _pct(r.divergence, 3),
                "" if np.isnan(r.p_value) else f"{r.p_value:.2g}",
                "yes" if r.drifted else "",
                html.escape(r.note),
            )
            for r in w.itertuples()
        )
        em = "".join(
            "<li>{} <b>{}</b>: {} &rarr; {} since {} ({})</li>".format(
                int(r.cluster),
                html.escape(str(r.label)),
                _pct(r.baseline_share),
                _pct(r.share_now),
                r.first_window.date(),
                "covered" if r.covered else "not covered",
            )
            for r in self.emerging.head(10).itertuples()
        )
        s = self.summary
        excluded = (
            f" &middot; {self.excluded} rows outside any window "
            f"({html.escape(', '.join(f'{k}: {v}' for k, v in s['excluded_reasons'].items()))})"
            if self.excluded
            else ""
        )
        return (
            '<div class="evalcov-drift"><p><b>Drift</b> over {} windows ({}) &middot; {} '
            "drifted &middot; {} emerging clusters ({} not covered) &middot; {} fading{}</p>"
            "<table><thead><tr><th>window</th><th>queries</th><th>coverage</th>"
            "<th>divergence</th><th>p</th><th>drifted</th><th>note</th></tr></thead>"
            "<tbody>{}</tbody></table>{}</div>"
        ).format(
            s["n_windows"],
            html.escape(str(s["freq"])),
            s["n_drifted"],
            s["n_emerging"],
            s["n_emerging_uncovered"],
            s["n_fading"],
            excluded,
            rows,
            f"<p>Emerging:</p><ul>{em}</ul>" if em else "",
        )


def _pct(x: float, digits: int = 1) -> str:
    return "–" if x is None or np.isnan(x) else f"{x:.{digits}%}"


# ------------------------------------------------------------------------------ windows


def window_index(times: pd.Series, freq: Any) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Bucket UTC timestamps into consecutive windows.

    Parameters
    ----------
    times : Series of datetime64 (tz-aware or naive UTC)
        NaT is allowed and falls in no window.
    freq : str, DateOffset or sequence of timestamps
        A pandas offset alias ("D", "W", "MS", "QS", "2W", "h", ...): windows are calendar
        periods in UTC ("W" weeks run Monday to Sunday like ``to_period("W")``; end-anchored
        aliases such as "ME" give the same calendar months as "MS"). A sequence of
        timestamps gives explicit window starts; the last window is open-ended.

    Returns
    -------
    starts : DatetimeIndex (UTC)
        Start of every window, from the one holding the earliest time to the one holding
        the latest (empty windows included).
    index : ndarray of shape (len(times),), int64
        Window of each time; -1 for NaT and for times before the first explicit start.
    """
    t = pd.to_datetime(pd.Series(times), utc=True)
    naive = t.dt.tz_convert(None)
    valid = naive.notna().to_numpy()
    out = np.full(len(t), -1, dtype=np.int64)
    if _is_bins(freq):
        starts = pd.DatetimeIndex(pd.to_datetime(list(freq), utc=True)).tz_convert(None)
        if starts.hasnans or len(starts) == 0:
            raise ValueError("freq: explicit window starts must be non-empty and not NaT")
        starts = starts.unique().sort_values()
    else:
        if not valid.any():
            return pd.DatetimeIndex([], tz="UTC"), out
        starts = _calendar_starts(naive[valid].min(), naive[valid].max(), freq)
    stamps = naive[valid].to_numpy().astype("datetime64[ns]").view("i8")
    out[valid] = np.searchsorted(starts.as_unit("ns").asi8, stamps, side="right") - 1
    return starts.tz_localize("UTC"), out


def _is_bins(freq: Any) -> bool:
    return not isinstance(freq, (str, pd.DateOffset)) and hasattr(freq, "__iter__")


def _calendar_starts(tmin: pd.Timestamp, tmax: pd.Timestamp, freq: Any) -> pd.DatetimeIndex:
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"freq must be a pandas offset alias such as 'D', 'W', 'MS' or 'QS', or a list of "
            f"window start timestamps; got {freq!r}"
        ) from exc
    if isinstance(offset, pd.offsets.Tick):
        starts = pd.date_range(tmin.floor(offset), tmax, freq=offset)
    elif isinstance(offset, pd.offsets.Week) or type(offset).__name__.endswith("End"):
        # End-anchored offsets (W-SUN, ME, QE, YE) name the last day of a period: the window
        # starts the day after the previous anchor, as pandas' Period does.
        day = pd.Timedelta(days=1)
        first_end = offset.rollback(tmin.normalize() - day)
        starts = pd.date_range(first_end, tmax, freq=offset) + day
        starts = starts[starts <= tmax]
    else:
        starts = pd.date_range(offset.rollback(tmin.normalize()), tmax, freq=offset)
    if len(starts) == 0 or starts[0] > tmin:
        raise ValueError(f"freq={freq!r} gives no window holding the earliest time {tmin}")
    return starts


# ---------------------------------------------------------------------------- statistics


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries are not tests and stay NaN)."""
    q = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(adj[::-1])[::-1], 1.0)
    return q


def _homogeneity_p(window: np.ndarray, base: np.ndarray) -> float:
    """Chi-squared test of homogeneity of two count vectors, pooling sparse clusters.

    Clusters whose smaller expected count is below 5 are pooled into one column, and the
    smallest remaining clusters join the pool until it, too, expects at least 5.
    """
    keep = (window + base) > 0
    table = np.vstack([window[keep], base[keep]]).astype(float)
    n = table.sum()
    if table.shape[1] < 2 or n == 0:
        return 1.0
    rows = table.sum(axis=1)
    col = table.sum(axis=0)
    min_expected = col * rows.min() / n
    order = np.argsort(col, kind="stable")
    sparse_cols = order[min_expected[order] < 5]
    dense = [c for c in order if min_expected[c] >= 5]
    pooled = list(sparse_cols)
    while pooled and col[pooled].sum() * rows.min() / n < 5 and dense:
        pooled.append(dense.pop(0))
    columns = [table[:, dense]]
    if pooled:
        columns.append(table[:, pooled].sum(axis=1, keepdims=True))
    t = np.hstack(columns)
    if t.shape[1] < 2:
        return 1.0
    p = stats.chi2_contingency(t, correction=False)[1]
    return float(max(p, _P_FLOOR))


def _resolve_baseline(baseline: Any, starts: pd.DatetimeIndex) -> np.ndarray:
    n = len(starts)
    if isinstance(baseline, (bool, np.bool_)):
        raise TypeError(f"baseline must be an int or a (start, end) pair, got {baseline!r}")
    if isinstance(baseline, (int, np.integer)):
        if not 1 <= baseline < n:
            raise ValueError(
                f"baseline={baseline} windows, but there are {n} windows: expected 1 <= "
                "baseline < number of windows so that some window is compared with it"
            )
        mask = np.zeros(n, dtype=bool)
        mask[:baseline] = True
        return mask
    if isinstance(baseline, (tuple, list)) and len(baseline) == 2:
        lo, hi = (pd.Timestamp(b) for b in baseline)
        lo = lo.tz_localize("UTC") if lo.tzinfo is None else lo.tz_convert("UTC")
        hi = hi.tz_localize("UTC") if hi.tzinfo is None else hi.tz_convert("UTC")
        mask = np.asarray((starts >= lo) & (starts < hi))
        if not mask.any():
            raise ValueError(
                f"baseline=({lo}, {hi}) holds no window start; windows start from "
                f"{starts[0]} to {starts[-1]}"
            )
        if mask.all():
            raise ValueError("baseline covers every window: nothing is left to compare with it")
        return mask
    raise TypeError(
        "baseline must be an int (the first k windows) or a (start, end) pair of dates, "
        f"got {baseline!r}"
    )


def _check_params(min_queries: Any, alpha: Any, min_ratio: Any, min_increase: Any) -> None:
    if not isinstance(min_queries, (int, np.integer)) or min_queries < 1:
        raise ValueError(f"min_queries must be a positive integer, got {min_queries!r}")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(min_ratio, (int, float)) or min_ratio < 1:
        raise ValueError(f"min_ratio must be a number >= 1, got {min_ratio!r}")
    if not isinstance(min_increase, (int, float)) or not 0 <= min_increase < 1:
        raise ValueError(f"min_increase must be in [0, 1), got {min_increase!r}")


def compute_drift(
    source: Any,
    freq: Any = "W",
    *,
    baseline: Any = 1,
    min_queries: int = MIN_QUERIES,
    alpha: float = 0.05,
    min_ratio: float = 2.0,
    min_increase: float = 0.01,
    min_failure_increase: float = 0.1,
) -> Drift:
    """Compare each time window's cluster mix and coverage with a baseline.

    Parameters
    ----------
    source : CoverageReport or AssignedTraffic
        Anything with ``queries`` (columns excluded, weight, time, cluster, covered[, novel])
        and ``clusters`` (cluster, label, status). The traffic must have been read with
        ``time=``.
    freq : str, DateOffset or sequence of timestamps, default="W"
        Window length as a pandas offset alias, or explicit window starts; see
        :func:`window_index`.
    baseline : int or (start, end), default=1
        The first ``k`` windows, or the windows starting in ``[start, end)`` (naive dates are
        UTC). Its pooled mix is the reference; it needs ``min_queries`` queries.
    min_queries : int, default=50
        Windows with less traffic are not tested (note "insufficient data"; p_value NaN;
        drifted False). 50 queries is about the least for which a shift of a few clusters is
        detectable at all.
    alpha : float, default=0.05
        False discovery rate for ``drifted`` and for emerging/fading flags.
    min_ratio : float, default=2.0
        Emerging needs share >= min_ratio x baseline share (fading: <= baseline / min_ratio).
    min_increase : float, default=0.01
        Emerging also needs share - baseline share >= this absolute change (fading: the drop).
    min_failure_increase : float, default=0.1
        With failure outcomes, a cluster's failure rate in a window is flagged as a jump when
        a one-sided Fisher exact test against its baseline rate (weights rounded to whole
        queries; one Benjamini-Hochberg family over all (window, cluster) tests) is below
        ``alpha``, the rate is at least ``min_ratio`` times the baseline rate and at least this
        much above it.

    Returns
    -------
    Drift

    Raises
    ------
    ValueError
        If the traffic has no time column, no row has a time, or the baseline holds fewer
        than ``min_queries`` queries.
    """
    _check_params(min_queries, alpha, min_ratio, min_increase)
    if not (isinstance(min_failure_increase, (int, float)) and 0 <= min_failure_increase < 1):
        raise ValueError(
            f"min_failure_increase must be a number in [0, 1), got {min_failure_increase!r}"
        )
    q = source.queries
    if "time" not in q.columns:
        raise ValueError(
            "drift needs timestamps: the traffic was read without a time column; pass "
            "time='<column>' to evalcov.analyze (or to assign)"
        )
    table = source.clusters
    n_clusters = len(table)
    analyzed = ~q["excluded"].to_numpy(dtype=bool)
    starts, win = window_index(q["time"], freq)
    missing_time = analyzed & q["time"].isna().to_numpy()
    before = analyzed & ~missing_time & (win < 0)
    reasons = {}
    if missing_time.any():
        reasons["missing time"] = int(missing_time.sum())
    if before.any():
        reasons["before first window"] = int(before.sum())
    use = analyzed & (win >= 0)
    if not use.any():
        raise ValueError(
            "no analyzed traffic row has a timestamp in a window; check the time column"
        )
    n_win = len(starts)
    cl = q["cluster"].to_numpy()[use]
    wi = win[use]
    w = q["weight"].to_numpy(dtype=float)[use]
    cov = q["covered"].to_numpy(dtype=bool)[use]
    flat = wi * n_clusters + cl
    size = n_win * n_clusters
    traffic = np.bincount(flat, weights=w, minlength=size).reshape(n_win, n_clusters)
    rows = np.bincount(flat, minlength=size).reshape(n_win, n_clusters)
    covered_w = np.bincount(flat, weights=w * cov, minlength=size).reshape(n_win, n_clusters)
    counts = np.rint(traffic)

    is_base = _resolve_baseline(baseline, starts)
    base = counts[is_base].sum(axis=0)
    base_traffic = traffic[is_base].sum(axis=0)
    if base.sum() < min_queries:
        raise ValueError(
            f"the baseline holds {int(base.sum())} queries, fewer than min_queries="
            f"{min_queries}; widen it (baseline=k windows or a (start, end) range)"
        )
    base_share = base_traffic / base_traffic.sum()

    win_traffic = traffic.sum(axis=1)
    win_counts = counts.sum(axis=1)
    n_rows = rows.sum(axis=1)
    share = np.divide(
        traffic, win_traffic[:, None], out=np.zeros_like(traffic), where=win_traffic[:, None] > 0
    )
    has = win_traffic > 0
    coverage = np.full(n_win, np.nan)
    coverage[has] = covered_w.sum(axis=1)[has] / win_traffic[has]
    base_coverage = covered_w[is_base].sum() / base_traffic.sum()
    testable = ~is_base & (win_counts >= min_queries)

    p_win = np.full(n_win, np.nan)
    divergence = np.full(n_win, np.nan)
    for i in np.flatnonzero(has):
        divergence[i] = float(jensenshannon(share[i], base_share, base=2) ** 2)
        if testable[i]:
            p_win[i] = _homogeneity_p(counts[i], base)
    q_win = _bh(p_win)
    drifted = np.nan_to_num(q_win, nan=1.0) < alpha

    p_up, p_down = _cluster_tests(counts, base, testable)
    groups = _cluster_groups(source, n_clusters)
    g_counts = counts @ groups.T
    g_up, _ = _cluster_tests(g_counts, base @ groups.T, testable, (win_counts, base.sum()))
    q_all = _bh(np.concatenate([p_up.ravel(), p_down.ravel(), g_up.ravel()]))
    q_up, q_down, q_group = (
        part.reshape(p_up.shape[0], -1) for part in np.split(q_all, [p_up.size, 2 * p_up.size])
    )
    emerging = (
        (np.nan_to_num(q_up, nan=1.0) < alpha)
        & (share >= min_ratio * base_share)
        & (share - base_share >= min_increase)
    )
    via_group, q_via = _group_flags(
        groups,
        share @ groups.T,
        base_share @ groups.T,
        q_group,
        share,
        base_share,
        p_up,
        table["status"].to_numpy(dtype=object) != "covered",
        alpha=alpha,
        min_ratio=min_ratio,
        min_increase=min_increase,
    )
    direct = emerging
    emerging = direct | via_group
    fading = (
        (np.nan_to_num(q_down, nan=1.0) < alpha)
        & (share <= base_share / min_ratio)
        & (base_share - share >= min_increase)
    )

    note = np.where(
        is_base,
        "baseline",
        np.where(n_rows == 0, "no traffic", np.where(testable, "", "insufficient data")),
    )
    windows = pd.DataFrame(
        {
            "window": starts,
            "end": _window_ends(starts, freq),
            "n_queries": n_rows,
            "traffic": win_traffic,
            "coverage": coverage,
            "uncovered_share": 1.0 - coverage,
            "uncovered_change": (1.0 - coverage) - (1.0 - base_coverage),
        }
    )
    if "novel" in q.columns:
        nov = np.bincount(wi, weights=w * q["novel"].to_numpy(dtype=bool)[use], minlength=n_win)
        windows["novel_share"] = np.divide(nov, win_traffic, out=np.full(n_win, np.nan), where=has)
    windows["divergence"] = divergence
    windows["p_value"] = p_win
    windows["q_value"] = q_win
    windows["drifted"] = drifted
    windows["note"] = note

    labels = table["label"].to_numpy(dtype=object)
    long = pd.DataFrame(
        {
            "window": np.repeat(starts, n_clusters),
            "cluster": np.tile(np.arange(n_clusters), n_win),
            "label": np.tile(labels, n_win),
            "share": share.ravel(),
            "n_queries": rows.ravel(),
            "covered": np.divide(
                covered_w, traffic, out=np.full_like(traffic, np.nan), where=traffic > 0
            ).ravel(),
            "baseline_share": np.tile(base_share, n_win),
            "emerging": emerging.ravel(),
            "fading": fading.ravel(),
        }
    )
    last = np.flatnonzero(testable)
    now = share[last[-1]] if len(last) else np.full(n_clusters, np.nan)
    flags = {
        "emerging": _flag_table(
            emerging,
            share,
            now,
            base_share,
            p_up,
            np.where(direct, q_up, q_via),
            starts,
            table,
            direct,
        ),
        "fading": _flag_table(fading, share, now, base_share, p_down, q_down, starts, table),
    }
    summary = {
        "freq": freq if isinstance(freq, str) else str(freq),
        "n_windows": int(n_win),
        "baseline": [str(s) for s in starts[is_base]],
        "baseline_queries": int(base.sum()),
        "baseline_coverage": float(base_coverage),
        "min_queries": int(min_queries),
        "alpha": float(alpha),
        "n_tested": int(testable.sum()),
        "n_drifted": int(drifted.sum()),
        "n_emerging": int(len(flags["emerging"])),
        "n_emerging_uncovered": int((~flags["emerging"]["covered"]).sum()),
        "n_emerging_via_group": int((flags["emerging"]["via"] == "group").sum()),
        "n_groups_tested": int(len(groups)),
        "n_fading": int(len(flags["fading"])),
        "n_rows": int(len(q)),
        "n_in_windows": int(use.sum()),
        "excluded": int(missing_time.sum() + before.sum()),
        "excluded_reasons": reasons,
        "n_excluded_text": int((~analyzed).sum()),
    }
    failing = None
    if "failed" in q.columns:
        f = q["failed"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)[use]
        known = ~np.isnan(f)
        out_w = np.bincount(flat, weights=w * known, minlength=size).reshape(n_win, n_clusters)
        fail_w = np.bincount(flat, weights=np.where(known, w * f, 0.0), minlength=size)
        fail_w = fail_w.reshape(n_win, n_clusters)
        rate, jumped, failing = _failure_jumps(
            out_w, fail_w, is_base, testable, starts, table, alpha, min_ratio, min_failure_increase
        )
        kw = out_w.sum(axis=1)
        windows["failure_rate"] = np.divide(
            fail_w.sum(axis=1), kw, out=np.full(n_win, np.nan), where=kw > 0
        )
        long["failure_rate"] = rate.ravel()
        long["failing"] = jumped.ravel()
        summary["n_failing"] = int(len(failing))
    return Drift(
        windows=windows,
        clusters=long,
        emerging=flags["emerging"],
        fading=flags["fading"],
        summary=summary,
        excluded=summary["excluded"],
        failing=failing,
    )


def _failure_jumps(
    outcome_w: np.ndarray,
    failed_w: np.ndarray,
    is_base: np.ndarray,
    testable: np.ndarray,
    starts: pd.DatetimeIndex,
    table: pd.DataFrame,
    alpha: float,
    min_ratio: float,
    min_increase: float,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Failure rate per (window, cluster), the jumps, and one row per cluster that jumped.

    A jump is flagged like an emerging cluster: a one-sided Fisher exact (hypergeometric) test
    of the window's failures in the cluster against the baseline's, conditioned on both
    outcome counts, Benjamini-Hochberg adjusted over all (window, cluster) tests, plus a
    minimum effect so large windows do not flag small but significant wiggles.
    """
    rate = np.divide(failed_w, outcome_w, out=np.full(outcome_w.shape, np.nan), where=outcome_w > 0)
    n, k = np.rint(outcome_w), np.rint(failed_w)
    base_n, base_k = n[is_base].sum(axis=0), k[is_base].sum(axis=0)
    base_rate = np.divide(base_k, base_n, out=np.full(len(base_n), np.nan), where=base_n > 0)
    p = np.full(rate.shape, np.nan)
    for i in np.flatnonzero(testable):
        ok = (n[i] > 0) & (base_n > 0)
        # The window draws n[i] of the n[i] + base_n outcomes, k + base_k of which failed.
        dist = stats.hypergeom(n[i, ok] + base_n[ok], k[i, ok] + base_k[ok], n[i, ok])
        p[i, ok] = np.maximum(dist.sf(k[i, ok] - 1), _P_FLOOR)
    q = _bh(p.ravel()).reshape(p.shape)
    with np.errstate(invalid="ignore"):
        jumped = (
            (np.nan_to_num(q, nan=1.0) < alpha)
            & (rate >= min_ratio * base_rate)
            & (rate - base_rate >= min_increase)
        )
    clusters = np.flatnonzero(jumped.any(axis=0))
    first = jumped[:, clusters].argmax(axis=0)
    tested = testable[:, None] & (n > 0)
    last = np.where(tested.any(axis=0), len(starts) - 1 - np.argmax(tested[::-1], axis=0), -1)
    status = table["status"].to_numpy(dtype=object)[clusters]
    failing = pd.DataFrame(
        {
            "cluster": clusters,
            "label": table["label"].to_numpy(dtype=object)[clusters],
            "first_window": starts[first],
            "baseline_failure_rate": base_rate[clusters],
            "failure_rate_first": rate[first, clusters],
            "failure_rate_now": rate[last[clusters], clusters],
            "covered": is_covered(status),
            "status": pd.Series(status, dtype=object),
            "n_flagged": jumped[:, clusters].sum(axis=0),
            "p_value": p[first, clusters],
            "q_value": q[first, clusters],
        }
    )
    _add_topic(failing, table, clusters)
    failing = failing.sort_values(
        ["first_window", "failure_rate_first", "cluster"], ascending=[True, False, True]
    )
    return rate, jumped, failing.reset_index(drop=True)


def _window_ends(starts: pd.DatetimeIndex, freq: Any) -> pd.DatetimeIndex:
    """Each window ends where the next starts; the last explicit window is open (NaT)."""
    if len(starts) == 0 or _is_bins(freq):
        return pd.DatetimeIndex(list(starts[1:]) + [pd.NaT][: len(starts)], tz="UTC")
    last = starts[-1].tz_convert(None)
    offset = pd.tseries.frequencies.to_offset(freq)
    following = _calendar_starts(last, last + offset + offset, freq)
    return pd.DatetimeIndex(list(starts[1:]) + [following[1].tz_localize("UTC")])


def _cluster_tests(
    counts: np.ndarray,
    base: np.ndarray,
    testable: np.ndarray,
    totals: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Fisher exact p-values per (window, cluster): share above / below baseline.

    ``totals`` gives the window and baseline sizes when the columns do not partition the
    traffic (overlapping groups); by default they are the row sums.
    """
    p_up = np.full(counts.shape, np.nan)
    p_down = np.full(counts.shape, np.nan)
    n_base = base.sum() if totals is None else totals[1]
    for i in np.flatnonzero(testable):
        a = counts[i]
        n_win = a.sum() if totals is None else totals[0][i]
        total = a + base
        present = total > 0
        # Hypergeometric: window draws n_win of the n_win + n_base queries, total[c] of which
        # are in cluster c; that is Fisher's exact test on the 2x2 table, conditioned on margins.
        dist = stats.hypergeom(n_win + n_base, total[present], n_win)
        p_up[i, present] = np.maximum(dist.sf(a[present] - 1), _P_FLOOR)
        p_down[i, present] = np.maximum(dist.cdf(a[present]), _P_FLOOR)
    return np.minimum(p_up, 1.0), np.minimum(p_down, 1.0)


def _cluster_groups(source: Any, n_clusters: int) -> np.ndarray:
    """Groups of neighbouring clusters as a (n_groups, n_clusters) 0/1 matrix.

    The groups are the inner nodes of an average-linkage tree (cosine distance) over the
    traffic-weighted centroids of the clusters that hold traffic, without the root (all
    clusters: its share never changes). Empty when the source has no embeddings (e.g. a
    hand-made source) or fewer than three clusters hold traffic.
    """
    from scipy.cluster.hierarchy import linkage

    X = getattr(source, "traffic_embeddings_", None)
    unique = getattr(source, "unique_", None)
    none = np.zeros((0, n_clusters))
    if X is None or unique is None or "cluster" not in unique.columns:
        return none
    labels = unique["cluster"].to_numpy(dtype=np.int64)
    weights = unique["weight"].to_numpy(dtype=float)
    ok = (labels >= 0) & (labels < n_clusters) & (weights > 0)
    centroids = np.zeros((n_clusters, X.shape[1]))
    np.add.at(centroids, labels[ok], X[ok] * weights[ok, None])
    norms = np.linalg.norm(centroids, axis=1)
    present = np.flatnonzero(norms > 0)
    if len(present) < 3:
        return none
    tree = linkage(centroids[present] / norms[present, None], method="average", metric="cosine")
    members = [[c] for c in present]
    for a, b, _, _ in tree[:-1]:
        members.append(members[int(a)] + members[int(b)])
    groups = np.zeros((len(tree) - 1, n_clusters))
    for g, m in enumerate(members[len(present) :]):
        groups[g, m] = 1.0
    return groups


def _group_flags(
    groups: np.ndarray,
    g_share: np.ndarray,
    g_base_share: np.ndarray,
    q_group: np.ndarray,
    share: np.ndarray,
    base_share: np.ndarray,
    p_up: np.ndarray,
    eligible: np.ndarray,
    *,
    alpha: float,
    min_ratio: float,
    min_increase: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters that emerge through a flagged group, and the best q-value of those groups.

    A group is flagged like a cluster (q-value, ratio and increase of its pooled share); an
    ``eligible`` (uncovered or thin) member emerges with it when its own share is at least
    ``min_ratio`` times its baseline share and its own one-sided p-value is below ``alpha``
    divided by the group's size (hierarchical testing: a group's members are tested, with a
    Bonferroni correction within the group, only once the group is flagged).
    """
    n_win, n_clusters = share.shape
    q_via = np.full((n_win, n_clusters), np.nan)
    flagged = (
        (np.nan_to_num(q_group, nan=1.0) < alpha)
        & (g_share >= min_ratio * g_base_share)
        & (g_share - g_base_share >= min_increase)
    )
    rising = eligible[None, :] & (share >= min_ratio * base_share) & (share > base_share)
    via = np.zeros((n_win, n_clusters), dtype=bool)
    for w, g in zip(*np.nonzero(flagged), strict=True):
        members = np.flatnonzero(groups[g] > 0)
        # The members of a flagged group are one family, Bonferroni-corrected: with two
        # members, Benjamini-Hochberg let a 7-query cluster at p = 0.035 ride on its
        # neighbour's arrival.
        own = np.nan_to_num(p_up[w, members], nan=1.0) < alpha / len(members)
        hit = members[own & rising[w, members]]
        via[w, hit] = True
        q_via[w, hit] = np.fmin(q_via[w, hit], q_group[w, g])
    return via, q_via


def _flag_table(
    flagged: np.ndarray,
    share: np.ndarray,
    now: np.ndarray,
    base_share: np.ndarray,
    p: np.ndarray,
    q: np.ndarray,
    starts: pd.DatetimeIndex,
    table: pd.DataFrame,
    direct: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per flagged cluster; ``direct`` marks the flags a cluster earned on its own
    (None: all of them), the rest came through a group (column ``via``)."""
    clusters = np.flatnonzero(flagged.any(axis=0))
    first = flagged[:, clusters].argmax(axis=0)
    own = np.ones(len(clusters), bool) if direct is None else direct[first, clusters]
    status = table["status"].to_numpy(dtype=object)[clusters]
    out = pd.DataFrame(
        {
            "cluster": clusters,
            "label": table["label"].to_numpy(dtype=object)[clusters],
            "first_window": starts[first],
            "baseline_share": base_share[clusters],
            "share_first": share[first, clusters],
            "share_now": now[clusters],
            "covered": is_covered(status),
            "status": pd.Series(status, dtype=object),
            "n_flagged": flagged[:, clusters].sum(axis=0),
            "p_value": p[first, clusters],
            "q_value": q[first, clusters],
            "via": np.where(own, "cluster", "group"),
        }
    )
    if "proposed" in table.columns:
        out.insert(2, "proposed", table["proposed"].to_numpy(dtype=bool)[clusters])
    _add_topic(out, table, clusters)
    out = out.sort_values(["first_window", "share_first", "cluster"], ascending=[True, False, True])
    return out.reset_index(drop=True)


def _add_topic(out: pd.DataFrame, table: pd.DataFrame, clusters: np.ndarray) -> None:
    """A ``topic`` column after ``cluster`` when the source's clusters have topics, so the
    fragments of one request that a window flags read as one (``groupby("topic")``)."""
    if "topic" in table.columns:
        out.insert(1, "topic", table["topic"].to_numpy(dtype=np.int64)[clusters])


def assign_traffic(source: Any, new_traffic: Any, **options: Any) -> Any:
    """Place new traffic into a report's clusters (same ids and labels).

    Equivalent to ``evalcov.persist.from_report(report).assign(new_traffic, **options)``; see
    :meth:`evalcov.persist.SavedMap.assign`. The result has ``drift()`` too.
    """
    from evalcov.persist import SavedMap, from_report

    saved = source if isinstance(source, SavedMap) else from_report(source)
    return saved.assign(new_traffic, **options)
