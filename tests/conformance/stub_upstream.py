"""A tiny local upstream speaking OpenAI chat-completions and Anthropic messages SSE.

Used by the conformance test to exercise the Mirascope runner on its own (and as a
stand-in while ``tests/upstream.py`` is not there). The scenario is chosen per
request with the header ``x-upstream-scenario: <name>``; scenario names follow the
shared upstream's (``openai_chat.text``, ``openai_chat.tools``, ``anthropic.text``,
``anthropic.tools``, ...). Chunks follow the providers' documented wire formats.

Usage::

    with StubUpstream() as up:
        up.base_url            # "http://127.0.0.1:PORT"
        up.requests            # [(path, headers, body), ...] received so far
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCENARIO_HEADER = "x-upstream-scenario"

OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
ANTHROPIC_MODEL = "claude-3-5-sonnet-20241022"

Frame = tuple[str | None, str]  # (SSE event name, data)

# The tool calls every "tools" scenario makes (tests/upstream.py's TOOL_CALLS), as the
# argument fragments their deltas carry.
WEATHER_ARGS = ['{"ci', 'ty": "Pa', 'ris", "unit": "cel', 'sius"}']
TIME_ARGS = ['{"timezone": ', '"Europe/Paris"}']


# ---------------------------------------------------------------- OpenAI chat


def _oa_chunk(choices: list[dict[str, Any]], usage: Any = None, cid: str = "chatcmpl-stub") -> str:
    return json.dumps(
        {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": OPENAI_MODEL,
            "system_fingerprint": "fp_stub",
            "choices": choices,
            "usage": usage,
        },
        separators=(",", ":"),
    )


def _oa_delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def _oa_usage(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _oa_tool_start(index: int, call_id: str, name: str) -> dict[str, Any]:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }


def _oa_tool_args(index: int, text: str) -> dict[str, Any]:
    return {"index": index, "function": {"arguments": text}}


def openai_chat(name: str, body: dict[str, Any]) -> Iterator[Frame]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    cid = f"chatcmpl-stub-{name.split('.', 1)[1]}"
    role = _oa_delta({"role": "assistant", "content": "", "refusal": None})
    if name in ("openai_chat.text", "openai_chat.usage"):
        yield None, _oa_chunk([role], cid=cid)
        for piece in ("Hello", ", world", "!"):
            yield None, _oa_chunk([_oa_delta({"content": piece})], cid=cid)
        yield None, _oa_chunk([_oa_delta({}, "stop")], cid=cid)
        if include_usage:
            usage = (
                _oa_usage(2006, 3, cached=1920) if name == "openai_chat.usage" else _oa_usage(12, 3)
            )
            yield None, _oa_chunk([], usage, cid=cid)
    elif name in ("openai_chat.tools", "openai_chat.tools_no_finish"):
        yield None, _oa_chunk([_oa_delta({"role": "assistant", "content": None})], cid=cid)
        calls = [("call_weather_1", "get_weather", WEATHER_ARGS)]
        if name == "openai_chat.tools":
            calls.append(("call_time_2", "get_time", TIME_ARGS))
        for index, (call_id, fn, parts) in enumerate(calls):
            yield (
                None,
                _oa_chunk(
                    [_oa_delta({"tool_calls": [_oa_tool_start(index, call_id, fn)]})], cid=cid
                ),
            )
            for part in parts:
                yield (
                    None,
                    _oa_chunk([_oa_delta({"tool_calls": [_oa_tool_args(index, part)]})], cid=cid),
                )
        if name == "openai_chat.tools":
            yield None, _oa_chunk([_oa_delta({}, "tool_calls")], cid=cid)
            if include_usage:
                yield None, _oa_chunk([], _oa_usage(80, 40), cid=cid)
        # tools_no_finish: the tool call is followed directly by [DONE]
    else:
        raise KeyError(name)
    yield None, "[DONE]"


# ---------------------------------------------------------------- Anthropic


def _an(obj: dict[str, Any]) -> Frame:
    return obj["type"], json.dumps(obj, separators=(",", ":"))


def anthropic(name: str, body: dict[str, Any]) -> Iterator[Frame]:
    mid = f"msg_stub_{name.split('.', 1)[1]}"
    usage_start: dict[str, Any] = {
        "input_tokens": 25,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    delta_usage: dict[str, Any] = {"output_tokens": 15}
    if name == "anthropic.cache":
        usage_start = {
            "input_tokens": 10,
            "cache_creation_input_tokens": 200,
            "cache_read_input_tokens": 1800,
            "output_tokens": 1,
        }
        delta_usage = {
            "input_tokens": 10,
            "cache_creation_input_tokens": 200,
            "cache_read_input_tokens": 1800,
            "output_tokens": 20,
        }
    yield _an(
        {
            "type": "message_start",
            "message": {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": ANTHROPIC_MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage_start,
            },
        }
    )
    if name == "anthropic.tools_no_args":
        pass  # straight to a tool call whose input is empty
    elif name in ("anthropic.text", "anthropic.cache", "anthropic.tools"):
        text = ["Hello", ", world", "!"] if name != "anthropic.tools" else ["Let me ", "check."]
        yield _an(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )
        yield _an({"type": "ping"})
        for piece in text:
            yield _an(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                }
            )
        yield _an({"type": "content_block_stop", "index": 0})
    else:
        raise KeyError(name)
    stop = "end_turn"
    if name == "anthropic.tools":
        stop = "tool_use"
        delta_usage = {"output_tokens": 42}
        for index, (tid, fn, parts) in enumerate(
            [
                ("toolu_weather_1", "get_weather", WEATHER_ARGS),
                ("toolu_time_2", "get_time", ["", *TIME_ARGS]),
            ],
            start=1,
        ):
            yield _an(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "tool_use", "id": tid, "name": fn, "input": {}},
                }
            )
            for part in parts:
                yield _an(
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    }
                )
            yield _an({"type": "content_block_stop", "index": index})
    if name == "anthropic.tools_no_args":
        stop = "tool_use"
        delta_usage = {"output_tokens": 12}
        yield _an(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_status_1",
                    "name": "get_status",
                    "input": {},
                },
            }
        )
        # what the API sends for a tool without parameters: one empty partial_json
        yield _an(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": ""},
            }
        )
        yield _an({"type": "content_block_stop", "index": 0})
    yield _an(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": delta_usage,
        }
    )
    yield _an({"type": "message_stop"})


SCENARIOS = (
    "openai_chat.text",
    "openai_chat.usage",
    "openai_chat.tools",
    "openai_chat.tools_no_finish",
    "anthropic.text",
    "anthropic.tools",
    "anthropic.cache",
    "anthropic.tools_no_args",
)


def frames(name: str, body: dict[str, Any]) -> list[Frame]:
    """The SSE frames of scenario ``name`` for a request ``body``."""
    if name.startswith("openai_chat."):
        return list(openai_chat(name, body))
    if name.startswith("anthropic."):
        return list(anthropic(name, body))
    raise KeyError(name)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        self.server.requests.append((self.path, dict(self.headers.items()), body))
        scenario = self.headers.get(SCENARIO_HEADER) or ""
        try:
            out = frames(scenario, body)
        except KeyError:
            msg = json.dumps({"error": {"message": f"unknown scenario {scenario!r}"}}).encode()
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for event, data in out:
            text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
            self.wfile.write(text.encode())
            self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[tuple[str, dict[str, str], dict[str, Any]]]


class StubUpstream:
    """A started stub server on 127.0.0.1 (ephemeral port); a context manager."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.requests = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        return self._server.requests

    def start(self) -> StubUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # serve until interrupted, for poking at it by hand
    import time

    with StubUpstream() as up:
        print(up.base_url, flush=True)
        while True:
            time.sleep(3600)
