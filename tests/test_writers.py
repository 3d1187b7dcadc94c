"""Writing eval-set additions in each eval tool's format: round trips, appends, provenance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_refresh import setup as refresh_report  # noqa: F401 - a fixture, used by name

from evalcov import read_evals
from evalcov.cli import main
from evalcov.writers import EVAL_FORMATS, write_evals
from evalcov.writers.cases import failed

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"

FILES = {
    "promptfoo": "tests.yaml",
    "promptfoo_csv": "tests.csv",
    "langsmith_csv": "examples.csv",
    "openai_evals": "samples.jsonl",
    "inspect": "dataset.jsonl",
    "ragas": "ragas.jsonl",
    "deepeval": "goldens.json",
    "langfuse_dataset": "items.json",
    "langsmith_dataset": "examples.json",
}


def read_back(fmt: str, path: Path) -> list[str]:
    """The prompts read_evals finds in a written file, each format read by its own reader."""
    frame = read_evals(path, format=fmt if fmt in ("ragas", "langsmith_dataset") else None)
    return frame.loc[~frame["excluded"], "text"].tolist()


def metadata(fmt: str, path: Path) -> list[dict]:
    """The provenance each written case carries, in the format's own metadata field."""
    text = path.read_text(encoding="utf-8")
    if fmt == "promptfoo":
        return [t["metadata"] for t in yaml.safe_load(text) if "metadata" in t]
    if fmt.endswith("csv"):
        prefix = "__metadata:" if fmt == "promptfoo_csv" else "evalcov_"
        rows = pd.read_csv(path, dtype=str, keep_default_na=False)
        return [
            {k[len(prefix) :]: v for k, v in r.items() if k.startswith(prefix)}
            for r in rows.to_dict(orient="records")
        ]
    jsonl = fmt in ("openai_evals", "inspect", "ragas")
    records = [json.loads(line) for line in text.splitlines()] if jsonl else json.loads(text)
    field = "additional_metadata" if fmt == "deepeval" else "metadata"
    return [r[field] for r in records]


def only_inserted(old: bytes, new: bytes) -> bytes:
    """The bytes ``new`` adds to ``old`` at one place, asserting ``old`` is otherwise intact."""
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    assert new.endswith(old[p:]), "existing bytes changed"
    return new[p : len(new) - (len(old) - p)]


@pytest.fixture(scope="module")
def refresh(refresh_report):  # noqa: F811 - pytest passes the imported fixture by name
    """test_refresh's report (480 CLINC150 queries, 4 intents without eval prompts), 6 picks."""
    report, _ = refresh_report
    suggestions = report.suggest_additions(budget=6)
    assert len(suggestions) == 6
    return report, suggestions


@pytest.mark.parametrize("fmt", EVAL_FORMATS)
def test_every_format_round_trips_and_projects_coverage(refresh, tmp_path, fmt):
    report, sug = refresh
    path = tmp_path / FILES[fmt]
    cases = write_evals(sug, path, report, format=fmt)
    assert cases["status"].tolist() == ["added"] * len(sug)
    assert cases.attrs["format"] == fmt
    assert read_back(fmt, path) == sug["text"].tolist()
    after = report.with_evals(read_back(fmt, path))
    assert after.coverage == pytest.approx(sug["projected_coverage"].iloc[-1], abs=1e-12)

    # Provenance: the traffic rows of each text, its cluster and name, its traffic share.
    q = report.queries
    total = q.loc[~q["excluded"], "weight"].sum()
    for case, meta, s in zip(
        cases.itertuples(), metadata(fmt, path), sug.itertuples(), strict=True
    ):
        rows = q[q["text"] == s.text]
        assert case.query_ids == rows["id"].astype(str).tolist()
        # Cases carry the topic of the pick's cluster (issue 15), named as the report names it.
        topic = report.clusters.set_index("cluster").loc[s.cluster, "topic"]
        assert case.topic == topic
        assert case.topic_name == report.topics.set_index("topic").loc[topic, "label"]
        assert case.traffic_share == pytest.approx(rows["weight"].sum() / total)
        share = q.loc[q["topic"] == topic, "weight"].sum() / total
        assert case.topic_share == pytest.approx(share)
        ids = meta["query_ids"]
        in_file = ids if isinstance(ids, list) else json.loads(ids)
        assert in_file == case.query_ids
        assert str(meta["topic"]) == str(s.cluster) and meta["topic_name"] == s.label
        assert float(meta["traffic_share"]) == pytest.approx(case.traffic_share)
        assert "failure_rate" not in meta or meta["failure_rate"] in ("", None)


