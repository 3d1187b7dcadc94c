"""Inspect AI samples (JSONL).

Schema (Inspect docs, "Datasets", https://inspect.aisi.org.uk/datasets.html): ``json_dataset``
reads records already in ``Sample`` form: ``input`` (a string or chat messages), ``target``
(the ideal output; optional), ``id`` and ``metadata`` (arbitrary key/values). ``target`` is
written empty for the labeler; ``id`` is the query's stable id (:func:`evalcov.export.query_id`).
"""

from __future__ import annotations

from typing import Any

from evalcov.writers._base import RecordFormat
from evalcov.writers._containers import user_text
from evalcov.writers.cases import provenance

__all__ = ["INSPECT"]


def _record(case: Any, key: str) -> dict[str, Any]:
    from evalcov.export import query_id

    return {
        "id": query_id(case.text),
        "input": case.text,
        "target": "",
        "metadata": provenance(case),
    }


INSPECT = RecordFormat(
    name="inspect",
    container="jsonl",
    suffixes=(".jsonl",),
    record=_record,
    prompt=lambda r, key: user_text(r.get("input")),
    default_key="input",
    looks_like=lambda r: "input" in r,
)
