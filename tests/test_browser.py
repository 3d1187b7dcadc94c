"""The standalone report in a real headless Chromium: charts render, no console errors, no
request leaves the machine, and the gap table sorts on click.

Skipped when Chromium is absent, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import evalcov

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
# Chromium's software WebGL reports GPU performance notes through the console; they are not
# errors of the page.
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
    # The map's WebGL points were drawn (plotly adds a gl canvas per Scattergl figure).
    assert re.search(r'<canvas[^>]*class="gl-canvas', dom)
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
    probed.write_text(page.read_text().replace("</body>", probe, 1))
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
