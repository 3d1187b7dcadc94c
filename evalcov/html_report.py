"""Standalone offline HTML report and the notebook view, from one summary dict.

Like skrub's ``TableReport``: :func:`summarize` computes everything the report shows once, into
plain data (numbers, lists of row dicts, plotly figures); jinja2 templates in
``evalcov/templates`` render it, either as a full page that works offline
(:func:`to_html`, plotly.js inlined once) or as a fragment with scoped styles for Jupyter
(:func:`report_html_fragment`).
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evalcov._files import atomic_write
from evalcov.plots import TEMPLATE, plot_gaps, plot_map, shorten
from evalcov.safe_html import content_security_policy, inline_scripts, isolate_bidi

if TYPE_CHECKING:
    import jinja2

    from evalcov.report import CoverageReport

__all__ = ["report_html_fragment", "summarize", "to_html"]

_MAX_GAP_ROWS = 100
_PREVIEW_ROWS = 10
_MAX_RISK_ROWS = 20
_BATCH_COLUMNS = ("text", "cluster", "cluster_label", "label", "status", "similarity", "count")


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalcov", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v, digits=1: "n/a" if v is None else f"{v:.{digits}%}"
    env.filters["num"] = lambda v: f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"
    return env


def summarize(
    report: CoverageReport,
    *,
    redact: bool = True,
    plots: bool = True,
    max_points: int = 20000,
    drift_freq: Any = None,
    labeling_batch: pd.DataFrame | None = None,
    title: str | None = None,
    n_gaps: int | None = _MAX_GAP_ROWS,
    stability: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Everything the HTML report shows, computed once, as plain data.

    Parameters
    ----------
    report : CoverageReport
    redact : bool, default=True
        Pass labels, keywords, examples and hover texts through the report's redactor.
    plots : bool, default=True
        Build the plotly figures (the map's 2-D layout costs a UMAP fit the first time).
    max_points : int, default=20000
        Most traffic texts on the map (see :func:`evalcov.plots.plot_map`).
    drift_freq : str, optional
        Window of the drift section (default "W"); drift is shown when the report has
        timestamps.
    labeling_batch : DataFrame, optional
        A batch from :meth:`CoverageReport.export_for_labeling`, summarized in its own section.
    title : str, optional
        Page title.
    n_gaps : int or None, default=100
        Most rows of the gap table (None: every gap).
    stability : DataFrame, optional
        ``report.stability()`` at topic level: each gap row then shows its ``confirmed``
        share, and the section the coverage range over the maps.

    Returns
    -------
    dict
        Keys ``title``, ``headline``, ``data``, ``gaps``, ``n_gaps_total``, ``overcovered``,
        ``risk`` (None without failure outcomes; else the "Failing and untested" numbers and
        rows), ``labeling_batch``, ``stability`` (None, or the coverage range over the maps,
        their number and agreement), ``figures`` (name -> plotly Figure), ``notes`` and
        ``redacted``.
    """
    from evalcov import __version__

    if labeling_batch is not None and not isinstance(labeling_batch, pd.DataFrame):
        raise TypeError(f"labeling_batch must be a DataFrame, got {type(labeling_batch).__name__}")
    confirmed = _confirmed(stability)
    s = report.summary()
    redactor = None
    if redact:
        from evalcov.redact import get_redactor

        redactor = get_redactor(report.analyzer_.redact or "default")
    all_gaps = report.gaps(n=None)
    gaps = all_gaps if n_gaps is None else all_gaps.head(n_gaps)
    over = report.overcovered()
    texts = _Texts(redactor)
    gap_rows = [
        {
            "rank": i + 1,
            "topic": int(r.topic),
            "cluster": int(r.cluster),
            "n_clusters": int(r.n_clusters),
            "label": texts.add(r.label),
            "keywords": [texts.add(k) for k in r.keywords],
            "examples": [texts.add(e) for e in r.examples],
            "status": str(r.status),
            "traffic_share": float(r.traffic_share),
            "uncovered_share": float(r.uncovered_share),
            "coverage": float(r.coverage),
            "n_queries": int(r.n_queries),
            "n_unique": int(r.n_unique),
            "n_eval": int(r.n_eval),
            "expected_eval": float(r.expected_eval),
            **_closest(r, texts),
            "confirmed": None if confirmed is None else confirmed.get(int(r.topic)),
        }
        for i, r in enumerate(gaps.itertuples(index=False))
    ]
    over_rows = [
        {
            "cluster": int(r.cluster),
            "label": texts.add(r.label),
            "traffic_share": float(r.traffic_share),
            "n_eval": int(r.n_eval),
            "expected_eval": float(r.expected_eval),
            "ratio": float(r.ratio),
            "surplus_eval": int(r.surplus_eval),
            "examples": [texts.add(e) for e in r.examples],
        }
        for r in over.itertuples(index=False)
    ]
    risk = _risk_summary(report, s, texts, n_gaps)
    batch = None if labeling_batch is None else _batch_summary(labeling_batch, texts)
    texts.resolve()

    data = dict(s)
    data["excluded_reasons"] = sorted(s["excluded_reasons"].items(), key=lambda kv: -kv[1])
    data["time_range"] = _time_range(report)
    notes: list[str] = []
    figures: dict[str, Any] = {}
    if plots:
        figures["map"] = plot_map(report, max_points=max_points, redact=redact)
        figures["gaps"] = plot_gaps(report)
        if data["time_range"] is not None:
            figures["drift"] = _drift_figure(report, drift_freq or "W", notes)
    return {
        "title": title or "Eval coverage report",
        "version": __version__,
        "headline": {
            "coverage": s["coverage"],
            "uncovered_share": s["uncovered_share"],
            "n_gaps": s["n_gaps"],
            "n_uncovered": s["n_uncovered"],
            "n_thin": s["n_thin"],
            "n_covered": s["n_covered"],
            "n_clusters": s["n_clusters"],
            "n_topics": s["n_topics"],
            "n_thin_topics": s["n_thin_topics"],
            "depth": s["depth"],
        },
        "data": data,
        "gaps": gap_rows,
        "n_gaps_total": len(all_gaps),
        "overcovered": over_rows,
        "risk": risk,
        "labeling_batch": batch,
        "stability": None if stability is None else _stability_summary(stability),
        "figures": {k: v for k, v in figures.items() if v is not None},
        "notes": notes,
        "redacted": bool(redact),
    }