PROMPTFOO_CONFIG = """\
# Support suite: hand-written cases, keep this comment
description: support suite
prompts:
  - "Answer the customer: {{question}}"
providers: [openai:gpt-4o-mini]
tests:
  # the password flow
  - vars:
      question: How do I reset my password?   # most asked
    assert:
      - type: icontains
        value: reset
  - description: a multi-line ask
    vars:
      question: |
        I want to cancel order #4411.
        It says "shipped".

# results go here
outputPath: results.json
"""


@pytest.mark.parametrize("source", ["inline", "fixture"])
def test_append_to_promptfoo_config_keeps_bytes_and_skips_duplicates(refresh, tmp_path, source):
    report, sug = refresh
    path = tmp_path / "promptfooconfig.yaml"
    if source == "inline":
        path.write_text(PROMPTFOO_CONFIG, encoding="utf-8")
    else:
        shutil.copy(DATA / "promptfoo_tests.yaml", path)
    old = path.read_bytes()
    before = read_evals(path)["text"].tolist()
    duplicate = pd.DataFrame({"text": ["How do I  reset my password? "]})
    additions = pd.concat([sug, duplicate, sug.head(1)], ignore_index=True)
    cases = write_evals(additions, path, report, append=True)
    assert cases.attrs["key"] == "question"
    assert cases["status"].tolist() == ["added"] * len(sug) + [
        "duplicate of an eval prompt",
        "repeated in additions",
    ]
    new = path.read_bytes()
    inserted = only_inserted(old, new).decode("utf-8")
    assert inserted.startswith("  - description: 'evalcov: ")  # aligned with the dashes
    if source == "inline":
        assert new.decode().endswith("\n# results go here\noutputPath: results.json\n")
    assert read_evals(path)["text"].tolist() == before + sug["text"].tolist()
    # Valid promptfoo: every test a mapping with vars; added ones have an empty assert list.
    doc = yaml.safe_load(new)
    added = doc["tests"][len(before) :]
    assert all(t["vars"] == {"question": s} for t, s in zip(added, sug["text"], strict=True))
    assert all(t["assert"] == [] and t["metadata"]["source"] == "evalcov" for t in added)
    assert {k: v for k, v in doc.items() if k != "tests"} == {
        k: v for k, v in yaml.safe_load(old).items() if k != "tests"
    }
    # Appending the same additions again adds nothing and leaves the file alone.
    again = write_evals(additions, path, report, append=True)
    assert (again["status"] != "added").all()
    assert path.read_bytes() == new


@pytest.mark.parametrize("fmt", [f for f in EVAL_FORMATS if f != "promptfoo"])
def test_append_keeps_existing_bytes_and_skips_duplicates(refresh, tmp_path, fmt):
    report, sug = refresh
    path = tmp_path / FILES[fmt]
    write_evals(sug.head(3), path, report, format=fmt)
    old = path.read_bytes()
    additions = pd.concat([sug, sug.tail(1)], ignore_index=True)
    # The format comes from the existing file's content.
    cases = write_evals(additions, path, report, append=True)
    assert cases.attrs["format"] == fmt
    assert cases["status"].tolist() == ["duplicate of an eval prompt"] * 3 + ["added"] * 3 + [
        "repeated in additions"
    ]
    only_inserted(old, path.read_bytes())
    assert read_back(fmt, path) == sug["text"].tolist()
    after = report.with_evals(read_back(fmt, path))
    assert after.coverage == pytest.approx(sug["projected_coverage"].iloc[-1], abs=1e-12)


