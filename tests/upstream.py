"""A local stand-in for the LLM providers: a real HTTP server that streams their wire formats.

Why it exists: streamrec records *bytes as received* and must replay them byte for
byte, so its tests need an upstream that sends exactly what the providers send, over a
real socket, one frame at a time -- not mocked SDK objects.  Tests point the
unmodified SDKs (``openai``, ``anthropic``, ``google-genai``) or the recording proxy at
``Upstream.*_base_url`` and pick what the "provider" answers with a :class:`Scenario`.

Endpoints served (POST, JSON request bodies):

=====================================================================  ==========================
``/v1/chat/completions``                                               ``openai.chat.completions``
``/v1/responses``                                                      ``openai.responses``
``/v1/messages``                                                       ``anthropic.messages``
``/{v1,v1beta,v1alpha}/models/{model}:streamGenerateContent?alt=sse``  ``google.generate_content``
``/{v1,v1beta,v1alpha}/models/{model}:generateContent``                ``google.generate_content``
=====================================================================  ==========================

OpenAI, Anthropic: ``"stream": true`` in the body selects SSE, otherwise one JSON
document.  Gemini: the method in the path decides (google-genai 3.x calls ``/v1/``
by default, ``/v1beta/`` when ``api_version="v1beta"``; both are served).

Wire formats (checked against the providers' documentation and the SDKs' parsers):

* OpenAI Chat Completions: ``data: {json}\\n\\n`` per ``chat.completion.chunk``, then
  ``data: [DONE]\\n\\n``; with ``stream_options.include_usage`` every chunk carries
  ``"usage": null`` and a last chunk has ``"choices": []`` and the usage.  Streamed
  chunks carry an ``obfuscation`` padding field unless
  ``stream_options.include_obfuscation`` is false (both as documented).
* OpenAI Responses: ``event: <type>\\ndata: {json}\\n\\n``; every event has ``type`` and a
  gapless ``sequence_number`` from 0; no ``[DONE]``.
* Anthropic Messages: ``event: <type>\\ndata: {json}\\n\\n`` with a ``ping`` after the
  first ``content_block_start``; a mid-stream failure is ``event: error``.
* Gemini: ``data: {json}\\r\\n\\r\\n`` (CRLF), JSON written the way Google writes it
  (a space after ``:`` but none after ``,``: ``{"a": 1,"b": 2}``), no terminator
  event; HTTP errors are JSON indented by two spaces.

Scenario selection per request: the ``x-upstream-scenario: <name>`` request header
(any scenario in :data:`SCENARIOS` or registered on the server), else the default set
with :meth:`Upstream.use` for that endpoint's api, else ``<api>.text``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs

import pytest
import uvicorn

__all__ = [
    "APIS",
    "API_ANTHROPIC",
    "API_GOOGLE",
    "API_OPENAI_CHAT",
    "API_OPENAI_RESPONSES",
    "DROP",
    "SCENARIOS",
    "SCENARIO_HEADER",
    "TOOL_CALLS",
    "Frame",
    "RecordedRequest",
    "Scenario",
    "Upstream",
    "echo_text",
    "last_user_text",
    "upstream",
    "upstream_session",
]

API_OPENAI_CHAT: Final = "openai.chat.completions"
API_OPENAI_RESPONSES: Final = "openai.responses"
API_ANTHROPIC: Final = "anthropic.messages"
API_GOOGLE: Final = "google.generate_content"
APIS: Final = (API_OPENAI_CHAT, API_OPENAI_RESPONSES, API_ANTHROPIC, API_GOOGLE)

#: Request header naming the scenario to answer with (overrides :meth:`Upstream.use`).
SCENARIO_HEADER: Final = "x-upstream-scenario"

#: The two parallel tool calls every ``*.tools`` scenario makes, so tests can define
#: matching tools and assert the assembled arguments.
TOOL_CALLS: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("get_weather", {"city": "Paris", "unit": "celsius"}),
    ("get_time", {"timezone": "Europe/Paris"}),
)

_SHORT = {
    API_OPENAI_CHAT: "openai_chat",
    API_OPENAI_RESPONSES: "responses",
    API_ANTHROPIC: "anthropic",
    API_GOOGLE: "gemini",
}


# --------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One unit the server writes and flushes to the socket, then sleeps ``delay`` s.

    ``data`` is written verbatim (it is the wire), so a scenario fully controls
    separators, JSON formatting and event names.
    """

    data: bytes
    delay: float = 0.0


class _Drop:
    """Type of :data:`DROP`; a class rather than ``object()`` so it has a readable repr."""

    def __repr__(self) -> str:
        return "DROP"


#: In a scenario's frame list: close the connection right here, without the
#: terminating zero-length chunk, so the client sees a truncated chunked body.
DROP: Final = _Drop()

FrameList = list["Frame | _Drop"]


@dataclass(frozen=True)
class Scenario:
    """What the upstream answers for one api.

    ``frames`` gets the request JSON body (for Gemini, whose model is in the URL, a
    copy with the path's model under ``"model"``) and returns the frames to stream;
    it runs once per request, so ids are fresh per call.  ``body`` builds the JSON
    answer for a non-streaming call (``None``: the api's ``text`` answer).  A
    ``status`` other than 200 sends ``error_body`` with that status instead.
    """

    name: str
    api: str
    frames: Callable[[dict[str, Any]], FrameList]
    status: int = 200
    error_body: bytes = b""
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f"unknown api {self.api!r}; expected one of {APIS}")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the upstream received it (headers lower-cased, body parsed)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: Any
    raw_body: bytes
    api: str | None
    scenario: str | None
    stream: bool
    received_at: float = field(default_factory=time.time)

    @property
    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# --------------------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------------------


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _google_json(obj: Any) -> bytes:
    # Google's streamed JSON has ": " after keys but no space after commas, e.g.
    # {"candidates": [{"content": {"parts": [{"text": "Hi"}],"role": "model"}, ...
    return json.dumps(obj, separators=(",", ": "), ensure_ascii=False).encode()


def sse_data(obj: Any, delay: float = 0.0) -> Frame:
    """``data: {json}\\n\\n`` (OpenAI Chat Completions)."""
    return Frame(b"data: " + _compact(obj) + b"\n\n", delay)


