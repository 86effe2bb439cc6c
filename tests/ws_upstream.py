"""A local stand-in for OpenAI's WebSocket APIs, served by the ``websockets`` library in a thread.

Why it exists: the recording proxy and the replay server must carry the frames
the providers send, over a real socket, driven by the openai SDK's own
WebSocket clients (``client.responses.connect()``, ``client.realtime.connect()``).

- ``/v1/responses`` (Responses API WebSocket mode, developers.openai.com
  "WebSocket mode"): each client ``response.create`` (the body of
  ``POST /v1/responses`` plus ``type``) is answered with the same events as the
  SSE stream, one JSON text frame each (built by ``tests.upstream._Resp``), and
  every event echoes the request's ``stream_id`` lane when it has one. The
  request's ``input`` text picks the answer: ``[tools]`` two function calls,
  ``[error]`` an ``error`` event (``{"type": "error", "status", "error": {…}}``),
  ``[drop]`` two deltas and then the TCP connection is cut; else the echo text.
- ``/v1/realtime?model=…`` (Realtime API, "Realtime client/server events"):
  ``session.created`` on connect; ``session.update`` -> ``session.updated``;
  ``conversation.item.create`` -> ``conversation.item.added`` and ``.done``;
  ``input_audio_buffer.commit`` -> ``.committed``; ``response.create`` -> one
  response (audio with its transcript, or text when the session's
  ``output_modalities`` is ``["text"]``; ``[tools]`` in the last user text: a
  function call) ending in ``response.done`` with usage including audio tokens.
  An unknown client event gets an ``error`` event; a user text with ``[hangup]``
  gets its items echoed and then the server closes the session (code 3000).

A ``Authorization`` header is required (as upstream) and recorded in
``handshakes`` so tests can check what reached the upstream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from tests.upstream import API_OPENAI_RESPONSES, TOOL_CALLS, Frame, _hex, _Resp, echo_text

__all__ = ["REALTIME_TRANSCRIPT", "WSUpstream", "ws_upstream"]

REALTIME_TRANSCRIPT = "Hello there! How can I help you today?"
_AUDIO = base64.b64encode(bytes(range(256)) * 4).decode()


class _WsResp(_Resp):
    """``_Resp`` whose events are WebSocket text frames (JSON), echoing the lane."""

    def __init__(self, req: dict[str, Any]) -> None:
        super().__init__({**req, "stream_options": {"include_obfuscation": False}})
        self.lane = req.get("stream_id")

    def event(self, type_: str, **fields: Any) -> Frame:
        obj: dict[str, Any] = {"type": type_, "sequence_number": self.seq, **fields}
        if self.lane is not None:
            obj["stream_id"] = self.lane
        self.seq += 1
        return Frame(json.dumps(obj, separators=(",", ":")).encode())


def _responses_frames(req: dict[str, Any]) -> tuple[list[str], bool]:
    """(frames, cut the connection after them) for one ``response.create``."""
    text = json.dumps(req.get("input"))
    r = _WsResp(req)
    if "[error]" in text:
        error = {
            "type": "error",
            "status": 400,
            "error": {
                "type": "invalid_request_error",
                "code": "model_not_found",
                "message": "The requested model does not exist.",
                "param": "model",
            },
        }
        if r.lane is not None:
            error["stream_id"] = r.lane
        return [json.dumps(error)], False
    frames = r.start()
    if "[tools]" in text:
        items = []
        for index, (name, args) in enumerate(TOOL_CALLS):
            f, item = r.function_call(index, name, args)
            frames += f
            items.append(item)
        usage = _usage(75, 38)
    elif "[drop]" in text:
        f, _ = r.message(0, echo_text(API_OPENAI_RESPONSES, req), cut=2)
        return [x.data.decode() for x in [*frames, *f]], True
    else:
        f, item = r.message(0, echo_text(API_OPENAI_RESPONSES, req))
        frames += f
        items = [item]
        usage = _usage(12, 6)
    frames.append(r.completed(items, usage))
    return [x.data.decode() for x in frames], False


def _usage(inp: int, out: int) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inp + out,
    }


class _Realtime:
    """One Realtime session's server side."""

    def __init__(self, model: str) -> None:
        self.session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_" + _hex(12),
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
        }
        self.last_user = ""
        self.items = 0

    def event(self, type_: str, **fields: Any) -> str:
        return json.dumps({"type": type_, "event_id": "event_" + _hex(10), **fields})

    def opened(self) -> list[str]:
        return [self.event("session.created", session=self.session)]

    def answer(self, body: dict[str, Any]) -> list[str]:
        kind = body.get("type")
        if kind == "session.update":
            self.session.update(body.get("session") or {})
            return [self.event("session.updated", session=self.session)]
        if kind == "conversation.item.create":
            item = {"id": "item_" + _hex(10), "object": "realtime.item", **body["item"]}
            item.setdefault("status", "completed")
            for part in item.get("content") or ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    self.last_user = part["text"]
            return [
                self.event("conversation.item.added", item=item, previous_item_id=None),
                self.event("conversation.item.done", item=item, previous_item_id=None),
            ]
        if kind == "input_audio_buffer.append":
            return []
        if kind == "input_audio_buffer.commit":
            return [self.event("input_audio_buffer.committed", item_id="item_" + _hex(10))]
        if kind == "response.create":
            return self.response()
        error = {
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": f"Invalid value: '{kind}'. Supported values are: 'session.update', …",
            "param": "type",
            "event_id": body.get("event_id"),
        }
        return [self.event("error", error=error)]

    def response(self) -> list[str]:
        rid = "resp_" + _hex(10)
        base = {"object": "realtime.response", "id": rid, "conversation_id": "conv_" + _hex(8)}
        out: list[str] = [
            self.event(
                "response.created",
                response={**base, "status": "in_progress", "output": [], "usage": None},
            )
        ]
        if "[tools]" in self.last_user:
            name, args = TOOL_CALLS[0]
            arguments = json.dumps(args, separators=(",", ":"))
            item_id, call_id = "item_" + _hex(10), "call_" + _hex(8)
            head = {
                "id": item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": name,
                "call_id": call_id,
                "arguments": "",
            }
            done = {**head, "status": "completed", "arguments": arguments}
            where = {"response_id": rid, "item_id": item_id, "output_index": 0}
            out.append(
                self.event("response.output_item.added", response_id=rid, output_index=0, item=head)
            )
            for i in range(0, len(arguments), 9):
                out.append(
                    self.event(
                        "response.function_call_arguments.delta",
                        call_id=call_id,
                        delta=arguments[i : i + 9],
                        **where,
                    )
                )
            out += [
                self.event(
                    "response.function_call_arguments.done",
                    call_id=call_id,
                    name=name,
                    arguments=arguments,
                    **where,
                ),
                self.event("response.output_item.done", response_id=rid, output_index=0, item=done),
            ]
            usage = _realtime_usage(text_in=120, audio_in=0, text_out=22, audio_out=0)
            output = [done]
        else:
            text_mode = self.session.get("output_modalities") == ["text"]
            item_id = "item_" + _hex(10)
            head = {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            where = {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}
            out += [
                self.event(
                    "response.output_item.added", response_id=rid, output_index=0, item=head
                ),
                self.event(
                    "response.content_part.added",
                    part={"type": "text" if text_mode else "audio", "transcript": ""},
                    **where,
                ),
            ]
            words = REALTIME_TRANSCRIPT.split(" ")
            pieces = [w + " " for w in words[:-1]] + [words[-1]]
            for piece in pieces:
                if text_mode:
                    out.append(self.event("response.output_text.delta", delta=piece, **where))
                else:
                    out.append(self.event("response.output_audio.delta", delta=_AUDIO, **where))
                    out.append(
                        self.event("response.output_audio_transcript.delta", delta=piece, **where)
                    )
            if text_mode:
                out.append(
                    self.event("response.output_text.done", text=REALTIME_TRANSCRIPT, **where)
                )
                part = {"type": "output_text", "text": REALTIME_TRANSCRIPT}
                usage = _realtime_usage(text_in=40, audio_in=0, text_out=11, audio_out=0)
            else:
                out += [
                    self.event("response.output_audio.done", **where),
                    self.event(
                        "response.output_audio_transcript.done",
                        transcript=REALTIME_TRANSCRIPT,
                        **where,
                    ),
                ]
                part = {"type": "output_audio", "transcript": REALTIME_TRANSCRIPT}
                usage = _realtime_usage(text_in=40, audio_in=60, text_out=11, audio_out=48)
            done = {**head, "status": "completed", "content": [part]}
            out += [
                self.event(
                    "response.content_part.done",
                    part={"type": part["type"].removeprefix("output_"), "transcript": ""},
                    **where,
                ),
                self.event("response.output_item.done", response_id=rid, output_index=0, item=done),
            ]
            output = [done]
        out.append(
            self.event(
                "response.done",
                response={**base, "status": "completed", "output": output, "usage": usage},
            )
        )
        return out


def _realtime_usage(
    *, text_in: int, audio_in: int, text_out: int, audio_out: int
) -> dict[str, Any]:
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


class WSUpstream:
    """The server on ``127.0.0.1:<free port>`` in a daemon thread with its own event loop."""

    def __init__(self) -> None:
        self.handshakes: list[dict[str, str]] = []
        """Each connection's request headers (lower-cased) and ``path``."""
        self.received: list[str] = []
        """Every client frame, in arrival order."""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, name="ws-upstream", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        """``OPENAI_BASE_URL`` for the SDK (it derives ``ws://…/v1/responses`` from it)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> WSUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the WebSocket upstream did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def __enter__(self) -> WSUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(
            self._handle, "127.0.0.1", 0, process_request=self._check, max_size=None
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        self.handshakes.append({**headers, "path": request.path})
        if not headers.get("authorization", "").startswith("Bearer "):
            body = {"error": {"type": "invalid_request_error", "message": "Missing bearer"}}
            response = connection.respond(401, json.dumps(body))
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        path = request.path.split("?", 1)[0]
        if path not in ("/v1/responses", "/v1/realtime"):
            return connection.respond(404, "no such endpoint\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        if path.startswith("/v1/realtime"):
            await self._realtime(ws, path)
        else:
            await self._responses(ws)

    async def _responses(self, ws: ServerConnection) -> None:
        async for message in ws:
            self.received.append(str(message))
            body = json.loads(message)
            if body.get("type") != "response.create":
                error = {"type": "invalid_request_error", "message": "unsupported event"}
                await ws.send(json.dumps({"type": "error", "status": 400, "error": error}))
                continue
            frames, cut = _responses_frames({k: v for k, v in body.items() if k != "type"})
            for frame in frames:
                await ws.send(frame)
            if cut:
                ws.transport.abort()  # no close frame: the client sees a dropped connection
                return

    async def _realtime(self, ws: ServerConnection, path: str) -> None:
        from urllib.parse import parse_qs, urlsplit

        model = parse_qs(urlsplit(path).query).get("model", ["gpt-realtime"])[0]
        session = _Realtime(model)
        for frame in session.opened():
            await ws.send(frame)
        async for message in ws:
            self.received.append(str(message))
            for frame in session.answer(json.loads(message)):
                await ws.send(frame)
            if "[hangup]" in session.last_user:  # the server ends the session itself
                await ws.close(3000, "invalid_request_error.session_expired")
                return


@pytest.fixture(scope="session")
def ws_upstream_session() -> Iterator[WSUpstream]:
    """One WebSocket upstream for the run."""
    with WSUpstream() as up:
        yield up


@pytest.fixture
def ws_upstream(ws_upstream_session: WSUpstream) -> WSUpstream:
    """The shared WebSocket upstream, with its logs cleared."""
    ws_upstream_session.handshakes.clear()
    ws_upstream_session.received.clear()
    return ws_upstream_session
