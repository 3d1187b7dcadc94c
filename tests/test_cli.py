"""The ``evalcov`` command, run as ``python -m evalcov`` in a subprocess on real sample data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalcov.cli import _jsonable

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
EVALS = SAMPLE / "evals.csv"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    # os.environ carries the test session's EVALCOV_CACHE_DIR (conftest), so runs share it.
    return subprocess.run(
        [sys.executable, "-m", "evalcov", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "traffic.csv"
    pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::80].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def analyzed(traffic, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run(
        "analyze",
        traffic,
        "--evals",
        EVALS,
        "--eval-text-col",
        "prompt",
        "--time-col",
        "timestamp",
        "--user-col",
        "user_id",
        "--freq",
        "MS",
        "--html",
        out / "report.html",
        "--json",
        out / "summary.json",
        "--export",
        out / "batch.csv",
        "-n",
        "20",
        "--format",
        "csv",
    )
    return result, out


def test_analyze_writes_report_summary_and_batch(analyzed, traffic):
    result, out = analyzed
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    s = summary["summary"]
    assert s["n_rows"] == len(pd.read_csv(traffic)) and 0 <= s["coverage"] <= 1
    assert len(summary["gaps"]) == min(25, s["n_gaps"])
    assert all(g["status"] in ("uncovered", "partial") for g in summary["gaps"])
    page = (out / "report.html").read_text()
    assert f"{s['coverage']:.1%}" in page and "Labeling batch" in page
    batch = pd.read_csv(out / "batch.csv")
    assert 0 < len(batch) <= 20
    assert f"coverage={s['coverage']:.1%}" in result.stdout
    # Progress goes to stderr, results to stdout.
    assert "evalcov: analysis done" in result.stderr and "evalcov:" not in result.stdout


def test_drift_writes_json_and_is_silent_when_quiet(traffic, tmp_path):
    result = run(
        "drift",
        traffic,
        "--evals",
        EVALS,
        "--time-col",
        "timestamp",
        "--freq",
        "MS",
        "--json",
        tmp_path / "drift.json",
        "--n-clusters",
        "12",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    drift = json.loads((tmp_path / "drift.json").read_text())["drift"]
    windows = pd.DataFrame(drift["windows"])
    assert list(windows["window"].str[:7]) == ["2026-06", "2026-07", "2026-08"]
    assert "<Drift 3 windows" in result.stdout
    assert pd.DataFrame(drift["clusters"])["cluster"].nunique() == 12  # --n-clusters


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing file", "traffic file not found"),
        ("unknown format", "cannot tell the format"),
        ("missing column", "column 'body' (text=) not found; columns present: query_id"),
        ("empty eval set", "eval set is empty"),
        ("bad output dir", "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(case, expected, traffic, tmp_path):
    evals, args = EVALS, []
    quiet = case in ("unknown format", "empty eval set")
    source = traffic
    if case == "missing file":
        source = tmp_path / "nope.csv"
    elif case == "unknown format":
        source = tmp_path / "traffic.xlsx"
        source.write_text("text\nhello\n")
    elif case == "missing column":
        args = ["--text-col", "body"]
    elif case == "empty eval set":
        evals = tmp_path / "evals.csv"
        evals.write_text("prompt\n")
    elif case == "bad output dir":
        args = ["--html", tmp_path / "missing" / "report.html"]
    result = run("analyze", source, "--evals", evals, *args, *(["--quiet"] if quiet else []))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("evalcov: error:")]
    assert len(errors) == 1 and expected in errors[0]
    assert "Traceback" not in result.stderr
    if quiet:
        assert result.stderr.splitlines() == errors


def test_missing_evals_is_a_usage_error(traffic):
    result = run("analyze", traffic, "--html", "r.html")
    assert result.returncode == 2
    assert "the following arguments are required: --evals" in result.stderr
    result = run("drift", traffic, "--evals", EVALS)
    assert result.returncode == 2 and "--time-col" in result.stderr


def test_help_shows_examples():
    result = run("--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "evalcov analyze traffic.csv.gz" in result.stdout
    result = run("analyze", "--help")
    assert "--export" in result.stdout and "examples:" in result.stdout


def test_jsonable_converts_numpy_pandas_and_missing_values():
    import numpy as np

    value = {
        "a": np.int64(3),
        "b": np.float32(0.5),
        "c": float("nan"),
        "d": pd.Timestamp("2026-06-01", tz="UTC"),
        "e": pd.DataFrame({"x": [1, 2], "t": pd.to_datetime(["2026-06-01", None])}),
        "f": np.array([True, False]),
    }
    assert _jsonable(value) == {
        "a": 3,
        "b": 0.5,
        "c": None,
        "d": "2026-06-01T00:00:00+00:00",
        "e": [{"x": 1, "t": "2026-06-01T00:00:00"}, {"x": 2, "t": None}],
        "f": [True, False],
    }
    with pytest.raises(TypeError, match="JSON"):
        _jsonable(object())
