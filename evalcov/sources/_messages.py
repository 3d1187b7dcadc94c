"""What the user asked, out of the message shapes tracing and eval tools write.

The analyzed text of a request is its last user message: system prompts, retrieved
context, tool results and the model's answers are not the user's words. Every tool
spells a message a little differently; these helpers read all of them:

- OpenAI chat: ``{"role": "user", "content": "..." | [{"type": "text", "text": ...}]}``
- OpenTelemetry GenAI: ``{"role": "user", "parts": [{"type": "text", "content": ...}]}``
- OpenInference (flattened): ``{"message.role": "user", "message.content": ...}`` or
  ``"message.contents": [{"message_content.type": "text", "message_content.text": ...}]``
- LangChain: ``{"type": "human", "content": ...}`` and its serialized constructor form
  ``{"lc": 1, "type": "constructor", "id": [..., "HumanMessage"], "kwargs": {...}}``

Messages are dicts (JSON objects, Parquet structs): testing ``dict`` rather than the
``Mapping`` ABC keeps 100,000 traces within seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

_USER_ROLES = frozenset({"user", "human"})
_SEQUENCE = (list, tuple, np.ndarray)
# Keys of a dict input that hold the user's request, most specific first.
TEXT_KEYS = ("query", "question", "user_input", "input", "prompt", "text", "message", "content")


_NA, _NAT = pd.NA, pd.NaT


def is_missing(v: Any) -> bool:
    """None, NaN, NA or NaT: a cell that holds nothing."""
    # Called once per field of every record: the common types are answered first.
    if v is None:
        return True
    kind = type(v)
    if kind is str or kind is int or kind is dict or kind is list:
        return False
    if kind is float:
        return v != v
    return v is _NA or v is _NAT or (isinstance(v, np.floating) and math.isnan(v))


def maybe_json(value: Any) -> Any:
    """Parse a string that holds a JSON object, array or string (CSV exports write them so)."""
    if isinstance(value, str):
        s = value.strip()
        # Exports that JSON-encode every field write a string input as "\"...\"".
        if s[:1] in ("{", "[") or (len(s) > 1 and s[0] == s[-1] == '"'):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
    return value


def part_text(content: Any) -> str | None:
    """Text of one message's content: a string, or the text parts of a list, joined."""
    content = maybe_json(content) if isinstance(content, str) and content[:1] == "[" else content
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, _SEQUENCE):
        return None
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            # Image, audio, file and tool-call parts carry no words of the user's.
            kind = part.get("type", part.get("message_content.type", "text"))
            if kind not in ("text", "input_text"):
                continue
            for key in ("text", "content", "message_content.text"):
                if isinstance(part.get(key), str):
                    texts.append(part[key])
                    break
    return "\n".join(texts) if texts else None


def role_of(message: Mapping) -> str | None:
    """The speaker of one message, lower-cased (``"human"`` for LangChain's user)."""
    if message.get("lc") is not None and isinstance(message.get("id"), _SEQUENCE):
        name = str(message["id"][-1])
        return "user" if name.startswith("Human") else name.lower()
    for key in ("role", "message.role", "type"):
        if isinstance(message.get(key), str):
            return message[key].lower()
    return None


def message_text(message: Mapping) -> str | None:
    """The text of one message in any of the shapes above."""
    if message.get("lc") is not None and isinstance(message.get("kwargs"), dict):
        message = message["kwargs"]
    for key in ("content", "message.content", "parts", "message.contents", "text"):
        if key in message and not is_missing(message[key]):
            text = part_text(message[key])
            if text is not None:
                return text
    return None


def flatten_messages(messages: Any) -> list[Mapping]:
    """A flat list of message mappings; LangChain batches nest them as ``[[...]]``."""
    messages = maybe_json(messages)
    if isinstance(messages, dict) and "messages" in messages:
        messages = maybe_json(messages["messages"])
    if not isinstance(messages, _SEQUENCE):
        return []
    flat: list[Mapping] = []
    for m in messages:
        if isinstance(m, dict):
            flat.append(m)
        elif isinstance(m, _SEQUENCE):
            flat.extend(x for x in m if isinstance(x, dict))
    return flat


def last_user_text(messages: Any) -> str | None:
    """The last user message's text, or None when the messages hold none."""
    for message in reversed(flatten_messages(messages)):
        if role_of(message) in _USER_ROLES:
            return message_text(message)
    return None


def request_text(value: Any) -> str | None:
    """The user's words in a logged request input: a string, messages, or a dict of inputs.

    A dict is read as chat when it has ``messages``; otherwise its single string value, or
    the first of `TEXT_KEYS`, is the request. Returns None when there is no user text.
    """
    value = maybe_json(value)
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "messages" in value:
            return last_user_text(value["messages"])
        for key in TEXT_KEYS:
            if key in value:
                return request_text(value[key])
        strings = [v for v in value.values() if isinstance(v, str)]
        return strings[0] if len(strings) == 1 else None
    if isinstance(value, _SEQUENCE):
        if all(isinstance(m, str) for m in value):
            return "\n".join(value) if len(value) else None
        return last_user_text(value)
    return None


def response_text(value: Any) -> str | None:
    """The model's answer in a logged output: a string, messages, a choices dict, a dict."""
    value = maybe_json(value)
    if is_missing(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "choices" in value and isinstance(value["choices"], _SEQUENCE) and value["choices"]:
            choice = value["choices"][0]
            if isinstance(choice, dict):
                return response_text(choice.get("message", choice.get("text")))
        if "generations" in value:
            return response_text(value["generations"])
        if any(k in value for k in ("content", "parts", "message.content")):
            return message_text(value)
        for key in ("output", "answer", "response", "text", "message", "completion"):
            if key in value:
                return response_text(value[key])
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, _SEQUENCE):
        messages = flatten_messages(value)
        if messages:
            return message_text(messages[-1])
        return "\n".join(map(str, value)) if len(value) else None
    return str(value)
