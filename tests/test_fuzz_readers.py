"""Readers under property-based fuzzing (hypothesis, fixed seed, bounded examples).

Whatever a log file holds (invalid UTF-8, NUL bytes, BOMs, mixed types, truncated lines, JSON
nested a thousand deep, chat messages of any shape), ``read_traffic``/``read_evals`` either
return every input row (analyzed, or excluded with a reason) or raise ValueError/TypeError
naming the file, and the row or column when the problem is in one. ``benchmarks/bench_fuzz.py``
runs the same properties with many more examples.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from evalcov.ingest import read_evals, read_traffic

EXAMPLES = int(os.environ.get("EVALCOV_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    # No "explain" phase: it traces coverage and writes patch files into the work tree.
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NAME = "fuzz_input"

scalars = st.one_of(
    st.text(max_size=40),
    st.none(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool", ""])},
        optional={"content": values},
    ),
    max_size=4,
)
records = st.lists(
    st.fixed_dictionaries({"text": values}, optional={"time": values, "user": values}),
    min_size=1,
    max_size=12,
)
chat_records = st.lists(
    st.fixed_dictionaries({"messages": st.one_of(messages, values)}), min_size=1, max_size=8
)


def _check(read, path: Path, n_rows: int | None, **kw) -> None:
    """The contract: every row back, or a clear error naming the file."""
    try:
        out = read(path, **kw)
    except (ValueError, TypeError) as err:
        message = str(err)
        assert path.name in message or "column" in message or "empty" in message, message
        return
    if n_rows is not None:
        assert len(out) == n_rows
    assert (out["excluded"] == (out["reason"] != "")).all()
    assert (out.loc[~out["excluded"], "text"].str.len() > 0).all()


def _write(data: bytes, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="evalcov-fuzz-"))
    path = folder / f"{NAME}{suffix}"
    path.write_bytes(data)
    return path


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, default=str) + "\n" for r in rows).encode("utf-8")


def _csv(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["text", "time", "user"], extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue().encode("utf-8", "surrogatepass")


@seed(19)
@FUZZ
@given(rows=records, fmt=st.sampled_from(["jsonl", "json", "csv", "parquet"]))
def test_structured_files_keep_every_row_or_say_why(rows, fmt):
    if fmt == "jsonl":
        path = _write(_jsonl(rows), ".jsonl")
    elif fmt == "json":
        path = _write(json.dumps(rows, default=str).encode("utf-8"), ".json")
    elif fmt == "csv":
        path = _write(_csv(rows), ".csv")
    else:
        frame = pd.DataFrame({"text": [r["text"] for r in rows]})
        frame["text"] = frame["text"].map(
            lambda v: v if v is None or isinstance(v, str) else str(v)
        )
        path = _write(b"", ".parquet")
        frame.to_parquet(path)
    _check(read_traffic, path, len(rows))
    _check(read_evals, path, len(rows))
    if fmt != "parquet" and all("time" in r for r in rows):
        _check(read_traffic, path, len(rows), time="time")


@seed(19)
@FUZZ
@given(rows=chat_records, turns=st.sampled_from(["last", "first", "all"]))
def test_chat_logs_keep_every_conversation_or_say_why(rows, turns):
    path = _write(_jsonl(rows), ".jsonl")
    _check(read_traffic, path, None if turns == "all" else len(rows), turns=turns)


@seed(19)
@FUZZ
@given(
    data=st.binary(max_size=300),
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"text\n", b'{"text": "a"}\n', b"\x00"]),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet", ".csv.gz"]),
)
def test_arbitrary_bytes_read_or_fail_clearly(data, prefix, suffix):
    path = _write(prefix + data, suffix)
    _check(read_traffic, path, None)


def test_known_hostile_files(tmp_path):
    """The defects the fuzzing found, as named examples."""
    cases = {
        "bad_utf8.csv": b"text\nhello\n\xff\xfe broken\n",
        "bad_utf8.jsonl": b'{"text": "ok"}\n{"text": "\xff"}\n',
        "bom.jsonl": b'\xef\xbb\xbf{"text": "first"}\n{"text": "second"}\n',
        "nul.csv": b"text\nhel\x00lo\nworld\n",
        "deep.jsonl": b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
        "deep.json": b'[{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}]",
        "truncated.jsonl": b'{"text": "a"}\n{"text": "b',
        "bad.parquet": b"PAR1 not really parquet",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert read_traffic(tmp_path / "bom.jsonl")["text"].tolist() == ["first", "second"]
    nul = read_traffic(tmp_path / "nul.csv")
    assert len(nul) == 2 and nul["text"].iloc[1] == "world"
    for name in ("bad_utf8.csv", "bad_utf8.jsonl", "deep.jsonl", "deep.json", "bad.parquet"):
        try:
            read_traffic(tmp_path / name)
        except ValueError as err:
            assert name in str(err), (name, str(err))
        else:
            raise AssertionError(f"{name} read without error")
    try:
        read_traffic(tmp_path / "truncated.jsonl")
    except ValueError as err:
        assert "truncated.jsonl, line 2" in str(err)
    else:
        raise AssertionError("a truncated last line read without error")
