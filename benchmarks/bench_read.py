"""Benchmark reading trace exports: 100,000 OTLP spans and 100,000 Langfuse trace rows.

Run from the repo root::

    python benchmarks/bench_read.py            # --n 100000 --repeats 3

Both files are generated (JSON lines, written once into a temporary directory):

- OTLP: the collector file exporter's shape, 100 spans per export request; each trace is a
  non-LLM HTTP root span, two GenAI ``chat`` spans (system prompt + user message in
  ``gen_ai.input.messages``, token counts) and an ``execute_tool`` span, so 100,000 spans
  are 25,000 traces.
- Langfuse: one trace per line as the public API returns it (``input`` with an OpenAI
  messages list, ``userId``, ``sessionId``, ``latency``, ``totalCost``, two scores).

Each file is read by ``evalcov.read_traffic`` (detection, the user's last message, the
outcome columns, normalization) and, as the baseline in the same run, by
``pandas.read_json(lines=True)``, which only parses the JSON into a frame of nested
objects. Times are medians of ``--repeats`` runs; the target is <= 10 s per file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from evalcov.ingest import read_traffic  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "read.md"
TOPICS = ["card", "loan", "transfer", "account", "fee", "app", "branch", "statement"]
VERBS = ["How do I", "Can I", "Why can't I", "When will I", "Where do I"]


def _question(rng: random.Random) -> str:
    return f"{rng.choice(VERBS)} {rng.choice(['see', 'change', 'close'])} my {rng.choice(TOPICS)}"


def _s(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def _i(key: str, value: int) -> dict:
    return {"key": key, "value": {"intValue": str(value)}}


def write_otlp(path: Path, n_spans: int, rng: random.Random) -> int:
    t0 = 1_717_243_200_000_000_000
    spans = []
    for t in range(n_spans // 4):
        trace = f"{t:032x}"
        start = t0 + t * 1_000_000_000
        messages = json.dumps(
            [
                {"role": "system", "parts": [{"type": "text", "content": "You are a bank bot."}]},
                {"role": "user", "parts": [{"type": "text", "content": _question(rng)}]},
            ]
        )
        root = f"{4 * t:016x}"
        common = {"traceId": trace, "kind": 1, "status": {}}
        spans.append(
            {
                **common,
                "spanId": root,
                "name": "POST /chat",
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 900_000_000),
                "attributes": [_s("user.id", f"u-{t % 997}"), _s("session.id", f"s-{t % 3001}")],
            }
        )
        for k, op in enumerate(("chat", "execute_tool", "chat"), start=1):
            attrs = [_s("gen_ai.operation.name", op)]
            if op == "chat":
                attrs += [
                    _s("gen_ai.input.messages", messages),
                    _i("gen_ai.usage.input_tokens", 100 + k),
                    _i("gen_ai.usage.output_tokens", 10 + k),
                ]
            spans.append(
                {
                    **common,
                    "spanId": f"{4 * t + k:016x}",
                    "parentSpanId": root,
                    "name": op,
                    "startTimeUnixNano": str(start + k * 100_000_000),
                    "endTimeUnixNano": str(start + k * 200_000_000),
                    "attributes": attrs,
                }
            )
    with open(path, "w", encoding="utf-8") as fh:
        for a in range(0, len(spans), 100):
            request = {
                "resourceSpans": [
                    {
                        "resource": {"attributes": [_s("service.name", "bench")]},
                        "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans[a : a + 100]}],
                    }
                ]
            }
            fh.write(json.dumps(request) + "\n")
    return len(spans)


def write_langfuse(path: Path, n: int, rng: random.Random) -> int:
    with open(path, "w", encoding="utf-8") as fh:
        for t in range(n):
            trace = {
                "id": f"lf-{t}",
                "projectId": "bench",
                "timestamp": f"2024-06-{1 + t % 28:02d}T{t % 24:02d}:00:00.000Z",
                "input": {
                    "messages": [
                        {"role": "system", "content": "You are a bank bot."},
                        {"role": "user", "content": _question(rng)},
                    ]
                },
                "output": {"role": "assistant", "content": "Here is how."},
                "userId": f"u-{t % 997}",
                "sessionId": f"s-{t % 3001}",
                "latency": 0.5 + (t % 7) / 10,
                "totalCost": 0.0001 * (t % 5),
                "scores": [
                    {"name": "user-feedback", "value": t % 2, "dataType": "BOOLEAN"},
                    {"name": "relevance", "value": (t % 10) / 10, "dataType": "NUMERIC"},
                ],
            }
            fh.write(json.dumps(trace) + "\n")
    return n


def median_time(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of `repeats` calls, and the last result.

    CPU time is reported next to wall time because this machine is shared: under load the
    wall clock measures the other jobs as much as the reader.
    """
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="spans / trace rows per file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        otlp, langfuse = Path(tmp) / "spans.jsonl", Path(tmp) / "traces.jsonl"
        files = [
            ("OTLP spans (GenAI)", otlp, write_otlp(otlp, args.n, rng)),
            ("Langfuse traces", langfuse, write_langfuse(langfuse, args.n, rng)),
        ]
        for name, path, n_in in files:
            base, base_cpu, _ = median_time(
                lambda p=path: pd.read_json(p, lines=True), args.repeats
            )
            ours, ours_cpu, df = median_time(lambda p=path: read_traffic(p), args.repeats)
            assert int((~df["excluded"]).sum()) == len(df), "every generated trace has user text"
            rows.append(
                f"| {name} | {n_in:,} | {path.stat().st_size / 1e6:.0f} MB | {len(df):,} | "
                f"{ours:.2f} s ({ours_cpu:.2f} s) | {base:.2f} s ({base_cpu:.2f} s) | "
                f"{ours / base:.1f}x | {'yes' if ours_cpu <= 10 else 'NO'} |"
            )
    load = os.getloadavg()[0]
    table = "\n".join(
        [
            f"Reading trace exports: wall time (CPU time), medians of {args.repeats}; baseline: "
            f"pandas.read_json lines=True on the same file, parsing only. Load average at the "
            f"end: {load:.1f} on {os.cpu_count()} cores.",
            "",
            "| file | records in | size | rows out | read_traffic | pandas.read_json | ratio "
            "| CPU <= 10 s |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    RESULTS.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
