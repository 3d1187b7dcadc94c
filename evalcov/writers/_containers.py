"""File containers the eval formats share: JSON Lines, a JSON list, CSV.

Appending keeps the existing bytes as they are: new lines after the last line (JSONL), new
records spliced in before the closing bracket (JSON), new rows after the last row (CSV, when its
header already has every column written). Each append is checked by parsing the result.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalcov.ingest import PROMPT_VARS, TEXT_COLUMNS
from evalcov.safe_csv import neutralize_cell, restore_cell

__all__ = [
    "append_csv",
    "cell_text",
    "user_text",
    "append_json_list",
    "append_jsonl",
    "parse",
    "pick_key",
]


def parse(container: str, path: Path) -> Any:
    """Records of an existing file: a list of dicts (JSONL, JSON) or (header, rows) for CSV.

    JSON and JSONL go through the eval reader's own parser (same errors), so every record has
    every key of the file (NaN where it had none). CSV is read cell by cell so prompts can be
    un-neutralized.
    """
    from evalcov.ingest import _read_table

    if container in ("jsonl", "json"):
        return _read_table(path, container).to_dict(orient="records")
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    return header, [{h: restore_cell(v) for h, v in zip(header, r, strict=False)} for r in body]


def pick_key(keys: list[str], given: str | None, what: str, arg: str = "key") -> str:
    """The field holding the prompt: ``given``, the only one, or the first usual name present."""
    if given is not None:
        if keys and given not in keys:
            raise ValueError(f"{arg}={given!r} is not a field of {what}; fields: {keys}")
        return given
    if len(keys) == 1:
        return keys[0]
    lower = {str(k).lower(): k for k in keys}
    for name in dict.fromkeys((*TEXT_COLUMNS, *PROMPT_VARS)):
        if name in lower:
            return lower[name]
    raise ValueError(f"cannot tell which field of {what} holds the prompt ({keys}); pass {arg}=")


def append_jsonl(old: bytes | None, records: list[dict]) -> bytes:
    lines = b"".join(_json(r).encode("utf-8") + b"\n" for r in records)
    if not old:
        return lines
    return old + (b"" if old.endswith(b"\n") else b"\n") + lines


def append_json_list(old: bytes | None, records: list[dict]) -> bytes:
    items = ",\n".join(
        "  " + json.dumps(r, ensure_ascii=False, indent=2).replace("\n", "\n  ") for r in records
    )
    if not old or not old.strip():
        return ("[\n" + items + "\n]\n").encode("utf-8") if records else b"[]\n"
    if not records:
        return old
    text = old.decode("utf-8")
    end = text.rstrip().rfind("]")
    head = text[:end].rstrip()
    joint = "\n" if head.endswith("[") else ",\n"
    new = head + joint + items + "\n" + text[end:]
    if json.loads(new) != json.loads(text) + json.loads("[" + items + "]"):
        raise RuntimeError("appending to the JSON list changed its existing records")
    return new.encode("utf-8")


def append_csv(old: bytes | None, columns: list[str], records: list[Mapping[str, str]]) -> bytes:
    """Rows after the existing ones; formula-like cells neutralized.

    When the existing header lacks some of ``columns``, they are added at its end and the file
    is rewritten with the same cell values (quoting may change); otherwise the existing bytes
    are kept and the rows appended.
    """
    if not old or not old.strip():
        return _csv_rows([columns, *[[r.get(c, "") for c in columns] for r in records]], "\n")
    bom = old.startswith(b"\xef\xbb\xbf")
    text = old.decode("utf-8-sig")
    eol = "\r\n" if "\r\n" in text else "\n"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    missing = [c for c in columns if c not in header]
    new_rows = [[neutralize_cell(str(r.get(c, ""))) for c in header + missing] for r in records]
    if not missing:
        tail = _csv_rows(new_rows, eol, neutralize=False)
        return old + (b"" if text.endswith(("\n", "\r")) else eol.encode()) + tail
    width = len(header) + len(missing)
    body = [header + missing] + [r + [""] * (width - len(r)) for r in rows[1:]]
    data = _csv_rows(body, eol, neutralize=False) + _csv_rows(new_rows, eol, neutralize=False)
    return (b"\xef\xbb\xbf" if bom else b"") + data


def _csv_rows(rows: list[list[Any]], eol: str, neutralize: bool = True) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=eol)
    for row in rows:
        writer.writerow([neutralize_cell(str(v)) if neutralize else v for v in row])
    return buf.getvalue().encode("utf-8")


def user_text(value: Any) -> str | None:
    """The prompt of an input field: a string, or the last user turn of chat messages."""
    from evalcov.ingest import _NotChat, _user_contents

    if isinstance(value, str):
        return value
    try:
        turns = _user_contents(value)
    except _NotChat:
        return None
    return turns[-1] if turns else None


def cell_text(value: Any) -> str:
    """A provenance value as CSV text: lists as JSON, missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)


def _json(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)
