"""Write eval-set additions in the eval tool's own format, or append them to its file.

``write_evals`` takes what :meth:`CoverageReport.suggest_additions` or
:meth:`CoverageReport.export_for_labeling` returns and writes a file promptfoo, OpenAI Evals,
DeepEval, Inspect AI, Ragas, Langfuse or LangSmith imports as it is: the prompt, an empty
expected-output slot for the labeler (never an invented answer) and the provenance of each case
(the traffic query ids it stands for, its topic and name, traffic shares and, when the traffic
has outcomes, the topic's failure rate) in the format's metadata field. Appending keeps the
existing bytes and never writes a prompt the file already holds. One module per format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from evalcov._files import replace_atomically
from evalcov.writers._base import EvalFormat
from evalcov.writers._containers import parse
from evalcov.writers.cases import prepare_cases
from evalcov.writers.deepeval import DEEPEVAL
from evalcov.writers.inspect_ai import INSPECT
from evalcov.writers.langfuse import LANGFUSE
from evalcov.writers.langsmith import LANGSMITH, LANGSMITH_CSV
from evalcov.writers.openai_evals import OPENAI_EVALS
from evalcov.writers.promptfoo import PROMPTFOO, PROMPTFOO_CSV
from evalcov.writers.ragas import RAGAS

if TYPE_CHECKING:
    from evalcov.report import CoverageReport

__all__ = ["EVAL_FORMATS", "check_target", "write_evals"]

# Order matters for detection from content: the first format whose looks_like holds wins.
_FORMATS: tuple[EvalFormat, ...] = (
    PROMPTFOO,
    PROMPTFOO_CSV,
    LANGSMITH_CSV,
    OPENAI_EVALS,
    RAGAS,
    INSPECT,
    DEEPEVAL,
    LANGFUSE,
    LANGSMITH,
)
EVAL_FORMATS = tuple(f.name for f in _FORMATS)
_BY_NAME = {f.name: f for f in _FORMATS}


def write_evals(
    additions: Any,
    path: str | os.PathLike,
    report: CoverageReport,
    *,
    format: str | None = None,  # noqa: A002 - public keyword, mirrors pandas' writers
    append: bool = False,
    key: str | None = None,
    redact: Any = True,
    by: str | None = None,
    max_ids: int = 50,
) -> pd.DataFrame:
    """Write eval cases for ``additions`` to ``path`` in an eval tool's format.

    Formats (each module's docstring cites the schema it follows):

    - ``"promptfoo"`` (``.yaml``/``.yml``): tests with ``vars: {<key>: prompt}``, ``assert: []``
      and ``metadata``; a new file is a tests list (``tests: file://...`` in a config), or a
      config with ``tests:`` when its name starts with ``promptfooconfig``.
    - ``"promptfoo_csv"`` (``.csv``): the prompt column, ``__expected`` (empty),
      ``__description`` and ``__metadata:<field>`` columns.
    - ``"openai_evals"`` (``.jsonl``): ``input`` as chat messages, ``ideal`` empty, ``metadata``.
    - ``"inspect"`` (``.jsonl``): ``id``, ``input``, ``target`` empty, ``metadata``.
    - ``"ragas"`` (``.jsonl``): ``user_input``, ``reference`` null, ``metadata``.
    - ``"deepeval"`` (``.json``): goldens with ``input``, ``expected_output`` null,
      ``additional_metadata``.
    - ``"langfuse_dataset"`` (``.json``): items with ``input``, ``expectedOutput`` null,
      ``metadata``.
    - ``"langsmith_dataset"`` (``.json``): examples with ``inputs: {<key>: prompt}``,
      ``outputs`` null, ``metadata``; ``"langsmith_csv"`` (``.csv``): the prompt column,
      ``answer`` (empty) and ``evalcov_<field>`` columns.

    CSV cells that a spreadsheet would run as formulas get a leading ``'``.

    Parameters
    ----------
    additions : DataFrame, Series or list of str
        ``report.suggest_additions(...)``, ``report.export_for_labeling(...)`` or prompts.
    path : str or path-like
        The file to write, or the eval file to append to.
    report : CoverageReport
        The report the additions come from (it supplies the provenance).
    format : str, optional
        One of :data:`EVAL_FORMATS`. Default: from an existing file's content, else from the
        file name (``.yaml``/``.yml`` is promptfoo; ``.csv``, ``.jsonl`` and ``.json`` are
        shared by several tools, so a new file of those needs ``format=``).
    append : bool, default=False
        Add to ``path`` when it exists (its bytes are kept; only promptfoo CSV/LangSmith CSV
        files whose header lacks the provenance columns are rewritten, same cell values).
        False refuses to touch an existing file.
    key : str, optional
        The var/column/input key that holds the prompt. Default: the one the existing file
        uses (detected like :func:`evalcov.read_evals` does), else ``"query"`` (promptfoo, CSV,
        LangSmith) or the format's fixed field.
    redact : bool, str, callable or Redactor, default=True
        PII redaction of everything written (see :func:`evalcov.redact.get_redactor`).
    by : str, optional
        Column of ``report.queries`` naming the topic (``"topic"`` when present, else
        ``"cluster"``).
    max_ids : int, default=50
        Most traffic query ids listed per case; ``n_queries`` counts them all.

    Returns
    -------
    DataFrame
        One row per addition, in order: ``text`` (as written), ``status`` (``"added"``,
        ``"duplicate of an eval prompt"``, ``"repeated in additions"`` or ``"empty text"``)
        and the provenance columns (see :func:`evalcov.writers.cases.prepare_cases`).
        ``attrs`` holds ``path``, ``format`` and ``key``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``append`` is False.
    ValueError
        Unknown or undetectable format, a file that is not in the format, no way to tell the
        prompt field.
    """
    path, old, fmt = check_target(path, format, append)
    existing, key = fmt.existing(old, path, key)
    cases = prepare_cases(additions, report, existing, redact=redact, by=by, max_ids=max_ids)
    new = list(cases[cases["status"] == "added"].itertuples(index=False))
    if new or old is None:
        replace_atomically(path, fmt.render(old, new, key, path))
    cases.attrs.update(path=str(path), format=fmt.name, key=key)
    return cases


def check_target(
    path: str | os.PathLike,
    format: str | None = None,  # noqa: A002 - public keyword, mirrors pandas' writers
    append: bool = False,
) -> tuple[Path, bytes | None, EvalFormat]:
    """Fail early when ``path`` cannot take the cases; returns it, its bytes and its format.

    The CLI calls it before the analysis, so a wrong file name costs nothing.
    """
    path = Path(os.fspath(path))
    if path.is_dir():
        raise IsADirectoryError(f"path: {str(path)!r} is a directory; give a file name")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: folder {str(path.parent)!r} does not exist")
    exists = path.exists()
    if exists and not append:
        raise FileExistsError(
            f"path: {str(path)!r} already exists; pass append=True to add the cases to it"
        )
    old = path.read_bytes() if exists else None
    return path, old, _resolve(path, format, old)


def _resolve(path: Path, fmt: str | None, old: bytes | None) -> EvalFormat:
    if fmt is not None:
        if fmt not in _BY_NAME:
            raise ValueError(f"format must be one of {EVAL_FORMATS}, got {fmt!r}")
        return _BY_NAME[fmt]
    suffix = path.suffix.lower()
    candidates = [f for f in _FORMATS if suffix in f.suffixes]
    if not candidates:
        raise ValueError(
            f"format: cannot tell the eval format of {str(path)!r} from its name; pass format= "
            f"(one of {EVAL_FORMATS})"
        )
    if len(candidates) == 1:
        return candidates[0]
    if old and old.strip():
        parsed = parse(candidates[0].container, path)
        first = parsed[0] if candidates[0].container == "csv" else (parsed[0] if parsed else None)
        if first is not None:
            for f in candidates:
                if f.looks_like is not None and f.looks_like(first):
                    return f
    names = [f.name for f in candidates]
    raise ValueError(
        f"format: {suffix} files may be any of {names}; pass format= to choose one"
        + (" (the existing file does not tell)" if old else "")
    )
