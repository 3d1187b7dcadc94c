"""Read production traffic and eval sets into one normalized table.

Both readers accept the shapes teams actually have -- a DataFrame, a list of
strings, CSV/TSV/JSONL/JSON/Parquet files (optionally gzip-compressed), a glob
of log files, OpenAI chat-format logs and promptfoo test files -- and return
the same table: one row per input row, never dropping a row. Rows that cannot
be analyzed stay in the table with ``excluded=True`` and a ``reason``.

This module is the dispatching entry point: trace exports and eval-tool files are
recognized by the structure checks of `evalcov.sources` (one module per source), whose
readers turn them into standard rows (one per trace, with its outcome) that are then
finished here like any table.
"""

from __future__ import annotations

import glob
import gzip
import json
import math
import numbers
import os
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from evalcov.sources import (
    EVAL_FORMATS,
    OUTCOME_COLUMNS,
    SOURCES,
    TRAFFIC_FORMATS,
    Source,
    coerce_outcome,
    detect,
    is_outcome,
)

__all__ = [
    "EVAL_FORMATS",
    "FILE_FORMATS",
    "OUTCOME_COLUMNS",
    "SUPPORTED_FORMATS",
    "TRAFFIC_FORMATS",
    "normalize_text",
    "read_evals",
    "read_traffic",
]

FILE_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "promptfoo")
SUPPORTED_FORMATS = (*FILE_FORMATS, *TRAFFIC_FORMATS, *EVAL_FORMATS[:-1])
UNITS = ("trace", "span")
# promptfoo CSV test files mark their non-var columns with these prefixes.
_PROMPTFOO_CSV = ("__expected", "__description", "__prefix", "__suffix", "__metric", "__config")
TEXT_COLUMNS = ("text", "query", "prompt", "question", "input", "message", "content")
PROMPT_VARS = ("query", "prompt", "question", "input", "text")
TURNS = ("last", "first", "all")

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".yaml": "promptfoo",
    ".yml": "promptfoo",
}
# Containers that wrap the chat messages of one logged request.
_REQUEST_COLUMNS = ("request", "body")
_MAX_LISTED = 5


def normalize_text(s: str) -> str:
    """Return `s` in the canonical form used for embedding and deduplication.

    Unicode NFC (so "e" + combining acute equals the precomposed "é"), leading
    and trailing whitespace removed, and every run of whitespace -- spaces,
    tabs, newlines, non-breaking spaces -- collapsed to a single space.

    Parameters
    ----------
    s : str
        Text to normalize.

    Returns
    -------
    str
        The normalized text; ``""`` if `s` holds only whitespace.
    """
    if not isinstance(s, str):
        raise TypeError(f"normalize_text expects a str, got {type(s).__name__}")
    # str.split() without arguments splits on all Unicode whitespace, NBSP included.
    return " ".join(unicodedata.normalize("NFC", s).split())