def _confirmed(stability: pd.DataFrame | None) -> dict[int, float] | None:
    """Topic -> confirmed share, from a ``report.stability()`` table (checked here)."""
    if stability is None:
        return None
    if not isinstance(stability, pd.DataFrame) or not {"topic", "confirmed"} <= set(stability):
        raise TypeError(
            "stability must be the DataFrame report.stability() returns (topic level, with "
            f"'topic' and 'confirmed' columns), got {type(stability).__name__}"
        )
    rows = stability.dropna(subset=["confirmed"])
    return dict(zip(rows["topic"].astype(int), rows["confirmed"].astype(float), strict=True))


def _stability_summary(stability: pd.DataFrame) -> dict[str, Any]:
    coverage = stability.attrs.get("coverage_by_map") or [np.nan]
    return {
        "coverage_min": float(min(coverage)),
        "coverage_max": float(max(coverage)),
        "n_maps": len(coverage),
        "agreement": float(stability.attrs.get("agreement", np.nan)),
    }


def _closest(r: Any, texts: _Texts) -> dict[str, Any]:
    """A gap row's closest eval prompt (redacted with the page's other texts) and its cosine."""
    return {
        "closest_eval": None if pd.isna(r.closest_eval) else texts.add(r.closest_eval),
        "closest_similarity": float(r.closest_similarity),
    }


class _Texts:
    """Collects texts for people to read, so they are redacted in ONE call (consistent
    placeholders across the page), then hands back the redacted version of each."""

    def __init__(self, redactor: Any):
        self.redactor = redactor
        self.raw: list[str] = []
        self.slots: list[_Slot] = []

    def add(self, text: Any) -> _Slot:
        slot = _Slot(len(self.raw))
        self.raw.append("" if text is None else str(text))
        self.slots.append(slot)
        return slot

    def resolve(self) -> None:
        clean = self.raw
        if self.redactor is not None and clean:
            clean = self.redactor.redact(clean)
        for slot in self.slots:
            slot.text = clean[slot.index]


class _Slot:
    """A text whose redacted value is filled in later; renders as that value."""

    __slots__ = ("index", "text")

    def __init__(self, index: int):
        self.index = index
        self.text = ""

    def __str__(self) -> str:
        return self.text

    def __html__(self) -> str:
        from markupsafe import escape

        return isolate_bidi(str(escape(self.text)))


