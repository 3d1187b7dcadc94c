"""promptfoo test cases: YAML (a config's ``tests:`` or a tests file) and CSV.

Schema (promptfoo docs, "Test case configuration",
https://www.promptfoo.dev/docs/configuration/test-cases): a test is a mapping with
``description``, ``vars`` (the prompt's variables), ``assert`` (a list of assertions) and
``metadata`` (filterable key/values); a tests file a config includes with
``tests: file://tests.yaml`` is a YAML list of tests. In CSV, every column is a var except the
special ones: ``__expected`` (an assertion), ``__description`` and ``__metadata:<key>``
(promptfoo's ``examples/csv-metadata``).

Added tests carry an empty ``assert`` list (the labeler writes the assertions; nothing is
invented) and the provenance under ``metadata``. Appending to a YAML file edits its text: the
new tests go right after the last existing one, indented like it, so comments, key order and
formatting stay byte for byte; the result is parsed back and checked before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evalcov.writers._base import CsvFormat, EvalFormat
from evalcov.writers._containers import cell_text
from evalcov.writers.cases import provenance

__all__ = ["PROMPTFOO", "PROMPTFOO_CSV"]

_HEADER = (
    "# Eval cases added by evalcov from production traffic. Each needs its assertions\n"
    "# (assert: [] is a placeholder); metadata says which traffic it stands for.\n"
)


def _test(case: Any, key: str) -> dict[str, Any]:
    return {
        "description": f"evalcov: {case.topic_name}" if case.topic_name else "evalcov addition",
        "vars": {key: case.text},
        "assert": [],
        "metadata": provenance(case),
    }


def _existing(old: bytes | None, path: Path, key: str | None) -> tuple[list[str], str]:
    from evalcov.ingest import _prompt_var, _read_promptfoo

    if not old or not old.strip():
        return [], key or "query"
    doc = yaml.safe_load(old)
    if isinstance(doc, dict) and doc.get("tests") is None:
        return [], key or "query"  # a config without tests yet: they are added at its end
    frame, _ = _read_promptfoo(path)
    if frame.empty or len(frame.columns) == 0:
        return [], key or "query"
    if key is not None and key not in frame.columns:
        raise ValueError(f"key={key!r} is not a var of {path}; vars: {list(frame.columns)}")
    column, _ = _prompt_var(frame, key, str(path))
    return [v for v in frame[column].tolist() if isinstance(v, str)], str(column)


def _render(old: bytes | None, cases: list[Any], key: str, path: Path) -> bytes:
    tests = [_test(c, key) for c in cases]
    if not old or not old.strip():
        doc: Any = {"tests": tests} if path.name.startswith("promptfooconfig") else tests
        return (_HEADER + _dump(doc)).encode("utf-8")
    if not tests:
        return old
    text = old.decode("utf-8")
    root = yaml.compose(text)
    if isinstance(root, yaml.SequenceNode):
        return _first_valid(text, _insert_after(text, root, tests), tests)
    elif isinstance(root, yaml.MappingNode):
        node = next((v for k, v in root.value if k.value == "tests"), None)
        if node is None:
            sep = "" if text.endswith("\n") else "\n"
            new = text + sep + "tests:\n" + _indent(_dump(tests), 2)
        elif isinstance(node, yaml.SequenceNode):
            return _first_valid(text, _insert_after(text, node, tests), tests)
        else:
            raise ValueError(
                f"tests: holds {node.value!r}, not a list of tests; add the cases to the file it "
                "names, or write them to their own file and list it under tests:"
            )
    else:
        raise ValueError("expected a promptfoo config (a mapping with tests:) or a list of tests")
    return _first_valid(text, [new], tests)


def _first_valid(old: str, candidates: list[str], tests: list[dict]) -> bytes:
    """The first edit that parses to the old content plus the new tests."""
    for new in candidates:
        if _same_plus(old, new, tests):
            return new.encode("utf-8")
    raise ValueError(
        "cannot append to this promptfoo YAML without changing what it holds (the last test "
        "may end in a kept block scalar, |+); write the cases to their own tests file and list "
        "it under tests:"
    )


def _insert_after(text: str, seq: yaml.SequenceNode, tests: list[dict]) -> list[str]:
    """Edits placing the tests after the last one: before trailing comments, else after them."""
    if seq.flow_style:
        raise ValueError(
            "tests: is a flow list ([...]); write it as a block list (one '- ' per test) to "
            "append to it"
        )
    if not seq.value:
        raise ValueError("tests: is an empty list; remove it or add one test first")
    # The new items align with the existing dashes; they go after the line the last item ends.
    dash = seq.start_mark.column
    end = seq.value[-1].end_mark.index
    if end == 0 or text[end - 1] != "\n":
        newline = text.find("\n", end)
        end = len(text) if newline < 0 else newline + 1
    after_all = end
    # A block scalar (|) ends after the blank and comment lines that follow it; those belong to
    # what comes next. Content lines of the last test sit deeper than its keys, so a comment at
    # or left of the keys' column is not part of it.
    last, floor = seq.value[-1], seq.value[-1].start_mark.index
    while end > floor:
        start = text.rfind("\n", 0, end - 1) + 1
        line = text[start:end]
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and not (
            line.lstrip().startswith("#") and indent <= last.start_mark.column
        ):
            break
        end = start
    block = _indent(_dump(tests), dash)
    out = []
    for at in dict.fromkeys((end, after_all)):
        head = text[:at] if text[:at].endswith("\n") else text[:at] + "\n"
        out.append(head + block + text[at:])
    return out


def _same_plus(old: str, new: str, tests: list[dict]) -> bool:
    """Whether the edited text parses to the old tests followed by the new ones, all else equal."""
    before = yaml.safe_load(old)
    try:
        after = yaml.safe_load(new)
    except yaml.YAMLError:
        return False
    if type(after) is not type(before):
        return False
    if isinstance(before, dict):
        old_tests = before.get("tests") or []
        rest_equal = {k: v for k, v in before.items() if k != "tests"} == {
            k: v for k, v in after.items() if k != "tests"
        }
        new_tests = after.get("tests")
    else:
        old_tests, rest_equal, new_tests = before, True, after
    return rest_equal and new_tests == old_tests + tests


def _dump(doc: Any) -> str:
    return yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )


def _indent(block: str, n: int) -> str:
    pad = " " * n
    return "".join(pad + line if line.strip() else line for line in block.splitlines(True))


def _csv_record(case: Any, key: str) -> dict[str, str]:
    meta = provenance(case)
    cells = {key: case.text, "__expected": "", "__description": _describe(case)}
    for name, value in meta.items():
        cells[f"__metadata:{name}"] = cell_text(value)
    return cells


def _describe(case: Any) -> str:
    return f"evalcov: {case.topic_name}" if case.topic_name else "evalcov addition"


PROMPTFOO = EvalFormat(
    name="promptfoo",
    suffixes=(".yaml", ".yml"),
    existing=_existing,
    render=_render,
    container="yaml",
)

PROMPTFOO_CSV = CsvFormat(
    "promptfoo_csv",
    _csv_record,
    looks_like=lambda header: any(str(h).startswith("__") for h in header),
)
