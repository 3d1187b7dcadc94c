"""Standalone HTML report and notebook fragment on a real report: content matches the numbers."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

import evalcov
from evalcov import html_report

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
EMAIL = "jane.doe.planted@example.com"


@pytest.fixture(scope="module")
def report():
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::80].reset_index(drop=True)
    # Planted PII, repeated so it is among the examples of its cluster; one blank row excluded.
    for i in (3, 40, 77, 120):
        traffic.loc[i, "text"] = f"please email me at {EMAIL} about my blocked card"
    traffic.loc[10, "text"] = "   "
    return evalcov.analyze(
        traffic,
        SAMPLE / "evals.csv",
        text="text",
        time="timestamp",
        eval_text="prompt",
        redact=None,  # the report keeps raw examples: the page must redact them itself
        show_progress=False,
    )


@pytest.fixture(scope="module")
def page(report, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    text = html_report.to_html(report, path, drift_freq="MS")
    return path, text


def test_writes_the_page_it_returns(page):
    path, text = page
    assert path.read_text(encoding="utf-8") == text
    assert text.startswith("<!DOCTYPE html>")


def test_headline_numbers_are_the_reports(report, page):
    _, text = page
    s = report.summary()
    card = re.search(r'data-metric="coverage">\s*<div class="evalcov-big">([^<]+)<', text)
    assert card.group(1) == f"{report.coverage:.1%}"
    card = re.search(r'data-metric="uncovered_share">\s*<div class="evalcov-big">([^<]+)<', text)
    assert card.group(1) == f"{s['uncovered_share']:.1%}"
    card = re.search(r'data-metric="n_gaps">\s*<div class="evalcov-big">(\d+)<', text)
    assert int(card.group(1)) == s["n_gaps"] == len(report.gaps(None))
    assert s["n_excluded"] == 1
    assert "empty text: 1" in text
    assert htmllib.escape(s["embedder"]) in text


def test_gap_table_lists_every_gap_with_its_label_in_rank_order(report, page):
    _, text = page
    table = text[text.index('class="evalcov-sortable evalcov-gap-table"') :]
    table = table[: table.index("</table>")]
    clusters = [int(c) for c in re.findall(r'<tr data-cluster="(\d+)"', table)]
    gaps = report.gaps(None)
    assert clusters == list(gaps["cluster"])
    for label in gaps["label"]:
        assert htmllib.escape(label) in table
    assert table.count("<th ") == 9 and 'data-type="number"' in table
    # Each gap's row shows the eval prompt closest to it, with their cosine.
    rows = table.split("<tr data-cluster=")[1:]
    for row, g in zip(rows, gaps.itertuples(), strict=True):
        assert htmllib.escape(g.closest_eval) in row
        assert f'data-value="{g.closest_similarity}">{g.closest_similarity:.2f}<br>' in row


def test_plotly_js_is_inlined_once_and_nothing_is_loaded_from_elsewhere(page):
    _, text = page
    assert text.count(get_plotlyjs()) == 1
    assert text.count("plotly.js v") == 1
    assert re.search(r'<meta http-equiv="Content-Security-Policy" content="default-src', text)
    assert not re.search(r"<script[^>]*\ssrc=", text, re.I)
    assert not re.search(r"<link[^>]*\shref=", text, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text, re.I)
    assert not re.search(r"<(img|iframe)[^>]*\ssrc=['\"]?https?:", text, re.I)


def test_has_map_gap_chart_and_drift_figures(report, page):
    _, text = page
    assert text.count('class="plotly-graph-div"') == 3
    for name in ("map", "gaps", "drift"):
        assert re.search(rf'id="evalcov-[0-9a-f]+-{name}"', text)
    assert "Drift section unavailable" not in text


def test_redacted_by_default_raw_on_request(report, page):
    _, text = page
    assert EMAIL not in text
    raw = html_report.to_html(report, redact=False)
    assert EMAIL in raw


def test_labeling_batch_section_summarizes_the_batch_redacted(report):
    batch = pd.DataFrame(
        {
            "text": ["where is my card", f"mail {EMAIL}", "crypto wallet"],
            "cluster": [1, 1, 2],
            "cluster_label": ["cards", "cards", "crypto"],
            "status": ["thin", "thin", "uncovered"],
        }
    )
    s = html_report.summarize(report, plots=False, labeling_batch=batch)
    b = s["labeling_batch"]
    assert b["n_rows"] == 3 and b["label_column"] == "cluster_label"
    assert [(str(k), n) for k, n in b["by_cluster"]] == [("cards", 2), ("crypto", 1)]
    fragment = html_report.render_fragment(s)
    assert "Labeling batch" in fragment and "crypto wallet" in fragment
    assert EMAIL not in fragment and "mail [EMAIL" in fragment
    with pytest.raises(TypeError, match="labeling_batch"):
        html_report.summarize(report, plots=False, labeling_batch=[1, 2])


def test_summary_dict_holds_the_reports_numbers(report):
    s = html_report.summarize(report, plots=False)
    assert s["headline"]["coverage"] == report.coverage
    assert s["data"]["n_rows"] == len(report.queries)
    assert [g["cluster"] for g in s["gaps"]] == list(report.gaps(None)["cluster"])
    assert [o["cluster"] for o in s["overcovered"]] == list(report.overcovered()["cluster"])
    assert s["figures"] == {} and s["data"]["time_range"][0].startswith("2026-06-01")


def test_fragment_styles_are_scoped_to_its_own_container(report):
    a = html_report.report_html_fragment(report)
    b = html_report.report_html_fragment(report)
    cid = re.match(r'<div id="(evalcov-[0-9a-f]+)" class="evalcov-report">', a).group(1)
    assert cid not in b
    css = re.search(r"<style>(.*?)</style>", a, re.S).group(1)
    selectors = [
        sel.strip() for block in re.findall(r"([^{}]+)\{", css) for sel in block.split(",")
    ]
    assert selectors and all(sel.startswith(f"#{cid}") for sel in selectors)
    assert "Plotly.newPlot" not in a and "plotly.js" not in a
    assert f"{report.coverage:.1%}" in a and EMAIL not in a
    assert re.match(r'<div id="evalcov-[0-9a-f]+" class="evalcov-report">', report._repr_html_())


def test_include_plotlyjs_false_and_bad_arguments(report, tmp_path):
    text = html_report.to_html(report, include_plotlyjs=False, max_points=50)
    assert "plotly.js v" not in text and "Plotly.newPlot" in text
    assert "Content-Security-Policy" not in text  # the host page loads plotly.js
    with pytest.raises(ValueError, match="include_plotlyjs"):
        html_report.to_html(report, include_plotlyjs="cdn")
    existing = tmp_path / "r.html"
    existing.write_text("keep")
    with pytest.raises(FileExistsError, match="overwrite"):
        html_report.to_html(report, existing, overwrite=False)
    assert existing.read_text() == "keep"
    with pytest.raises(FileNotFoundError, match="directory"):
        html_report.to_html(report, tmp_path / "missing" / "r.html")


def test_report_to_html_delegates(report, tmp_path):
    text = report.to_html(tmp_path / "r.html", max_points=50, title="Weekly <coverage>")
    assert "<title>Weekly &lt;coverage&gt;</title>" in text


def test_stability_adds_a_confirmed_column_and_the_coverage_range(report):
    stability = report.stability(n_maps=2)
    s = html_report.summarize(report, plots=False, stability=stability)
    by_map = stability.attrs["coverage_by_map"]
    assert s["stability"]["n_maps"] == 3
    assert s["stability"]["coverage_min"] == min(by_map)
    assert s["stability"]["coverage_max"] == max(by_map)
    confirmed = stability.set_index("topic")["confirmed"]
    for g in s["gaps"]:
        assert g["confirmed"] == pytest.approx(confirmed[g["topic"]])
    html = html_report.render_fragment(s)
    table = html[html.index('class="evalcov-sortable evalcov-gap-table"') :]
    table = table[: table.index("</table>")]
    assert table.count("<th ") == 10 and ">confirmed</th>" in table
    assert f"coverage {min(by_map):.1%}&ndash;{max(by_map):.1%}" in html
    first = table.split("<tr data-cluster=")[1]
    assert f">{s['gaps'][0]['confirmed']:.0%}</td>" in first
    # Without it the table is unchanged.
    assert html_report.summarize(report, plots=False)["stability"] is None
    with pytest.raises(TypeError, match="stability must be the DataFrame"):
        html_report.summarize(report, plots=False, stability=report.gaps())
