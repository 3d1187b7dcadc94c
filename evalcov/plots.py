"""Plotly views of a CoverageReport: the traffic map, the gap chart, the coverage curve.

Every function returns a ``plotly.graph_objects.Figure`` and only reads the report's tables,
except the map's 2-D layout, which is computed once per report and cached on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from evalcov.safe_html import plot_text

if TYPE_CHECKING:
    from evalcov.report import CoverageReport

__all__ = ["layout_2d", "plot_coverage_curve", "plot_gaps", "plot_map"]

TEMPLATE = "plotly_white"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COVERED = "#0072B2"
UNCOVERED = "#E69F00"
STATUS_COLORS = {
    "uncovered": "#D55E00",
    "partial": "#CC79A7",
    "thin": "#E69F00",
    "covered": "#56B4E9",
}
# A second cue besides hue, for readers who cannot tell the warm colours apart.
_STATUS_PATTERNS = {"thin": "/", "partial": "."}
OTHER = "#BBBBBB"
# Kelly's colours of maximum contrast, without white, black and grey (kept for "other"
# clusters and the outline of eval markers).
CLUSTER_COLORS = (
    "#0067A5", "#F38400", "#008856", "#BE0032", "#875692", "#F3C300", "#A1CAF1", "#882D17",
    "#8DB600", "#E68FAC", "#604E97", "#F99379", "#2B3D26", "#DCD300", "#B3446C", "#C2B280",
    "#654522", "#E25822", "#F6A600", "#5A9E9A",
)  # fmt: skip
N_COLORED = len(CLUSTER_COLORS)
N_ANNOTATED = 10
MAX_MARKER = 24
_BLOCK = 2048
_HOVER_CHARS = 160


@dataclass
class _Layout:
    """2-D coordinates of the map: fitted sample once, other points placed on demand."""

    fit_xy: np.ndarray  # (n_fit, 2) UMAP of map_.fit_embeddings_
    traffic_xy: np.ndarray  # (n_unique, 2), NaN until placed
    eval_xy: np.ndarray | None = None  # (n_eval, 2)


def _fit_layout(report: CoverageReport) -> _Layout:
    cached = getattr(report, "_layout2d", None)
    if cached is not None:
        return cached
    F = np.asarray(report.map_.fit_embeddings_, dtype=np.float32)
    seed = int(report.analyzer_.random_state)
    if len(F) >= 10:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import umap

            xy = umap.UMAP(
                n_components=2,
                n_neighbors=min(15, len(F) - 1),
                min_dist=0.1,
                metric="cosine",
                random_state=seed,
                n_jobs=1,
            ).fit_transform(F)
    else:
        # Too few texts for UMAP's spectral init: the first two principal axes will do.
        centered = F - F.mean(axis=0)
        xy = np.zeros((len(F), 2))
        if len(F) > 1:
            _, _, vt = np.linalg.svd(centered, full_matrices=False)
            xy[:, : min(2, len(vt))] = centered @ vt[:2].T
    layout = _Layout(
        fit_xy=np.asarray(xy, dtype=np.float32),
        traffic_xy=np.full((len(report.unique_), 2), np.nan, dtype=np.float32),
    )
    report._layout2d = layout
    return layout


def _place(X: np.ndarray, F: np.ndarray, fit_xy: np.ndarray, k: int = 10) -> np.ndarray:
    """2-D position of each row of X: similarity-weighted mean of its k nearest fitted points.

    Weights are a softmax of cosine similarity with a small temperature: a plain mean of
    neighbours from two UMAP islands lands between them, where no traffic is. A text of the
    fitted sample (similarity 1 to a fitted point) sits exactly on its fitted position.
    """
    k = min(k, len(F))
    out = np.empty((len(X), 2), dtype=np.float32)
    for start in range(0, len(X), _BLOCK):
        sims = X[start : start + _BLOCK] @ F.T
        if k < sims.shape[1]:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
        s = np.take_along_axis(sims, top, axis=1).astype(np.float64)
        w = np.exp((s - s.max(axis=1, keepdims=True)) / 0.02)
        w /= w.sum(axis=1, keepdims=True)
        xy = np.einsum("nk,nkd->nd", w, fit_xy[top])
        best = s.argmax(axis=1)
        fitted = s[np.arange(len(s)), best] >= 1 - 1e-4
        xy[fitted] = fit_xy[top[np.flatnonzero(fitted), best[fitted]]]
        out[start : start + _BLOCK] = xy
    return out


def layout_2d(
    report: CoverageReport, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """2-D map coordinates of distinct traffic texts and distinct eval prompts.

    A 2-D UMAP is fitted once on the map's fit sample (``report.map_.fit_embeddings_``,
    seeded with the analyzer's ``random_state``) and cached on the report; every other text
    is placed by :func:`_place`, only when first asked for.

    Parameters
    ----------
    report : CoverageReport
    rows : array of int, optional
        Rows of ``report.unique_`` to return (default: all).

    Returns
    -------
    traffic_xy : ndarray of shape (len(rows), 2)
    eval_xy : ndarray of shape (n_eval, 2)
    """
    lay = _fit_layout(report)
    F = report.map_.fit_embeddings_
    rows = np.arange(len(report.unique_)) if rows is None else np.asarray(rows, dtype=np.int64)
    missing = rows[np.isnan(lay.traffic_xy[rows, 0])]
    if len(missing):
        lay.traffic_xy[missing] = _place(report.traffic_embeddings_[missing], F, lay.fit_xy)
    if lay.eval_xy is None:
        lay.eval_xy = _place(report.eval_embeddings_, F, lay.fit_xy)
    return lay.traffic_xy[rows], lay.eval_xy


def sample_rows(report: CoverageReport, max_points: int) -> np.ndarray:
    """Rows of ``report.unique_`` to draw: all, or a weighted sample stratified by cluster.

    Each cluster gets one text and a share of the rest of ``max_points`` proportional to its
    other distinct texts, and inside a cluster texts are drawn without replacement with probability
    proportional to their traffic weight (Efraimidis-Spirakis keys), seeded by the report's
    ``random_state``.
    """
    u = report.unique_
    n = len(u)
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(int(report.analyzer_.random_state))
    weights = u["weight"].to_numpy(dtype=np.float64)
    keys = np.log(rng.random(n)) / np.maximum(weights, 1e-12)
    clusters = u["cluster"].to_numpy()
    sizes = np.bincount(clusters)
    # Every cluster keeps one text; the rest of the budget goes in proportion to the texts
    # left, largest remainders first, so the sample has exactly max_points texts (or one per
    # cluster when there are more clusters than that).
    quota = (sizes > 0).astype(np.int64)
    budget = max(max_points - int(quota.sum()), 0)
    left = sizes - quota
    exact = left * budget / max(int(left.sum()), 1)
    extra = np.floor(exact).astype(np.int64)
    spare = budget - int(extra.sum())
    extra[np.argsort(-(exact - extra), kind="stable")[:spare]] += 1
    quota += np.minimum(extra, left)
    chosen = []
    for c in np.flatnonzero(sizes):
        members = np.flatnonzero(clusters == c)
        take = min(quota[c], len(members))
        chosen.append(members[np.argsort(-keys[members], kind="stable")[:take]])
    return np.sort(np.concatenate(chosen))


def _redactor(report: CoverageReport, redact: bool) -> Any:
    if not redact:
        return None
    from evalcov.redact import get_redactor

    return get_redactor(report.analyzer_.redact or "default")


def _hover_texts(texts: list[str], redactor: Any) -> list[str]:
    """Redacted (one call, so placeholders are consistent), shortened, HTML-escaped texts."""
    if redactor is not None and texts:
        texts = redactor.redact(list(texts))
    return [plot_text(shorten(t, _HOVER_CHARS)) for t in texts]


def shorten(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters, with an ellipsis when cut."""
    text = str(text)
    return text if len(text) <= n else text[: n - 1].rstrip() + "\u2026"


