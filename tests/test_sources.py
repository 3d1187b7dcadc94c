"""Trace exports and eval-tool files: detection, the user's text, outcomes, every trace kept."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cli_main

import evalcov
from evalcov.ingest import SUPPORTED_FORMATS, read_evals, read_traffic
from evalcov.sources import EVAL_FORMATS, TRAFFIC_FORMATS

DATA = Path(__file__).resolve().parent / "data"
TRACES = DATA / "traces"
EVALS = DATA / "evals"
OUTCOMES = ["session", "response", "error", "latency_s", "input_tokens", "output_tokens", "cost"]


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def otlp_trace_ids(path: Path) -> list[str]:
    """Distinct trace ids of an OTLP JSON(L) file, read independently of the reader."""
    if path.suffix == ".json":
        docs = [json.loads(path.read_text())]
    else:
        docs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ids: list[str] = []
    for doc in docs:
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                ids.extend(s["traceId"] for s in ss["spans"] if s["traceId"] not in ids)
    return ids


# ----------------------------------------------------------------------------- OpenTelemetry


def test_otel_genai_one_row_per_trace_with_the_users_last_message():
    df = read_traffic(TRACES / "otel_genai.json")
    assert df["id"].tolist() == otlp_trace_ids(TRACES / "otel_genai.json")
    # Not the system prompt nor the retrieved documents; for the agent, its first LLM call.
    assert df["text"].tolist() == [
        "How do I raise my card limit?",
        "Book a table for two in Lyon tonight",
    ]
    assert list(df.columns) == [
        *["text", "excluded", "reason", "truncated", "id", "weight", "time", "user"],
        *OUTCOMES,
        "source",
    ]
    assert df["time"].tolist() == [utc("2024-06-01 12:00"), utc("2024-06-01 13:00")]
    assert df["user"].tolist() == ["u-17", "u-42"]  # user.id on the root; enduser.id
    assert df["session"].tolist() == ["s-100", "conv-9"]  # session.id; gen_ai.conversation.id
    # The agent's answer is its last LLM call's, not the tool call of its first.
    assert df["response"].tolist() == [
        "Open the app, then Cards > Limits.",
        "Booked: Le Bouchon at 20:00 for two.",
    ]
    assert df["error"].dtype == "boolean" and not df["error"].any()
    assert df["latency_s"].tolist() == [2.5, 6.0]
    assert df["input_tokens"].tolist() == [812.0, 300.0]  # the agent's two calls add up
    assert df["output_tokens"].tolist() == [14.0, 35.0]
    assert df["cost"].isna().all()


def test_otel_span_unit_lists_every_span_and_marks_the_non_llm_ones():
    df = read_traffic(TRACES / "otel_genai.json", unit="span")
    assert len(df) == 6
    assert df["reason"].tolist() == [
        "not an LLM span",
        "",
        "not an LLM span",
        "",
        "not an LLM span",
        "",
    ]
    assert df.loc[~df["excluded"], "id"].tolist() == [
        "eee19b7ec3c1b175",
        "b7ad6b7169203332",
        "b7ad6b7169203334",
    ]
    assert (
        df["trace_id"].tolist()
        == ["5b8efff798038103d269b633813fc60c"] * 2 + ["0af7651916cd43dd8448eb211c80319c"] * 4
    )
    # The second LLM call sees the tool result; its user text is still the request.
    assert df.loc[5, "text"] == "Book a table for two in Lyon tonight"
    assert df.loc[5, "input_tokens"] == 180.0


def test_otel_mixed_conventions_errors_and_a_trace_without_llm():
    path = TRACES / "otel_mixed.jsonl"
    df = read_traffic(path)
    assert df["id"].tolist() == otlp_trace_ids(path)
    assert df["text"].tolist() == [
        "Where is my nearest branch?",  # deprecated gen_ai.user.message event
        "What does this receipt say? Is the fee refundable?",  # text parts joined, image skipped
        "Summarize my last five transactions",  # OpenLLMetry gen_ai.prompt.{i}
        "Can I freeze my card?",  # OpenInference llm.input_messages contents
        "",
    ]
    assert df["reason"].tolist() == ["", "", "", "", "no LLM span"]
    assert df["excluded"].tolist() == [False, False, False, False, True]
    assert df["error"].tolist() == [False, False, True, False, False]
    assert pd.isna(df.loc[2, "user"])  # the error span has no user id
    assert df.loc[3, ["user", "session"]].tolist() == ["u-8", "s-200"]
    assert df.loc[3, "cost"] == pytest.approx(0.00021)
    assert df.loc[3, ["input_tokens", "output_tokens"]].tolist() == [42.0, 7.0]
    assert df.loc[0, ["input_tokens", "output_tokens"]].tolist() == [30.0, 9.0]  # old names
    assert df.loc[3, "response"] == "Oui, dans l'application."
    assert df.loc[2, "latency_s"] == 30.0


def test_otel_glob_and_gzip_keep_each_traces_file(tmp_path):
    shutil.copy(TRACES / "otel_genai.json", tmp_path / "a.json")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as fh:
        fh.write((TRACES / "otel_mixed.jsonl").read_text())
    df = read_traffic(str(tmp_path / "*"))
    assert len(df) == 7
    assert [Path(s).name for s in df["source"]] == ["a.json"] * 2 + ["b.jsonl.gz"] * 5


# ----------------------------------------------------------------------------- Phoenix


def test_phoenix_spans_dataframe_and_parquet(tmp_path):
    frame = pd.read_json(TRACES / "phoenix_spans.jsonl", lines=True)
    parquet = tmp_path / "spans.parquet"
    frame.to_parquet(parquet)
    # get_spans_dataframe() indexes the spans by their id.
    for source in (frame, parquet, frame.set_index("context.span_id")):
        df = read_traffic(source)
        assert df["id"].tolist() == ["p-trace-1", "p-trace-2"]
        # The LLM span's user message, not the CHAIN root's input nor the system context.
        assert df["text"].tolist() == [
            "What is the overdraft fee?",
            "Translate my statement into Spanish",
        ]
        assert df["error"].tolist() == [False, True]
        assert df["user"].tolist()[0] == "u-31" and pd.isna(df["user"].tolist()[1])
        assert df["session"].tolist()[0] == "ps-1"
        assert df["latency_s"].tolist() == [2.0, 4.0]
        assert df["input_tokens"].tolist() == [95.0, 9000.0]
        assert df["response"].tolist()[0] == "It is 5 EUR per month."
    spans = read_traffic(frame, unit="span")
    assert spans["reason"].tolist() == ["not an LLM span", "not an LLM span", "", ""]


# ----------------------------------------------------------------------------- Langfuse


def test_langfuse_trace_page_inputs_scores_and_errors():
    df = read_traffic(TRACES / "langfuse_traces.json")
    assert df["id"].tolist() == ["lf-trace-1", "lf-trace-2", "lf-trace-3", "lf-trace-4"]
    assert df["text"].tolist() == [
        "I was charged twice for the same coffee",  # messages: the system RAG template is skipped
        "what's the IBAN of my savings account",  # a plain string
        "Do you offer student accounts?",  # a dict of named inputs
        "",
    ]
    assert df["reason"].tolist() == ["", "", "", "no user message"]
    assert df["user"].tolist()[0] == "u-17" and pd.isna(df["user"].tolist()[1])
    assert df["feedback"].tolist()[:2] == [1.0, 0.0]  # the "user-feedback" score
    assert df["feedback"].isna().tolist()[2:] == [True, True]
    assert df["score_hallucination"].tolist()[0] == pytest.approx(0.1)
    assert df["score_tone"].tolist()[2] == "friendly"  # a categorical score stays a label
    # Nested observations tell the error; ids alone do not, so it is unknown (NA).
    assert df["error"].tolist()[:2] == [False, True]
    assert df["error"].isna().tolist() == [False, False, True, True]
    assert df["latency_s"].tolist() == [1.84, 30.0, 0.92, 120.5]
    assert df["input_tokens"].tolist()[0] == 210.0
    assert df["response"].isna().tolist() == [False, True, False, False]
    assert df["response"][[0, 2, 3]].tolist() == [
        "I can refund the duplicate charge.",
        "Yes, from age 16.",
        '{"indexed": 1200}',  # a dict output without a known answer key is kept as JSON
    ]
    assert df["time"].tolist()[0] == utc("2024-06-03 09:00")


def test_langfuse_csv_export_decodes_json_cells():
    df = read_traffic(TRACES / "langfuse_traces.csv")
    assert df["text"].tolist() == ["Change my address", "Close my account"]
    assert df["response"].tolist()[0] == "Done."
    assert df["user"].tolist()[0] == "u-3"
    assert df["session"].tolist()[0] == "sess-9"
    # Blank cells are missing, not empty strings.
    assert df[["response", "user", "session"]].isna().sum().tolist() == [1, 1, 1]
    assert df["cost"].tolist()[0] == pytest.approx(0.0002) and math.isnan(df["cost"].tolist()[1])


def test_langfuse_observations_per_trace_and_per_span():
    path = TRACES / "langfuse_observations.jsonl"
    df = read_traffic(path)
    assert df["id"].tolist() == ["t-1", "t-2", "t-3"]
    assert df["text"].tolist() == [
        "What are your current loan rates?",
        "Is the branch open on Sunday?",
        "",
    ]
    assert df["reason"].tolist() == ["", "", "no LLM span"]
    assert df["error"].tolist() == [False, True, False]
    assert df["latency_s"].tolist()[:2] == [2.0, 10.0]  # first start to last end
    assert df["cost"].tolist()[:2] == [pytest.approx(0.0021), pytest.approx(0.00001)]
    assert df["response"].tolist()[0] == "From 4.1% APR."
    spans = read_traffic(path, unit="span")
    assert spans["id"].tolist() == ["o-1", "o-2", "o-3", "o-4"]
    assert spans["reason"].tolist() == ["not an LLM span", "", "", "not an LLM span"]
    assert spans["trace_id"].tolist() == ["t-1", "t-1", "t-2", "t-3"]


# ----------------------------------------------------------------------------- LangSmith


def test_langsmith_root_runs_feedback_and_conversation():
    df = read_traffic(TRACES / "langsmith_runs.jsonl")
    assert df["id"].tolist() == [
        "a1000000-0000-4000-8000-000000000001",
        "b2000000-0000-4000-8000-000000000001",
        "c3000000-0000-4000-8000-000000000001",
    ]
    assert df["text"].tolist() == [
        "How long does a SEPA transfer take?",
        "the visa ending 4242",  # the last user turn of the conversation
        "",
    ]
    assert df["reason"].tolist() == ["", "", "no root run"]
    assert df["time"].tolist()[2] == utc("2024-06-06 11:00:00.5")
    # The conversation comes from metadata, not Run.session_id (the project).
    assert df["session"].tolist()[:2] == ["thr-1", "conv-77"]
    assert df["user"].tolist()[0] == "u-21"
    assert df["error"].tolist()[:2] == [False, True]
    assert df["feedback"].tolist()[:2] == [1.0, 0.0]  # user_score, thumbs
    assert df["score_correctness"].tolist()[0] == 0.5
    assert df["latency_s"].tolist()[:2] == [3.5, 20.0]
    assert df["input_tokens"].tolist()[:2] == [350.0, 40.0]
    spans = read_traffic(TRACES / "langsmith_runs.jsonl", unit="span")
    # The LangChain-serialized [[System, Human]] batch of the llm child run.
    assert spans["text"].tolist()[1] == "How long does a SEPA transfer take?"
    assert spans["reason"].tolist() == ["not an LLM span", "", "", "not an LLM span"]


# ----------------------------------------------------------------------------- Helicone, MLflow


def test_helicone_requests_status_feedback_and_non_chat_requests():
    df = read_traffic(TRACES / "helicone_requests.jsonl")
    assert df["id"].tolist() == ["hc-1", "hc-2", "hc-3"]
    assert df["text"].tolist() == ["What fee do you charge abroad?", "Read this statement", ""]
    assert df["reason"].tolist() == ["", "", "no user message"]  # an embeddings request
    assert df["error"].tolist() == [False, True, False]  # status 429 with an error body
    assert df["response"].tolist()[0] == "1% per transaction." and pd.isna(df["response"][1])
    assert df["session"].tolist()[0] == "hs-1"
    assert df["latency_s"].tolist() == [0.84, 0.12, 0.06]
    assert df["feedback"].tolist()[:2] == [1.0, 0.0]  # feedback_rating true / false
    assert "score_feedback" not in df and df["score_accuracy"].tolist()[0] == 0.9
    assert df["cost"].tolist()[0] == pytest.approx(0.00003)


def test_mlflow_search_traces_frame_and_parquet(tmp_path):
    frame = pd.read_json(TRACES / "mlflow_traces.jsonl", lines=True, dtype=False)
    parquet = tmp_path / "traces.parquet"
    frame.to_parquet(parquet)
    for source in (frame, parquet):
        df = read_traffic(source)
        assert df["id"].tolist() == ["tr-7f1a", "tr-7f1b"]
        assert df["text"].tolist() == [
            "How do I activate my new card?",
            "Why was my loan application rejected?",
        ]
        assert df["time"].tolist() == [utc("2024-06-09 09:00"), utc("2024-06-09 09:01:40")]
        assert df["error"].tolist() == [False, True]
        assert df["latency_s"].tolist() == [1.53, 30.0]
        assert df["user"].tolist()[0] == "u-60" and df["session"].tolist()[0] == "ms-1"
        assert df["input_tokens"].tolist()[0] == 220.0
        assert df["feedback"].tolist()[0] == 1.0  # the user_feedback assessment
        assert df["score_groundedness"].tolist()[0] == 0.8
        assert "score_expected_response" not in df  # an expectation, not an outcome


# ----------------------------------------------------------------------------- eval sets


EVAL_CASES = {
    "openai_evals.jsonl": (
        "openai_evals",
        ["Can I freeze my card?", "How do I reset my password?", "What is this charge?", ""],
    ),
    "deepeval_goldens.json": (
        "deepeval",
        ["What is the overdraft fee?", "Can I open an account online?"],
    ),
    "deepeval_goldens.csv": (
        "deepeval",
        ["How do I order a new card?", "What's the daily ATM limit, exactly?"],
    ),
    "inspect_samples.jsonl": (
        "inspect",
        ["Block my stolen card", "Order a replacement card", "And the rate for a home loan?"],
    ),
    "ragas_samples.jsonl": ("ragas", ["When does my statement arrive?", "The credit card"]),
    "langfuse_dataset_items.json": (
        "langfuse_dataset",
        ["How do I close my account?", "Is there a fee for international transfers?", ""],
    ),
    "langsmith_examples.jsonl": (
        "langsmith_dataset",
        ["How long does a SEPA transfer take?", "Increase my card limit", "Can I get a loan?"],
    ),
    "promptfoo_tests.csv": ("promptfoo", ["How do I dispute a charge?", "What is my IBAN?"]),
}


@pytest.mark.parametrize("name", sorted(EVAL_CASES))
def test_eval_formats_detected_and_forced(name):
    fmt, texts = EVAL_CASES[name]
    detected = read_evals(EVALS / name)
    forced = read_evals(EVALS / name, format=fmt)
    assert detected["text"].tolist() == texts
    pd.testing.assert_frame_equal(detected, forced)
    assert len(detected) == len(texts)  # every case accounted for


def test_eval_set_exclusions_and_ids():
    items = read_evals(EVALS / "langfuse_dataset_items.json")
    assert items["reason"].tolist() == ["", "", "archived item"]
    assert items["id"].tolist() == ["item-1", "item-2", "item-3"]
    evals = read_evals(EVALS / "openai_evals.jsonl")
    assert evals["reason"].tolist()[3] == "no user message"  # only a system prompt
    assert read_evals(EVALS / "inspect_samples.jsonl")["id"].tolist() == [
        "card-1",
        "card-2",
        "loan-1",
    ]
    promptfoo = read_evals(EVALS / "promptfoo_tests.csv")
    assert promptfoo["description"].tolist()[0] == "dispute flow"
    assert pd.isna(promptfoo["description"].tolist()[1])
    tone = read_evals(EVALS / "promptfoo_tests.csv", prompt_var="tone")
    assert tone["text"].tolist() == ["polite", "terse"]


def test_format_names_are_published():
    assert TRAFFIC_FORMATS == ("otel", "phoenix", "langsmith", "langfuse", "helicone", "mlflow")
    assert EVAL_FORMATS == (
        "langsmith_dataset",
        "ragas",
        "langfuse_dataset",
        "openai_evals",
        "inspect",
        "deepeval",
        "promptfoo",
    )
    assert set(TRAFFIC_FORMATS) | set(EVAL_FORMATS) <= set(SUPPORTED_FORMATS)


# ----------------------------------------------------------------------------- errors


def test_forced_format_that_does_not_fit_names_the_missing_field():
    with pytest.raises(ValueError, match=r"format='otel' does not fit .*'resourceSpans'"):
        read_traffic(DATA / "traffic.csv", format="otel")
    with pytest.raises(ValueError, match=r"format='ragas' .*'user_input'.*columns present: input"):
        read_evals(EVALS / "openai_evals.jsonl", format="ragas")
    with pytest.raises(ValueError, match=r"format='langsmith' .*'run_type'"):
        read_traffic(TRACES / "langfuse_observations.jsonl", format="langsmith")


def test_trace_formats_reject_text_and_outcomes_and_bad_units():
    with pytest.raises(ValueError, match="text='input' does not apply to 'langfuse'"):
        read_traffic(TRACES / "langfuse_traces.json", text="input")
    with pytest.raises(ValueError, match="outcomes= applies to plain tables"):
        read_traffic(TRACES / "langfuse_traces.json", outcomes={"feedback": "scores"})
    with pytest.raises(ValueError, match="unit must be one of 'trace', 'span'; got 'call'"):
        read_traffic(TRACES / "otel_genai.json", unit="call")


def test_plain_tables_are_not_mistaken_for_traces():
    df = pd.DataFrame({"input": ["reset my password"], "userId": ["u1"], "timestamp": [1]})
    out = read_traffic(df)
    assert out["text"].tolist() == ["reset my password"]
    assert "session" not in out and "time" not in out


# ----------------------------------------------------------------------------- plain outcomes


def test_plain_table_maps_its_own_outcome_columns():
    df = pd.DataFrame(
        {
            "q": ["a", "b", "c", "d"],
            "thumbs": ["up", "down", None, "👍"],
            "failed": ["false", "true", "", 0],
            "ms": [1200, 800, None, 100],
            "cost": ["0.01", "", "0.02", None],  # already a standard name: carried as is
            "helpful": [5, 3, 4, 1],
        }
    )
    out = read_traffic(
        df,
        text="q",
        outcomes={"feedback": "thumbs", "error": "failed", "score_helpful": "helpful"},
    )
    assert out["feedback"].tolist()[:2] == [1.0, 0.0]
    assert math.isnan(out["feedback"].tolist()[2]) and out["feedback"].tolist()[3] == 1.0
    assert out["error"].isna().tolist() == [False, False, True, False]
    assert out["error"].fillna(False).tolist() == [False, True, False, False]
    assert out["score_helpful"].tolist() == [5.0, 3.0, 4.0, 1.0]
    np.testing.assert_array_equal(out["cost"].to_numpy(), [0.01, np.nan, 0.02, np.nan])
    assert list(out.columns)[-4:] == ["error", "cost", "feedback", "score_helpful"]


def test_bad_outcome_values_and_names_are_errors():
    df = pd.DataFrame({"q": ["a", "b"], "lat": ["0.5", "slow"], "err": ["maybe", "no"]})
    with pytest.raises(ValueError, match=r"column 'lat' \(outcome 'latency_s'\).*1 \('slow'\)"):
        read_traffic(df, text="q", outcomes={"latency_s": "lat"})
    with pytest.raises(ValueError, match=r"column 'err' \(outcome 'error'\).*0 \('maybe'\)"):
        read_traffic(df, text="q", outcomes={"error": "err"})
    with pytest.raises(ValueError, match="outcomes key 'speed' is not an outcome name"):
        read_traffic(df, text="q", outcomes={"speed": "lat"})
    with pytest.raises(ValueError, match=r"column 'nope' \(outcomes\['feedback'\]=\) not found"):
        read_traffic(df, text="q", outcomes={"feedback": "nope"})


# ----------------------------------------------------------------------------- end to end


def test_outcomes_reach_report_queries():
    with pytest.warns(UserWarning):
        report = evalcov.analyze(
            TRACES / "otel_mixed.jsonl",
            EVALS / "openai_evals.jsonl",
            eval_format="openai_evals",
            time="time",
        )
    q = report.queries
    assert len(q) == 5 and q["id"].tolist() == otlp_trace_ids(TRACES / "otel_mixed.jsonl")
    assert q["error"].tolist() == [False, False, True, False, False]
    assert q.loc[4, "reason"] == "no LLM span" and q.loc[4, "cluster"] == -1
    assert q.loc[3, "cost"] == pytest.approx(0.00021)
    assert q["session"].tolist()[1] == "conv-3"


def test_cli_reads_traces_and_names_a_format_that_does_not_fit(tmp_path, capsys):
    def run(*args):
        # In this process (the real `python -m evalcov` run is tests/test_cli.py's).
        return cli_main(capsys, "analyze", *args, "--quiet")

    out = tmp_path / "summary.json"
    ok = run(
        *(TRACES / "langfuse_traces.json", "--evals", EVALS / "inspect_samples.jsonl"),
        *("--evals-format", "inspect", "--unit", "trace", "--json", out),
    )
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(out.read_text())["summary"]
    assert summary["n_rows"] == 4 and summary["excluded_reasons"] == {"no user message": 1}
    wrong = run(
        TRACES / "langfuse_traces.json",
        "--evals",
        EVALS / "ragas_samples.jsonl",
        "--traffic-format",
        "otel",
    )
    assert wrong.returncode == 2
    assert "format='otel' does not fit" in wrong.stderr and "'resourceSpans'" in wrong.stderr


def test_dask_partitions_carry_mapped_outcomes():
    dd = pytest.importorskip("dask.dataframe")
    from evalcov.distributed import _read_part, analyze_dask

    pdf = pd.DataFrame({"q": ["reset my pin", "card declined"], "thumbs": ["down", "up"]})
    part = _read_part(pdf, {"text": "q", "outcomes": {"feedback": "thumbs"}}, {"number": 3})
    assert part["feedback"].tolist() == [0.0, 1.0]
    # Trace formats are files read whole; a Dask frame is already one row per query.
    ddf = dd.from_pandas(pdf, npartitions=1)
    with pytest.raises(TypeError, match=r"\['unit'\] do not apply to a Dask DataFrame"):
        analyze_dask(ddf, ["reset my pin"], text="q", unit="span")
