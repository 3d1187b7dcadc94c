"""Spreadsheet formula neutralization: the helper, and the CLI's labeling CSV end to end."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from conftest import CLI_OPTIONS, cli_main

from evalcov.export import query_id
from evalcov.redact import get_redactor
from evalcov.safe_csv import neutralize_cell, neutralize_frame, restore_cell, write_csv

CASES = {
    "=1+1": "'=1+1",
    "+33 6 12": "'+33 6 12",
    "-1": "'-1",
    "@SUM(A1)": "'@SUM(A1)",
    "\tx": "'\tx",
    "\rx": "'\rx",
    "'=x": "''=x",
    "''": "'''",
    "plain = text": "plain = text",
    "": "",
    "it's": "it's",
}


@pytest.mark.parametrize("text,cell", CASES.items())
def test_neutralize_and_restore_are_inverse(text, cell):
    assert neutralize_cell(text) == cell
    assert restore_cell(cell) == text


def test_non_text_cells_are_left_alone():
    for v in (-1, -2.5, None, np.nan, pd.Timestamp("2024-01-01"), True):
        assert neutralize_cell(v) is v


def test_frame_and_csv_neutralize_text_columns_only():
    frame = pd.DataFrame({"=name": ["=a", "b", None], "n": [-1, 2, 3], "x": [-0.5, np.nan, 1.0]})
    out = neutralize_frame(frame)
    assert list(out.columns) == ["'=name", "n", "x"]
    assert out["'=name"].tolist()[:2] == ["'=a", "b"] and out["'=name"].isna().iloc[2]
    assert out["n"].tolist() == [-1, 2, 3] and frame["=name"].iloc[0] == "=a"  # a copy
    buf = io.BytesIO()
    write_csv(frame, buf)
    back = pd.read_csv(io.BytesIO(buf.getvalue()))
    assert back["'=name"].iloc[0] == "'=a" and back["n"].tolist() == [-1, 2, 3]
    tsv = io.BytesIO()
    write_csv(pd.DataFrame({"t": ["\t=1", "a\rb"]}), tsv, sep="\t")
    back = pd.read_csv(io.BytesIO(tsv.getvalue()), sep="\t", dtype=str)
    assert back["t"].tolist() == ["'\t=1", "a\rb"]  # tab and bare CR stay inside their cell


def test_categorical_text_columns_are_neutralized_too():
    """report.queries holds cluster_label, topic_label and nearest_eval as categoricals: a
    hostile eval prompt there must be neutralized like any text cell."""
    frame = pd.DataFrame({"nearest_eval": pd.Categorical(["=HYPERLINK(1)", "ok", None])})
    out = neutralize_frame(frame)
    assert out["nearest_eval"].tolist()[:2] == ["'=HYPERLINK(1)", "ok"]
    assert out["nearest_eval"].isna().iloc[2]
    buf = io.BytesIO()
    write_csv(frame, buf)
    assert pd.read_csv(io.BytesIO(buf.getvalue()))["nearest_eval"].iloc[0] == "'=HYPERLINK(1)"


def test_cli_export_neutralizes_formulas_unless_asked_not_to(
    cli_analyzed, cli_traffic, tmp_path, capsys
):
    # The shared real run (conftest.cli_analyzed) exports every text as a formula, "=...".
    result, out = cli_analyzed
    assert result.returncode == 0, result.stderr
    safe = pd.read_csv(out / "batch.csv", dtype=str, keep_default_na=False)
    assert len(safe) > 0 and safe["text"].str.startswith("'=").all()
    # Each cell restores to the traffic text of its query id (as redacted for labelers: this
    # sample's batch holds a phone number and an e-mail address).
    traffic = pd.read_csv(cli_traffic, dtype=str, keep_default_na=False)
    text_of = {query_id(t): t for t in traffic["text"]}
    assert set(safe["id"]) <= set(text_of)
    restored = [restore_cell(t) for t in safe["text"]]
    assert restored == get_redactor(True).redact([text_of[i] for i in safe["id"]])
    # The same analysis in this process (warm cache), the flag turned off: the same batch, raw.
    raw_path = tmp_path / "raw.csv"
    result = cli_main(
        capsys,
        *("analyze", cli_traffic, *CLI_OPTIONS),
        *("--export", raw_path, "--no-neutralize-formulas"),
    )
    assert result.returncode == 0, result.stderr
    raw = pd.read_csv(raw_path, dtype=str, keep_default_na=False)
    assert raw["text"].tolist() == safe["text"].map(restore_cell).tolist()
    assert raw["text"].str.startswith("=").all()
    # Not quiet: progress (the batch written included) goes to stderr, results to stdout.
    assert f"evalcov: wrote {len(raw)} queries to {raw_path}" in result.stderr
    assert "evalcov:" not in result.stdout and "coverage=" in result.stdout