def test_csv_append_adds_missing_columns_keeping_cells(refresh, tmp_path):
    report, sug = refresh
    path = tmp_path / "tests.csv"
    path.write_text(
        'question,__expected\n"What is 2+2, really?",equals: 4\nhi,\n', encoding="utf-8"
    )
    before = pd.read_csv(path, dtype=str, keep_default_na=False)
    write_evals(sug.head(2), path, report, append=True)
    after = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(after[before.columns].head(2), before)
    assert after["question"].tolist()[2:] == sug["text"].head(2).tolist()
    assert "__metadata:query_ids" in after.columns
    assert (
        read_evals(path)["text"].tolist()
        == ["What is 2+2, really?", "hi"] + sug["text"].head(2).tolist()
    )


def test_csv_cells_are_formula_neutralized(refresh, tmp_path):
    report, _ = refresh
    hostile = ['=HYPERLINK("http://evil.example","click")', "+1 what is my balance", "@SUM(A1)"]
    for fmt in ("promptfoo_csv", "langsmith_csv"):
        path = tmp_path / FILES[fmt]
        write_evals(hostile, path, report, format=fmt)
        cells = pd.read_csv(path, dtype=str, keep_default_na=False)["query"].tolist()
        assert cells == ["'" + t for t in hostile]
        # A neutralized prompt is still recognized as the same prompt.
        again = write_evals(hostile, path, report, append=True)
        assert (again["status"] == "duplicate of an eval prompt").all()
    # JSON formats are not for spreadsheets: the text is written as it is.
    path = tmp_path / "x.jsonl"
    write_evals(hostile, path, report, format="inspect")
    assert read_back("inspect", path) == hostile


def test_pii_is_redacted_by_default(refresh, tmp_path):
    report, _ = refresh
    text = "email jane.doe@example.com the credit limit of my visa"
    cases = write_evals([text], tmp_path / "a.jsonl", report, format="ragas")
    written = (tmp_path / "a.jsonl").read_text()
    assert "jane.doe@example.com" not in written and "jane.doe" not in cases["text"].iat[0]
    # A hand-written prompt that is not in the traffic has no provenance rows.
    assert cases["n_queries"].iat[0] == 0 and cases["topic"].iat[0] is None
    raw = write_evals([text], tmp_path / "b.jsonl", report, format="ragas", redact=False)
    assert raw["text"].iat[0] == text and text in (tmp_path / "b.jsonl").read_text()


def test_failure_rate_from_outcomes(refresh, tmp_path):
    report, sug = refresh
    q = report.queries
    rng = np.random.default_rng(0)
    error = pd.Series(rng.choice([True, False, None], size=len(q)), index=q.index, dtype=object)
    try:
        report.queries = q.assign(error=error)
        cases = write_evals(sug, tmp_path / "t.yaml", report)
    finally:
        report.queries = q
    meta = metadata("promptfoo", tmp_path / "t.yaml")
    for case, m in zip(cases.itertuples(), meta, strict=True):
        topic = (q["topic"] == case.topic) & ~q["excluded"]
        known = topic & error.notna()
        expected = (error[known] == True).mean()  # noqa: E712 - object column of bools
        assert case.failure_rate == pytest.approx(expected)
        assert m["failure_rate"] == pytest.approx(expected)


def test_outcome_rules():
    assert failed(None, None) == (False, False)
    assert failed("timeout", None) == (True, True)
    assert failed("", None) == (False, True)
    assert failed(None, 0) == (True, True) and failed(None, -1) == (True, True)
    assert failed(None, 1) == (False, True)
    assert failed(None, "thumbs_down") == (True, True)
    assert failed(False, "positive") == (False, True)


def test_labeling_batch_provenance_uses_its_input_ids(refresh, tmp_path):
    report, _ = refresh
    batch = report.export_for_labeling(n=5)
    cases = write_evals(batch, tmp_path / "d.jsonl", report, format="inspect", max_ids=2)
    assert cases["query_ids"].tolist() == [list(ids)[:2] for ids in batch["input_ids"]]
    assert cases["n_queries"].tolist() == [len(ids) for ids in batch["input_ids"]]
    assert cases["topic"].tolist() == batch["cluster"].tolist()


