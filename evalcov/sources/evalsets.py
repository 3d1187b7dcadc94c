"""Eval sets as the common eval tools write them; each yields the prompt a case sends.

- ``openai_evals``: OpenAI Evals samples, JSONL ``{"input": str | [messages], "ideal": ...}``
  (https://github.com/openai/evals/blob/main/docs/build-eval.md). LangSmith's OpenAI-evals
  dataset export has this shape too.
- ``deepeval``: DeepEval goldens saved as JSON/CSV, ``input`` next to ``expected_output``,
  ``context``, ``retrieval_context`` (or their camelCase aliases)
  (https://deepeval.com/docs/evaluation-datasets).
- ``inspect``: Inspect AI samples, ``{"input": str | [ChatMessage], "target": ..., "id": ...}``
  (https://inspect.aisi.org.uk/datasets.html).
- ``ragas``: Ragas samples, ``user_input`` (a string, or a list of messages for multi-turn
  samples), ``reference``, ``retrieved_contexts``
  (https://docs.ragas.io/en/stable/concepts/components/eval_sample/).
- ``langfuse_dataset``: Langfuse dataset items, ``{"id", "datasetId", "input",
  "expectedOutput", "status"}``; archived items are listed as excluded
  (https://api.reference.langfuse.com, DatasetItem).
- ``langsmith_dataset``: LangSmith examples, ``{"id", "inputs": {...}, "outputs": {...}}``
  (https://docs.smith.langchain.com/reference/data_formats/example_data_format).

In every format the text is the user's: the last user message of a messages input, the single
text of a dict of inputs (or its ``question``/``query``/``input``/... key).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from evalcov.sources._fields import require
from evalcov.sources._messages import is_missing, request_text

__all__ = ["EVAL_SOURCES"]

_DEEPEVAL_FIELDS = (
    "expected_output",
    "expectedOutput",
    "actual_output",
    "actualOutput",
    "retrieval_context",
    "retrievalContext",
    "context",
)


def _needs(*required: str, any_of: tuple = ()) -> Callable[[pd.DataFrame], str | None]:
    def check(frame: pd.DataFrame) -> str | None:
        problem = require(frame, required, "eval set")
        if problem:
            return problem
        if any_of and not any(c in frame.columns for c in any_of):
            return f"one of the columns {', '.join(map(repr, any_of))}"
        return None

    return check


def _reader(column: str, archived: bool = False) -> Callable[[pd.DataFrame, str], pd.DataFrame]:
    def read(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
        texts = [request_text(v) for v in frame[column].tolist()]
        reasons = ["" if t else "no user message" for t in texts]
        if archived and "status" in frame.columns:
            status = frame["status"].astype(str).str.upper().tolist()
            reasons = [
                "archived item" if s == "ARCHIVED" else r
                for r, s in zip(reasons, status, strict=True)
            ]
            texts = [None if r else t for r, t in zip(reasons, texts, strict=True)]
        out = pd.DataFrame({"text": texts, "reason": reasons})
        if "id" in frame.columns and not frame["id"].map(is_missing).any():
            out["id"] = frame["id"].astype(str).to_numpy()
        return out

    return read


# name -> (structure check, reader); checked in this order, most specific first.
EVAL_SOURCES = {
    "langsmith_dataset": (_needs("inputs", any_of=("outputs", "dataset_id")), _reader("inputs")),
    "ragas": (_needs("user_input"), _reader("user_input")),
    "langfuse_dataset": (
        _needs("input", any_of=("datasetId", "datasetName", "expectedOutput")),
        _reader("input", archived=True),
    ),
    "openai_evals": (_needs("input", "ideal"), _reader("input")),
    "inspect": (_needs("input", "target"), _reader("input")),
    "deepeval": (_needs("input", any_of=_DEEPEVAL_FIELDS), _reader("input")),
}
