"""Ragas single-turn samples (JSONL).

Schema (Ragas docs, "Evaluation Dataset" / ``SingleTurnSample``,
https://docs.ragas.io/en/stable/concepts/components/eval_dataset/): ``EvaluationDataset
.from_jsonl`` builds one ``SingleTurnSample`` per line from ``user_input``, ``response``,
``reference``, ``retrieved_contexts``, ``reference_contexts`` and ``rubrics``. A sample has no
metadata field; the provenance goes under ``metadata``, which ``SingleTurnSample`` (a pydantic
model with the default ``extra="ignore"``) leaves out on load, so keep the file for review.
``reference`` is written empty (null) for the labeler.
"""

from __future__ import annotations

from typing import Any

from evalcov.writers._base import RecordFormat
from evalcov.writers.cases import provenance

__all__ = ["RAGAS"]


def _record(case: Any, key: str) -> dict[str, Any]:
    return {"user_input": case.text, "reference": None, "metadata": provenance(case)}


RAGAS = RecordFormat(
    name="ragas",
    container="jsonl",
    suffixes=(".jsonl",),
    record=_record,
    prompt=lambda r, key: r.get("user_input"),
    default_key="user_input",
    looks_like=lambda r: "user_input" in r,
)