def _risk_summary(
    report: CoverageReport, s: dict[str, Any], texts: _Texts, n_gaps: int | None
) -> dict[str, Any] | None:
    """The "Failing and untested" section: gaps by untested failures, failing covered ones."""
    if "failure_rate" not in s:
        return None
    limit = _MAX_RISK_ROWS if n_gaps is None else min(n_gaps, _MAX_RISK_ROWS)
    gaps = report.gaps(n=None, by="risk")
    gaps = gaps[gaps["untested_failures"] > 0]

    def row(r: Any) -> dict[str, Any]:
        out = {
            "topic": int(r.topic),
            "cluster": int(r.cluster),
            "label": texts.add(r.label),
            "examples": [texts.add(e) for e in r.examples[:2]],
            "status": str(r.status),
            "traffic_share": float(r.traffic_share),
            "n_outcome": int(r.n_outcome),
            "failure_rate": float(r.failure_rate),
            "failure_rate_low": float(r.failure_rate_low),
            "failure_rate_high": float(r.failure_rate_high),
            "lift": float(r.lift),
            "untested_failures": float(r.untested_failures),
            **_closest(r, texts),
        }
        for k in ("latency_s", "cost"):
            v = getattr(r, k, None)
            out[k] = None if v is None or np.isnan(v) else float(v)
        return out

    failing = report.failing_covered()
    return {
        "failure_rate": s["failure_rate"],
        "untested_failures": s["untested_failures"],
        "untested_failure_rate": s["untested_failure_rate"],
        "tested_failure_rate": s["tested_failure_rate"],
        "untested_cost_share": s.get("untested_cost_share"),
        "n_outcome": s["n_outcome"],
        "has_latency": "latency_s" in s,
        "has_cost": "cost" in s,
        "gaps": [row(r) for r in gaps.head(limit).itertuples(index=False)],
        "n_gaps_total": int(len(gaps)),
        "max_untested": float(gaps["untested_failures"].max()) if len(gaps) else 0.0,
        "failing_covered": [
            {**row(r), "p_adjusted": float(r.p_adjusted)}
            for r in failing.head(limit).itertuples(index=False)
        ],
    }


def _time_range(report: CoverageReport) -> tuple[str, str] | None:
    q = report.queries
    if "time" not in q.columns:
        return None
    t = q.loc[~q["excluded"], "time"].dropna()
    if t.empty:
        return None
    return (t.min().strftime("%Y-%m-%d %H:%M"), t.max().strftime("%Y-%m-%d %H:%M UTC"))


def _drift_figure(report: CoverageReport, freq: Any, notes: list[str]) -> Any:
    # The rest of the report still renders when drift cannot be computed, and the page says
    # why: its module is missing or unfinished (ImportError, NotImplementedError), or the
    # data cannot support it (ValueError, e.g. too few queries in the baseline window).
    try:
        fig = report.drift(freq=freq).plot()
    except (ImportError, NotImplementedError, ValueError) as exc:
        notes.append(f"Drift section unavailable: {exc or type(exc).__name__}")
        return None
    return fig.update_layout(template=TEMPLATE)


def _batch_summary(batch: pd.DataFrame, texts: _Texts) -> dict[str, Any]:
    label_col = next((c for c in ("cluster_label", "label", "cluster") if c in batch.columns), None)
    by_cluster = []
    if label_col is not None:
        counts = batch[label_col].astype(str).value_counts()
        by_cluster = [(texts.add(k), int(v)) for k, v in counts.head(15).items()]
    columns = [c for c in _BATCH_COLUMNS if c in batch.columns] or list(batch.columns[:5])
    preview = [
        [texts.add(_cell(v)) for v in row]
        for row in batch[columns].head(_PREVIEW_ROWS).itertuples(index=False)
    ]
    return {
        "n_rows": int(len(batch)),
        "columns": [str(c) for c in columns],
        "all_columns": [str(c) for c in batch.columns],
        "label_column": label_col,
        "by_cluster": by_cluster,
        "n_more_clusters": 0 if label_col is None else max(0, batch[label_col].nunique() - 15),
        "preview": preview,
    }


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.3g}"
    return shorten(str(v), 200)


