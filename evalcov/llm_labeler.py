"""Optional cluster names from a language model behind any OpenAI-compatible endpoint.

Off by default and never needed: pass ``labeler=openai_labeler(...)`` to :func:`evalcov.analyze`.
Only the keyphrases and a few examples of each cluster are sent, redacted first.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["naming_prompt", "openai_labeler"]

_SYSTEM = (
    "You name groups of user requests sent to a product's assistant. Answer with one name "
    "of 3 to 6 words that says what the users want, in English, without quotes or "
    "punctuation at the end."
)


def naming_prompt(
    keywords: Sequence[str],
    examples: Sequence[str],
    redact: Any = "default",
    n_examples: int = 5,
) -> list[dict[str, str]]:
    """Chat messages asking for a 3-6 word name, built from redacted inputs only.

    Parameters
    ----------
    keywords : sequence of str
        The cluster's keyphrases.
    examples : sequence of str
        Its most typical queries; the first ``n_examples`` are used.
    redact : str, callable or None, default="default"
        Redactor (see :func:`evalcov.redact.get_redactor`), applied to keywords and examples
        before they enter the prompt. None sends them as they are.

    Returns
    -------
    list of {"role", "content"} dicts
    """
    keywords = [str(k) for k in keywords]
    examples = [str(e) for e in examples[:n_examples]]
    if redact:
        from evalcov.redact import get_redactor

        clean = get_redactor(redact).redact(keywords + examples)
        keywords, examples = clean[: len(keywords)], clean[len(keywords) :]
    lines = ["Keyphrases: " + "; ".join(keywords), "Example requests:"]
    lines += [f"- {e}" for e in examples]
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def openai_labeler(
    base_url: str,
    model: str,
    api_key: str | None = None,
    redact: Any = "default",
    timeout: float = 30.0,
) -> Callable[[list[str], list[str]], str]:
    """A ``labeler`` that asks ``{base_url}/chat/completions`` for each cluster's name.

    Works with any OpenAI-compatible server (a hosted API, vLLM, llama.cpp, Ollama's
    ``/v1``). Each call sends :func:`naming_prompt`'s messages, so keyphrases and examples
    are redacted before they leave the machine.
    """

    def label(keywords: list[str], examples: list[str]) -> str:
        body = {
            "model": model,
            "messages": naming_prompt(keywords, examples, redact=redact),
            "temperature": 0,
            "max_tokens": 20,
        }
        request = urllib.request.Request(
            base_url.rstrip("/") + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {api_key}"} if api_key else {}),
            },
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
        return answer["choices"][0]["message"]["content"].strip().strip("\"'.")

    return label
