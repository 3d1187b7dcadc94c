"""Plotly views on a real report (sample data, default model): the data drawn matches the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import evalcov
from evalcov import plots

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
EMAIL = "jane.doe.planted@example.com"


@pytest.fixture(scope="module")
def report():
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::90].reset_index(drop=True)
    traffic.loc[5, "text"] = f"please email me at {EMAIL} about my blocked card"
    return evalcov.analyze(
        traffic, SAMPLE / "evals.csv", text="text", eval_text="prompt", show_progress=False
    )


def _traffic_traces(fig: go.Figure) -> list:
    return [t for t in fig.data if t.meta["kind"] == "traffic"]


def _eval_trace(fig: go.Figure):
    (trace,) = [t for t in fig.data if t.meta["kind"] == "eval"]
    return trace


def _rows(trace) -> np.ndarray:
    return np.array([row[0] for row in trace.customdata], dtype=np.int64)


def test_map_by_cluster_draws_every_distinct_text_once_in_its_cluster_colour(report):
    fig = plots.plot_map(report)
    u = report.unique_
    traces = _traffic_traces(fig)
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    assert fig.layout.template.layout.paper_bgcolor == "white"
    rows = np.concatenate([_rows(t) for t in traces])
    assert len(rows) == len(u) and len(np.unique(rows)) == len(u)
    for t in traces:
        clusters = u["cluster"].to_numpy()[_rows(t)]
        group = t.meta["group"]
        if group == "other":
            assert (clusters >= plots.N_COLORED).all() and t.marker.color == plots.OTHER
        else:
            c = int(group[1:])
            assert (clusters == c).all()
            assert t.marker.color == plots.CLUSTER_COLORS[c]
            assert t.name.startswith(f"{c}: ")
        weights = u["weight"].to_numpy()[_rows(t)]
        assert np.allclose(t.marker.size, plots._marker_size(weights))
    assert max(np.max(t.marker.size) for t in traces) <= plots.MAX_MARKER


def test_map_eval_prompts_are_black_outlined_diamonds_one_per_distinct_prompt(report):
    trace = _eval_trace(plots.plot_map(report))
    assert len(trace.x) == len(report.eval_dedup_.texts) == report.summary()["n_eval"]
    assert trace.marker.symbol == "diamond"
    assert trace.marker.line.color == "black"


def test_map_by_covered_matches_the_reports_covered_flags(report):
    fig = plots.plot_map(report, color="covered")
    by_name = {t.meta["group"]: t for t in _traffic_traces(fig)}
    covered = report.unique_["covered"].to_numpy()
    assert set(_rows(by_name["covered"])) == set(np.flatnonzero(covered))
    assert set(_rows(by_name["uncovered"])) == set(np.flatnonzero(~covered))
    assert by_name["covered"].marker.color == plots.COVERED == "#0072B2"
    assert by_name["uncovered"].marker.color == plots.UNCOVERED == "#E69F00"


def test_map_hover_is_redacted_by_default_and_raw_on_request(report):
    def hover(fig):
        return " ".join(str(row[1]) for t in _traffic_traces(fig) for row in t.customdata)

    assert EMAIL not in hover(plots.plot_map(report))
    assert "[EMAIL" in hover(plots.plot_map(report))
    assert EMAIL in hover(plots.plot_map(report, redact=False))


def test_map_hover_shows_label_and_similarity_of_each_point(report):
    fig = plots.plot_map(report, color="covered")
    u = report.unique_
    labels = report.clusters["label"].to_numpy()
    for t in _traffic_traces(fig):
        rows = _rows(t)
        assert [row[2] for row in t.customdata] == [
            plots.shorten(labels[c], 60) for c in u["cluster"].to_numpy()[rows]
        ]
        assert np.allclose(
            [row[3] for row in t.customdata], u["similarity"].to_numpy()[rows], atol=1e-3
        )


def test_map_samples_by_weight_within_clusters_above_max_points(report):
    n = 60
    fig = plots.plot_map(report, max_points=n)
    rows = np.concatenate([_rows(t) for t in _traffic_traces(fig)])
    assert len(rows) == n
    assert set(report.unique_["cluster"].to_numpy()[rows]) == set(report.unique_["cluster"])
    assert f"sample of {n} of {len(report.unique_)}" in fig.layout.title.text
    again = np.concatenate(
        [_rows(t) for t in _traffic_traces(plots.plot_map(report, max_points=n))]
    )
    assert np.array_equal(np.sort(rows), np.sort(again))
    assert "sample" not in plots.plot_map(report).layout.title.text


def test_weighted_sample_prefers_heavy_texts():
    class Fake:
        unique_ = pd.DataFrame(
            {"weight": np.r_[np.full(50, 100.0), np.ones(950)], "cluster": np.zeros(1000, int)}
        )

        class analyzer_:
            random_state = 0

    rows = plots.sample_rows(Fake(), 50)
    assert len(rows) == 50 and (rows < 50).mean() > 0.5


def test_layout_is_computed_once_and_fitted_texts_keep_their_fitted_position(report):
    plots.plot_map(report, max_points=40)
    layout = report._layout2d
    plots.plot_map(report)
    assert report._layout2d is layout
    xy, exy = plots.layout_2d(report)
    assert not np.isnan(xy).any() and exy.shape == (len(report.eval_dedup_.texts), 2)
    # A fitted text sits on its fitted position, or on that of a fitted text with the same
    # embedding (the model is uncased: "Card declined" and "card declined" coincide).
    F = report.map_.fit_embeddings_
    off = ~np.isclose(xy[report.map_.fit_index_], layout.fit_xy, atol=1e-3).all(axis=1)
    sims = F[off] @ F.T
    sims[np.arange(off.sum()), np.flatnonzero(off)] = -1
    assert off.mean() < 0.2 and (sims.max(axis=1) >= 1 - 1e-4).all()


def test_cluster_annotations_name_at_most_ten_of_the_largest_clusters(report):
    notes = plots.plot_map(report).layout.annotations
    labels = [plots.shorten(lab, 32) for lab in report.clusters["label"]]
    assert 1 <= len(notes) <= plots.N_ANNOTATED
    assert all(a.text in labels for a in notes)


def test_map_rejects_bad_arguments(report):
    with pytest.raises(ValueError, match="color must be"):
        plots.plot_map(report, color="status")
    with pytest.raises(ValueError, match="max_points"):
        plots.plot_map(report, max_points=0)


def test_gaps_chart_has_one_bar_per_cluster_coloured_by_status_most_uncovered_first(report):
    c = report.clusters
    assert len(c) > 25  # the default shows the 25 with most uncovered traffic
    default = plots.plot_gaps(report, level="cluster")
    assert sum(len(t.x) for t in default.data) == 25
    fig = plots.plot_gaps(report, top=len(c), level="cluster")
    assert sum(len(t.x) for t in fig.data) == len(c)
    assert list(fig.layout.yaxis.categoryarray[:25]) == list(default.layout.yaxis.categoryarray)
    for t in fig.data:
        part = c[c["status"] == t.name]
        assert sorted(t.x) == sorted(part["traffic_share"])
        assert t.marker.color == plots.STATUS_COLORS[t.name]
        assert t.orientation == "h"
    uncovered = c["traffic_share"] * (1 - c["coverage"])
    top = c.loc[uncovered.idxmax()]
    assert fig.layout.yaxis.categoryarray[0].startswith(f"{top.cluster}: ")
    assert fig.layout.xaxis.tickformat in (".0%", ".1%")
    assert len(plots.plot_gaps(report, top=3).layout.yaxis.categoryarray) == 3
    with pytest.raises(ValueError, match="top"):
        plots.plot_gaps(report, top=0)
    with pytest.raises(ValueError, match="level must be"):
        plots.plot_gaps(report, level="intent")


def test_gaps_chart_reads_topics_by_default_as_the_gap_list_does(report):
    t = report.topics
    fig = plots.plot_gaps(report, top=len(t))
    assert fig.layout.title.text.startswith("Topics by share of traffic")
    assert sum(len(tr.x) for tr in fig.data) == len(t)
    for tr in fig.data:
        part = t[t["status"] == tr.name]
        assert sorted(tr.x) == sorted(part["traffic_share"])
        assert tr.marker.color == plots.STATUS_COLORS[tr.name]
    # Bars in gap-list order: the gaps first, each labelled "topic: label".
    gaps = report.gaps(None)
    names = list(fig.layout.yaxis.categoryarray)
    assert [int(n.split(":")[0]) for n in names[: len(gaps)]] == gaps["topic"].tolist()


def test_coverage_curve_plots_projected_coverage_by_rank():
    s = pd.DataFrame(
        {"rank": [2, 1, 3], "projected_coverage": [0.8, 0.75, 0.82], "text": ["b", "a", "c"]}
    )
    fig = plots.plot_coverage_curve(s)
    assert list(fig.data[0].x) == [1, 2, 3]
    assert list(fig.data[0].y) == [0.75, 0.8, 0.82]
    assert fig.layout.yaxis.tickformat == ".0%"
    with pytest.raises(ValueError, match="projected_coverage"):
        plots.plot_coverage_curve(s.drop(columns="projected_coverage"))
    with pytest.raises(TypeError, match="DataFrame"):
        plots.plot_coverage_curve([1, 2])


def test_report_methods_delegate_to_plots(report):
    assert isinstance(report.plot_map(color="covered"), go.Figure)
    assert isinstance(report.plot_gaps(top=5), go.Figure)