def _figure_html(fig: Any, div_id: str) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def render_fragment(summary: dict[str, Any], container_id: str | None = None) -> str:
    """HTML of the report body (styles scoped under one container id) from a summary dict."""
    cid = container_id or f"evalcov-{uuid.uuid4().hex[:12]}"
    figures = {name: _figure_html(fig, f"{cid}-{name}") for name, fig in summary["figures"].items()}
    return _env().get_template("fragment.html").render(s=summary, cid=cid, figures=figures)


def report_html_fragment(report: CoverageReport, redact: bool = True, **options: Any) -> str:
    """The report as an HTML fragment for Jupyter: numbers and tables, no plotly.js.

    Styles are scoped under a unique container id, so they neither leak into the notebook
    nor pick up its table styles. Figures are left out (``report.plot_map()`` and
    ``report.plot_gaps()`` draw them in the notebook), which also keeps the map's UMAP off
    the path of displaying a report. ``options`` go to :func:`summarize`.
    """
    options.setdefault("n_gaps", 10)
    return render_fragment(summarize(report, redact=redact, plots=False, **options))


def to_html(
    report: CoverageReport,
    path: str | os.PathLike | None = None,
    *,
    redact: bool = True,
    include_plotlyjs: str = "inline",
    max_points: int = 20000,
    drift_freq: Any = None,
    labeling_batch: pd.DataFrame | None = None,
    title: str | None = None,
    overwrite: bool = True,
    stability: pd.DataFrame | None = None,
) -> str:
    """Write the report as ONE self-contained HTML file that works offline.

    Parameters
    ----------
    report : CoverageReport
    path : str or PathLike, optional
        Where to write the file; None only returns the HTML.
    redact : bool, default=True
        Redact PII in every text shown (labels, examples, hover texts, labeling batch).
    include_plotlyjs : {"inline", False}, default="inline"
        "inline" embeds plotly.js once, so the file needs no network, and adds a
        Content-Security-Policy that lets only the page's own scripts run and loads nothing
        from the network (:mod:`evalcov.safe_html`); False leaves both out (for pages that
        load plotly.js themselves).
    max_points : int, default=20000
        Most traffic texts on the map; a weighted, cluster-stratified sample above it.
    drift_freq : str, optional
        Drift window (default "W") when the report has timestamps.
    labeling_batch : DataFrame, optional
        A labeling batch to summarize.
    title : str, optional
        Page title (default "Eval coverage report").
    overwrite : bool, default=True
        Replace an existing file at ``path``; False raises FileExistsError.
    stability : DataFrame, optional
        ``report.stability()`` (topic level), shown in the gap table.

    Returns
    -------
    str
        The HTML.
    """
    if include_plotlyjs not in ("inline", False):
        raise ValueError(
            f"include_plotlyjs must be 'inline' or False (the report works offline), "
            f"got {include_plotlyjs!r}"
        )
    if path is not None:
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"directory of path= does not exist: {path.parent}")
    summary = summarize(
        report,
        redact=redact,
        max_points=max_points,
        drift_freq=drift_freq,
        labeling_batch=labeling_batch,
        title=title,
        stability=stability,
    )
    plotlyjs = ""
    if include_plotlyjs == "inline":
        from plotly.offline import get_plotlyjs

        plotlyjs = get_plotlyjs()
    fragment = render_fragment(summary)
    scripts = inline_scripts(fragment)
    # The fragment's own scripts: the table sorter and one per figure. Data texts are escaped
    # and plotly's JSON escapes "<", so a text can never add one; if it ever did, it must not
    # be allowed to run by getting its hash into the policy.
    if len(scripts) != 1 + len(summary["figures"]):
        raise RuntimeError(
            f"the report body holds {len(scripts)} scripts, expected "
            f"{1 + len(summary['figures'])}: a data text was not escaped"
        )
    # Without inline plotly.js the page is meant to be completed by its host (which loads
    # plotly.js), so it cannot forbid other scripts itself.
    csp = content_security_policy([plotlyjs, *scripts]) if plotlyjs else None
    page = (
        _env()
        .get_template("report.html")
        .render(s=summary, fragment=fragment, plotlyjs=plotlyjs, csp=csp)
    )
    if path is not None:
        # A fixed "<name>.tmp" was left behind by a killed run and shared by concurrent ones.
        with atomic_write(path, overwrite=overwrite) as f:
            f.write(page.encode("utf-8"))
    return page
