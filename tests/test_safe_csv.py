"""Spreadsheet formula neutralization: the helper, and the CLI's labeling CSV end to end."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from test_cli import EVALS, SAMPLE, run

from evalcov.export import query_id
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


def test_cli_export_neutralizes_formulas_unless_asked_not_to(tmp_path):
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::160].reset_index(drop=True)
    traffic["text"] = "=" + traffic["text"].astype(str)
    traffic.to_csv(tmp_path / "traffic.csv", index=False)
    common = ["analyze", tmp_path / "traffic.csv", "--evals", EVALS, "--eval-text-col", "prompt"]
    common += ["--text-col", "text", "-n", "30", "--n-clusters", "8", "--quiet"]
    result = run(*common, "--export", tmp_path / "safe.csv")
    assert result.returncode == 0, result.stderr
    safe = pd.read_csv(tmp_path / "safe.csv", dtype=str, keep_default_na=False)
    assert len(safe) > 0 and safe["text"].str.startswith("'=").all()
    assert [query_id(restore_cell(t)) for t in safe["text"]] == safe["id"].tolist()
    result = run(*common, "--export", tmp_path / "raw.csv", "--no-neutralize-formulas")
    assert result.returncode == 0, result.stderr
    raw = pd.read_csv(tmp_path / "raw.csv", dtype=str, keep_default_na=False)
    assert raw["text"].tolist() == safe["text"].map(restore_cell).tolist()
    assert raw["text"].str.startswith("=").all()
