"""Render the README screenshots of the HTML report and the traffic map with headless Chromium.

    python benchmarks/make_screenshots.py [--step 10] [--out notebooks/img]

Analyzes every ``step``-th row of ``sample_data/traffic.csv.gz`` against
``sample_data/evals.csv`` (default model, seed 0), writes the standalone report and a page with
the map alone (coloured by covered/uncovered), and screenshots both: ``report.png`` is a
1280x1850 window at 0.8 device scale (1024x1480 pixels: text-heavy PNGs are large),
``map.png`` a 1280x760 window.
Warns when a PNG exceeds 300 KB (the README's budget).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

import evalcov

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
BUDGET = 300_000


def screenshot(page: Path, png: Path, size: tuple[int, int], scale: float, workdir: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install -y chromium)")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-unsafe-swiftshader",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={workdir / png.stem}",
            "--virtual-time-budget=15000",
            f"--window-size={size[0]},{size[1]}",
            f"--force-device-scale-factor={scale}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=10, help="use every step-th traffic row")
    parser.add_argument("--out", type=Path, default=REPO / "notebooks" / "img")
    args = parser.parse_args()
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[:: args.step]
    report = evalcov.analyze(
        traffic, SAMPLE / "evals.csv", text="text", time="timestamp", eval_text="prompt"
    )
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        report.to_html(work / "report.html", title="Eval coverage: Northwind Bank assistant")
        fig = report.plot_map(color="covered", height=740)
        fig.update_layout(margin={"l": 10, "r": 10, "t": 70, "b": 10})
        fig.write_html(work / "map.html", include_plotlyjs=True, full_html=True)
        shots = [
            ("report", work / "report.html", (1280, 1850), 0.8),
            ("map", work / "map.html", (1280, 760), 1.0),
        ]
        for name, page, size, scale in shots:
            png = args.out / f"{name}.png"
            screenshot(page, png, size, scale, work)
            kb = png.stat().st_size / 1000
            print(
                f"{png.relative_to(REPO)}: {kb:.0f} KB"
                + ("  (over 300 KB!)" if kb * 1000 > BUDGET else "")
            )


if __name__ == "__main__":
    main()