def read_traffic(
    source: Any,
    *,
    text: str | None = None,
    time: str | None = None,
    id: str | None = None,  # noqa: A002 - public keyword named after the column it selects
    weight: str | None = None,
    user: str | None = None,
    turns: str = "last",
    prompt_var: str | None = None,
    format: str | None = None,  # noqa: A002 - public keyword, mirrors pandas' reader options
    max_chars: int = 2000,
    unit: str = "trace",
    outcomes: Mapping[str, str] | None = None,
    keep: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read production traffic into a normalized table, one row per input row.

    Trace exports (OpenTelemetry OTLP JSON, Arize Phoenix spans, Langfuse traces or
    observations, LangSmith runs, Helicone requests, MLflow traces) are recognized by their
    structure and read one row per trace: the user's last message of the trace's first LLM
    call is the text, and the trace's time, user, session and outcome (``error``,
    ``latency_s``, tokens, ``cost``, ``feedback``, ``score_<name>``, ``response``) come along.

    Parameters
    ----------
    source : DataFrame, list/tuple/Series of str, path, glob or list of paths
        The traffic. Paths may be CSV, TSV, JSONL/NDJSON, JSON (a list of
        records), Parquet or promptfoo YAML, optionally gzip-compressed
        (``.csv.gz``, ``.jsonl.gz``). A glob such as ``"logs/*.jsonl"`` reads
        every match in sorted order. A list of strings is read as texts unless
        every item names an existing file or ends in a supported extension;
        pass `pathlib.Path` objects to be explicit.
    text : str, optional
        Column holding the query. Default: the first of ``text, query, prompt,
        question, input, message, content`` present (case-insensitive), else a
        ``messages`` column read as OpenAI chat format.
    time : str, optional
        Timestamp column (ISO strings, epoch seconds/ms/us/ns, datetimes). Naive
        times are taken as UTC; offsets are converted to UTC. Missing times
        become NaT; unparseable ones raise ValueError.
    id : str, optional
        Column holding a row id. Default: ``"<file name>:<record number>"``
        (0-based) for files, else the index value.
    weight : str, optional
        Column holding a finite, non-negative repeat count per row. Default 1.0.
    user : str, optional
        Column holding the user (kept as str; missing or blank users become NA).
    turns : {"last", "first", "all"}, default "last"
        Which user turn of a chat conversation to analyze. ``"all"`` yields one
        row per user turn with ``input_row`` and ``turn`` columns (and a fresh
        RangeIndex, since rows no longer map one-to-one to input rows); each turn
        carries its conversation's id, weight, time and user.
    prompt_var : str, optional
        promptfoo files only: the test var holding the prompt. Default: the only
        var, else the first of ``query, prompt, question, input, text``.
    format : str, optional
        A file format (``"csv", "tsv", "jsonl", "json", "parquet", "promptfoo"``) overrides
        detection by file extension; a source format (``"otel", "phoenix", "langsmith",
        "langfuse", "helicone", "mlflow"``, or an eval format of `read_evals`) overrides
        detection by structure and fails with the field it misses when the input does not fit.
    max_chars : int, default 2000
        Texts longer than this (after normalization) are flagged ``truncated``.
        The text is kept whole; the embedder decides how to cut it.
    unit : {"trace", "span"}, default "trace"
        Trace formats only: one row per trace (the user's request), or one row per span
        (LLM calls carry their text; other spans are listed with ``reason="not an LLM
        span"``, and a ``trace_id`` column ties spans to their trace).
    outcomes : mapping, optional
        Plain tables only: standard outcome name -> column, e.g. ``{"feedback": "thumbs",
        "error": "failed", "score_helpful": "helpful"}``. Names are ``session, response,
        error, latency_s, input_tokens, output_tokens, cost, feedback`` and ``score_*``.
        Columns already named so are carried without being mapped.
    keep : sequence of str, optional
        Further source columns to carry, values as read (e.g. a column named by
        ``analyze(failure=...)``), after the outcome columns.

    Returns
    -------
    DataFrame
        Columns, in order: ``text`` (normalized; ``""`` when excluded),
        ``excluded``, ``reason`` (``"missing text"``, ``"empty text"``,
        ``"missing messages"``, ``"no user turn"``; ``""`` when kept),
        ``truncated``, ``id``, ``weight`` (float64), then ``time``
        (datetime64[ns, UTC]) if `time` is given, ``user`` if `user` is given,
        then the outcome columns present (``session``, ``response`` (str), ``error``
        (nullable boolean), ``latency_s``, ``input_tokens``, ``output_tokens``, ``cost``,
        ``feedback`` (float64, higher is better: thumbs-up 1, thumbs-down 0),
        ``score_<name>``; ``trace_id`` with ``unit="span"``), ``source`` (file path) for
        files, ``input_row`` and ``turn`` (-1 for a conversation without user turn) for
        ``turns="all"``, ``description`` for promptfoo files, then the ``keep`` columns.
        Trace formats always give ``time``, ``user`` and their rows' reasons (``"no user
        message"``, ``"no LLM span"``, ``"not an LLM span"``, ``"no root run"``). The index
        is the input DataFrame's (or Series') index, else a RangeIndex in read order (a fresh
        one for trace formats, whose rows are traces). Numbers and booleans in the
        text column are converted with ``str()``.

    Raises
    ------
    FileNotFoundError
        A file, or every match of a glob, is missing.
    ValueError
        Unknown format, missing column, unparseable time, invalid weight,
        empty input, or no analyzable text at all.
    TypeError
        The text column holds values that are not text (dicts, lists, ...).
    """
    return _read(
        "traffic",
        source,
        text=text,
        time=time,
        id_col=id,
        weight=weight,
        user=user,
        turns=turns,
        prompt_var=prompt_var,
        fmt=format,
        max_chars=max_chars,
        unit=unit,
        outcomes=outcomes,
        keep=keep,
    )


def read_evals(
    source: Any,
    *,
    text: str | None = None,
    id: str | None = None,  # noqa: A002 - public keyword named after the column it selects
    prompt_var: str | None = None,
    turns: str = "last",
    format: str | None = None,  # noqa: A002 - public keyword, mirrors pandas' reader options
    max_chars: int = 2000,
) -> pd.DataFrame:
    """Read an eval set into a normalized table, one row per eval case.

    Same sources, detection rules and errors as `read_traffic`; the output has
    the same columns without ``time``, ``user`` and outcomes (``weight`` is 1.0).
    The eval tools' files are recognized by their structure; the text of a case is
    the last user message of its input (or its single text input).

    Parameters
    ----------
    source : DataFrame, list/tuple/Series of str, path, glob or list of paths
        The eval set, e.g. a promptfoo ``tests:`` YAML or a CSV of prompts.
    format : str, optional
        A file format (see `read_traffic`) or an eval format: ``"openai_evals"`` (OpenAI
        Evals JSONL), ``"deepeval"`` (goldens), ``"inspect"`` (Inspect AI samples),
        ``"ragas"`` (``user_input`` samples), ``"langfuse_dataset"`` (dataset items;
        archived ones are excluded), ``"langsmith_dataset"`` (examples with ``inputs``),
        ``"promptfoo"`` (YAML, or CSV with ``__expected``-style columns).
    text, id, prompt_var, turns, max_chars
        See `read_traffic`.

    Returns
    -------
    DataFrame
        Columns ``text, excluded, reason, truncated, id, weight`` then
        ``source``, ``input_row``/``turn`` and ``description`` when they apply.
    """
    return _read(
        "eval set",
        source,
        text=text,
        time=None,
        id_col=id,
        weight=None,
        user=None,
        turns=turns,
        prompt_var=prompt_var,
        fmt=format,
        max_chars=max_chars,
        unit="trace",
        outcomes=None,
    )


@dataclass
class _Loaded:
    """Raw rows of a source before any column is interpreted."""

    frame: pd.DataFrame  # RangeIndex; columns as found in the source
    index: pd.Index  # index of the output when rows map one-to-one
    labels: np.ndarray  # per row, str: auto id and the row name used in error messages
    files: np.ndarray | None  # per row, str path of the file it came from
    descriptions: np.ndarray | None  # promptfoo test descriptions
    promptfoo: bool
    what: str  # the source, as named in error messages


def _read(
    kind: str,
    source: Any,
    *,
    text: str | None,
    time: str | None,
    id_col: str | None,
    weight: str | None,
    user: str | None,
    turns: str,
    prompt_var: str | None,
    fmt: str | None,
    max_chars: int,
    unit: str,
    outcomes: Mapping[str, str] | None,
    keep: Sequence[str] | None = None,
) -> pd.DataFrame:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(map(repr, UNITS))}; got {unit!r}")
    if turns not in TURNS:
        raise ValueError(f"turns must be one of {', '.join(map(repr, TURNS))}; got {turns!r}")
    if isinstance(max_chars, bool) or not isinstance(max_chars, numbers.Integral) or max_chars < 1:
        raise ValueError(f"max_chars must be a positive integer; got {max_chars!r}")
    if fmt is not None and fmt not in SUPPORTED_FORMATS:
        raise ValueError(
            f"format={fmt!r} is not supported; supported formats: {', '.join(SUPPORTED_FORMATS)}"
        )

    loaded = _load(source, fmt, kind)
    if len(loaded.frame) == 0:
        raise ValueError(f"{kind} is empty: {loaded.what} has no rows")
    loaded, found = _from_source(loaded, kind, fmt, unit)
    if found is not None:
        if text not in (None, "text"):
            raise ValueError(
                f"text={text!r} does not apply to {found.name!r} data ({loaded.what}): its "
                f"reader takes the user's last message itself; leave text= unset"
            )
        if outcomes:
            raise ValueError(
                f"outcomes= applies to plain tables; {found.name!r} data ({loaded.what}) "
                f"brings its outcome columns itself"
            )
        text = "text"
        frame = loaded.frame
        time = "time" if time is None and kind == "traffic" and "time" in frame else time
        user = "user" if user is None and kind == "traffic" and "user" in frame else user
    if prompt_var is not None and not loaded.promptfoo:
        raise ValueError(
            f"prompt_var= applies to promptfoo test files only; {loaded.what} is not one "
            f"(use text= to choose the text column)"
        )
    frame = loaded.frame

    if loaded.promptfoo:
        if text is not None and prompt_var is not None and text != prompt_var:
            raise ValueError(f"text={text!r} and prompt_var={prompt_var!r} disagree; give one")
        text_col, text_arg = _prompt_var(frame, prompt_var or text, loaded.what)
    elif text is not None:
        text_col, text_arg = _find_column(frame, text, "text"), "text="
    else:
        text_col, text_arg = _detect_text_column(frame, loaded.what), "text="

    values = frame[text_col].tolist()
    n_in = len(values)
    chat = _looks_like_chat(text_col, values)
    if chat:
        raw, src, turn_no, reasons = _chat_turns(values, turns, loaded.labels, text_col)
        src = np.asarray(src, dtype=np.int64)
    else:
        raw, reasons = values, [""] * n_in
        if found is not None:
            reasons = frame["reason"].tolist()
        src = np.arange(n_in, dtype=np.int64)
        turn_no = [0] * n_in

    many = turns == "all"
    labels = loaded.labels[src]
    if chat and many:
        labels = np.array(
            [f"{lab} (turn {t})" for lab, t in zip(labels, turn_no, strict=True)], dtype=object
        )
    texts, reasons = _clean_texts(raw, reasons, labels, text_col, text_arg)

    excluded = np.array([r != "" for r in reasons], dtype=bool)
    if excluded.all():
        counts = pd.Series(reasons).value_counts()
        detail = ", ".join(f"{c} {r}" for r, c in counts.items())
        raise ValueError(
            f"no analyzable text in {kind} from {loaded.what}: all {len(reasons)} rows are "
            f"excluded ({detail}); check the text column (used {text_col!r})"
        )
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))

    index = pd.RangeIndex(len(src)) if many else loaded.index
    out = pd.DataFrame(
        {
            "text": pd.Series(texts, index=index, dtype=object).astype(str),
            "excluded": excluded,
            "reason": pd.Series(reasons, index=index, dtype=object).astype(str),
            "truncated": lengths > max_chars,
        },
        index=index,
    )
    if id_col is not None:
        out["id"] = _ids(frame[_find_column(frame, id_col, "id")], loaded.labels)[src]
    else:
        out["id"] = loaded.labels[src]
    out["id"] = out["id"].astype(str)
    if weight is not None:
        col = _find_column(frame, weight, "weight")
        out["weight"] = _weights(frame[col], loaded.labels, col)[src]
    else:
        out["weight"] = np.ones(len(src), dtype=np.float64)
    if time is not None:
        col = _find_column(frame, time, "time")
        utc_ns = _timestamps(frame[col], loaded.labels, col)
        out["time"] = pd.Series(utc_ns[src], index=index).dt.tz_localize("UTC")
    if user is not None:
        users = frame[_find_column(frame, user, "user")].tolist()
        out["user"] = pd.Series(
            [None if _is_blank(users[i]) else str(users[i]) for i in src],
            index=index,
            dtype="str",
        )
    if kind == "traffic":
        for name, values in _outcome_columns(frame, found, outcomes, loaded.labels).items():
            out[name] = values[src] if isinstance(values, np.ndarray) else values.iloc[src].array
    if loaded.files is not None:
        out["source"] = loaded.files[src]
        out["source"] = out["source"].astype(str)
    if many:
        out["input_row"] = src
        out["turn"] = np.asarray(turn_no, dtype=np.int64)
    if loaded.descriptions is not None:
        out["description"] = pd.Series(loaded.descriptions[src], index=index, dtype="str")
    if kind == "traffic":
        _carry_kept(out, frame, src, keep)
    return out


# --------------------------------------------------------------------------- sources


def _from_source(
    loaded: _Loaded, kind: str, fmt: str | None, unit: str
) -> tuple[_Loaded, Source | None]:
    """Read `loaded` with the source format forced by `fmt` or recognized by its structure.

    Each file is read on its own so every row keeps the file it came from (a trace split
    across two files reads as two traces). Rows become traces (or spans), in file order.
    """
    if loaded.promptfoo:
        return loaded, None
    if fmt in SOURCES:
        found = SOURCES[fmt]
        problem = found.check(loaded.frame)
        if problem is not None:
            raise ValueError(
                f"format={fmt!r} does not fit {loaded.what}: expected {problem}; "
                f"columns present: {_column_list(loaded.frame)}"
            )
    else:
        found = detect(loaded.frame, "traffic" if kind == "traffic" else "evals")
        if found is None:
            return loaded, None
    if loaded.files is None:
        blocks = [(None, loaded.frame)]
    else:
        starts = np.flatnonzero(np.r_[True, loaded.files[1:] != loaded.files[:-1]])
        ends = np.r_[starts[1:], len(loaded.files)]
        blocks = [
            (loaded.files[a], loaded.frame.iloc[a:b].reset_index(drop=True))
            for a, b in zip(starts, ends, strict=True)
        ]
    frames, labels, files = [], [], []
    for path, block in blocks:
        rows = found.read(block, unit)
        frames.append(rows)
        name = "" if path is None else f"{Path(path).name}:"
        labels.append((name + pd.Series(np.arange(len(rows))).astype(str)).to_numpy(object))
        files.append(np.full(len(rows), path, dtype=object))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    ids = np.concatenate(labels)
    if "id" in frame:
        own = frame["id"].astype(str).str.strip()
        if not (frame["id"].isna() | own.eq("")).any():
            # The source's own id (trace id, span id, item id) is the row id, as users look
            # it up; positions in the file name rows only when some id is missing.
            ids = frame["id"].astype(str).to_numpy(dtype=object)
    return (
        _Loaded(
            frame=frame,
            index=pd.RangeIndex(len(frame)),
            labels=ids,
            files=None if loaded.files is None else np.concatenate(files),
            descriptions=None,
            promptfoo=False,
            what=f"{loaded.what} ({found.name})",
        ),
        found,
    )


def _outcome_columns(
    frame: pd.DataFrame,
    found: Source | None,
    outcomes: Mapping[str, str] | None,
    labels: np.ndarray,
) -> dict[str, Any]:
    """The outcome columns to carry, standard name -> values converted to the standard type."""
    chosen: dict[str, Any] = {}
    if found is None:
        if outcomes is not None and not isinstance(outcomes, Mapping):
            raise TypeError(
                f"outcomes must be a mapping of outcome name -> column; got {type(outcomes)}"
            )
        for name, column in (outcomes or {}).items():
            if not is_outcome(name):
                raise ValueError(
                    f"outcomes key {name!r} is not an outcome name; expected one of "
                    f"{', '.join(OUTCOME_COLUMNS)} or score_<name>"
                )
            chosen[name] = _find_column(frame, column, f"outcomes[{name!r}]")
    for column in frame.columns:
        if is_outcome(column) and column not in chosen and column not in chosen.values():
            chosen[column] = column
    if found is not None and "trace_id" in frame:
        chosen["trace_id"] = "trace_id"
    order = [*OUTCOME_COLUMNS, *sorted(n for n in chosen if n not in OUTCOME_COLUMNS)]
    out: dict[str, Any] = {}
    for name in [n for n in order if n in chosen]:
        values = frame[chosen[name]].tolist()
        if name == "trace_id":
            out[name] = np.array([str(v) for v in values], dtype=object)
        else:
            out[name] = coerce_outcome(name, values, labels, chosen[name])
    return out


def _carry_kept(
    out: pd.DataFrame, frame: pd.DataFrame, src: np.ndarray, keep: Sequence[str] | None
) -> None:
    """Add the ``keep`` columns of ``frame`` to ``out``, values as read."""
    for name in [keep] if isinstance(keep, str) else keep or ():
        if name in out.columns:
            continue
        col = _find_column(frame, name, "keep")
        out[name] = pd.Series(frame[col].to_numpy(dtype=object)[src], index=out.index)


# --------------------------------------------------------------------------- loading


def _load(source: Any, fmt: str | None, kind: str) -> _Loaded:
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)
        name = source.index.name
        if name is not None and name not in frame.columns and len(frame.columns):
            # A named index is data (Phoenix indexes its spans by context.span_id).
            frame[name] = source.index.to_numpy()
        return _Loaded(
            frame=frame,
            index=source.index,
            labels=_index_labels(source.index),
            files=None,
            descriptions=None,
            promptfoo=False,
            what="the DataFrame",
        )
    if isinstance(source, pd.Series):
        frame = pd.DataFrame({"text": source.to_numpy(dtype=object)})
        labels = _index_labels(source.index)
        return _Loaded(frame, source.index, labels, None, None, False, "the Series")
    if isinstance(source, (str, os.PathLike)):
        return _load_files(_expand(source, kind), fmt, what=str(source))
    if isinstance(source, (list, tuple, np.ndarray)):
        items = list(source)
        if items and all(isinstance(x, Mapping) for x in items):
            frame = pd.DataFrame.from_records(items)
            index = pd.RangeIndex(len(frame))
            labels = _index_labels(index)
            return _Loaded(frame, index, labels, None, None, False, "the list of records")
        if items and _is_path_list(items):
            paths = [p for item in items for p in _expand(item, kind)]
            names = ", ".join(map(str, items[:3])) + (", ..." if len(items) > 3 else "")
            return _load_files(paths, fmt, what=f"{len(items)} paths ({names})")
        if any(isinstance(x, os.PathLike) for x in items):
            raise TypeError("source mixes paths with other values; give a list of paths or texts")
        index = pd.RangeIndex(len(items))
        frame = pd.DataFrame({"text": pd.Series(items, dtype=object)})
        return _Loaded(frame, index, _index_labels(index), None, None, False, "the list of texts")
    raise TypeError(
        f"source must be a DataFrame, a list/tuple/Series of strings, a path, a glob or a list "
        f"of paths; got {type(source).__name__}"
    )


def _index_labels(index: pd.Index) -> np.ndarray:
    return np.array([str(v) for v in index], dtype=object)


def _is_path_list(items: list) -> bool:
    if all(isinstance(x, os.PathLike) for x in items):
        return True
    return all(
        isinstance(x, str) and "\n" not in x and (_format_of(x) is not None or os.path.isfile(x))
        for x in items
    )


def _expand(path: str | os.PathLike, kind: str) -> list[Path]:
    """Resolve one path or glob pattern to the files it names, in sorted order."""
    p = Path(path)
    if p.is_file():
        return [p]
    pattern = str(path)
    if p.is_dir():
        raise ValueError(f"{pattern} is a directory; pass a glob such as '{p / '*.jsonl'}'")
    if isinstance(path, str) and any(c in pattern for c in "*?["):
        matches = sorted(m for m in glob.glob(pattern, recursive=True) if os.path.isfile(m))
        if not matches:
            raise FileNotFoundError(f"{kind}: no file matches the pattern {pattern!r}")
        return [Path(m) for m in matches]
    hint = "" if _format_of(pattern) else " (to pass texts, give a list of strings)"
    raise FileNotFoundError(f"{kind} file not found: {pattern}{hint}")


def _format_of(path: str | Path) -> str | None:
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return _EXTENSIONS.get(Path(name).suffix)


def _load_files(paths: list[Path], fmt: str | None, what: str) -> _Loaded:
    frames, labels, files, descriptions = [], [], [], []
    kinds = set()
    for path in paths:
        file_fmt = fmt if fmt in FILE_FORMATS else _format_of(path)
        if file_fmt is None:
            raise ValueError(
                f"cannot tell the format of {path} from its extension; supported formats: "
                f"{', '.join(SUPPORTED_FORMATS)} (.csv, .tsv, .jsonl/.ndjson, .json, .parquet, "
                f".yaml/.yml, optionally .gz); pass format= to choose one"
            )
        if file_fmt == "promptfoo" and _format_of(path) in ("csv", "tsv"):
            frame, desc = _promptfoo_csv(_read_table_or_say_why(path, _format_of(path)), path)
        elif file_fmt == "promptfoo":
            frame, desc = _read_promptfoo(path)
        else:
            frame, desc = _read_table_or_say_why(path, file_fmt), None
            if file_fmt in ("csv", "tsv") and any(str(c).startswith(_PROMPTFOO_CSV) for c in frame):
                frame, desc = _promptfoo_csv(frame, path)
        kinds.add(desc is not None)
        if desc is not None:
            descriptions.append(desc)
        frames.append(frame)
        positions = pd.Series(np.arange(len(frame))).astype(str)
        labels.append((f"{path.name}:" + positions).to_numpy(dtype=object))
        files.append(np.full(len(frame), str(path), dtype=object))
    if len(kinds) > 1:
        raise ValueError(f"{what} mixes promptfoo test files with other formats; read them apart")
    promptfoo = kinds == {True}
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return _Loaded(
        frame=frame.reset_index(drop=True),
        index=pd.RangeIndex(len(frame)),
        labels=np.concatenate(labels),
        files=np.concatenate(files),
        descriptions=np.concatenate(descriptions) if promptfoo else None,
        promptfoo=promptfoo,
        what=what,
    )


def _open_text(path: Path):
    # utf-8-sig: a byte order mark (Windows tools write one) is not part of the first record.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig")


def _read_table_or_say_why(path: Path, fmt: str) -> pd.DataFrame:
    """:func:`_read_table`, with the errors of damaged files turned into ValueErrors that name
    the file (and the line, when known) instead of a bare codec, gzip or Arrow message."""
    try:
        return _read_table(path, fmt)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}{_line_of(path, err)}: not valid UTF-8 ({err.reason})") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path}: damaged gzip data ({err})") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply to read") from None
    except Exception as err:
        if fmt == "parquet" and type(err).__module__.startswith("pyarrow"):
            raise ValueError(f"{path}: not a readable Parquet file ({err})") from None
        raise


def _line_of(path: Path, err: UnicodeDecodeError) -> str:
    """ ", line N" of the first undecodable byte of a plain file (gzip: unknown, "")."""
    if path.name.lower().endswith(".gz"):
        return ""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as first:
        line = data.count(b"\n", 0, first.start) + 1
        return f", line {line}"
    return ""


def _read_table(path: Path, fmt: str) -> pd.DataFrame:
    if fmt in ("csv", "tsv"):
        try:
            # Every cell as its literal string: NA parsing would turn a user who typed
            # "None" or "NA" into a missing row, and "007" into 7. CSV cannot tell an
            # empty cell from a missing one; both read as "".
            return pd.read_csv(
                path,
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                na_filter=False,
                encoding="utf-8",
            )
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
        except pd.errors.ParserError as err:
            raise ValueError(f"{path}: malformed {fmt.upper()} ({err})") from None
    if fmt == "parquet":
        if path.name.lower().endswith(".gz"):
            raise ValueError(f"{path}: Parquet is compressed internally; do not gzip it")
        return pd.read_parquet(path)
    if fmt == "jsonl":
        records = []
        with _open_text(path) as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}, line {line_no}: invalid JSON ({err.msg})") from None
                except RecursionError:
                    raise ValueError(f"{path}, line {line_no}: JSON nested too deeply") from None
                if not isinstance(record, dict):
                    raise ValueError(
                        f"{path}, line {line_no}: expected a JSON object per line, "
                        f"got {type(record).__name__}"
                    )
                records.append(record)
        return pd.DataFrame.from_records(records)
    with _open_text(path) as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON at line {err.lineno} ({err.msg})") from None
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        doc = doc["data"]  # one page of a paginated API (Langfuse: {"data": [...], "meta": ...})
    elif isinstance(doc, dict) and ("resourceSpans" in doc or "resource_spans" in doc):
        doc = [doc]  # one OTLP export request
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ValueError(f"{path}: expected a JSON list of records (objects)")
    return pd.DataFrame.from_records(doc)


def _promptfoo_csv(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Vars and descriptions of a promptfoo CSV test file (``__``-prefixed columns are not vars).

    Format: https://www.promptfoo.dev/docs/configuration/test-cases/ (CSV: one column per
    var, plus ``__expected``, ``__description``, ``__prefix``, ... columns).
    """
    special = [c for c in frame.columns if str(c).startswith("__")]
    desc = pd.Series([None] * len(frame), dtype=object)
    if "__description" in frame:
        desc = frame["__description"].map(lambda d: None if _is_blank(d) else d)
    if len(special) == len(frame.columns):
        raise ValueError(f"{path}: promptfoo CSV has no var column (only {', '.join(special)})")
    return frame.drop(columns=special), desc.to_numpy(dtype=object)


def _read_promptfoo(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    with _open_text(path) as fh:
        try:
            doc = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: invalid YAML ({err})") from None
    default_vars: dict = {}
    if isinstance(doc, dict):
        tests = doc.get("tests")
        default_test = doc.get("defaultTest")
        default_vars = default_test.get("vars") or {} if isinstance(default_test, dict) else {}
    else:
        tests = doc
    if isinstance(tests, str):
        raise ValueError(f"{path}: tests: refers to {tests!r}; read that file instead")
    if not isinstance(tests, list):
        raise ValueError(f"{path}: expected a promptfoo 'tests:' list (or a top-level list)")
    records, descriptions = [], []
    for k, test in enumerate(tests):
        test_vars = test.get("vars") if isinstance(test, dict) else None
        if not isinstance(test, dict) or not isinstance(test_vars or {}, dict):
            raise ValueError(f"{path}: test {k} must be a mapping with a 'vars:' mapping")
        records.append({**default_vars, **(test_vars or {})})
        descriptions.append(test.get("description"))
    return pd.DataFrame.from_records(records), np.array(descriptions, dtype=object)


# --------------------------------------------------------------------------- columns


def _find_column(frame: pd.DataFrame, name: str, arg: str) -> Any:
    if name in frame.columns:
        return name
    folded = [c for c in frame.columns if str(c).lower() == str(name).lower()]
    if len(folded) == 1:
        return folded[0]
    raise ValueError(f"column {name!r} ({arg}=) not found; columns present: {_column_list(frame)}")


def _column_list(frame: pd.DataFrame) -> str:
    return ", ".join(map(str, frame.columns)) or "(none)"


def _detect_text_column(frame: pd.DataFrame, what: str) -> Any:
    by_name: dict[str, list] = {}
    for c in frame.columns:
        by_name.setdefault(str(c).lower(), []).append(c)
    for name in (*TEXT_COLUMNS, "messages"):
        if name in by_name:
            cols = by_name[name]
            return name if name in cols else cols[0]
    for name in _REQUEST_COLUMNS:
        for col in by_name.get(name, []):
            first = _first_present(frame[col].tolist())
            if isinstance(first, Mapping) and "messages" in first:
                return col
    raise ValueError(
        f"no text column found in {what}; expected one of {', '.join(TEXT_COLUMNS)} or a "
        f"'messages' column (OpenAI chat format); columns present: {_column_list(frame)}. "
        f"Pass text= to choose one"
    )


def _prompt_var(frame: pd.DataFrame, prompt_var: str | None, what: str) -> tuple[Any, str]:
    found = ", ".join(map(str, frame.columns)) or "(none)"
    if prompt_var is not None:
        if prompt_var not in frame.columns:
            raise ValueError(f"var {prompt_var!r} (prompt_var=) not found; vars found: {found}")
        return prompt_var, "prompt_var="
    if len(frame.columns) == 1:
        return frame.columns[0], "prompt_var="
    for name in PROMPT_VARS:
        if name in frame.columns:
            return name, "prompt_var="
    raise ValueError(
        f"cannot tell which var of {what} holds the prompt; vars found: {found}. "
        f"Pass prompt_var= to choose one"
    )


def _first_present(values: list) -> Any:
    return next((v for v in values if not _is_missing(v)), None)


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _is_blank(v: Any) -> bool:
    """Missing, or a string of whitespace only (how CSV spells a missing cell)."""
    return _is_missing(v) or (isinstance(v, str) and not v.strip())


def _row_list(bad: list[tuple[str, Any]]) -> str:
    shown = ", ".join(f"{label} ({detail})" for label, detail in bad[:_MAX_LISTED])
    more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
    return shown + more


# --------------------------------------------------------------------------- chat logs


def _looks_like_chat(column: Any, values: list) -> bool:
    if str(column).lower() == "messages":
        return True
    first = _first_present(values)
    if isinstance(first, Mapping):
        return "messages" in first
    return isinstance(first, (list, tuple, np.ndarray)) and all(
        isinstance(m, Mapping) for m in first
    )


class _NotChat(Exception):
    """A value that is not an OpenAI-style list of messages; carries what was found."""


def _content_text(content: Any) -> str:
    """Text of one message's content: a string or a list of parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, (list, tuple, np.ndarray)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                # Image/audio/file parts carry no text to embed; a part's text is under "text".
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
            else:
                raise _NotChat(f"content part of type {type(part).__name__}")
        return "\n".join(parts)
    raise _NotChat(f"content of type {type(content).__name__}")


def _user_contents(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _NotChat("str that is not JSON") from None
    if isinstance(value, Mapping):
        if "messages" not in value:
            raise _NotChat("mapping without 'messages'")
        value = value["messages"]
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise _NotChat(type(value).__name__)
    contents = []
    for message in value:
        if not isinstance(message, Mapping) or "role" not in message:
            raise _NotChat(f"message of type {type(message).__name__} without 'role'")
        if message["role"] == "user":
            contents.append(_content_text(message.get("content")))
    return contents


def _chat_turns(
    values: list, turns: str, labels: np.ndarray, column: Any
) -> tuple[list, list[int], list[int], list[str]]:
    """Pick the user turn(s) of each conversation; returns texts, input rows, turns, reasons."""
    raw: list = []
    src: list[int] = []
    turn_no: list[int] = []
    reasons: list[str] = []
    bad: list[tuple[str, str]] = []

    def emit(content: str | None, row: int, turn: int, reason: str) -> None:
        raw.append(content)
        src.append(row)
        turn_no.append(turn)
        reasons.append(reason)

    for i, value in enumerate(values):
        if _is_missing(value):
            emit(None, i, -1, "missing messages")
            continue
        try:
            contents = _user_contents(value)
        except _NotChat as err:
            bad.append((labels[i], str(err)))
            continue
        if not contents:
            emit(None, i, -1, "no user turn")
        elif turns == "all":
            for t, content in enumerate(contents):
                emit(content, i, t, "")
        else:
            t = len(contents) - 1 if turns == "last" else 0
            emit(contents[t], i, t, "")
    if bad:
        raise TypeError(
            f"column {column!r} must hold OpenAI chat messages (a list of {{'role', 'content'}} "
            f"mappings, or a mapping with 'messages'); rows {_row_list(bad)}"
        )
    return raw, src, turn_no, reasons


# --------------------------------------------------------------------------- values


def _clean_texts(
    raw: list, reasons: list[str], labels: np.ndarray, column: Any, arg: str
) -> tuple[list[str], list[str]]:
    """Normalize each value; set "missing text"/"empty text" reasons; reject non-text values."""
    nfc = unicodedata.normalize
    # One pass over the common case (plain strings) keeps 1M rows around a second.
    texts = [" ".join(nfc("NFC", v).split()) if type(v) is str else None for v in raw]
    bad: list[tuple[str, str]] = []
    for i in [i for i, t in enumerate(texts) if t is None]:
        v = raw[i]
        texts[i] = ""
        if reasons[i] or _is_missing(v):
            continue
        if isinstance(v, (str, numbers.Number, np.bool_)):
            texts[i] = normalize_text(str(v))
        else:
            bad.append((labels[i], type(v).__name__))
    if bad:
        raise TypeError(
            f"column {column!r} ({arg}) must hold text; non-text values at rows {_row_list(bad)} "
            f"(numbers and booleans are converted with str(); other types are rejected)"
        )
    reasons = [
        r if r or t else "missing text" if _is_missing(v) else "empty text"
        for r, v, t in zip(reasons, raw, texts, strict=True)
    ]
    return texts, reasons


def _ids(column: pd.Series, labels: np.ndarray) -> np.ndarray:
    values = column.tolist()
    missing = [(labels[i], repr(v)) for i, v in enumerate(values) if _is_blank(v)]
    if missing:
        raise ValueError(
            f"column {column.name!r} (id=) has missing ids at rows {_row_list(missing)}; "
            f"fill them or leave id= unset to use row positions"
        )
    return np.array([str(v) for v in values], dtype=object)


def _weights(column: pd.Series, labels: np.ndarray, name: Any) -> np.ndarray:
    values = column.tolist()
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column):
        w = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # Text cells (CSV) and mixed object columns: parse each, NaN where not a number.
        w = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64)
    bad_mask = ~np.isfinite(w) | (w < 0)
    if bad_mask.any():
        bad = [(labels[i], repr(values[i])) for i in np.flatnonzero(bad_mask)]
        raise ValueError(
            f"column {name!r} (weight=) must hold finite numbers >= 0; bad values at rows "
            f"{_row_list(bad)}"
        )
    return w


def _epoch_to_datetime(x: np.ndarray) -> np.ndarray:
    """Epoch numbers to datetime64[ns], unit chosen per value by magnitude (s, ms, us, ns).

    Seconds below 1e11 reach the year 5138 while milliseconds above it start in
    1973, so magnitude tells the units of any realistic log apart.
    """
    a = np.abs(x)
    scale = np.select([a < 1e11, a < 1e14, a < 1e17], [10**9, 10**6, 10**3], default=1)
    ok = np.isfinite(x) & (a * scale < 9.2e18)
    # Integer part in integer arithmetic: float64 alone is off by ~100 ns at today's epochs.
    whole = np.floor(x[ok])
    ns = whole.astype(np.int64) * scale[ok] + np.round((x[ok] - whole) * scale[ok]).astype(np.int64)
    out = np.full(len(x), np.datetime64("NaT", "ns"))
    out[ok] = ns.view("datetime64[ns]")
    return out


def _utc_ns(parsed: pd.Series) -> np.ndarray:
    """Naive-UTC datetime64[ns] of parsed tz-aware times; NaT outside the ns range (1677-2262)."""
    naive = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    lo, hi = pd.Timestamp.min.as_unit("ns"), pd.Timestamp.max.as_unit("ns")
    inside = (naive.notna() & naive.between(lo, hi)).to_numpy()
    out = np.full(len(parsed), np.datetime64("NaT", "ns"))
    out[inside] = naive[inside].dt.as_unit("ns").to_numpy()
    return out


def _parse_time_strings(strs: pd.Series) -> np.ndarray:
    # ISO 8601 first: vectorized and unambiguous; only the rest pay for slower parsing.
    parsed = pd.to_datetime(strs, format="ISO8601", utc=True, errors="coerce")
    out = _utc_ns(parsed)
    todo = np.flatnonzero(np.isnat(out))
    if len(todo):
        rest = strs.iloc[todo]
        # Epoch numbers written as text (CSV cells) are numbers, not dates.
        nums = pd.to_numeric(rest, errors="coerce").to_numpy(np.float64)
        as_epoch = ~np.isnan(nums)
        out[todo[as_epoch]] = _epoch_to_datetime(nums[as_epoch])
        others = todo[~as_epoch]
        if len(others):
            out[others] = _utc_ns(
                pd.to_datetime(strs.iloc[others], format="mixed", utc=True, errors="coerce")
            )
    return out


def _time_kind(v: Any) -> int:
    if isinstance(v, str):
        return 1
    if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)):
        return 2
    if isinstance(v, (datetime, date, np.datetime64)):
        return 3
    return 0


def _timestamps(column: pd.Series, labels: np.ndarray, name: Any) -> np.ndarray:
    """Parse a time column to naive-UTC datetime64[ns]; NaT where missing, ValueError if bad."""
    col = column.reset_index(drop=True)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns").to_numpy()
    if pd.api.types.is_datetime64_dtype(col.dtype):
        return col.dt.as_unit("ns").to_numpy()

    values = col.to_numpy(dtype=object)
    missing = col.isna().to_numpy(copy=True)
    if pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
        is_str, is_num, is_dt = ~missing, np.zeros_like(missing), np.zeros_like(missing)
    elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        is_str, is_num, is_dt = np.zeros_like(missing), ~missing, np.zeros_like(missing)
    else:
        # Object columns (JSON, hand-built frames) may mix strings, numbers and datetimes.
        kind = np.array([_time_kind(v) for v in values], dtype=np.int8)
        is_str, is_num, is_dt = kind == 1, (kind == 2) & ~missing, (kind == 3) & ~missing
    out = np.full(len(values), np.datetime64("NaT", "ns"))
    if is_str.any():
        strs = col[is_str].astype("str").str.strip().reset_index(drop=True)
        out[is_str] = _parse_time_strings(strs)
        # A blank cell is a missing time, not a bad one.
        missing[np.flatnonzero(is_str)[(strs == "").to_numpy()]] = True
    if is_num.any():
        out[is_num] = _epoch_to_datetime(values[is_num].astype(np.float64))
    if is_dt.any():
        parsed = pd.to_datetime(pd.Series(values[is_dt], dtype=object), utc=True, errors="coerce")
        out[is_dt] = _utc_ns(parsed)

    bad_mask = np.isnat(out) & ~missing
    if bad_mask.any():
        bad = [(labels[i], repr(values[i])) for i in np.flatnonzero(bad_mask)]
        raise ValueError(
            f"column {name!r} (time=) has unparseable timestamps at rows {_row_list(bad)}; "
            f"expected ISO 8601 strings, epoch numbers or datetimes between 1677 and 2262"
        )
    return out