def sse_event(event: str, obj: Any, delay: float = 0.0) -> Frame:
    """``event: X\\ndata: {json}\\n\\n`` (Anthropic, OpenAI Responses)."""
    return Frame(b"event: " + event.encode() + b"\ndata: " + _compact(obj) + b"\n\n", delay)


def gemini_data(obj: Any, delay: float = 0.0) -> Frame:
    """``data: {json}\\r\\n\\r\\n`` (Gemini ``alt=sse``)."""
    return Frame(b"data: " + _google_json(obj) + b"\r\n\r\n", delay)


DONE_FRAME: Final = Frame(b"data: [DONE]\n\n")


def _rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(random.choices(alphabet, k=n))


def _hex(n: int) -> str:
    return "".join(random.choices("0123456789abcdef", k=n))


def _obfuscation(text: str) -> str:
    # Padding so every delta event has a similar size; its content is meaningless.
    return _rand(max(1, 16 - len(text.encode()) % 16))


def _split(s: str, size: int) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def with_delay(frames: FrameList, delay: float) -> FrameList:
    """The same frames, each followed by ``delay`` seconds (``DROP`` unchanged)."""
    return [Frame(f.data, delay) if isinstance(f, Frame) else f for f in frames]


# --------------------------------------------------------------------------------------
# Request inspection
# --------------------------------------------------------------------------------------


def _text_of(content: Any, text_types: tuple[str, ...]) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in text_types
        ]
        if texts:
            return "".join(texts)
    return None


def last_user_text(api: str, body: Mapping[str, Any]) -> str:
    """The text of the last user message in a request body of ``api`` ("" if none)."""
    if api in (API_OPENAI_CHAT, API_ANTHROPIC):
        for message in reversed(body.get("messages") or []):
            if isinstance(message, dict) and message.get("role") == "user":
                text = _text_of(message.get("content"), ("text", "input_text"))
                if text is not None:
                    return text
        return ""
    if api == API_OPENAI_RESPONSES:
        items = body.get("input")
        if isinstance(items, str):
            return items
        for item in reversed(items or []):
            if isinstance(item, dict) and item.get("role") == "user":
                text = _text_of(item.get("content"), ("input_text", "text"))
                if text is not None:
                    return text
        return ""
    if api == API_GOOGLE:
        for content in reversed(body.get("contents") or []):
            if isinstance(content, dict) and content.get("role", "user") == "user":
                texts = [p["text"] for p in content.get("parts") or [] if "text" in p]
                if texts:
                    return "".join(texts)
        return ""
    raise ValueError(f"unknown api {api!r}")


def echo_text(api: str, body: Mapping[str, Any]) -> str:
    """What the ``text`` scenarios answer: ``"Echo: <last user text>"``."""
    return "Echo: " + last_user_text(api, body)


