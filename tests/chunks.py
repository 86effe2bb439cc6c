"""Builders for OpenAI Chat Completions chunk texts, shaped as the API documents them."""

from __future__ import annotations

import json
from typing import Any

from streamrec import SSEEvent, Store, record

CHUNK_ID = "chatcmpl-test123"
MODEL = "gpt-4o-mini-2024-07-18"


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    choices: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
) -> str:
    """One ``chat.completion.chunk`` as its SSE data text."""
    body: dict[str, Any] = {
        "id": CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": 1763900000,
        "model": MODEL,
        "system_fingerprint": "fp_test",
        "choices": choices
        if choices is not None
        else [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return json.dumps(body, separators=(",", ":"))


def text_stream(words: list[str], *, usage: bool = True, done: bool = True) -> list[str]:
    """A text answer streamed word by word, with the final usage chunk and ``[DONE]``."""
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w}) for w in words]
    out.append(chunk({}, "stop"))
    if usage:
        out.append(chunk(choices=[], usage=usage_body(12, len(words))))
    if done:
        out.append("[DONE]")
    return out


def tool_stream(words: list[str]) -> list[str]:
    """``text_stream(words)`` with one whole tool call, ``f({"a": 1})`` (id call_1), after the text."""
    out = text_stream(words)
    out.insert(-2, chunk({"tool_calls": [tool_delta(0, id="call_1", name="f", args='{"a": 1}')]}))
    return out


def record_texts(
    store: Store, texts: list[str], *, api: str = "openai.chat.completions", **options: Any
) -> str:
    """Record these chunk texts into ``store`` (the request: ``REQUEST``); the stream id.

    ``options`` go to ``record`` (name, tags, metadata).
    """
    stream = record([SSEEvent(t) for t in texts], api=api, request=REQUEST, store=store, **options)
    list(stream)
    return stream.stream_id


def usage_body(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    """A ``usage`` object as OpenAI sends it with ``stream_options.include_usage``."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def tool_delta(
    index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    """One entry of ``delta.tool_calls``."""
    call: dict[str, Any] = {"index": index}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    if function:
        call["function"] = function
    return call


REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    "temperature": 0.2,
    "stream": True,
    "stream_options": {"include_usage": True},
}
