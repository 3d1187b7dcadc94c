"""The standalone report in a real headless Chromium: charts render, no console errors, no
request leaves the machine, and the gap table sorts on click.

Skipped when Chromium is absent, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import HOSTILE_TEXTS

import evalcov
from evalcov.safe_html import content_security_policy, inline_scripts

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
# Chromium's software WebGL reports GPU performance notes through the console; they are not
# errors of the page.
CSP_META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
HARMLESS_CONSOLE = re.compile(r'"\[\.WebGL-[^\]]*\]GL Driver Message \([^)]*Performance')


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail("chromium is not installed; CI must run the browser test (.ci/setup)")
    pytest.skip("chromium is not installed")


def load(page: Path, workdir: Path) -> tuple[str, list[str], list[str]]:
    """Open ``page`` offline in headless Chromium.

    Returns the DOM after scripts ran, the page's console messages, and the URLs of the
    non-local requests the page made (from Chromium's network log).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    netlog = workdir / "netlog.json"
    result = subprocess.run(
        [
            chromium_binary(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-unsafe-swiftshader",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={workdir / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--log-net-log={netlog}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [
        line
        for line in result.stderr.splitlines()
        if ":CONSOLE" in line and not HARMLESS_CONSOLE.search(line)
    ]
    return result.stdout, console, page_requests(netlog)


def page_requests(netlog: Path) -> list[str]:
    """URLs the page (a file:// site) asked the network for; Chromium's own background
    requests (update checks, accounts) are not the page's and are left out."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start_job and "site=file://" in params.get("site_for_cookies", ""):
            if not params["url"].startswith(("file:", "data:", "blob:")):
                urls.append(params["url"])
    return urls


@pytest.fixture(scope="module")
def report():
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::80]
    return evalcov.analyze(
        traffic,
        SAMPLE / "evals.csv",
        text="text",
        time="timestamp",
        eval_text="prompt",
        show_progress=False,
    )


@pytest.fixture(scope="module")
def page(report, tmp_path_factory) -> Path:
    chromium_binary()
    path = tmp_path_factory.mktemp("browser") / "report.html"
    report.to_html(path, drift_freq="MS")
    return path


def test_report_renders_every_chart_offline_without_console_errors(page, tmp_path):
    source = page.read_text()
    n_figures = source.count('class="plotly-graph-div"')
    assert n_figures == 3  # map, gap chart, drift
    dom, console, requests = load(page, tmp_path)
    assert dom.count('class="plot-container plotly"') == n_figures
    assert dom.count('class="main-svg"') >= n_figures
    # The map's WebGL points were drawn (plotly adds a gl canvas per Scattergl figure, and
    # replaces the plot by a notice when WebGL cannot run, e.g. when a CSP forbids eval).
    assert re.search(r'<canvas[^>]*class="gl-canvas', dom)
    assert '<div class="no-webgl"' not in dom
    assert console == []
    assert requests == []
    # Static check too: nothing in the markup points at another host.
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", dom, re.I)
    assert not [t for t in tags if re.search(r"(?:src|href)\s*=\s*['\"]?(?:https?:)?//", t)]


def test_gap_table_sorts_on_click_and_the_checks_catch_a_remote_request(report, page, tmp_path):
    gaps = report.gaps(None)
    assert len(gaps) >= 2
    probe = """
<img src="http://example.invalid/tracker.png" alt="">
<script>
window.addEventListener("load", function () {
  var table = document.querySelector("table.evalcov-gap-table");
  var th = table.tHead.rows[0].cells[3];
  function order() {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return r.getAttribute("data-cluster"); }).join(",");
  }
  th.click(); var up = order() + ";" + th.getAttribute("aria-sort");
  th.click(); var down = order() + ";" + th.getAttribute("aria-sort");
  var out = document.createElement("pre");
  out.id = "sort-result"; out.textContent = up + "|" + down;
  document.body.appendChild(out);
  console.log("probe done");
});
</script>
</body>"""
    probed = tmp_path / "probed.html"
    # The report's Content-Security-Policy would block the probe and its image; this test is
    # about the checks, so the probe page goes without it (the CSP has its own test below).
    source = CSP_META.sub("", page.read_text(), count=1)
    probed.write_text(source.replace("</body>", probe, 1))
    dom, console, requests = load(probed, tmp_path / "run")
    up, down = re.search(r'<pre id="sort-result">([^<]*)</pre>', dom).group(1).split("|")
    share = dict(zip(gaps["cluster"].astype(str), gaps["traffic_share"], strict=True))
    rows_up, sort_up = up.split(";")
    rows_down, sort_down = down.split(";")
    assert (sort_up, sort_down) == ("ascending", "descending")
    assert sorted(rows_up.split(",")) == sorted(share)
    assert [share[c] for c in rows_up.split(",")] == sorted(share.values())
    assert [share[c] for c in rows_down.split(",")] == sorted(share.values(), reverse=True)
    # The same checks that found nothing on the report find the planted request and log.
    assert requests == ["http://example.invalid/tracker.png"]
    assert any('"probe done"' in line for line in console)


# Planted in the hostile page's <head> with its hash added to the policy: it records every CSP
# violation, hovers every point of every chart (plotly renders hover texts as markup), then
# writes what it saw into the DOM.
WATCHER = """
var violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  violations.push(e.violatedDirective + " " + e.blockedURI);
});
window.addEventListener("load", function () {
  var hovered = 0;
  document.querySelectorAll(".plotly-graph-div").forEach(function (div) {
    (div.data || []).forEach(function (trace, i) {
      var n = Math.min((trace.x || []).length, 40);
      for (var p = 0; p < n; p++) {
        Plotly.Fx.hover(div, [{curveNumber: i, pointNumber: p}]); hovered++;
      }
    });
  });
  setTimeout(function () {
    var out = document.createElement("pre");
    out.id = "watch";
    out.textContent = JSON.stringify({
      violations: violations, hovered: hovered,
      pwned: document.documentElement.getAttribute("data-pwned")});
    document.body.appendChild(out);
  }, 1000);
});
"""
# Markup that got past escaping (it cannot: this plants it by hand) must still be inert.
PLANTED = (
    "<script>document.documentElement.setAttribute('data-pwned','planted')</script>"
    '<img src="http://evil.example/pixel.png" alt="">'
)


@pytest.fixture(scope="module")
def hostile_page(hostile_report, tmp_path_factory) -> tuple[Path, str]:
    chromium_binary()
    batch = hostile_report.export_for_labeling(n=10)
    batch[HOSTILE_TEXTS[1]] = HOSTILE_TEXTS[0]  # a hostile column name and value
    # A right-to-left override in a text the page shows whatever the map's gaps are.
    rlo = next(t for t in HOSTILE_TEXTS if "\u202e" in t)
    batch.loc[batch.index[0], "text"] = f"{rlo} {batch['text'].iloc[0]}"
    path = tmp_path_factory.mktemp("hostile") / "report.html"
    page = hostile_report.to_html(
        path, drift_freq="MS", labeling_batch=batch, title=HOSTILE_TEXTS[3]
    )
    return path, page


def test_hostile_texts_are_escaped_in_the_page_source(hostile_page):
    _, page = hostile_page
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)
    for payload in HOSTILE_TEXTS:
        for tag in re.findall(r"<[a-z]+\b", payload):
            assert tag + " " not in markup and tag + ">" not in markup, (tag, payload)
    assert "&lt;script&gt;" in markup and "&lt;img src=x onerror=" in markup
    # Only the page's own scripts: plotly.js, three figures, the table sorter.
    scripts = inline_scripts(page)
    assert len(scripts) == 5 and page.count("</script") == 5
    policy = htmllib.unescape(CSP_META.search(page).group(1))
    assert policy == content_security_policy(scripts)
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert policy.startswith("default-src 'none';") and "unsafe-inline" not in script_src
    # Every right-to-left override sits inside a bidi isolate (U+2068 ... U+2069).
    assert markup.count("\u202e") > 0
    assert markup.count("\u202e") == len(re.findall("\u2068[^\u2069]*\u202e", markup))


def test_hostile_report_renders_and_nothing_from_the_data_executes(hostile_page, tmp_path):
    path, page = hostile_page
    watched = content_security_policy([*inline_scripts(page), WATCHER])
    meta = f'<meta http-equiv="Content-Security-Policy" content="{watched}">'
    planted = CSP_META.sub(lambda _: meta, page, count=1)
    planted = planted.replace("<title>", f"<script>{WATCHER}</script><title>", 1)
    planted = planted.replace("</body>", PLANTED + "</body>", 1)
    target = tmp_path / "hostile.html"
    target.write_text(planted, encoding="utf-8")
    dom, console, requests = load(target, tmp_path / "run")
    watch = json.loads(htmllib.unescape(re.search(r'<pre id="watch">([^<]*)</pre>', dom)[1]))
    assert watch["pwned"] is None
    assert not re.search(r"<html[^>]*data-pwned", dom)
    # The page's own code never trips the policy; the planted script and image do, and are
    # blocked (no request left the machine).
    assert sorted(v.split()[0] for v in watch["violations"]) == ["img-src", "script-src-elem"]
    assert requests == []
    assert watch["hovered"] > 0
    # ... and the page still renders: three charts, the gap table, the labeling batch.
    assert dom.count('class="plot-container plotly"') == 3
    assert re.search(r'<canvas[^>]*class="gl-canvas', dom)
    assert '<div class="no-webgl"' not in dom  # what plotly shows when the CSP blocks it
    assert dom.count("<tr data-cluster=") >= 1 and "Labeling batch" in dom
    assert not re.search(r"<a\b[^>]*href=[\"']?javascript:", dom, re.I)
    # The console reports the two blocked plants and nothing else.
    assert len(console) == 2 and all("Content Security Policy" in c for c in console)
