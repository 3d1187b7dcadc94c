"""The OpenAI-compatible embedder against a real HTTP server on 127.0.0.1 with scripted failures.

The server (tests/embedding_server.py) serves the real default model's vectors, scaled per row;
what evalcov stores must be those vectors, in input order, unit-normalized.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from embedding_server import EmbeddingServer, expected_vectors
from test_embedders import SENTENCES

import evalcov
from evalcov.cache import EmbeddingCache
from evalcov.embedders import EmbeddingEndpointError, OpenAIEmbedder, embed, get_embedder

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
# The default-model tests' sentences and two more, so batches of 3 and 4 leave remainders.
TEXTS = [*SENTENCES, "cancel my gym membership please", "translate good morning into japanese"]


@pytest.fixture(scope="module")
def minilm():
    return get_embedder("default")


@pytest.fixture
def server(minilm):
    s = EmbeddingServer(minilm)
    yield s
    s.close()


def client(server: EmbeddingServer, **options) -> OpenAIEmbedder:
    options = {"api_key": None, "backoff": 0.01, **options}
    spec = f"openai:{options.pop('model', server.model)}"
    return get_embedder(spec, base_url=server.base_url, **options)


def test_vectors_are_the_servers_in_input_order_normalized(server, minilm):
    server.out_of_order = True
    model = client(server, batch_size=3, max_concurrency=2)
    vectors = embed(TEXTS, model, cache=False)
    np.testing.assert_allclose(vectors, expected_vectors(minilm, TEXTS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors.dtype == np.float32
    assert sorted(server.sent_texts()) == sorted(TEXTS)
    assert max(len(r.inputs) for r in server.requests) == 3 and len(server.requests) == 4
    assert model.requests_ == 4 and model.retries_ == 0
    # The server reports usage (one token per word here); the client adds it up.
    assert model.tokens_sent_ == sum(len(t.split()) for t in TEXTS)
    assert model.name == f"openai:minilm@{server.base_url}/embeddings"


def test_429_waits_what_retry_after_says(server, minilm):
    server.script = [(429, {"Retry-After": "1"})]
    model = client(server, backoff=0.0)
    vectors = embed(TEXTS[:2], model, cache=False)
    np.testing.assert_allclose(vectors, expected_vectors(minilm, TEXTS[:2]), atol=1e-6)
    first, second = server.requests
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 0.95
    assert model.retries_ == 1


def test_5xx_is_retried_with_backoff(server, minilm):
    server.script = [(500, {}), (503, {})]
    model = client(server)
    vectors = embed(TEXTS[:4], model, cache=False)
    np.testing.assert_allclose(vectors, expected_vectors(minilm, TEXTS[:4]), atol=1e-6)
    assert [r.status for r in server.requests] == [500, 503, 200]
    assert model.retries_ == 2


def test_401_names_endpoint_and_model_and_never_the_key(server):
    server.api_key = "sk-right-key"
    secret = "sk-test-SECRET-4f9a2c"
    model = client(server, api_key=secret)
    with pytest.raises(EmbeddingEndpointError, match="HTTP 401") as info:
        embed(TEXTS[:2], model, cache=False)
    message = str(info.value)
    assert f"{server.base_url}/embeddings" in message and "'minilm'" in message
    assert "OPENAI_API_KEY" in message
    assert secret not in message and secret not in repr(model) and secret not in model.name
    assert info.value.status == 401 and len(server.requests) == 1  # refused, not retried
    assert server.requests[0].authorization == f"Bearer {secret}"
    # The right key, from the environment, works.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_API_KEY", "sk-right-key")
        model = get_embedder("openai:minilm", base_url=server.base_url)
    assert embed(TEXTS[:2], model, cache=False).shape == (2, 384)


def test_404_says_model_or_base_url(server):
    with pytest.raises(EmbeddingEndpointError, match=r"'no-such-model'.*HTTP 404.*does not exist"):
        embed(TEXTS[:2], client(server, model="no-such-model"), cache=False)
    root = server.base_url.removesuffix("/v1")
    wrong = get_embedder("openai:minilm", base_url=root, api_key=None)
    with pytest.raises(EmbeddingEndpointError, match=r"HTTP 404.*ends in /v1") as info:
        embed(TEXTS[:2], wrong, cache=False)
    assert f"{root}/embeddings" in str(info.value)


@pytest.mark.parametrize("status", [400, 413])
def test_batch_size_limit_shrinks_batches_and_remembers(server, minilm, status):
    server.max_inputs, server.max_inputs_status = 3, status
    model = client(server, batch_size=8, max_concurrency=1)
    vectors = embed(TEXTS, model, cache=False)
    np.testing.assert_allclose(vectors, expected_vectors(minilm, TEXTS), atol=1e-6)
    assert all(len(r.inputs) <= 3 for r in server.good)
    assert sorted(server.sent_texts()) == sorted(TEXTS)
    refused = sum(r.status == status for r in server.requests)
    # 8 refused, 4 refused, then 2 + 2 + 2 + 2 + 2 accepted: the limit learned is 2.
    assert model._batch_limit == 2 and refused == 2
    server.requests.clear()
    embed(TEXTS[::-1], model, cache=False)
    assert all(r.status == 200 for r in server.requests)


def test_dimensions_are_passed_and_checked(server, minilm):
    model = client(server, dimensions=64)
    vectors = embed(TEXTS[:3], model, cache=False)
    np.testing.assert_allclose(vectors, expected_vectors(minilm, TEXTS[:3], 64), atol=1e-6)
    assert server.requests[0].body["dimensions"] == 64
    assert model.name.endswith(";dimensions=64")
    assert "dimensions" not in client(server).name

    class Ignores(EmbeddingServer):
        def _vectors(self, inputs, dimensions):
            return super()._vectors(inputs, None)

    deaf = Ignores(minilm)
    try:
        with pytest.raises(EmbeddingEndpointError, match="384-d vectors for dimensions=64"):
            embed(TEXTS[:3], client(deaf, dimensions=64), cache=False)
    finally:
        deaf.close()


def test_interrupted_run_leaves_the_cache_consistent(server, minilm, tmp_path):
    texts = [f"{t} ({i})" for i in range(3) for t in TEXTS]  # 30 distinct texts
    server.ok_before_failing = 5
    # 2 texts per request, one at a time: embed() hands over chunks of 8 texts.
    model = client(server, batch_size=2, max_concurrency=1, max_retries=2)
    with pytest.raises(EmbeddingEndpointError, match=r"failed 3 times \(last: HTTP 500") as info:
        embed(texts, model, cache=tmp_path)
    assert f"{server.base_url}/embeddings" in str(info.value)
    assert [r.status for r in server.requests] == [200] * 5 + [500] * 3
    # The first chunk (4 requests) was finished and is cached; the half-done second is not.
    cache = EmbeddingCache(tmp_path)
    cached, hit = cache.get(model.name, texts)
    done = [t for r in server.good[:4] for t in r.inputs]
    assert sorted(np.asarray(texts)[hit]) == sorted(done)
    np.testing.assert_allclose(
        cached[hit], expected_vectors(minilm, list(np.asarray(texts)[hit])), atol=1e-6
    )
    server.ok_before_failing = None
    server.requests.clear()
    vectors = embed(texts, model, cache=tmp_path)
    np.testing.assert_allclose(vectors, expected_vectors(minilm, texts), atol=1e-6)
    assert sorted(server.sent_texts()) == sorted(set(texts) - set(done))


def test_unreachable_endpoint_is_retried_then_named(minilm):
    # A port nothing listens on: connection refused on every attempt.
    gone = EmbeddingServer(minilm)
    url = gone.base_url
    gone.close()
    model = get_embedder("openai:minilm", base_url=url, api_key=None, max_retries=1, backoff=0)
    with pytest.raises(EmbeddingEndpointError, match=r"failed 2 times \(last: no response") as info:
        embed(TEXTS[:2], model, cache=False)
    assert f"{url}/embeddings" in str(info.value) and info.value.status is None


def test_cache_key_holds_model_endpoint_dimensions_and_redaction(server, minilm, tmp_path):
    other = EmbeddingServer(minilm)
    try:
        a, b = client(server), client(other)
        embed(TEXTS[:3], a, cache=tmp_path)
        embed(TEXTS[:3], b, cache=tmp_path)
        # Same model name at another endpoint: not served from the first one's vectors.
        assert len(other.good) == 1
        embed(TEXTS[:3], a, cache=tmp_path)
        assert len(server.good) == 1
    finally:
        other.close()
    names = {
        client(server).name,
        client(server, dimensions=64).name,
        client(server, redact_before_embedding=True).name,
        client(server, model="minilm-v2").name,
    }
    assert len(names) == 4
    assert len(list((tmp_path / "embeddings").iterdir())) == 2


def test_redact_before_embedding_keeps_pii_on_this_machine(server):
    texts = ["email me at jane.doe@example.com", "card 4111 1111 1111 1111 was declined"]
    embed(texts, client(server), cache=False)
    assert sorted(server.sent_texts()) == sorted(texts)  # by default the raw text is sent
    server.requests.clear()
    embed(texts, client(server, redact_before_embedding=True), cache=False)
    assert sorted(server.sent_texts()) == ["card [CARD] was declined", "email me at [EMAIL]"]


def test_cost_estimate_warns_and_max_cost_refuses_before_sending(server, caplog):
    model = client(server, price_per_million_tokens=0.02, warn_tokens=10)
    plan = model.estimate(TEXTS)
    # UTF-8 bytes / 4 per text, rounded up.
    assert plan["tokens"] == sum(-(-len(t.encode()) // 4) for t in TEXTS)
    assert plan["cost"] == pytest.approx(plan["tokens"] / 1e6 * 0.02)
    expected = r"embedding 10 texts with 'minilm' at .* about \d+ tokens, about \$0\.00"
    with pytest.warns(UserWarning, match=expected):
        embed(TEXTS, model, cache=False)
    server.requests.clear()
    greedy = client(server, price_per_million_tokens=1e6, max_cost=1.0)
    with pytest.raises(ValueError, match="above max_cost=1.0"):
        embed(TEXTS, greedy, cache=False)
    assert server.requests == []
    with caplog.at_level("INFO", logger="evalcov.embedders.openai_api"):
        embed(TEXTS[:2], client(server), cache=False)
    assert "embedding 2 texts with 'minilm'" in caplog.text


def test_progress_bar_counts_texts(server, capsys):
    embed(TEXTS, client(server, batch_size=2), cache=False, show_progress=True)
    assert "10/10" in capsys.readouterr().err


def test_bad_options_are_named(server):
    with pytest.raises(ValueError, match="names no model"):
        get_embedder("openai:")
    with pytest.raises(ValueError, match="base_url must be an http"):
        get_embedder("openai:m", base_url="ftp://host/v1")
    with pytest.raises(ValueError, match="must not hold credentials"):
        get_embedder("openai:m", base_url="https://user:pw@host/v1")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        client(server, batch_size=0)
    with pytest.raises(ValueError, match="max_cost needs price_per_million_tokens"):
        client(server, max_cost=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENAI_API_KEY", raising=False)
        mp.delenv("OPENAI_BASE_URL", raising=False)
        with pytest.raises(ValueError, match="https://api.openai.com/v1/embeddings needs an API"):
            get_embedder("openai:text-embedding-3-small")
        mp.setenv("OPENAI_BASE_URL", server.base_url)
        assert get_embedder("openai:minilm").endpoint == f"{server.base_url}/embeddings"


@pytest.fixture(scope="module")
def small_sets():
    traffic = pd.read_csv(SAMPLE / "traffic.csv.gz").iloc[::300]
    evals = pd.read_csv(SAMPLE / "evals.csv").iloc[::3]
    return traffic, evals


def test_report_names_the_endpoint_and_load_refuses_another(server, small_sets, tmp_path):
    traffic, evals = small_sets
    model = client(server)
    report = evalcov.analyze(
        traffic, evals, text="text", eval_text="prompt", embedder=model, random_state=0
    )
    assert len(report.queries) == len(traffic)
    assert report.summary()["embedder"] == model.name
    assert model.name in report._repr_html_()
    path = report.save(tmp_path / "map.zip")
    with zipfile.ZipFile(path) as z:
        meta = json.loads(z.read("meta.json"))
    assert meta["embedder"] == model.name and meta["embedder_spec"] is None
    # Never re-created from the file: that would send traffic where a file says.
    with pytest.raises(ValueError, match="pass it again"):
        evalcov.load(path).assign(traffic["text"][:3].tolist())
    for other in (client(server, dimensions=64), client(server, model="minilm-v2"), "default"):
        with pytest.raises(ValueError, match="embedder mismatch"):
            evalcov.load(path, embedder=other)
    assigned = evalcov.load(path, embedder=client(server)).assign(traffic, text="text")
    np.testing.assert_array_equal(assigned.queries["cluster"], report.queries["cluster"])


@pytest.mark.slow
def test_cli_embeds_through_the_endpoint(server, small_sets, tmp_path):
    traffic, _ = small_sets
    traffic.to_csv(tmp_path / "traffic.csv", index=False)
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-cli-secret"}
    args = ["analyze", tmp_path / "traffic.csv", "--evals", SAMPLE / "evals.csv"]
    args += ["--eval-text-col", "prompt", "--embedder", "openai:minilm"]
    args += ["--json", tmp_path / "s.json", "--price-per-million-tokens", "0.02"]
    result = subprocess.run(
        [sys.executable, "-m", "evalcov", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "tokens, about $" in result.stderr
    summary = json.loads((tmp_path / "s.json").read_text())["summary"]
    assert summary["embedder"] == f"openai:minilm@{server.base_url}/embeddings"
    sent = server.sent_texts()
    # Each distinct text once, traffic and eval prompts (they may share a few texts).
    assert len(sent) == len(set(sent))
    assert summary["n_unique"] < len(sent) <= summary["n_unique"] + summary["n_eval"]
    server.api_key = "sk-other"
    bad = subprocess.run(
        [sys.executable, "-m", "evalcov", *map(str, args)],
        capture_output=True, text=True, env={**env, "EVALCOV_CACHE_DIR": str(tmp_path / "c")},
        timeout=600,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "HTTP 401" in bad.stderr and "sk-cli-secret" not in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_options_that_do_not_fit_the_encoder_are_named(capsys):
    from evalcov.cli import main

    common = ["analyze", "traffic.csv", "--evals", "evals.csv"]
    assert main([*common, "--base-url", "http://127.0.0.1:1/v1", "--max-cost", "5"]) == 2
    err = capsys.readouterr().err
    assert "--base-url, --max-cost apply to --embedder openai:MODEL, not 'default'" in err
    assert main([*common, "--embedder", "openai:m", "--device", "cuda"]) == 2
    assert "--device applies to local models" in capsys.readouterr().err
    assert main([*common, "--embedder", "fast", "--device", "cuda"]) == 2
    assert "--device does not apply to --embedder fast" in capsys.readouterr().err
