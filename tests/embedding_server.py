"""A real OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1, for the remote embedder tests.

It serves the real default model's vectors, each scaled by a different factor (so the client
must normalize them), and can be scripted to fail: given statuses (with headers) for the next
requests, a limit on inputs per request, responses out of ``index`` order, a required API key,
a persistent 500 after some number of good requests.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


@dataclass
class Request:
    time: float
    inputs: list[str]
    body: dict[str, Any]
    status: int
    authorization: str | None


@dataclass
class EmbeddingServer:
    embedder: Any
    model: str = "minilm"
    api_key: str | None = None
    max_inputs: int | None = None
    max_inputs_status: int = 400
    out_of_order: bool = False
    ok_before_failing: int | None = None
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, payload = server.respond(
                    self.path, json.loads(raw), self.headers.get("Authorization")
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    @property
    def good(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]

    def sent_texts(self) -> list[str]:
        return [t for r in self.good for t in r.inputs]

    def respond(self, path: str, body: dict, authorization: str | None) -> tuple:
        inputs = body.get("input", [])
        with self._lock:
            status, headers, payload = self._decide(path, body, authorization, inputs)
            if status == 200:
                payload = self._vectors(inputs, body.get("dimensions"))
            self.requests.append(Request(time.monotonic(), inputs, body, status, authorization))
        return status, headers, payload

    def _decide(self, path: str, body: dict, authorization: str | None, inputs: list) -> tuple:
        def error(message: str) -> dict:
            return {"error": {"message": message, "type": "invalid_request_error"}}

        if path != "/v1/embeddings":
            return 404, {}, error(f"Unknown request URL: POST {path}")
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            # Like some gateways, it quotes the key it was given: the client must not repeat it.
            given = (authorization or "").removeprefix("Bearer ")
            return 401, {}, error(f"Incorrect API key provided: {given}")
        if body.get("model") != self.model:
            return 404, {}, error(f"The model `{body.get('model')}` does not exist")
        if self.script:
            status, headers = self.script.pop(0)
            return status, headers, error(f"scripted {status}")
        if self.ok_before_failing is not None and len(self.good) >= self.ok_before_failing:
            return 500, {}, error("The server had an error while processing your request")
        if self.max_inputs is not None and len(inputs) > self.max_inputs:
            return (
                self.max_inputs_status,
                {},
                error(f"Too many inputs. The max number of inputs is {self.max_inputs}."),
            )
        return 200, {}, None

    def _vectors(self, inputs: list[str], dimensions: int | None) -> dict:
        vectors = self.embedder.embed(list(inputs))
        if dimensions is not None:
            vectors = vectors[:, :dimensions]
        data = [
            {"object": "embedding", "index": i, "embedding": (v * (2.0 + i)).tolist()}
            for i, v in enumerate(vectors)
        ]
        if self.out_of_order:
            data = data[::-1]
        tokens = sum(len(t.split()) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": self.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def expected_vectors(embedder: Any, texts: list[str], dimensions: int | None = None) -> np.ndarray:
    """What the client must store: the server's vectors, unit-normalized, in input order."""
    vectors = embedder.embed(list(texts))
    if dimensions is not None:
        vectors = vectors[:, :dimensions]
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
