"""LangSmith dataset examples: JSON list and CSV.

Schema (LangSmith docs, "Example data format" and "Manage datasets programmatically",
https://docs.langchain.com/langsmith/example-data-format): an example has ``inputs`` (a map),
``outputs`` (a map, optional) and ``metadata`` (a map). The JSON list loads with
``client.create_examples(dataset_name=..., examples=json.load(f))``. The CSV uploads with the
UI's CSV import or ``POST /api/v1/examples/upload/{dataset_id}`` choosing ``input_keys``
(the prompt column), ``output_keys`` (``answer``) and ``metadata_keys`` (the ``evalcov_*``
columns). Outputs are written empty (null / an empty ``answer``) for the labeler.
"""

from __future__ import annotations

from typing import Any

from evalcov.writers._base import CsvFormat, RecordFormat
from evalcov.writers._containers import cell_text
from evalcov.writers.cases import provenance

__all__ = ["LANGSMITH", "LANGSMITH_CSV"]


def _example(case: Any, key: str) -> dict[str, Any]:
    return {"inputs": {key: case.text}, "outputs": None, "metadata": provenance(case)}


def _inputs(record: dict) -> dict:
    value = record.get("inputs")
    return value if isinstance(value, dict) else {}


def _row(case: Any, key: str) -> dict[str, str]:
    cells = {key: case.text, "answer": ""}
    for name, value in provenance(case).items():
        cells[f"evalcov_{name}"] = cell_text(value)
    return cells


LANGSMITH = RecordFormat(
    name="langsmith_dataset",
    container="json",
    suffixes=(".json",),
    record=_example,
    prompt=lambda r, key: _inputs(r).get(key),
    keys=lambda r: list(_inputs(r)),
    looks_like=lambda r: "inputs" in r,
)

LANGSMITH_CSV = CsvFormat(
    "langsmith_csv",
    _row,
    looks_like=lambda header: not any(str(h).startswith("__") for h in header),
)
