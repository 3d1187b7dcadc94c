"""What an eval format is to the writer: how to read the prompts it holds, how to add cases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalcov.writers import _containers

__all__ = ["CsvFormat", "EvalFormat", "RecordFormat"]


@dataclass(frozen=True)
class EvalFormat:
    """An eval file format.

    Attributes
    ----------
    name : str
        The ``format=`` value.
    suffixes : tuple of str
        File name endings it is written with.
    existing : callable
        ``(old_bytes, path, key) -> (prompts, key)``: the prompts the file holds and the field
        new prompts go into (``key`` as given, else detected, else the format's default).
    render : callable
        ``(old_bytes or None, cases, key, path) -> bytes``: the file with the cases added.
    looks_like : callable, optional
        ``(first record, or a CSV header) -> bool``: tells this format from the others
        sharing its container.
    container : str
        ``"jsonl"``, ``"json"``, ``"csv"`` or ``"yaml"``.
    """

    name: str
    suffixes: tuple[str, ...]
    existing: Callable[[bytes | None, Path, str | None], tuple[list[str], str]]
    render: Callable[[bytes | None, list[Any], str, Path], bytes]
    container: str
    looks_like: Callable[[dict], bool] | None = None


def RecordFormat(  # noqa: N802 - builds an EvalFormat, read like a class
    name: str,
    container: str,
    suffixes: tuple[str, ...],
    record: Callable[[Any, str], dict],
    prompt: Callable[[dict, str], Any],
    keys: Callable[[dict], list[str]] | None = None,
    default_key: str = "query",
    looks_like: Callable[[dict], bool] | None = None,
) -> EvalFormat:
    """An :class:`EvalFormat` of one record per case in a JSONL, JSON or CSV container.

    ``record(case, key)`` builds a case's record, ``prompt(record, key)`` reads a record's
    prompt back, and ``keys(record)`` lists the fields a prompt may sit in (formats whose
    prompt field has a fixed name pass None).
    """

    def existing(old: bytes | None, path: Path, key: str | None) -> tuple[list[str], str]:
        if keys is None and key is not None and key != default_key:
            raise ValueError(
                f"key={key!r} does not apply to {name}: its prompt is always in {default_key!r}"
            )
        if not old or not old.strip():
            return [], key or default_key
        parsed = _containers.parse(container, path)
        records = parsed[1] if container == "csv" else parsed
        if keys is None:
            chosen = default_key
        elif container == "csv":
            chosen = _containers.pick_key(
                [h for h in parsed[0] if not h.startswith("__")], key, str(path)
            )
        else:
            chosen = (
                _containers.pick_key(keys(records[0]), key, str(path))
                if records
                else (key or default_key)
            )
        return [p for p in (prompt(r, chosen) for r in records) if isinstance(p, str)], chosen

    def render(old: bytes | None, cases: list[Any], key: str, path: Path) -> bytes:
        records = [record(c, key) for c in cases]
        if container == "jsonl":
            return _containers.append_jsonl(old, records)
        if container == "json":
            return _containers.append_json_list(old, records)
        columns = list(record(_Blank(), key))
        return _containers.append_csv(old, columns, records)

    return EvalFormat(name, suffixes, existing, render, container, looks_like)


def CsvFormat(  # noqa: N802 - builds an EvalFormat, read like a class
    name: str, record: Callable[[Any, str], dict], looks_like: Callable[[list], bool]
) -> EvalFormat:
    """A :func:`RecordFormat` of CSV rows whose prompt sits in a column named by ``key``."""
    return RecordFormat(
        name=name,
        container="csv",
        suffixes=(".csv",),
        record=record,
        prompt=lambda r, key: r.get(key),
        keys=lambda r: list(r),
        looks_like=looks_like,
    )


class _Blank:
    """A case with empty fields: gives a CSV format's full column list even with no cases."""

    text = ""
    query_ids = ()
    n_queries = 0
    topic = None
    topic_name = None
    traffic_share = 0.0
    topic_share = None
    failure_rate = None
