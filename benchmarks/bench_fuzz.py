"""Long fuzzing run of the readers: the properties of ``tests/test_fuzz_readers.py`` with many
more examples than CI runs.

Run from the repo root::

    python benchmarks/bench_fuzz.py                # 2000 examples per property
    python benchmarks/bench_fuzz.py --examples 20000

Each property: ``read_traffic``/``read_evals`` either return every input row (analyzed, or
excluded with a reason) or raise ValueError/TypeError naming the file, row or column. Baseline
in the same run: the CI size (60 examples), to show what the longer run adds in time. A failing
property prints hypothesis's minimal example and the run exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROPERTIES = (
    "test_structured_files_keep_every_row_or_say_why",
    "test_chat_logs_keep_every_conversation_or_say_why",
    "test_arbitrary_bytes_read_or_fail_clearly",
)


def run(examples: int) -> list[tuple[str, int, float, str]]:
    """Import the test module afresh with ``examples`` per property and run each property."""
    os.environ["EVALCOV_FUZZ_EXAMPLES"] = str(examples)
    sys.modules.pop("test_fuzz_readers", None)
    import test_fuzz_readers as fuzz

    rows = []
    for name in PROPERTIES:
        start = time.perf_counter()
        try:
            getattr(fuzz, name)()
            outcome = "pass"
        except Exception:
            traceback.print_exc()
            outcome = "FAIL"
        rows.append((name.removeprefix("test_"), examples, time.perf_counter() - start, outcome))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    rows = run(60) + run(args.examples)
    print(f"\n{'property':<52} {'examples':>9} {'seconds':>8}  result")
    for name, n, seconds, outcome in rows:
        print(f"{name:<52} {n:>9} {seconds:>8.1f}  {outcome}")
    return 1 if any(r[3] != "pass" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
