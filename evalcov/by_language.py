"""``analyze(..., by="lang")``: one analysis per language of the traffic, combined.

With an embedder trained on one language, queries in another group by language rather than
by topic. Analyzing each language's traffic on its own map keeps its topics apart; the eval
set is the same for every language, so coverage per language says how much of that
language's traffic the eval set tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LanguageSplitReport", "analyze_by_language"]

# Read options that only shape how rows are read; after reading, rows are plain columns.
_TRAFFIC_READ = ("id", "weight", "user", "turns", "prompt_var", "format", "max_chars")
_EVAL_READ = ("eval_text", "prompt_var", "max_chars")
# Columns each language's report adds to the traffic rows.
_RESULT_COLUMNS = (
    "cluster",
    "cluster_label",
    "topic",
    "topic_label",
    "similarity",
    "nearest_eval",
    "covered",
    "outlier",
    "lang",
)


def analyze_by_language(
    traffic: Any,
    evals: Any,
    text: str | None = None,
    time: str | None = None,
    min_rows: int = 50,
    **options: Any,
) -> LanguageSplitReport:
    """Detect each query's language, analyze each language's traffic against ``evals``.

    Languages with fewer than ``min_rows`` analyzed rows join the largest language's
    analysis (too few queries to map on their own). ``options`` are :func:`evalcov.analyze`'s.
    """
    from evalcov.analyzer import analyze
    from evalcov.dedupe import dedupe
    from evalcov.ingest import read_traffic
    from evalcov.languages import detect_languages

    if not isinstance(min_rows, (int, np.integer)) or min_rows < 1:
        raise ValueError(f"min_rows must be a positive integer, got {min_rows!r}")
    read = {k: v for k, v in options.items() if k in _TRAFFIC_READ}
    frame = read_traffic(traffic, text=text, time=time, **read).reset_index(drop=True)
    dt = dedupe(frame)
    ok = dt.codes >= 0
    lang = np.full(len(frame), None, dtype=object)
    lang[ok] = detect_languages(dt.texts, dt.weights)[dt.codes[ok]]
    counts = pd.Series(lang[ok]).value_counts()
    if counts.empty:
        raise ValueError("traffic has no row with text to analyze")
    own = [str(code) for code, n in counts.items() if n >= min_rows] or [str(counts.index[0])]
    group = np.where(np.isin(lang, own), lang, own[0]).astype(object)
    group[~ok] = None

    columns = ["text", "id", "weight"] + [c for c in ("time", "user") if c in frame]
    rest = {k: v for k, v in options.items() if k not in _TRAFFIC_READ or k in _EVAL_READ}
    reports: dict[str, Any] = {}
    for code in own:
        rows = np.flatnonzero(group == code)
        sub = frame.loc[rows, columns].reset_index(drop=True)
        reports[code] = analyze(
            sub,
            evals,
            text="text",
            time="time" if "time" in sub else None,
            id="id",
            weight="weight",
            user="user" if "user" in sub else None,
            **rest,
        )
    return LanguageSplitReport(frame, group, reports)


class LanguageSplitReport:
    """Per-language coverage reports and their combination.

    Attributes
    ----------
    reports : dict of str -> CoverageReport
        One analysis per language (ISO 639-1 code), heaviest first.
    coverage : float
        Traffic-weighted coverage over all analyzed queries.
    queries : DataFrame
        One row per input traffic row, in input order: the read columns, then ``analysis``
        (the language whose analysis holds the row; None when excluded) and each language
        report's per-row columns. ``cluster`` and ``topic`` are numbered across languages
        (see ``clusters``).
    clusters : DataFrame
        Every language's clusters with ``analysis``, and ``cluster`` and ``topic`` numbered
        across languages (a topic never spans two languages: each has its own map);
        ``traffic_share`` is the share of all analyzed traffic; labels start with the
        language (``"[de] ..."``).
    """

    def __init__(self, frame: pd.DataFrame, group: np.ndarray, reports: dict[str, Any]):
        self.reports = reports
        weight = {code: float(r.unique_["weight"].sum()) for code, r in reports.items()}
        total = sum(weight.values()) or 1.0
        self.shares_ = {code: w / total for code, w in weight.items()}
        self.coverage = float(sum(self.shares_[c] * r.coverage for c, r in reports.items()))
        tables = []
        # Where each language's cluster and topic numbers start in the combined tables.
        self.offsets_: dict[str, tuple[int, int]] = {}
        offset = topic_offset = 0
        queries = frame.copy()
        queries["analysis"] = group
        for column in _RESULT_COLUMNS:
            queries[column] = None
        queries["cluster"] = -1
        queries["topic"] = -1
        queries["covered"] = False
        queries["outlier"] = False
        queries["similarity"] = np.nan
        for code, report in reports.items():
            self.offsets_[code] = (offset, topic_offset)
            c = _renumbered(report.clusters, code, offset, topic_offset)
            c["traffic_share"] *= self.shares_[code]
            tables.append(c)
            rows = np.flatnonzero(group == code)
            q = report.queries
            for column in _RESULT_COLUMNS:
                if column in q:
                    queries.loc[rows, column] = q[column].to_numpy()
            kept = q["cluster"].to_numpy() >= 0
            for column, start in (("cluster", offset), ("topic", topic_offset)):
                queries.loc[rows[kept], column] = q[column].to_numpy()[kept] + start
                queries.loc[rows[kept], f"{column}_label"] = [
                    f"[{code}] {label}" for label in q[f"{column}_label"].to_numpy()[kept]
                ]
            offset += len(c)
            topic_offset += len(report.topics)
        self.queries = queries.astype(
            {"cluster": np.int64, "topic": np.int64, "covered": bool, "outlier": bool}
        )
        self.clusters = pd.concat(tables, ignore_index=True)

    @property
    def uncovered_share(self) -> float:
        """Traffic-weighted share of analyzed queries the eval set does not cover."""
        return 1.0 - self.coverage

    def gaps(self, n: int | None = 10, level: str = "topic") -> pd.DataFrame:
        """Every language's gaps (:meth:`CoverageReport.gaps`), ranked by their share of all
        analyzed traffic left uncovered; ``analysis`` names the language, cluster and topic
        numbers are the combined tables'. Thin traffic is tested, so it is no gap."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
            raise ValueError(f"n must be a non-negative integer or None, got {n!r}")
        parts = []
        for code, report in self.reports.items():
            g = _renumbered(report.gaps(None, level=level), code, *self.offsets_[code])
            for column in ("traffic_share", "uncovered_share"):
                g[column] *= self.shares_[code]
            if "clusters" in g:
                g["clusters"] = [[c + self.offsets_[code][0] for c in ids] for ids in g["clusters"]]
            parts.append(g)
        gaps = pd.concat(parts, ignore_index=True)
        gaps = gaps.sort_values(["uncovered_share", level], ascending=[False, True])
        gaps = gaps.reset_index(drop=True)
        return gaps.head(n) if n is not None else gaps

    def summary(self) -> dict[str, Any]:
        """Headline numbers; ``languages`` gives each analysis' traffic share and coverage."""
        q = self.queries
        return {
            "by": "lang",
            "coverage": self.coverage,
            "uncovered_share": self.uncovered_share,
            "n_rows": int(len(q)),
            "n_analyzed": int((~q["excluded"]).sum()),
            "n_excluded": int(q["excluded"].sum()),
            "n_clusters": int(len(self.clusters)),
            "n_topics": int(sum(len(r.topics) for r in self.reports.values())),
            "n_gaps": int(len(self.gaps(None))),
            "languages": {
                code: {"share": self.shares_[code], "coverage": float(r.coverage)}
                for code, r in self.reports.items()
            },
        }

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{code} {self.shares_[code]:.0%} of traffic: {r.coverage:.1%} covered"
            for code, r in self.reports.items()
        )
        return f"<LanguageSplitReport coverage={self.coverage:.1%}; {parts}>"

    def _repr_html_(self) -> str:
        s = self.summary()
        table = pd.DataFrame(
            [
                {
                    "language": code,
                    "traffic share": f"{v['share']:.1%}",
                    "coverage": f"{v['coverage']:.1%}",
                }
                for code, v in s["languages"].items()
            ]
        )
        gaps = self.gaps(10)[["label", "status", "traffic_share", "uncovered_share"]]
        return (
            f"<h3>Eval coverage by language: {s['coverage']:.1%} of traffic covered</h3>"
            + table.to_html(index=False, escape=True)
            + "<h4>Top gaps</h4>"
            + gaps.to_html(index=False, escape=True, float_format="{:.1%}".format)
        )


def _renumbered(table: pd.DataFrame, code: str, offset: int, topic_offset: int) -> pd.DataFrame:
    """One language's cluster or gap rows in the combined numbering, labelled with it."""
    out = table.copy()
    out.insert(0, "analysis", code)
    out["cluster"] += offset
    out["topic"] += topic_offset
    out["label"] = [f"[{code}] {label}" for label in out["label"]]
    return out
