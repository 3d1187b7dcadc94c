"""Readers for traffic and eval sets: every source shape, every bad-input path."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evalcov.ingest import normalize_text, read_evals, read_traffic

DATA = Path(__file__).resolve().parent / "data"
CSV = DATA / "traffic.csv"
CHAT = DATA / "chat_logs.jsonl"
PROMPTFOO = DATA / "promptfoo_tests.yaml"
BASE_COLUMNS = ["text", "excluded", "reason", "truncated", "id", "weight"]


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- normalization


def test_normalize_text_nfc_and_whitespace():
    assert normalize_text("caf" + "e\u0301") == "café"
    assert normalize_text("e\u0301") == "\u00e9"
    assert normalize_text("  a\n\n\tb\u00a0\u00a0c \r\n") == "a b c"
    assert normalize_text(" \u00a0\n\t ") == ""


def test_read_normalizes_ascii_and_other_text_like_normalize_text():
    # read_* normalizes in its own fast pass; the texts must be normalize_text's, including
    # the ASCII separators str.split() treats as whitespace (\x1c-\x1f, \v, \f).
    raw = [
        "  plain  ascii\ttext ",
        "unit\x1fsep\x1crecord\x0bvertical\x0cfeed",
        "caf" + "e\u0301 au lait",
        "e\u0301",
        "no\u00a0break\u2028line",
        "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
        "\x1f\x1e",
    ]
    out = read_traffic(pd.DataFrame({"text": raw}), text="text")
    assert out["text"].tolist() == [normalize_text(t) for t in raw]
    assert out["text"].tolist()[:2] == ["plain ascii text", "unit sep record vertical feed"]
    assert out["reason"].tolist()[-1] == "empty text"


def test_normalize_text_rejects_non_str():
    with pytest.raises(TypeError, match="expects a str, got int"):
        normalize_text(3)


# ----------------------------------------------------------------------------- CSV


def test_csv_all_columns():
    df = read_traffic(CSV, time="timestamp", id="request_id", weight="count", user="user_id")
    assert list(df.columns) == [*BASE_COLUMNS, "time", "user", "source"]
    assert df.index.equals(pd.RangeIndex(10))
    assert df["time"].dtype == "datetime64[ns, UTC]"
    assert df["weight"].dtype == np.float64
    assert df["excluded"].dtype == bool and df["truncated"].dtype == bool

    assert df.loc[1, "text"] == 'Cancel order #4411, it says "shipped" but never arrived'
    assert df.loc[2, "text"] == "Write a haiku about Monday mornings, please"
    assert df.loc[6, "text"] == "café near me open now \u2615"
    assert df.loc[7, "text"] == "我的订单在哪里？"
    # A user who typed "NA" asked something; it must not read as a missing value.
    assert df.loc[9, "text"] == "NA" and not df.loc[9, "excluded"]
    # Tab and repeated spaces collapse, so two spellings of one query become one text.
    assert df.loc[8, "text"] == df.loc[0, "text"] == "How do I reset my password?"

    assert df["excluded"].tolist() == [False] * 4 + [True, True] + [False] * 4
    assert df.loc[4, "reason"] == df.loc[5, "reason"] == "empty text"
    assert df.loc[4, "text"] == "" and df.loc[0, "reason"] == ""

    assert df["id"].tolist() == [f"req-{i:04d}" for i in range(1, 11)]
    assert df["weight"].tolist() == [3, 1, 1, 2, 1, 1, 5, 1, 4, 1]
    assert df.loc[3, "user"] == "u-88"
    assert set(df["source"]) == {str(CSV)}


def test_csv_mixed_time_zones_become_utc():
    t = read_traffic(CSV, time="timestamp")["time"]
    assert t[0] == utc("2024-05-01 09:12:44")  # Z
    assert t[1] == utc("2024-05-01 09:02:10")  # +02:00
    assert t[2] == utc("2024-05-01 10:30:00")  # naive: taken as UTC
    assert t[3] == utc("2024-05-01 13:00:00")  # -05:00
    assert t[8] == utc("2024-05-02 04:15:00")  # +09:00
    assert pd.isna(t[7])  # a blank time is missing, not an error


def test_csv_defaults_detect_text_and_make_stable_ids():
    df = read_traffic(CSV)
    assert list(df.columns) == [*BASE_COLUMNS, "source"]
    assert df["id"].tolist()[:2] == ["traffic.csv:0", "traffic.csv:1"]
    assert (df["weight"] == 1.0).all()
    assert df.loc[0, "text"] == "How do I reset my password?"


def test_tsv_and_gzip(tmp_path):
    tsv = tmp_path / "q.tsv"
    tsv.write_text("prompt\tn\nhello, world\t2\nsecond\trow\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"q\.tsv: malformed TSV .*Expected 2 fields"):
        read_traffic(tsv)
    tsv.write_text("prompt\tn\nhello, world\t2\nsecond row\t1\n", encoding="utf-8")
    assert read_traffic(tsv, weight="n")["weight"].tolist() == [2.0, 1.0]

    gz = tmp_path / "traffic.csv.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(CSV.read_bytes())
    plain = read_traffic(CSV, time="timestamp")
    packed = read_traffic(gz, time="timestamp")
    same = ["text", "excluded", "reason", "truncated", "weight", "time"]
    pd.testing.assert_frame_equal(plain[same], packed[same])
    assert packed["id"][0] == "traffic.csv.gz:0"

    jgz = tmp_path / "day.jsonl.gz"
    with gzip.open(jgz, "wt", encoding="utf-8") as fh:
        fh.write('{"query": "q1"}\n\n{"query": "q2"}\n')
    assert read_traffic(jgz)["text"].tolist() == ["q1", "q2"]


# ----------------------------------------------------------------------------- chat logs


def test_chat_last_turn_by_default():
    df = read_traffic(CHAT, id="conversation_id", time="created")
    assert list(df.columns) == [*BASE_COLUMNS, "time", "source"]
    assert df["text"].tolist() == [
        "Can you raise my daily limit to $2,000?",
        'What does this error on my statement mean? It says "FX fee".',
        "How do I open a savings account?",
        "",
        "And my savings balance?",
    ]
    assert df["reason"].tolist() == ["", "", "", "no user turn", ""]
    assert df["id"].tolist() == ["c-101", "c-102", "c-103", "c-104", "c-105"]
    assert df.loc[0, "time"] == utc("2024-05-01 09:00:00")  # epoch seconds


def test_chat_first_turn():
    df = read_traffic(CHAT, turns="first")
    assert df.loc[0, "text"] == "My card was declined at the grocery store."
    assert df.loc[4, "text"] == "What's my balance?"
    assert df.loc[3, "excluded"]


def test_chat_all_turns():
    df = read_traffic(CHAT, turns="all", weight=None)
    assert list(df.columns) == [*BASE_COLUMNS, "source", "input_row", "turn"]
    assert df.index.equals(pd.RangeIndex(8))
    assert df["input_row"].tolist() == [0, 0, 0, 1, 2, 3, 4, 4]
    assert df["turn"].tolist() == [0, 1, 2, 0, 0, -1, 0, 1]
    assert df.loc[1, "text"] == "Debit. It worked yesterday!"
    assert df.loc[5, "reason"] == "no user turn"
    # All turns of one conversation keep its id; (id, turn) is unique.
    assert df["id"][:3].tolist() == ["chat_logs.jsonl:0"] * 3
    assert not df.duplicated(["id", "turn"]).any()


def test_chat_request_nesting_and_json_string_messages(tmp_path):
    def user(text: str) -> dict:
        return {"role": "user", "content": text}

    path = write_jsonl(
        tmp_path / "batch.jsonl",
        [
            {"custom_id": "a", "request": {"model": "m", "messages": [user("nested one")]}},
            {"custom_id": "b", "request": {"model": "m", "messages": [user("1st"), user("2nd")]}},
        ],
    )
    assert read_traffic(path, id="custom_id")["text"].tolist() == ["nested one", "2nd"]
    # A plain-text column that happens to be called "request" is just text.
    plain = read_traffic(pd.DataFrame({"request": ["book a table for two"]}), text="request")
    assert plain["text"].tolist() == ["book a table for two"]

    msgs = [{"role": "user", "content": "from a csv cell"}]
    csv = tmp_path / "chats.csv"
    pd.DataFrame({"messages": [json.dumps(msgs)]}).to_csv(csv, index=False)
    assert read_traffic(csv)["text"].tolist() == ["from a csv cell"]


def test_chat_dataframe_keeps_index_and_flags_missing():
    frame = pd.DataFrame(
        {"messages": [[{"role": "user", "content": "hi"}], None, []]}, index=[10, 20, 30]
    )
    df = read_traffic(frame)
    assert df.index.tolist() == [10, 20, 30]
    assert df["reason"].tolist() == ["", "missing messages", "no user turn"]
    assert df["id"].tolist() == ["10", "20", "30"]


def test_chat_bad_messages_name_rows():
    frame = pd.DataFrame({"messages": [[{"role": "user", "content": "ok"}], "not json", [3]]})
    with pytest.raises(TypeError, match=r"'messages'.*rows 1 \(str that is not JSON\), 2 "):
        read_traffic(frame)


# ----------------------------------------------------------------------------- promptfoo


def test_promptfoo_default_var_and_description():
    df = read_evals(PROMPTFOO)
    assert list(df.columns) == [*BASE_COLUMNS, "source", "description"]
    assert df["text"].tolist() == [
        "How do I reset my password?",
        'I want to cancel order #4411. It says "shipped" but nothing arrived.',
        "Wie kündige ich mein Abo?",
        "What is the FX fee on card payments abroad?",
    ]
    assert df.loc[2, "description"] == "German billing question"
    assert pd.isna(df.loc[3, "description"])
    assert df["id"].tolist()[0] == "promptfoo_tests.yaml:0"


def test_promptfoo_prompt_var_and_default_test_vars():
    # defaultTest.vars apply to every test unless the test overrides them.
    langs = read_evals(PROMPTFOO, prompt_var="language")["text"].tolist()
    assert langs == ["en", "en", "de", "en"]
    msg = r"'answer' \(prompt_var=\) not found; vars found: language, question, customer_tier"
    with pytest.raises(ValueError, match=msg):
        read_evals(PROMPTFOO, prompt_var="answer")


def test_promptfoo_top_level_list_and_ambiguous_vars(tmp_path):
    single = tmp_path / "tests.yaml"
    single.write_text("- vars: {utterance: turn on the lights}\n- vars: {utterance: lock door}\n")
    assert read_evals(single)["text"].tolist() == ["turn on the lights", "lock door"]

    ambiguous = tmp_path / "ambiguous.yml"
    ambiguous.write_text("tests:\n  - vars: {a: x, b: y}\n")
    with pytest.raises(ValueError, match="vars found: a, b"):
        read_evals(ambiguous)
    assert read_evals(ambiguous, prompt_var="b")["text"].tolist() == ["y"]


def test_prompt_var_outside_promptfoo_is_an_error():
    with pytest.raises(ValueError, match="prompt_var= applies to promptfoo"):
        read_evals(CSV, prompt_var="query")


# ----------------------------------------------------------------------------- parquet, json, globs


def test_parquet_with_tz_aware_datetimes(tmp_path):
    paris = pd.to_datetime(["2024-05-01 10:00", "2024-05-01 11:30"]).tz_localize("Europe/Paris")
    frame = pd.DataFrame({"question": ["what is RAG?", "  explain\nembeddings "], "at": paris})
    path = tmp_path / "q.parquet"
    frame.to_parquet(path)
    df = read_traffic(path, time="at")
    assert df["text"].tolist() == ["what is RAG?", "explain embeddings"]
    assert df["time"].tolist() == [utc("2024-05-01 08:00"), utc("2024-05-01 09:30")]
    assert df["source"].tolist() == [str(path)] * 2


def test_json_list_of_records(tmp_path):
    path = tmp_path / "evals.json"
    path.write_text(json.dumps([{"input": "a"}, {"input": None}, {"input": 42}]))
    df = read_evals(path)
    assert df["text"].tolist() == ["a", "", "42"]  # numbers are converted with str()
    assert df["reason"].tolist() == ["", "missing text", ""]

    path.write_text(json.dumps({"input": "a"}))
    with pytest.raises(ValueError, match="expected a JSON list of records"):
        read_evals(path)


def test_glob_reads_matches_in_sorted_order(tmp_path):
    df = read_traffic(str(DATA / "logs" / "*.jsonl"), time="ts")
    assert df["id"].tolist() == [
        "2024-05-01.jsonl:0",
        "2024-05-01.jsonl:1",
        "2024-05-01.jsonl:2",
        "2024-05-02.jsonl:0",
        "2024-05-02.jsonl:1",
    ]
    assert df.index.equals(pd.RangeIndex(5))
    assert df["time"].is_monotonic_increasing

    as_list = read_traffic(sorted((DATA / "logs").glob("*.jsonl")), time="ts")
    pd.testing.assert_frame_equal(df, as_list)

    with pytest.raises(FileNotFoundError, match=r"no file matches the pattern '.*nothing-\*"):
        read_traffic(str(tmp_path / "nothing-*.jsonl"))


def test_list_of_path_strings_vs_list_of_texts(tmp_path):
    a = shutil.copy(DATA / "logs" / "2024-05-01.jsonl", tmp_path / "a.jsonl")
    df = read_traffic([str(a)])
    assert df["text"].tolist() == ["track my package", "where is my refund", "Track my package"]
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        read_traffic([str(a), str(tmp_path / "missing.jsonl")])
    texts = read_traffic(["what is a.jsonl?", "hello"])
    assert texts["text"].tolist() == ["what is a.jsonl?", "hello"]


# ----------------------------------------------------------------------------- in-memory sources


def test_dataframe_index_is_kept():
    frame = pd.DataFrame({"Prompt": ["b", "a"], "w": [2, 0]}, index=["x", "y"])
    df = read_traffic(frame, weight="w")
    assert df.index.tolist() == ["x", "y"]
    assert df["id"].tolist() == ["x", "y"]
    assert df["weight"].tolist() == [2.0, 0.0]  # zero weight is allowed
    assert "source" not in df.columns


def test_list_and_series_of_strings():
    df = read_evals(("one", "two  words", " "))
    assert df.index.equals(pd.RangeIndex(3))
    assert df["text"].tolist() == ["one", "two words", ""]
    assert df["reason"].tolist() == ["", "", "empty text"]
    s = read_evals(pd.Series(["p", "q"], index=[5, 6]))
    assert s["id"].tolist() == ["5", "6"]
    # turns="all" keeps its columns for plain texts: each row is its own single turn.
    many = read_evals(["p", "q"], turns="all")
    assert many["input_row"].tolist() == [0, 1] and many["turn"].tolist() == [0, 0]


# ----------------------------------------------------------------------------- bad input


def test_missing_columns_list_the_columns_present():
    frame = pd.DataFrame({"a": ["x"], "b": [1], "c": [2]})
    for arg in ("text", "time", "id", "weight", "user"):
        kwargs = {"text": "a", arg: "zz"}
        msg = rf"column 'zz' \({arg}=\) not found; columns present: a, b, c"
        with pytest.raises(ValueError, match=msg):
            read_traffic(frame, **kwargs)
    with pytest.raises(ValueError, match="no text column found.*columns present: a, b, c"):
        read_traffic(frame)


def test_non_string_text_names_rows_and_types():
    frame = pd.DataFrame({"text": ["ok", {"k": 1}, 3.5, True, ["l"]]}, index=list("vwxyz"))
    with pytest.raises(TypeError, match=r"'text' \(text=\).*rows w \(dict\), z \(list\)"):
        read_traffic(frame)
    df = read_traffic(frame.loc[["v", "x", "y"]])
    assert df["text"].tolist() == ["ok", "3.5", "True"]


def test_missing_and_empty_texts_are_excluded_not_dropped():
    frame = pd.DataFrame({"text": ["a", None, np.nan, "", "\n\u00a0", "b"]})
    df = read_traffic(frame)
    assert len(df) == 6
    assert df["reason"].tolist() == [
        "",
        "missing text",
        "missing text",
        "empty text",
        "empty text",
        "",
    ]
    assert df["text"].tolist() == ["a", "", "", "", "", "b"]


def test_unparseable_timestamps_name_rows_and_values():
    frame = pd.DataFrame(
        {"text": list("abcd"), "ts": ["2024-01-01", "yesterday", None, "2024-13-45"]},
        index=[100, 101, 102, 103],
    )
    msg = r"'ts' \(time=\).*rows 101 \('yesterday'\), 103 \('2024-13-45'\)"
    with pytest.raises(ValueError, match=msg):
        read_traffic(frame, time="ts")


def test_timestamp_kinds():
    aware = datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=-8)))
    frame = pd.DataFrame(
        {
            "text": list("abcdef"),
            "ts": [
                1714554000,  # epoch seconds
                1714554000123,  # epoch milliseconds
                "1714554000",  # epoch seconds written as text
                aware,
                "March 5, 2024 14:00",
                None,
            ],
        }
    )
    t = read_traffic(frame, time="ts")["time"]
    assert t[0] == t[2] == utc("2024-05-01 09:00:00")
    assert t[1] == utc("2024-05-01 09:00:00.123")
    assert t[3] == utc("2024-03-01 20:00")
    assert t[4] == utc("2024-03-05 14:00")
    assert pd.isna(t[5])


def test_naive_datetime_column_is_utc():
    frame = pd.DataFrame({"text": ["a"], "ts": pd.to_datetime(["2024-01-01 05:00"])})
    assert read_traffic(frame, time="ts")["time"][0] == utc("2024-01-01 05:00")


@pytest.mark.parametrize("bad", [-1, np.nan, np.inf, "lots"])
def test_bad_weights_name_rows_and_values(bad):
    frame = pd.DataFrame({"text": ["a", "b"], "w": [1, bad]}, index=["r1", "r2"])
    with pytest.raises(ValueError, match=r"'w' \(weight=\) must hold finite numbers >= 0.*r2"):
        read_traffic(frame, weight="w")


def test_missing_ids_are_rejected():
    frame = pd.DataFrame({"text": ["a", "b"], "rid": ["k1", None]})
    with pytest.raises(ValueError, match=r"'rid' \(id=\) has missing ids at rows 1"):
        read_traffic(frame, id="rid")


def test_empty_inputs(tmp_path):
    with pytest.raises(ValueError, match="traffic is empty"):
        read_traffic(pd.DataFrame({"text": []}))
    with pytest.raises(ValueError, match="eval set is empty"):
        read_evals([])
    header_only = tmp_path / "empty.csv"
    header_only.write_text("query\n")
    with pytest.raises(ValueError, match=r"traffic is empty: .*empty\.csv"):
        read_traffic(header_only)
    (tmp_path / "zero.jsonl").write_text("")
    with pytest.raises(ValueError, match="eval set is empty"):
        read_evals(tmp_path / "zero.jsonl")


def test_all_rows_excluded():
    msg = r"no analyzable text.*all 3 rows.*2 empty text, 1 missing text"
    with pytest.raises(ValueError, match=msg):
        read_traffic(["", " ", None])


def test_long_texts_are_flagged_not_cut():
    long = "word " * 500  # 2499 characters once normalized
    df = read_traffic(["short", long], max_chars=2000)
    assert df["truncated"].tolist() == [False, True]
    assert df.loc[1, "text"] == long.strip()
    assert not read_traffic([long], max_chars=3000)["truncated"][0]


def test_files_and_formats(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_traffic(missing)
    odd = tmp_path / "traffic.log"
    odd.write_text('{"text": "hello"}\n')
    with pytest.raises(ValueError, match=r"traffic\.log.*supported formats: csv, tsv, jsonl"):
        read_traffic(odd)
    assert read_traffic(odd, format="jsonl")["text"].tolist() == ["hello"]
    with pytest.raises(ValueError, match="is a directory; pass a glob"):
        read_traffic(tmp_path)
    with pytest.raises(ValueError, match="format='xlsx' is not supported"):
        read_traffic(odd, format="xlsx")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: invalid JSON"):
        read_traffic(bad)


def test_argument_validation():
    with pytest.raises(ValueError, match="turns must be one of"):
        read_traffic(["a"], turns="middle")
    with pytest.raises(ValueError, match="max_chars must be a positive integer"):
        read_traffic(["a"], max_chars=0)
    with pytest.raises(TypeError, match="source must be"):
        read_traffic(42)