def _pieces(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is exactly ``text``."""
    return [p for p in re.split(r"(?=\s)", text) if p] or [""]


def _resolve(model: Any, aliases: Mapping[str, str], default: str) -> str:
    name = model if isinstance(model, str) and model else default
    return aliases.get(name, name)


# ======================================================================================
# OpenAI Chat Completions
# ======================================================================================

_OPENAI_ALIASES = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "o4-mini": "o4-mini-2025-04-16",
    "o3": "o3-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
}


def _chat_usage(
    prompt: int, completion: int, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class _Chat:
    """Builds the chunks of one Chat Completions stream (shared id, created, model)."""

    def __init__(self, req: Mapping[str, Any]) -> None:
        self.req = req
        self.id = "chatcmpl-" + _rand(29)
        self.created = int(time.time())
        self.model = _resolve(req.get("model"), _OPENAI_ALIASES, "gpt-4o-mini")
        options = req.get("stream_options") or {}
        self.include_usage = bool(options.get("include_usage"))
        self.obfuscate = options.get("include_obfuscation", True) is not False

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> Frame:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_560af6e559",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self.include_usage:
            obj["usage"] = None
        if self.obfuscate:
            obj["obfuscation"] = _obfuscation(json.dumps(delta))
        return sse_data(obj)

    def usage(self, usage: dict[str, Any]) -> list[Frame]:
        """The include_usage chunk (empty ``choices``), only if the request asked for it."""
        if not self.include_usage:
            return []
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_560af6e559",
            "choices": [],
            "usage": usage,
        }
        if self.obfuscate:
            obj["obfuscation"] = _rand(8)
        return [sse_data(obj)]

    def role(self, content: str | None = "") -> Frame:
        return self.chunk({"role": "assistant", "content": content, "refusal": None})

    def text(self, text: str) -> list[Frame]:
        return [self.chunk({"content": piece}) for piece in _pieces(text)]

    def completion(
        self, message: dict[str, Any], finish_reason: str, usage: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "refusal": None, "annotations": [], **message},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_560af6e559",
        }


_CHAT_TEXT_USAGE = (14, 6)


def _chat_text(req: dict[str, Any], usage: dict[str, Any] | None = None) -> FrameList:
    c = _Chat(req)
    return [
        c.role(),
        *c.text(echo_text(API_OPENAI_CHAT, req)),
        c.chunk({}, "stop"),
        *c.usage(usage or _chat_usage(*_CHAT_TEXT_USAGE)),
        DONE_FRAME,
    ]


def _chat_text_body(req: dict[str, Any]) -> dict[str, Any]:
    c = _Chat(req)
    return c.completion(
        {"content": echo_text(API_OPENAI_CHAT, req)}, "stop", _chat_usage(*_CHAT_TEXT_USAGE)
    )


def _chat_call_ids() -> list[str]:
    return ["call_" + _rand(24) for _ in TOOL_CALLS]


def _chat_tools(req: dict[str, Any]) -> FrameList:
    c = _Chat(req)
    frames: FrameList = []
    for index, ((name, args), call_id) in enumerate(zip(TOOL_CALLS, _chat_call_ids(), strict=True)):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        if index == 0:
            frames.append(
                c.chunk(
                    {"role": "assistant", "content": None, "tool_calls": [head], "refusal": None}
                )
            )
        else:
            frames.append(c.chunk({"tool_calls": [head]}))
        for part in _split(json.dumps(args, separators=(",", ":")), 7):
            frames.append(
                c.chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
            )
    frames += [c.chunk({}, "tool_calls"), *c.usage(_chat_usage(82, 41)), DONE_FRAME]
    return frames


def _chat_tools_body(req: dict[str, Any]) -> dict[str, Any]:
    c = _Chat(req)
    calls = [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args, separators=(",", ":"))},
        }
        for (name, args), call_id in zip(TOOL_CALLS, _chat_call_ids(), strict=True)
    ]
    return c.completion({"content": None, "tool_calls": calls}, "tool_calls", _chat_usage(82, 41))


def _chat_tool_whole(req: dict[str, Any]) -> FrameList:
    c = _Chat(req)
    name, args = TOOL_CALLS[0]
    call = {
        "index": 0,
        "id": "call_" + _rand(24),
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args, separators=(",", ":"))},
    }
    return [
        c.chunk({"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}),
        c.chunk({}, "tool_calls"),
        *c.usage(_chat_usage(70, 18)),
        DONE_FRAME,
    ]


def _chat_refusal(req: dict[str, Any]) -> FrameList:
    c = _Chat(req)
    return [
        c.chunk({"role": "assistant", "content": None, "refusal": ""}),
        *[c.chunk({"refusal": p}) for p in _pieces(REFUSAL_TEXT)],
        c.chunk({}, "stop"),
        *c.usage(_chat_usage(20, 9)),
        DONE_FRAME,
    ]


REFUSAL_TEXT: Final = "I'm sorry, but I can't help with that."


def _chat_error_midstream(req: dict[str, Any]) -> FrameList:
    c = _Chat(req)
    pieces = c.text(echo_text(API_OPENAI_CHAT, req))
    error = {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return [c.role(), *pieces[:2], sse_data(error)]


def _chat_drop(req: dict[str, Any]) -> FrameList:
    c = _Chat(req)
    return [c.role(), *c.text(echo_text(API_OPENAI_CHAT, req))[:2], DROP]


_OPENAI_500 = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}
_OPENAI_429 = {
    "error": {
        "message": "Rate limit reached for gpt-4o-mini in organization org-test on requests per "
        "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


# ======================================================================================
# OpenAI Responses
# ======================================================================================


class _Resp:
    """Builds the events of one Responses stream with a gapless ``sequence_number``."""

    def __init__(self, req: Mapping[str, Any]) -> None:
        self.req = req
        self.id = "resp_" + _hex(48)
        self.created_at = int(time.time())
        self.model = _resolve(req.get("model"), _OPENAI_ALIASES, "gpt-4o-mini")
        self.seq = 0
        options = req.get("stream_options") or {}
        self.obfuscate = options.get("include_obfuscation", True) is not False

    def response(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        req = self.req
        reasoning = req.get("reasoning") or {}
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": error,
            "incomplete_details": incomplete_details,
            "instructions": req.get("instructions"),
            "max_output_tokens": req.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": req.get("parallel_tool_calls", True),
            "previous_response_id": req.get("previous_response_id"),
            "reasoning": {
                "effort": reasoning.get("effort"),
                "summary": reasoning.get("summary"),
            },
            "service_tier": "default",
            "store": req.get("store", True),
            "temperature": req.get("temperature", 1.0),
            "text": req.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": req.get("tool_choice", "auto"),
            "tools": req.get("tools") or [],
            "top_logprobs": 0,
            "top_p": req.get("top_p", 1.0),
            "truncation": req.get("truncation", "disabled"),
            "usage": usage,
            "user": None,
            "metadata": req.get("metadata") or {},
        }

    def event(self, type_: str, **fields: Any) -> Frame:
        obj = {"type": type_, "sequence_number": self.seq, **fields}
        if self.obfuscate and type_.endswith(".delta"):
            obj["obfuscation"] = _obfuscation(str(fields.get("delta", "")))
        self.seq += 1
        return sse_event(type_, obj)

    def start(self) -> list[Frame]:
        return [
            self.event("response.created", response=self.response("in_progress", [])),
            self.event("response.in_progress", response=self.response("in_progress", [])),
        ]

    # -- output items -------------------------------------------------------------------

    def message(
        self, output_index: int, text: str, *, cut: int | None = None
    ) -> tuple[list[Frame], dict[str, Any]]:
        """Events of one assistant message item; ``cut`` stops after that many deltas."""
        item_id = "msg_" + _hex(48)
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        frames = [
            self.event(
                "response.output_item.added",
                output_index=output_index,
                item={
                    "id": item_id,
                    "type": "message",
                    "status": "in_progress",
                    "content": [],
                    "role": "assistant",
                },
            ),
            self.event(
                "response.content_part.added",
                item_id=item_id,
                output_index=output_index,
                content_index=0,
                part=part,
            ),
        ]
        pieces = _pieces(text)
        for piece in pieces[:cut]:
            frames.append(
                self.event(
                    "response.output_text.delta",
                    item_id=item_id,
                    output_index=output_index,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            )
        done_part = {**part, "text": text}
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "content": [done_part],
            "role": "assistant",
        }
        if cut is not None:
            return frames, {
                **item,
                "status": "in_progress",
                "content": [{**part, "text": "".join(pieces[:cut])}],
            }
        frames += [
            self.event(
                "response.output_text.done",
                item_id=item_id,
                output_index=output_index,
                content_index=0,
                text=text,
                logprobs=[],
            ),
            self.event(
                "response.content_part.done",
                item_id=item_id,
                output_index=output_index,
                content_index=0,
                part=done_part,
            ),
            self.event("response.output_item.done", output_index=output_index, item=item),
        ]
        return frames, item

    def refusal(self, output_index: int, text: str) -> tuple[list[Frame], dict[str, Any]]:
        item_id = "msg_" + _hex(48)
        frames = [
            self.event(
                "response.output_item.added",
                output_index=output_index,
                item={
                    "id": item_id,
                    "type": "message",
                    "status": "in_progress",
                    "content": [],
                    "role": "assistant",
                },
            ),
            self.event(
                "response.content_part.added",
                item_id=item_id,
                output_index=output_index,
                content_index=0,
                part={"type": "refusal", "refusal": ""},
            ),
        ]
        for piece in _pieces(text):
            frames.append(
                self.event(
                    "response.refusal.delta",
                    item_id=item_id,
                    output_index=output_index,
                    content_index=0,
                    delta=piece,
                )
            )
        part = {"type": "refusal", "refusal": text}
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "content": [part],
            "role": "assistant",
        }
        frames += [
            self.event(
                "response.refusal.done",
                item_id=item_id,
                output_index=output_index,
                content_index=0,
                refusal=text,
            ),
            self.event(
                "response.content_part.done",
                item_id=item_id,
                output_index=output_index,
                content_index=0,
                part=part,
            ),
            self.event("response.output_item.done", output_index=output_index, item=item),
        ]
        return frames, item

    def function_call(
        self, output_index: int, name: str, args: dict[str, Any]
    ) -> tuple[list[Frame], dict[str, Any]]:
        item_id = "fc_" + _hex(48)
        call_id = "call_" + _rand(24)
        arguments = json.dumps(args, separators=(",", ":"))
        head = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call_id,
            "name": name,
        }
        frames = [self.event("response.output_item.added", output_index=output_index, item=head)]
        for part in _split(arguments, 7):
            frames.append(
                self.event(
                    "response.function_call_arguments.delta",
                    item_id=item_id,
                    output_index=output_index,
                    delta=part,
                )
            )
        item = {**head, "status": "completed", "arguments": arguments}
        frames += [
            self.event(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=output_index,
                arguments=arguments,
            ),
            self.event("response.output_item.done", output_index=output_index, item=item),
        ]
        return frames, item

    def reasoning(self, output_index: int, summary: str) -> tuple[list[Frame], dict[str, Any]]:
        item_id = "rs_" + _hex(48)
        frames = [
            self.event(
                "response.output_item.added",
                output_index=output_index,
                item={"id": item_id, "type": "reasoning", "summary": []},
            ),
            self.event(
                "response.reasoning_summary_part.added",
                item_id=item_id,
                output_index=output_index,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            ),
        ]
        for piece in _pieces(summary):
            frames.append(
                self.event(
                    "response.reasoning_summary_text.delta",
                    item_id=item_id,
                    output_index=output_index,
                    summary_index=0,
                    delta=piece,
                )
            )
        part = {"type": "summary_text", "text": summary}
        item = {"id": item_id, "type": "reasoning", "summary": [part]}
        frames += [
            self.event(
                "response.reasoning_summary_text.done",
                item_id=item_id,
                output_index=output_index,
                summary_index=0,
                text=summary,
            ),
            self.event(
                "response.reasoning_summary_part.done",
                item_id=item_id,
                output_index=output_index,
                summary_index=0,
                part=part,
            ),
            self.event("response.output_item.done", output_index=output_index, item=item),
        ]
        return frames, item

    def completed(self, output: list[dict[str, Any]], usage: dict[str, Any]) -> Frame:
        return self.event("response.completed", response=self.response("completed", output, usage))


def _resp_usage(inp: int, out: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inp + out,
    }


def _resp_text(req: dict[str, Any], usage: dict[str, Any] | None = None) -> FrameList:
    r = _Resp(req)
    start = r.start()  # build in wire order: sequence numbers are assigned as events are made
    frames, item = r.message(0, echo_text(API_OPENAI_RESPONSES, req))
    return [*start, *frames, r.completed([item], usage or _resp_usage(12, 6))]


def _resp_text_body(req: dict[str, Any]) -> dict[str, Any]:
    r = _Resp(req)
    _, item = r.message(0, echo_text(API_OPENAI_RESPONSES, req))
    return r.response("completed", [item], _resp_usage(12, 6))


def _resp_tools(req: dict[str, Any]) -> FrameList:
    r = _Resp(req)
    frames: FrameList = [*r.start()]
    items = []
    for index, (name, args) in enumerate(TOOL_CALLS):
        f, item = r.function_call(index, name, args)
        frames += f
        items.append(item)
    frames.append(r.completed(items, _resp_usage(75, 38)))
    return frames


def _resp_tools_body(req: dict[str, Any]) -> dict[str, Any]:
    r = _Resp(req)
    items = [r.function_call(i, name, args)[1] for i, (name, args) in enumerate(TOOL_CALLS)]
    return r.response("completed", items, _resp_usage(75, 38))


REASONING_SUMMARY: Final = "**Echoing the user**\n\nThe user wants their words repeated back."
THINKING_TEXT: Final = "The user wants an echo. I will repeat their words back, prefixed."


def _resp_thinking(req: dict[str, Any]) -> FrameList:
    r = _Resp(req)
    start = r.start()
    f1, reasoning = r.reasoning(0, REASONING_SUMMARY)
    f2, message = r.message(1, echo_text(API_OPENAI_RESPONSES, req))
    usage = _resp_usage(18, 202, reasoning=192)
    return [*start, *f1, *f2, r.completed([reasoning, message], usage)]


def _resp_refusal(req: dict[str, Any]) -> FrameList:
    r = _Resp(req)
    start = r.start()
    frames, item = r.refusal(0, REFUSAL_TEXT)
    return [*start, *frames, r.completed([item], _resp_usage(20, 9))]


def _resp_error_midstream(req: dict[str, Any]) -> FrameList:
    r = _Resp(req)
    start = r.start()
    frames, partial = r.message(0, echo_text(API_OPENAI_RESPONSES, req), cut=2)
    error = {
        "code": "server_error",
        "message": "An error occurred while processing your request. You can retry your request, "
        "or contact us through our help center at help.openai.com if the error persists.",
    }
    failed = r.response("failed", [partial], None, error=error)
    return [*start, *frames, r.event("response.failed", response=failed)]


def _resp_incomplete(req: dict[str, Any]) -> FrameList:
    r = _Resp(req)
    start = r.start()
    frames, partial = r.message(0, echo_text(API_OPENAI_RESPONSES, req), cut=2)
    partial = {**partial, "status": "incomplete"}
    response = r.response(
        "incomplete",
        [partial],
        _resp_usage(12, 2),
        incomplete_details={"reason": "max_output_tokens"},
    )
    return [*start, *frames, r.event("response.incomplete", response=response)]


def _resp_drop(req: dict[str, Any]) -> FrameList:
    r = _Resp(req)
    start = r.start()
    frames, _ = r.message(0, echo_text(API_OPENAI_RESPONSES, req), cut=2)
    return [*start, *frames, DROP]


# ======================================================================================
# Anthropic Messages
# ======================================================================================

_ANTHROPIC_ALIASES = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-opus-4-0": "claude-opus-4-20250514",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _anthropic_usage(
    inp: int, out: int, cache_write: int = 0, cache_read: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": out,
        "service_tier": "standard",
    }


class _Msg:
    """Builds the events of one Anthropic Messages stream."""

    def __init__(self, req: Mapping[str, Any]) -> None:
        self.req = req
        self.id = "msg_01" + _rand(22, _B58)
        self.model = _resolve(req.get("model"), _ANTHROPIC_ALIASES, "claude-sonnet-4-5")
        self.index = 0
        self.pinged = False

    def message(
        self, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def start(self, usage: dict[str, Any]) -> Frame:
        start_usage = {**usage, "output_tokens": 1}
        return sse_event(
            "message_start",
            {"type": "message_start", "message": self.message([], None, start_usage)},
        )

    def block_start(self, block: dict[str, Any]) -> list[Frame]:
        frames = [
            sse_event(
                "content_block_start",
                {"type": "content_block_start", "index": self.index, "content_block": block},
            )
        ]
        if not self.pinged:  # the API pings once right after the first block starts
            frames.append(sse_event("ping", {"type": "ping"}))
            self.pinged = True
        return frames

    def delta(self, delta: dict[str, Any]) -> Frame:
        return sse_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self.index, "delta": delta},
        )

    def block_stop(self) -> Frame:
        frame = sse_event("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.index += 1
        return frame

    def text_block(self, text: str, cut: int | None = None) -> list[Frame]:
        frames = self.block_start({"type": "text", "text": ""})
        frames += [self.delta({"type": "text_delta", "text": p}) for p in _pieces(text)[:cut]]
        if cut is None:
            frames.append(self.block_stop())
        return frames

    def end(self, stop_reason: str, usage: dict[str, Any]) -> list[Frame]:
        return [
            sse_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": usage,
                },
            ),
            sse_event("message_stop", {"type": "message_stop"}),
        ]


def _anthropic_text(req: dict[str, Any]) -> FrameList:
    m = _Msg(req)
    text = echo_text(API_ANTHROPIC, req)
    # message_delta usage as in the documented example: only the cumulative output_tokens.
    return [
        m.start(_anthropic_usage(21, 1)),
        *m.text_block(text),
        *m.end("end_turn", {"output_tokens": 9}),
    ]


def _anthropic_text_body(req: dict[str, Any]) -> dict[str, Any]:
    m = _Msg(req)
    content = [{"type": "text", "text": echo_text(API_ANTHROPIC, req)}]
    return m.message(content, "end_turn", _anthropic_usage(21, 9))


TOOL_PREAMBLE: Final = "I'll look up the weather and the time for you."


def _anthropic_tool_blocks(m: _Msg) -> tuple[list[Frame], list[dict[str, Any]]]:
    frames = m.text_block(TOOL_PREAMBLE)
    blocks: list[dict[str, Any]] = [{"type": "text", "text": TOOL_PREAMBLE}]
    for name, args in TOOL_CALLS:
        tool_id = "toolu_01" + _rand(22, _B58)
        frames += m.block_start({"type": "tool_use", "id": tool_id, "name": name, "input": {}})
        frames.append(m.delta({"type": "input_json_delta", "partial_json": ""}))
        for part in _split(json.dumps(args), 9):
            frames.append(m.delta({"type": "input_json_delta", "partial_json": part}))
        frames.append(m.block_stop())
        blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": args})
    return frames, blocks


def _anthropic_tools(req: dict[str, Any]) -> FrameList:
    m = _Msg(req)
    frames, _ = _anthropic_tool_blocks(m)
    return [m.start(_anthropic_usage(412, 1)), *frames, *m.end("tool_use", {"output_tokens": 96})]


def _anthropic_tools_body(req: dict[str, Any]) -> dict[str, Any]:
    m = _Msg(req)
    _, blocks = _anthropic_tool_blocks(m)
    return m.message(blocks, "tool_use", _anthropic_usage(412, 96))


THINKING_SIGNATURE: Final = (
    "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds6Ebd5pO4ul0XX2pz2jPSq4ZhY2qlIRPyDG"
    "w2ohOBo8BzmX9lxEvBeX+9N07ZSoQ3CIbRWjNOiF3G/uxmHm+0xiYhq+9tBqpYGvuqtWJG2UR"
)
REDACTED_THINKING: Final = (
    "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7"
    "vB5URj2pyt47qRmqFZg8BRgIlZEOmGIIrUQJ4Id4kIMIxhQQZAn7QewM0xQQ7XGiVtcU0HOEA="
)


def _anthropic_thinking(req: dict[str, Any]) -> FrameList:
    m = _Msg(req)
    frames: FrameList = [m.start(_anthropic_usage(46, 1))]
    frames += m.block_start({"type": "thinking", "thinking": "", "signature": ""})
    frames += [m.delta({"type": "thinking_delta", "thinking": p}) for p in _pieces(THINKING_TEXT)]
    frames += [
        m.delta({"type": "signature_delta", "signature": THINKING_SIGNATURE}),
        m.block_stop(),
    ]
    frames += m.block_start({"type": "redacted_thinking", "data": REDACTED_THINKING})
    frames.append(m.block_stop())
    frames += m.text_block(echo_text(API_ANTHROPIC, req))
    usage = {
        "input_tokens": 46,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 187,
    }
    return [*frames, *m.end("end_turn", usage)]


def _anthropic_cached(req: dict[str, Any]) -> FrameList:
    m = _Msg(req)
    text = echo_text(API_ANTHROPIC, req)
    usage = _anthropic_usage(13, 1, cache_write=1536, cache_read=4096)
    end_usage = {
        "input_tokens": 13,
        "cache_creation_input_tokens": 1536,
        "cache_read_input_tokens": 4096,
        "output_tokens": 9,
    }
    return [m.start(usage), *m.text_block(text), *m.end("end_turn", end_usage)]


def _anthropic_error_midstream(req: dict[str, Any]) -> FrameList:
    m = _Msg(req)
    # The error event exactly as in Anthropic's streaming documentation.
    error = Frame(
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "Overloaded"}}\n\n'
    )
    return [
        m.start(_anthropic_usage(21, 1)),
        *m.text_block(echo_text(API_ANTHROPIC, req), cut=2),
        error,
    ]


def _anthropic_drop(req: dict[str, Any]) -> FrameList:
    m = _Msg(req)
    return [
        m.start(_anthropic_usage(21, 1)),
        *m.text_block(echo_text(API_ANTHROPIC, req), cut=2),
        DROP,
    ]


def _anthropic_error(kind: str, message: str) -> bytes:
    return _compact(
        {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011CT" + _rand(19, _B58),
        }
    )


# ======================================================================================
# Google Gemini
# ======================================================================================


class _Gem:
    """Builds the chunks of one ``streamGenerateContent?alt=sse`` stream."""

    def __init__(self, req: Mapping[str, Any]) -> None:
        self.req = req
        model = req.get("model") or "gemini-2.5-flash"
        self.model = model.removeprefix("models/") if isinstance(model, str) else "gemini-2.5-flash"
        self.response_id = _rand(22, string.ascii_letters + string.digits + "-_")

    def chunk(
        self,
        parts: list[dict[str, Any]],
        usage: dict[str, Any],
        finish_reason: str | None = None,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish_reason:
            candidate["finishReason"] = finish_reason
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        }


def _gem_usage(prompt: int, candidates: int, thoughts: int = 0, cached: int = 0) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    total = prompt + candidates + thoughts
    usage["totalTokenCount"] = total
    if cached:
        usage["cachedContentTokenCount"] = cached
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if cached:
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _gem_text_chunks(
    g: _Gem, text: str, prompt: int = 8, thoughts: int = 0, cached: int = 0
) -> list[dict[str, Any]]:
    pieces = _pieces(text)
    chunks = []
    for n, piece in enumerate(pieces, start=1):
        last = n == len(pieces)
        usage = _gem_usage(prompt, 2 * n, thoughts, cached)  # cumulative, as Gemini reports it
        chunks.append(g.chunk([{"text": piece}], usage, "STOP" if last else None))
    return chunks


def _gem_text(req: dict[str, Any]) -> FrameList:
    g = _Gem(req)
    return [gemini_data(c) for c in _gem_text_chunks(g, echo_text(API_GOOGLE, req))]


def _gem_text_body(req: dict[str, Any]) -> dict[str, Any]:
    g = _Gem(req)
    text = echo_text(API_GOOGLE, req)
    return g.chunk([{"text": text}], _gem_usage(8, 2 * len(_gem_text_chunks(g, text))), "STOP")


GEMINI_THOUGHT_SIGNATURE: Final = "CiQB0e2Kb3dRh+BYdbZvmulSN2Pwwc75DUSw1p1fcW6NBLBqUWaOtzD2"


def _gem_tool_parts() -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for n, (name, args) in enumerate(TOOL_CALLS):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if n == 0:
            part["thoughtSignature"] = GEMINI_THOUGHT_SIGNATURE
        parts.append(part)
    return parts


def _gem_tools(req: dict[str, Any]) -> FrameList:
    g = _Gem(req)
    # Gemini sends each function call whole (no partial arguments); one per chunk here.
    first, second = _gem_tool_parts()
    return [
        gemini_data(g.chunk([first], _gem_usage(64, 10))),
        gemini_data(g.chunk([second], _gem_usage(64, 20), "STOP")),
    ]


def _gem_tools_body(req: dict[str, Any]) -> dict[str, Any]:
    g = _Gem(req)
    return g.chunk(_gem_tool_parts(), _gem_usage(64, 20), "STOP")


def _gem_thinking(req: dict[str, Any]) -> FrameList:
    g = _Gem(req)
    thoughts = 120
    frames: FrameList = [
        gemini_data(g.chunk([{"text": p, "thought": True}], _gem_usage(8, 0, thoughts)))
        for p in ("**Echoing the user**\n\n", THINKING_TEXT)
    ]
    frames += [
        gemini_data(c) for c in _gem_text_chunks(g, echo_text(API_GOOGLE, req), thoughts=thoughts)
    ]
    return frames


def _gem_cached(req: dict[str, Any]) -> FrameList:
    g = _Gem(req)
    chunks = _gem_text_chunks(g, echo_text(API_GOOGLE, req), prompt=2060, cached=2048)
    return [gemini_data(c) for c in chunks]


def _gem_drop(req: dict[str, Any]) -> FrameList:
    g = _Gem(req)
    chunks = _gem_text_chunks(g, echo_text(API_GOOGLE, req) + " and then some more words")
    return [*[gemini_data(c) for c in chunks[:2]], DROP]


def _google_error(code: int, message: str, status: str) -> bytes:
    # Google sends its errors pretty-printed with a two-space indent.
    return (
        json.dumps({"error": {"code": code, "message": message, "status": status}}, indent=2) + "\n"
    ).encode()


# ======================================================================================
# Registry
# ======================================================================================

SLOW_DELAY: Final = 0.02


def _slow(fn: Callable[[dict[str, Any]], FrameList]) -> Callable[[dict[str, Any]], FrameList]:
    def frames(req: dict[str, Any]) -> FrameList:
        return with_delay(fn(req), SLOW_DELAY)

    return frames


def _never(req: dict[str, Any]) -> FrameList:  # error scenarios never stream
    return []


def _scenarios() -> dict[str, Scenario]:
    out: list[Scenario] = []

    def add(kind: str, api: str, frames: Callable[[dict[str, Any]], FrameList], **kw: Any) -> None:
        out.append(Scenario(name=f"{_SHORT[api]}.{kind}", api=api, frames=frames, **kw))

    # OpenAI Chat Completions
    chat = API_OPENAI_CHAT
    add("text", chat, _chat_text, body=_chat_text_body, description="echo, several content deltas")
    add(
        "tools",
        chat,
        _chat_tools,
        body=_chat_tools_body,
        description="two parallel tool calls, partial args",
    )
    add("tool_whole", chat, _chat_tool_whole, description="one tool call whole in one chunk")
    add(
        "usage",
        chat,
        lambda r: _chat_text(r, _chat_usage(1200, 90, cached=1024, reasoning=64)),
        description="usage chunk with cached and reasoning tokens (if include_usage)",
    )
    add(
        "cached",
        chat,
        lambda r: _chat_text(r, _chat_usage(2006, 6, cached=1920)),
        description="cached prompt tokens",
    )
    add("refusal", chat, _chat_refusal, description="refusal deltas")
    add("error_midstream", chat, _chat_error_midstream, description="data: {error} after some text")
    add("drop", chat, _chat_drop, description="connection dropped after some chunks")
    add("slow", chat, _slow(_chat_text), description="text, 20 ms between frames")
    add("http_500", chat, _never, status=500, error_body=_compact(_OPENAI_500))
    add(
        "http_429",
        chat,
        _never,
        status=429,
        error_body=_compact(_OPENAI_429),
        headers=(("retry-after", "20"),),
    )

    # OpenAI Responses
    rsp = API_OPENAI_RESPONSES
    add(
        "text",
        rsp,
        _resp_text,
        body=_resp_text_body,
        description="echo, several output_text deltas",
    )
    add(
        "tools",
        rsp,
        _resp_tools,
        body=_resp_tools_body,
        description="two function_call items, partial args",
    )
    add(
        "usage",
        rsp,
        lambda r: _resp_text(r, _resp_usage(1200, 90, cached=1024, reasoning=64)),
        description="usage with cached and reasoning tokens",
    )
    add(
        "cached",
        rsp,
        lambda r: _resp_text(r, _resp_usage(2006, 6, cached=1920)),
        description="cached input tokens",
    )
    add("thinking", rsp, _resp_thinking, description="reasoning summary, then text")
    add("refusal", rsp, _resp_refusal, description="refusal content part")
    add(
        "error_midstream", rsp, _resp_error_midstream, description="response.failed after some text"
    )
    add("incomplete", rsp, _resp_incomplete, description="response.incomplete (max_output_tokens)")
    add("drop", rsp, _resp_drop, description="connection dropped after some events")
    add("slow", rsp, _slow(_resp_text), description="text, 20 ms between frames")
    add("http_500", rsp, _never, status=500, error_body=_compact(_OPENAI_500))
    add(
        "http_429",
        rsp,
        _never,
        status=429,
        error_body=_compact(_OPENAI_429),
        headers=(("retry-after", "20"),),
    )

    # Anthropic Messages
    ant = API_ANTHROPIC
    add(
        "text",
        ant,
        _anthropic_text,
        body=_anthropic_text_body,
        description="echo, several text deltas",
    )
    add(
        "tools",
        ant,
        _anthropic_tools,
        body=_anthropic_tools_body,
        description="text + two tool_use blocks",
    )
    add(
        "thinking",
        ant,
        _anthropic_thinking,
        description="thinking + signature, redacted_thinking, text",
    )
    add("cached", ant, _anthropic_cached, description="cache read and write input tokens")
    add("usage", ant, _anthropic_cached, description="alias of cached: every usage field non-zero")
    add(
        "error_midstream",
        ant,
        _anthropic_error_midstream,
        description="event: error overloaded_error",
    )
    add("drop", ant, _anthropic_drop, description="connection dropped after some events")
    add("slow", ant, _slow(_anthropic_text), description="text, 20 ms between frames")
    add(
        "http_500",
        ant,
        _never,
        status=500,
        error_body=_anthropic_error("api_error", "Internal server error"),
    )
    add(
        "http_429",
        ant,
        _never,
        status=429,
        error_body=_anthropic_error(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 input tokens "
            "per minute. Please try again later.",
        ),
        headers=(("retry-after", "20"),),
    )
    add(
        "http_529",
        ant,
        _never,
        status=529,
        error_body=_anthropic_error("overloaded_error", "Overloaded"),
    )

    # Google Gemini
    gem = API_GOOGLE
    add("text", gem, _gem_text, body=_gem_text_body, description="echo, several chunks")
    add(
        "tools", gem, _gem_tools, body=_gem_tools_body, description="two functionCall parts (whole)"
    )
    add("thinking", gem, _gem_thinking, description="thought parts, thoughtsTokenCount")
    add("cached", gem, _gem_cached, description="cachedContentTokenCount")
    add("usage", gem, _gem_cached, description="alias of cached")
    add("drop", gem, _gem_drop, description="connection dropped after some chunks")
    add("slow", gem, _slow(_gem_text), description="text, 20 ms between frames")
    add(
        "http_500",
        gem,
        _never,
        status=500,
        error_body=_google_error(
            500,
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
            "INTERNAL",
        ),
    )
    add(
        "http_429",
        gem,
        _never,
        status=429,
        error_body=_google_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "RESOURCE_EXHAUSTED",
        ),
    )
    return {s.name: s for s in out}


#: Every built-in scenario by name (``<short-api>.<kind>``).
SCENARIOS: Final[dict[str, Scenario]] = _scenarios()

_DEFAULTS: Final = {api: SCENARIOS[f"{_SHORT[api]}.text"] for api in APIS}

_STREAM_HEADERS: Final = {
    API_OPENAI_CHAT: [(b"content-type", b"text/event-stream; charset=utf-8")],
    API_OPENAI_RESPONSES: [(b"content-type", b"text/event-stream; charset=utf-8")],
    API_ANTHROPIC: [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
    ],
    API_GOOGLE: [(b"content-type", b"text/event-stream"), (b"x-content-type-options", b"nosniff")],
}


# ======================================================================================
# The server
# ======================================================================================

_ARRAY_HEADERS = [(b"content-type", b"application/json; charset=UTF-8")]


def _as_array(frames: FrameList) -> FrameList:
    """Gemini's ``data: {json}`` frames as ``streamGenerateContent`` sends them without
    ``?alt=sse``: one JSON array, each element pretty-printed, separated by ``\\n,\\r\\n``
    (as llm-gemini's recorded cassettes have it).  Frames that are not ``data:`` lines are
    raw array bytes already and pass unchanged; the array is closed unless a ``DROP`` ends it."""
    out: FrameList = []
    elements = 0
    for frame in frames:
        if isinstance(frame, Frame) and frame.data.startswith(b"data: "):
            element = json.dumps(json.loads(frame.data[6:]), indent=2, ensure_ascii=False)
            separator = b"[" if elements == 0 else b"\n,\r\n"
            out.append(Frame(separator + element.encode(), frame.delay))
            elements += 1
        else:
            out.append(frame)
        if isinstance(frame, _Drop):
            return out
    if elements:
        out.append(Frame(b"\n]"))
    return out


_GOOGLE_PATH = re.compile(
    r"^/(v1|v1beta|v1alpha)/models/([^/:]+):(streamGenerateContent|generateContent)$"
)
_DROP_LOG = "ASGI callable returned without completing response."
_THREAD_PREFIX = "streamrec-upstream-"


class _QuietDrop(logging.Filter):
    """Hide uvicorn's complaint about the connections a ``DROP`` closes on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            not (record.threadName or "").startswith(_THREAD_PREFIX)
            or record.getMessage() != _DROP_LOG
        )


_uvicorn_error_logger = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _QuietDrop) for f in _uvicorn_error_logger.filters):
    _uvicorn_error_logger.addFilter(_QuietDrop())