def test_bad_targets_and_additions(refresh, tmp_path):
    report, sug = refresh
    with pytest.raises(ValueError, match="format="):
        write_evals(sug, tmp_path / "new.jsonl", report)
    with pytest.raises(ValueError, match="cannot tell the eval format"):
        write_evals(sug, tmp_path / "new.txt", report)
    with pytest.raises(ValueError, match="format must be one of"):
        write_evals(sug, tmp_path / "new.json", report, format="evals")
    write_evals(sug, tmp_path / "a.yaml", report)
    with pytest.raises(FileExistsError, match="append=True"):
        write_evals(sug, tmp_path / "a.yaml", report)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_evals(sug, tmp_path / "missing" / "a.yaml", report)
    ref = tmp_path / "ref.yaml"
    ref.write_text("prompts: [p.txt]\ntests: file://cases.csv\n")
    with pytest.raises(ValueError, match="refers to"):
        write_evals(sug, ref, report, append=True)
    flow = tmp_path / "flow.yaml"
    flow.write_text("tests: [{vars: {query: hi}}]\n")
    with pytest.raises(ValueError, match="flow list"):
        write_evals(sug, flow, report, append=True)
    with pytest.raises(ValueError, match="'text' column"):
        write_evals(sug.rename(columns={"text": "prompt"}), tmp_path / "b.yaml", report)
    with pytest.raises(TypeError, match="must be str"):
        write_evals(["ok", 3], tmp_path / "c.yaml", report)
    with pytest.raises(ValueError, match="key='nope'"):
        write_evals(sug, tmp_path / "a.yaml", report, append=True, key="nope")
    with pytest.raises(ValueError, match="does not apply to ragas"):
        write_evals(sug, tmp_path / "r.jsonl", report, format="ragas", key="question")


def test_cli_add_to(tmp_path, capsys):
    traffic = tmp_path / "traffic.csv"
    pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::80].to_csv(traffic, index=False)
    config = tmp_path / "promptfooconfig.yaml"
    shutil.copy(DATA / "promptfoo_tests.yaml", config)
    old = config.read_bytes()
    argv = ["analyze", str(traffic), "--evals", str(SAMPLE / "evals.csv")]
    argv += ["--eval-text-col", "prompt", "--add-to", str(config), "-n", "5", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "added 5 eval cases to" in out and "projected coverage" in out
    only_inserted(old, config.read_bytes())
    assert len(read_evals(config)) == len(read_evals(DATA / "promptfoo_tests.yaml")) + 5
    assert main([*argv[:-5], "--add-to", str(tmp_path / "x.jsonl"), "--quiet"]) == 2
    assert "pass format=" in capsys.readouterr().err


@pytest.mark.parametrize(
    "layout",
    [
        "description: no tests yet\nprompts: ['{{query}}']\n# end\n",
        "tests:\n- vars:\n    query: |+\n      kept trailing line\n\n# about other\nother: 1\n",
        "- vars: {query: first}\n- vars:\n    query: second  # note\n",
    ],
    ids=["no-tests-key", "kept-block-scalar", "tests-list"],
)
def test_promptfoo_append_layouts(refresh, tmp_path, layout):
    report, sug = refresh
    path = tmp_path / "cases.yaml"
    path.write_text(layout, encoding="utf-8")
    before = read_evals(path)["text"].tolist() if "vars" in layout else []
    write_evals(sug.head(2), path, report, append=True)
    only_inserted(layout.encode(), path.read_bytes())
    assert read_evals(path)["text"].tolist() == before + sug["text"].head(2).tolist()


@pytest.mark.parametrize("fmt", ["promptfoo", "openai_evals", "deepeval", "langfuse_dataset"])
def test_hostile_text_round_trips(refresh, tmp_path, fmt):
    report, _ = refresh
    texts = [
        "key: value # not a comment",
        "- [a, b]",
        "'single' \"double\" `back`",
        "{{ var }} & <b>bold</b>",
        "yes",
        "123",
        "null",
        "emoji 🚀 and ünïcödé",
    ]
    path = tmp_path / FILES[fmt]
    write_evals(texts, path, report, format=fmt)
    assert read_back(fmt, path) == texts
