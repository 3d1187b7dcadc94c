"""The ``evalcov`` command on real sample data: one real ``python -m evalcov analyze`` run
shared with tests/test_safe_csv.py (conftest.cli_analyzed), the other cases through
``evalcov.cli.main`` in this process (conftest.cli_main), plus one real failing run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import EVALS, cli_main, run_cli

from evalcov.cli import _jsonable


def test_analyze_writes_report_summary_and_batch(cli_analyzed, cli_traffic):
    result, out = cli_analyzed
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    s = summary["summary"]
    assert s["n_rows"] == len(pd.read_csv(cli_traffic)) and 0 <= s["coverage"] <= 1
    assert len(summary["gaps"]) == min(25, s["n_gaps"])
    assert all(g["status"] in ("uncovered", "partial") for g in summary["gaps"])
    page = (out / "report.html").read_text()
    assert f"{s['coverage']:.1%}" in page and "Labeling batch" in page
    batch = pd.read_csv(out / "batch.csv")
    assert 0 < len(batch) <= 20
    assert f"coverage={s['coverage']:.1%}" in result.stdout
    # --quiet: nothing on stderr, in a fresh interpreter, model loading included.
    assert result.stderr == ""


def test_drift_writes_json_and_progress_goes_to_stderr(cli_traffic, tmp_path, capsys):
    result = cli_main(
        capsys,
        *("drift", cli_traffic, "--evals", EVALS, "--time-col", "timestamp", "--freq", "MS"),
        *("--json", tmp_path / "drift.json", "--n-clusters", "12"),
    )
    assert result.returncode == 0, result.stderr
    drift = json.loads((tmp_path / "drift.json").read_text())["drift"]
    windows = pd.DataFrame(drift["windows"])
    assert list(windows["window"].str[:7]) == ["2026-06", "2026-07", "2026-08"]
    assert "<Drift 3 windows" in result.stdout
    assert pd.DataFrame(drift["clusters"])["cluster"].nunique() == 12  # --n-clusters
    # Progress goes to stderr, results to stdout.
    assert "evalcov: analysis done" in result.stderr and "evalcov:" not in result.stdout


def test_reach_floor_none_keeps_each_prompts_own_radius(cli_traffic, tmp_path, capsys):
    runs = {}
    for floor in ("none", "0.5"):
        out = tmp_path / f"summary-{floor}.json"
        argv = ["analyze", cli_traffic, "--evals", EVALS, "--json", out, "--quiet"]
        result = cli_main(capsys, *argv, "--reach-floor", floor)
        assert result.returncode == 0, result.stderr
        runs[floor] = json.loads(out.read_text())["summary"]
    assert runs["none"]["reach_similarity"] is None
    assert 0 < runs["0.5"]["reach_similarity"] < 1
    # Wider claims never uncover traffic: the map is the same, only claims are added.
    assert runs["0.5"]["coverage"] >= runs["none"]["coverage"]
    result = cli_main(capsys, "analyze", cli_traffic, "--evals", EVALS, "--reach-floor", "lots")
    assert result.returncode == 2 and "expected a quantile in (0, 1] or 'none'" in result.stderr


def test_stability_adds_the_other_maps_verdict_to_each_gap(cli_traffic, tmp_path, capsys):
    out = tmp_path / "summary.json"
    argv = ["analyze", cli_traffic, "--evals", EVALS, "--json", out, "--quiet"]
    page, batch = tmp_path / "report.html", tmp_path / "batch.csv"
    result = cli_main(
        capsys, *argv, "--stability", "2", "--html", page, "--export", batch, "--confirmed-only"
    )
    assert result.returncode == 0, result.stderr
    assert ">confirmed</th>" in page.read_text()
    payload = json.loads(out.read_text())
    stability = payload["stability"]
    assert len(stability["coverage_by_map"]) == 3 and len(stability["random_states"]) == 2
    assert stability["coverage_by_map"][0] == payload["summary"]["coverage"]
    assert 0 < stability["agreement"] <= 1
    gaps = pd.DataFrame(payload["gaps"])
    # Every gap holds untested traffic, so its confirmed share is a number in [0, 1].
    assert gaps["confirmed"].between(0, 1).all()
    assert gaps["untested_elsewhere"].between(0, 1).all()
    assert "confirmed by other maps" in result.stdout
    assert f"coverage {min(stability['coverage_by_map']):.1%}-" in result.stdout
    # The labeling batch comes from the untested clusters the other maps confirm, of the
    # same report (same flags, same seed), and from every such cluster it can.
    import evalcov

    report = evalcov.analyze(cli_traffic, EVALS, show_progress=False)
    table = report.stability(n_maps=2, level="cluster")
    assert table.attrs["coverage_by_map"] == stability["coverage_by_map"]
    sure = table[(table["status"] == "uncovered") & (table["confirmed"] >= 0.5)]
    assert 0 < len(sure) < (table["status"] == "uncovered").sum()
    drawn = set(pd.read_csv(batch)["cluster"])
    assert drawn and drawn <= set(sure["cluster"])
    result = cli_main(capsys, *argv, "--stability", "0")
    assert result.returncode == 2 and "--stability must be a positive integer" in result.stderr
    result = cli_main(capsys, *argv, "--confirmed-only")
    assert result.returncode == 2 and "--confirmed-only needs --stability N" in result.stderr


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing file", "traffic file not found"),
        ("unknown format", "cannot tell the format"),
        ("missing column", "column 'body' (text=) not found; columns present: query_id"),
        ("empty eval set", "eval set is empty"),
        ("bad output dir", "does not exist"),
        ("bad reach floor", "reach_floor must be a quantile in (0, 1] or None, got 1.5"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(case, expected, cli_traffic, tmp_path, capsys):
    evals, args = EVALS, []
    quiet = case in ("unknown format", "empty eval set")
    source = cli_traffic
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
    elif case == "bad reach floor":
        args = ["--reach-floor", "1.5"]
    argv = ["analyze", source, "--evals", evals, *args, *(["--quiet"] if quiet else [])]
    # One case runs the real command: its exit status and stderr, not only main()'s.
    result = run_cli(*argv) if case == "missing file" else cli_main(capsys, *argv)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("evalcov: error:")]
    assert len(errors) == 1 and expected in errors[0]
    assert "Traceback" not in result.stderr
    if quiet:
        assert result.stderr.splitlines() == errors


def test_missing_evals_is_a_usage_error(cli_traffic, capsys):
    result = cli_main(capsys, "analyze", cli_traffic, "--html", "r.html")
    assert result.returncode == 2
    assert "the following arguments are required: --evals" in result.stderr
    result = cli_main(capsys, "drift", cli_traffic, "--evals", EVALS)
    assert result.returncode == 2 and "--time-col" in result.stderr


def test_help_shows_examples(capsys):
    result = cli_main(capsys, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "evalcov analyze traffic.csv.gz" in result.stdout
    result = cli_main(capsys, "analyze", "--help")
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