def _request_id_header(api: str) -> tuple[bytes, bytes]:
    if api == API_ANTHROPIC:
        return b"request-id", ("req_011CT" + _rand(19, _B58)).encode()
    if api == API_GOOGLE:
        return b"x-goog-request-id", uuid.uuid4().hex.encode()
    return b"x-request-id", ("req_" + _hex(32)).encode()


class Upstream:
    """A provider look-alike on ``127.0.0.1:<free port>``, served by uvicorn in a thread.

    Use as a context manager (or :meth:`start`/:meth:`stop`).  Every request is
    recorded in :attr:`requests` before it is answered.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._defaults: dict[str, Scenario] = {}
        self._registered: dict[str, Scenario] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Upstream:
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            date_header=True,
            log_config=None,
            access_log=False,
            http="h11",
            ws="none",
            loop="asyncio",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"{_THREAD_PREFIX}{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the upstream server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
        if sock is not None:
            sock.close()

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the upstream is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)``: the SDK appends ``/chat/completions``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For ``anthropic.Anthropic(base_url=...)``: the SDK appends ``/v1/messages``."""
        return self.base_url

    @property
    def google_base_url(self) -> str:
        """For ``HttpOptions(base_url=...)``: google-genai appends ``/{api_version}/models/...``."""
        return self.base_url

    # -- scenarios and records ------------------------------------------------------------

    def use(self, scenario: Scenario | str) -> None:
        """Make ``scenario`` the answer for its api when no header names another."""
        scenario = self._lookup(scenario) if isinstance(scenario, str) else scenario
        with self._lock:
            self._defaults[scenario.api] = scenario
            self._registered[scenario.name] = scenario

    def register(self, scenario: Scenario) -> None:
        """Make a custom scenario selectable by name through the header."""
        with self._lock:
            self._registered[scenario.name] = scenario

    def reset(self) -> None:
        """Forget recorded requests, defaults and registered scenarios."""
        with self._lock:
            self._requests.clear()
            self._defaults.clear()
            self._registered.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def _lookup(self, name: str) -> Scenario:
        with self._lock:
            found = self._registered.get(name)
        found = found or SCENARIOS.get(name)
        if found is None:
            raise KeyError(f"unknown upstream scenario {name!r}")
        return found

    def _choose(self, api: str, name: str | None) -> Scenario:
        if name:
            return self._lookup(name)
        with self._lock:
            chosen = self._defaults.get(api)
        return chosen or _DEFAULTS[api]

    # -- ASGI -----------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            k, v = key.decode("latin-1").lower(), value.decode("latin-1")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        method: str = scope["method"]
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")

        api, stream, model = self._route(method, path, body, query)
        scenario: Scenario | None = None
        problem: str | None = None
        if api is not None:
            try:
                scenario = self._choose(api, headers.get(SCENARIO_HEADER))
            except KeyError as exc:
                problem = str(exc.args[0])
            else:
                if scenario.api != api:
                    problem = f"scenario {scenario.name!r} is for {scenario.api}, not {api}"
                    scenario = None
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=path,
                    query=query,
                    headers=headers,
                    body=body,
                    raw_body=raw,
                    api=api,
                    scenario=scenario.name if scenario else None,
                    stream=stream,
                )
            )

        if api is None:
            await self._json(
                send, 404, {"error": {"message": f"no such endpoint: {method} {path}"}}
            )
            return
        # Gemini without ?alt=sse streams one JSON array instead (see _as_array)
        array = api == API_GOOGLE and stream and parse_qs(query).get("alt") != ["sse"]
        if scenario is None or problem is not None:
            await self._json(
                send, 400, {"error": {"message": problem, "type": "invalid_request_error"}}
            )
            return
        request = dict(body) if isinstance(body, dict) else {}
        if model is not None:  # Gemini: the model is in the path, not the body
            request["model"] = model

        extra = [(k.encode(), v.encode()) for k, v in scenario.headers]
        if scenario.status != 200:
            ctype = b"application/json; charset=UTF-8" if api == API_GOOGLE else b"application/json"
            await send(
                {
                    "type": "http.response.start",
                    "status": scenario.status,
                    "headers": [(b"content-type", ctype), _request_id_header(api), *extra],
                }
            )
            await send({"type": "http.response.body", "body": scenario.error_body})
            return
        if not stream:
            builder = scenario.body or _DEFAULTS[api].body
            assert builder is not None
            await self._json(send, 200, builder(request), [_request_id_header(api), *extra])
            return

        frames = scenario.frames(request)
        head = _ARRAY_HEADERS if array else _STREAM_HEADERS[api]
        if array:
            frames = _as_array(frames)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*head, _request_id_header(api), *extra],
            }
        )
        for frame in frames:
            if isinstance(frame, _Drop):
                return  # uvicorn closes the connection: the chunked body never ends
            assert isinstance(frame, Frame)
            await send({"type": "http.response.body", "body": frame.data, "more_body": True})
            if frame.delay:
                await asyncio.sleep(frame.delay)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    def _route(
        method: str, path: str, body: Any, query: str
    ) -> tuple[str | None, bool, str | None]:
        """(api, streaming?, model from the path) for a request, api None if unknown."""
        if method != "POST":
            return None, False, None
        wants_stream = isinstance(body, dict) and body.get("stream") is True
        if path == "/v1/chat/completions":
            return API_OPENAI_CHAT, wants_stream, None
        if path == "/v1/responses":
            return API_OPENAI_RESPONSES, wants_stream, None
        if path == "/v1/messages":
            return API_ANTHROPIC, wants_stream, None
        match = _GOOGLE_PATH.match(path)
        if match:
            return API_GOOGLE, match.group(3) == "streamGenerateContent", match.group(2)
        return None, False, None

    @staticmethod
    async def _json(
        send: Any, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *(headers or [])],
            }
        )
        await send({"type": "http.response.body", "body": _compact(obj)})


# --------------------------------------------------------------------------------------
# pytest fixtures; conftest re-exports them:
#     from tests.upstream import upstream, upstream_session
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def upstream_session() -> Iterator[Upstream]:
    """One server for the whole run: starting uvicorn per test would cost ~50 ms each."""
    with Upstream() as up:
        yield up


@pytest.fixture
def upstream(upstream_session: Upstream) -> Upstream:
    """The shared server with no recorded requests, defaults or custom scenarios."""
    upstream_session.reset()
    return upstream_session