def _marker_size(weight: np.ndarray) -> np.ndarray:
    # Area grows with traffic, capped so one very frequent query cannot hide its neighbours.
    return np.clip(4 + 3 * np.sqrt(weight), 6, MAX_MARKER)


def plot_map(
    report: CoverageReport,
    color: str = "cluster",
    max_points: int = 50_000,
    redact: bool = True,
    height: int = 650,
) -> go.Figure:
    """2-D map of production traffic and eval prompts.

    Each distinct traffic text is a dot (area ~ its traffic, capped), each distinct eval
    prompt a black-outlined diamond. Hovering shows the (redacted) text, its cluster, and its
    cosine similarity to the nearest eval prompt.

    Parameters
    ----------
    report : CoverageReport
    color : {"cluster", "covered"}, default="cluster"
        Colour traffic by cluster (the ``N_COLORED`` largest get their own colour, the rest
        grey) or by whether the eval set covers it.
    max_points : int, default=50000
        Most traffic texts drawn; above it a weighted, cluster-stratified sample is drawn
        (:func:`sample_rows`) and the title says so.
    redact : bool, default=True
        Redact PII in hover texts with the report's redactor.
    height : int, default=650
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if color not in ("cluster", "covered"):
        raise ValueError(f"color must be 'cluster' or 'covered', got {color!r}")
    if not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
    u = report.unique_
    rows = sample_rows(report, int(max_points))
    xy, exy = layout_2d(report, rows)
    labels = report.clusters["label"].to_numpy(dtype=object)
    cluster = u["cluster"].to_numpy()[rows]
    weight = u["weight"].to_numpy(dtype=np.float64)[rows]
    sim = u["similarity"].to_numpy(dtype=np.float64)[rows]
    covered = u["covered"].to_numpy(dtype=bool)[rows]
    eval_texts = list(report.eval_dedup_.texts)
    redactor = _redactor(report, redact)
    hover = _hover_texts([u["text"].iat[i] for i in rows] + eval_texts, redactor)
    t_hover, e_hover = hover[: len(rows)], hover[len(rows) :]
    names = [plot_text(shorten(labels[c], 60)) for c in cluster]
    custom = np.empty((len(rows), 5), dtype=object)
    custom[:, 0] = rows
    custom[:, 1] = t_hover
    custom[:, 2] = names
    custom[:, 3] = np.round(sim, 3)
    custom[:, 4] = np.round(weight, 2)
    hovertemplate = (
        "%{customdata[1]}<br><i>cluster:</i> %{customdata[2]}"
        "<br><i>similarity to nearest eval:</i> %{customdata[3]:.2f}"
        "<br><i>traffic:</i> %{customdata[4]}<extra></extra>"
    )

    fig = go.Figure()

    def add_traffic(mask: np.ndarray, name: str, colour: str, group: str) -> None:
        fig.add_trace(
            go.Scattergl(
                x=xy[mask, 0],
                y=xy[mask, 1],
                mode="markers",
                name=name,
                legendgroup=group,
                marker={
                    "color": colour,
                    "size": _marker_size(weight[mask]),
                    "opacity": 0.75,
                    "line": {"width": 0},
                },
                customdata=custom[mask],
                hovertemplate=hovertemplate,
                meta={"kind": "traffic", "group": group},
            )
        )

    if color == "cluster":
        for c in range(min(N_COLORED, len(labels))):
            mask = cluster == c
            if mask.any():
                add_traffic(
                    mask, f"{c}: {plot_text(shorten(labels[c], 40))}", CLUSTER_COLORS[c], f"c{c}"
                )
        rest = cluster >= N_COLORED
        if rest.any():
            n_rest = len(np.unique(cluster[rest]))
            add_traffic(rest, f"{n_rest} smaller clusters", OTHER, "other")
    else:
        add_traffic(covered, "covered traffic", COVERED, "covered")
        add_traffic(~covered, "uncovered traffic", UNCOVERED, "uncovered")

    e_cluster = np.asarray(report.eval_labels_)
    if color == "cluster":
        e_fill = [CLUSTER_COLORS[c] if c < N_COLORED else OTHER for c in e_cluster]
    else:
        e_fill = "white"
    e_custom = np.empty((len(eval_texts), 2), dtype=object)
    e_custom[:, 0] = e_hover
    e_custom[:, 1] = [plot_text(shorten(labels[c], 60)) for c in e_cluster]
    fig.add_trace(
        go.Scattergl(
            x=exy[:, 0],
            y=exy[:, 1],
            mode="markers",
            name=f"eval prompts ({len(eval_texts)})",
            marker={
                "symbol": "diamond",
                "size": 10,
                "color": e_fill,
                "line": {"color": "black", "width": 1.5},
            },
            customdata=e_custom,
            hovertemplate="<b>eval:</b> %{customdata[0]}<br><i>cluster:</i> %{customdata[1]}"
            "<extra></extra>",
            meta={"kind": "eval"},
        )
    )

    n_unique = len(u)
    title = f"Traffic map: {n_unique:,} distinct queries, {len(eval_texts):,} eval prompts"
    if len(rows) < n_unique:
        title += (
            f"<br><sup>showing a weighted sample of {len(rows):,} of {n_unique:,} distinct "
            "queries, stratified by cluster</sup>"
        )
    fig.update_layout(
        template=TEMPLATE,
        title=title,
        height=height,
        legend={"itemsizing": "constant", "font": {"size": 11}},
        hovermode="closest",
        xaxis={"showticklabels": False, "title": None, "zeroline": False, "showgrid": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False, "showgrid": False},
        annotations=_cluster_annotations(xy, cluster, weight, labels),
        margin={"l": 20, "r": 20, "t": 80, "b": 20},
    )
    return fig


def _cluster_annotations(
    xy: np.ndarray, cluster: np.ndarray, weight: np.ndarray, labels: np.ndarray
) -> list[dict[str, Any]]:
    """Labels at the median position of the largest clusters, skipping ones that would collide."""
    if len(xy) == 0:
        return []
    span = np.ptp(xy, axis=0)
    min_gap = 0.06 * np.maximum(span, 1e-9)
    placed: list[np.ndarray] = []
    notes = []
    traffic = np.bincount(cluster, weights=weight)
    for c in np.argsort(-traffic, kind="stable")[:N_ANNOTATED]:
        if traffic[c] <= 0:
            continue
        pos = np.median(xy[cluster == c], axis=0)
        if any(np.all(np.abs(pos - p) < min_gap) for p in placed):
            continue
        placed.append(pos)
        notes.append(
            {
                "x": float(pos[0]),
                "y": float(pos[1]),
                "text": plot_text(shorten(labels[c], 32)),
                "showarrow": False,
                "font": {"size": 11, "color": "#222"},
                "bgcolor": "rgba(255,255,255,0.75)",
            }
        )
    return notes


def plot_gaps(report: CoverageReport, top: int = 25, level: str = "topic") -> go.Figure:
    """Topics (or clusters) by traffic share, coloured by status, most uncovered traffic first.

    Parameters
    ----------
    report : CoverageReport
    top : int, default=25
        Bars shown (ranked by traffic share times share not covered).
    level : {"topic", "cluster"}, default="topic"
        ``"topic"``: one bar per row of :attr:`CoverageReport.topics` (a request split into
        several clusters is one bar; status "partial" when only some are tested), as the gap
        list reads. ``"cluster"``: one bar per cluster of the map, with the Wilson interval
        of its claimed share on hover.

    Returns
    -------
    plotly.graph_objects.Figure
        One horizontal bar per topic or cluster (length: share of traffic), one trace per
        status.
    """
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    if level == "topic":
        c = report.topics.copy()
        c["interval"] = ""
    elif level == "cluster":
        c = report.clusters.copy()
        c["uncovered_share"] = c["traffic_share"] * (1 - c["coverage"])
        c["interval"] = [
            f" ({lo:.0%}-{hi:.0%})"
            for lo, hi in zip(c["coverage_low"], c["coverage_high"], strict=True)
        ]
    else:
        raise ValueError(f"level must be 'topic' or 'cluster', got {level!r}")
    c = c.sort_values(["uncovered_share", "traffic_share", level], ascending=[False, False, True])
    c = c.head(int(top))
    c["name"] = [
        f"{k}: {plot_text(shorten(lab, 38))}" for k, lab in zip(c[level], c["label"], strict=True)
    ]
    order = list(c["name"])
    fig = go.Figure()
    for status, color in STATUS_COLORS.items():
        part = c[c["status"] == status]
        if part.empty:
            continue
        custom = np.column_stack(
            [
                [plot_text(lab) for lab in part["label"]],
                part["coverage"],
                part["interval"],
                part["n_eval"],
                part["uncovered_share"],
                part["n_queries"],
            ]
        )
        fig.add_trace(
            go.Bar(
                x=part["traffic_share"],
                y=part["name"],
                orientation="h",
                name=status,
                marker={
                    "color": color,
                    "opacity": 1.0 if status == "uncovered" else 0.85,
                    "pattern": {"shape": _STATUS_PATTERNS.get(status, "")},
                },
                text=[f"{v:.0%} covered" for v in part["coverage"]],
                textposition="outside",
                cliponaxis=False,
                customdata=custom,
                hovertemplate="<b>%{customdata[0]}</b><br>traffic share: %{x:.1%}"
                "<br>coverage: %{customdata[1]:.0%}%{customdata[2]}"
                "<br>uncovered traffic: %{customdata[4]:.1%}<br>queries: %{customdata[5]}"
                "<br>eval prompts: %{customdata[3]}<extra>" + status + "</extra>",
            )
        )
    fig.update_layout(
        template=TEMPLATE,
        title=f"{level.capitalize()}s by share of traffic (top {len(c)} by uncovered traffic)",
        height=170 + 26 * len(c),
        barmode="overlay",
        xaxis={
            "title": "share of traffic",
            # Whole percents repeat ("1%, 1%, 2%") when the largest share is a few percent.
            "tickformat": ".0%" if c["traffic_share"].max() >= 0.1 else ".1%",
            "rangemode": "tozero",
        },
        yaxis={
            "title": None,
            "categoryorder": "array",
            "categoryarray": order,
            "autorange": "reversed",
            "automargin": True,
        },
        legend={
            "title": {"text": "status"},
            "orientation": "h",
            "x": 1,
            "xanchor": "right",
            "y": 1.0,
            "yanchor": "bottom",
        },
        margin={"l": 10, "r": 90, "t": 90, "b": 50},
    )
    return fig


def plot_coverage_curve(suggestions: pd.DataFrame) -> go.Figure:
    """Projected coverage as suggested eval prompts are added, in rank order.

    Parameters
    ----------
    suggestions : DataFrame
        What :meth:`CoverageReport.suggest_additions` returns: needs columns ``rank`` (1 for
        the first addition) and ``projected_coverage`` (coverage after adding ranks 1..rank);
        a ``text`` column, when present, is shown on hover.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if not isinstance(suggestions, pd.DataFrame):
        raise TypeError(
            f"suggestions must be a DataFrame from suggest_additions(), got "
            f"{type(suggestions).__name__}"
        )
    missing = [col for col in ("rank", "projected_coverage") if col not in suggestions.columns]
    if missing:
        raise ValueError(
            f"suggestions lacks column(s) {missing}; columns present: "
            f"{', '.join(map(str, suggestions.columns))}"
        )
    s = suggestions.sort_values("rank")
    hover = None
    if "text" in s.columns:
        hover = [plot_text(shorten(t, 100)) for t in s["text"].astype(str)]
    fig = go.Figure(
        go.Scatter(
            x=s["rank"],
            y=s["projected_coverage"],
            mode="lines+markers",
            name="projected coverage",
            line={"color": COVERED},
            text=hover,
            hovertemplate="after %{x} additions: %{y:.1%}"
            + ("<br>%{text}" if hover is not None else "")
            + "<extra></extra>",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title="Projected coverage as suggested eval prompts are added",
        xaxis={"title": "eval prompts added", "rangemode": "tozero"},
        yaxis={"title": "traffic-weighted coverage", "tickformat": ".0%"},
        height=400,
    )
    return fig
