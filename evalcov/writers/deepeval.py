"""DeepEval goldens (JSON list).

Schema (DeepEval docs, "Datasets", https://deepeval.com/docs/evaluation-datasets, and its
``Golden`` model): ``EvaluationDataset.add_goldens_from_json_file(path, input_key_name="input",
expected_output_key_name="expected_output", ...)`` reads a JSON list of goldens with ``input``,
``expected_output``, ``context``, ``additional_metadata`` and ``comments``. ``expected_output``
is written empty (null) for the labeler; the provenance goes under ``additional_metadata``.
"""

from __future__ import annotations

from typing import Any

from evalcov.writers._base import RecordFormat
from evalcov.writers.cases import provenance

__all__ = ["DEEPEVAL"]


def _record(case: Any, key: str) -> dict[str, Any]:
    return {
        "input": case.text,
        "expected_output": None,
        "additional_metadata": provenance(case),
        "comments": "added by evalcov from production traffic; write the expected output",
    }


DEEPEVAL = RecordFormat(
    name="deepeval",
    container="json",
    suffixes=(".json",),
    record=_record,
    prompt=lambda r, key: r.get("input"),
    default_key="input",
    looks_like=lambda r: (
        "input" in r
        and any(k in r for k in ("expected_output", "actual_output", "additional_metadata"))
    ),
)
