"""Shared fixtures: the real default model, the shared real data sets, an isolated cache."""

from __future__ import annotations

import json
import os
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
