"""Langfuse dataset items (JSON list).

Schema (Langfuse public API, ``POST /api/public/dataset-items``, ``CreateDatasetItemRequest``:
``datasetName``, ``input``, ``expectedOutput``, ``metadata``, ``sourceTraceId``, ``id``,
``status``): each record is such a request body without ``datasetName``; create the items with
``langfuse.create_dataset_item(dataset_name=..., input=r["input"],
expected_output=r["expectedOutput"], metadata=r["metadata"])``. ``input`` is the prompt (or
``{key: prompt}`` when the existing items hold their input as an object); ``expectedOutput`` is
written empty (null) for the labeler; the provenance goes under ``metadata``.
"""

from __future__ import annotations

from typing import Any

from evalcov.writers._base import RecordFormat
from evalcov.writers.cases import provenance

__all__ = ["LANGFUSE"]

# The key of a plain-string input: records with string inputs are written the same way.
_PLAIN = "input"


def _record(case: Any, key: str) -> dict[str, Any]:
    value: Any = case.text if key == _PLAIN else {key: case.text}
    return {"input": value, "expectedOutput": None, "metadata": provenance(case)}


def _prompt(record: dict, key: str) -> Any:
    value = record.get("input")
    return value.get(key) if isinstance(value, dict) else value


def _keys(record: dict) -> list[str]:
    value = record.get("input")
    return list(value) if isinstance(value, dict) else [_PLAIN]


LANGFUSE = RecordFormat(
    name="langfuse_dataset",
    container="json",
    suffixes=(".json",),
    record=_record,
    prompt=_prompt,
    keys=_keys,
    default_key=_PLAIN,
    looks_like=lambda r: any(k in r for k in ("expectedOutput", "sourceTraceId", "datasetName")),
)
