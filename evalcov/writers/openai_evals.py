"""OpenAI Evals samples (JSONL).

Schema (openai/evals, docs/build-eval.md and the registry's ``samples.jsonl`` files): one JSON
object per line with ``input``, the chat messages sent to the model, and ``ideal``, the answer
(or list of accepted answers) the basic evals compare with. Extra keys are allowed; evalcov puts
the provenance under ``metadata``. ``ideal`` is written empty for the labeler to fill.
"""

from __future__ import annotations

from typing import Any

from evalcov.writers._base import RecordFormat
from evalcov.writers._containers import user_text
from evalcov.writers.cases import provenance

__all__ = ["OPENAI_EVALS"]


def _record(case: Any, key: str) -> dict[str, Any]:
    return {
        "input": [{"role": "user", "content": case.text}],
        "ideal": "",
        "metadata": provenance(case),
    }


OPENAI_EVALS = RecordFormat(
    name="openai_evals",
    container="jsonl",
    suffixes=(".jsonl",),
    record=_record,
    prompt=lambda r, key: user_text(r.get("input")),
    default_key="input",
    looks_like=lambda r: "ideal" in r,
)
