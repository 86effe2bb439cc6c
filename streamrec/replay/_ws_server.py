"""The replay server's WebSocket side: recorded Responses WebSocket and Realtime streams, served back.

Each recorded server frame goes out as the same WebSocket message it was
(text verbatim, binary as its bytes), on the recorded clock, scaled, or at once.

- Responses WebSocket mode: every client ``response.create`` is matched like
  an HTTP request (its body's fingerprint; identical requests get their
  recordings in order) and answered with that response's frames. A
  ``response.create`` with no recording gets the API's ``error`` event
  (``{"type": "error", "status": 404, "error": {…}}``) naming it and the closest
  recordings: the connection stays open, as after any request-scoped error.
- Realtime: the connection is matched by its query (``model``) to a recorded
  session, which then plays as a script: the frames the server sent before
  the client's first message go out on connect; each client message must equal
  the next one recorded (as JSON, ``event_id`` aside), and is answered with the
  frames recorded after it. A message the script does not expect gets a
  Realtime ``error`` event saying what was expected; a session with no
  recording is refused with a 404 naming it.

A recording whose upstream connection dropped ends with the connection closed
(code 1011) after its last frame, as the client saw it break. Misses land in
the ``Matcher``'s ``misses`` (the pytest plugin fails the test on them).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from ..errors import NoMatchingRecording, StoreError
from ..events import EventKind, StoredEvent, StreamFailed
from ..providers import STREAM_ID_HEADER, WS_CLOSE, websocket_endpoint_for, ws_frame
from ..recorder import is_secret_key, scrub
from ..store import Store
from ._match import Matcher
from ._unreadable import store_failure

__all__ = ["serve_websocket", "with_websockets"]

_NO_RECORDING = "streamrec_no_recording"


def with_websockets(
    app: Any, *, store: Store, matcher: Matcher, speed: float, fallback: Any = None
) -> Any:
    """``app`` (the HTTP replay server) that also serves WebSocket connections.

    With ``fallback`` (auto mode's recording proxy), a Realtime session with no
    recording is relayed there and recorded, and so is a Responses connection
    whose first ``response.create`` has none (the whole connection then goes
    live: a response may build on the one before it); once a connection is
    replayed, a ``response.create`` with no recording gets the error event.
    """

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return
        chosen = None
        endpoint = websocket_endpoint_for(scope["path"])
        if fallback is not None and endpoint is not None and endpoint.api == "openai.realtime":
            chosen = await asyncio.to_thread(matcher.take, endpoint.api, _session_request(scope))
            if chosen is None:  # auto mode: an unrecorded session goes live, and is recorded
                await fallback(scope, receive, send)
                return
        await serve_websocket(
            scope,
            receive,
            send,
            store=store,
            matcher=matcher,
            speed=speed,
            fallback=fallback,
            chosen=chosen,
        )

    return asgi


def _session_request(scope: dict[str, Any]) -> dict[str, Any]:
    """What a Realtime connection asks, as recorded: its query, credentials removed."""
    query = scope.get("query_string", b"").decode("latin-1")
    request: dict[str, Any] = scrub({k: v for k, v in parse_qsl(query) if not is_secret_key(k)})
    return request


async def serve_websocket(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    *,
    store: Store,
    matcher: Matcher,
    speed: float,
    fallback: Any = None,
    chosen: str | None = None,
) -> None:
    """Serve one ASGI WebSocket connection from ``store``'s recordings (a Realtime
    session from ``chosen`` when the caller matched it already)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    path = scope["path"]
    endpoint = websocket_endpoint_for(path)
    if endpoint is None:
        body = {"error": {"type": "streamrec_not_served", "message": f"no WebSocket API at {path}"}}
        await _deny(send, 404, body)
        return
    if endpoint.api == "openai.realtime":
        await _realtime(scope, receive, send, store, matcher, speed, chosen)
    else:
        await _responses(scope, receive, send, store, matcher, speed, fallback)


# -- Responses API WebSocket mode ---------------------------------------------------------


async def _responses(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    store: Store,
    matcher: Matcher,
    speed: float,
    fallback: Any = None,
) -> None:
    await send({"type": "websocket.accept"})
    first = True
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        body = _object(text if text is not None else (message.get("bytes") or b"").decode())
        lane = body.get("stream_id") if isinstance(body.get("stream_id"), str) else None
        if body.get("type") != "response.create":
            kind = body.get("type")
            await _send_error(
                send, lane, "invalid_request_error", "unsupported_event",
                f"streamrec replays response.create events, not {kind!r}",
            )  # fmt: skip
            continue
        request = {k: v for k, v in body.items() if k != "type"}
        chosen: str | None = None
        if first and fallback is not None:
            chosen = await asyncio.to_thread(matcher.take, "openai.responses", request)
            if chosen is None:  # auto mode: this connection goes live, and is recorded
                await _hand_over(fallback, scope, receive, send, message)
                return
        first = False
        describe = f"response.create on WebSocket {scope['path']}"
        try:
            if chosen is None:
                chosen = await asyncio.to_thread(
                    functools.partial(matcher.find, describe=describe),
                    "openai.responses",
                    request,
                )
            events = await asyncio.to_thread(store.events, chosen)
        except NoMatchingRecording as exc:
            await _send_error(send, lane, "invalid_request_error", _NO_RECORDING, str(exc))
            continue
        except StoreError as exc:
            status, answer = store_failure(exc)
            await _send_error(
                send, lane, "server_error", "store_error", answer["error"]["message"], status
            )
            continue
        chunks = [e for e in events if e.kind is EventKind.CHUNK]
        await _play(send, chunks, base_ns=0, speed=speed)
        if events and events[-1].kind is EventKind.FAILED and _dropped(events[-1]):
            await send({"type": "websocket.close", "code": 1011, "reason": ""})
            return


async def _hand_over(
    fallback: Any, scope: dict[str, Any], receive: Any, send: Any, message: dict[str, Any]
) -> None:
    """Run the rest of an accepted connection through ``fallback`` (the recording proxy),
    starting with the client message already read."""
    pending = [{"type": "websocket.connect"}, message]

    async def again() -> Any:
        return pending.pop(0) if pending else await receive()

    async def relayed(event: dict[str, Any]) -> None:
        if event["type"] == "websocket.accept":
            return  # the client is connected already
        if event["type"] == "websocket.http.response.start":
            # the upstream refused the connection we accepted: close it as broken
            await send({"type": "websocket.close", "code": 1011, "reason": "upstream refused"})
            return
        if event["type"] == "websocket.http.response.body":
            return
        await send(event)

    await fallback(scope, again, relayed)


async def _send_error(
    send: Any, lane: str | None, type_: str, code: str, message: str, status: int | None = None
) -> None:
    """The Responses API's WebSocket ``error`` event (request-scoped: the socket stays open)."""
    event: dict[str, Any] = {
        "type": "error",
        "status": status or (404 if code == _NO_RECORDING else 400),
        "error": {"type": type_, "code": code, "message": message, "param": None},
    }
    if lane is not None:
        event["stream_id"] = lane
    await send({"type": "websocket.send", "text": json.dumps(event)})


# -- Realtime -----------------------------------------------------------------------------


async def _realtime(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    store: Store,
    matcher: Matcher,
    speed: float,
    chosen: str | None,
) -> None:
    query = scope.get("query_string", b"").decode("latin-1")
    request = _session_request(scope)
    describe = f"Realtime session {scope['path']}?{query}"
    try:
        if chosen is None:
            chosen = await asyncio.to_thread(
                functools.partial(matcher.find, describe=describe), "openai.realtime", request
            )
        events = await asyncio.to_thread(store.events, chosen)
    except StoreError as exc:  # before the upgrade is answered: refused in HTTP
        await _deny(send, *store_failure(exc))
        return
    except NoMatchingRecording as exc:
        await _deny(
            send,
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": _NO_RECORDING,
                    "message": str(exc),
                }
            },
        )
        return
    stream_id: str = chosen
    refused = _refusal(events)
    if refused is not None:  # the upstream refused this session's upgrade: so do we
        status, answer = refused
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")] if _object(answer) else [],
            }
        )
        await send({"type": "websocket.http.response.body", "body": answer.encode()})
        return
    steps = _script(events)
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": "realtime" if "realtime" in scope.get("subprotocols", ()) else None,
            "headers": [(STREAM_ID_HEADER.encode(), stream_id.encode())],
        }
    )
    if await _play(send, steps[0][1], base_ns=0, speed=speed):
        return
    position = 1
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["type"] != "websocket.receive":
            continue
        text = message.get("text")
        got = text if text is not None else (message.get("bytes") or b"").decode("utf-8", "replace")
        expected = steps[position][0] if position < len(steps) else None
        if expected is None or not _same(got, expected.payload):
            miss = _realtime_miss(stream_id, position, got, expected, matcher.hint)
            matcher.misses.append(miss)
            body = _object(got)
            error = {
                "type": "invalid_request_error",
                "code": _NO_RECORDING,
                "message": miss,
                "param": None,
                "event_id": body.get("event_id"),
            }
            event = {"type": "error", "event_id": f"event_streamrec_{position}", "error": error}
            await send({"type": "websocket.send", "text": json.dumps(event)})
            continue
        client, frames = steps[position]
        position += 1
        if await _play(send, frames, base_ns=client.t_ns if client else 0, speed=speed):
            return
        if position == len(steps) and events[-1].kind is EventKind.FAILED and _dropped(events[-1]):
            await send({"type": "websocket.close", "code": 1011, "reason": ""})
            return


def _refusal(events: Sequence[StoredEvent]) -> tuple[int, str] | None:
    """(status, body) of a session whose upgrade the upstream refused, else None."""
    if not events or events[-1].kind is not EventKind.FAILED:
        return None
    if any(e.kind is EventKind.CLIENT_MESSAGE for e in events):
        return None
    failed = StreamFailed.model_validate_json(events[-1].payload)
    if not failed.status_code or failed.status_code < 400:
        return None
    chunks = [e.payload for e in events if e.kind is EventKind.CHUNK]
    return failed.status_code, chunks[0] if chunks else ""


def _script(events: Sequence[StoredEvent]) -> list[tuple[StoredEvent | None, list[StoredEvent]]]:
    """[(client message or None for the opening, the server frames recorded after it)]."""
    steps: list[tuple[StoredEvent | None, list[StoredEvent]]] = [(None, [])]
    for event in events:
        if event.kind is EventKind.CLIENT_MESSAGE:
            steps.append((event, []))
        elif event.kind is EventKind.CHUNK:
            steps[-1][1].append(event)
    return steps


def _same(got: str, recorded: str) -> bool:
    """Is a client message the one recorded? Equal JSON, ignoring client-chosen ``event_id``s."""
    if got == recorded:
        return True
    a, b = _object(got), _object(recorded)
    if not a or not b:
        return False
    a = dict(scrub(a))  # the recording holds the frame with its credentials removed
    a.pop("event_id", None)
    b.pop("event_id", None)
    return a == b


def _realtime_miss(
    stream_id: str, position: int, got: str, expected: StoredEvent | None, hint: str
) -> str:
    kind = _object(got).get("type")
    head = f"no recording matches client message #{position} ({kind!r}) of Realtime session {stream_id}"
    how = f"; {hint}"
    if expected is None:
        return f"{head}: the recorded session ends before it{how}"
    a, b = _object(got), _object(expected.payload)
    keys = sorted(k for k in set(a) | set(b) if k != "event_id" and a.get(k) != b.get(k))
    return f"{head}: the recording has {b.get('type')!r} there (differs in {', '.join(keys) or 'its text'}){how}"


# -- shared -------------------------------------------------------------------------------


async def _play(send: Any, frames: Sequence[StoredEvent], *, base_ns: int, speed: float) -> bool:
    """Send recorded server frames, on the recorded clock from ``base_ns`` (scaled), or at once;
    True if a recorded close frame ended the connection."""
    start = time.monotonic_ns()
    for frame in frames:
        if speed:
            wait = (start + (frame.t_ns - base_ns) / speed - time.monotonic_ns()) / 1e9
            if wait > 0:
                await asyncio.sleep(wait)
        if frame.event == WS_CLOSE:  # the server ended the session here
            close = _object(frame.payload)
            await send(
                {"type": "websocket.close", "code": close.get("code", 1000),
                 "reason": close.get("reason") or ""}
            )  # fmt: skip
            return True
        data = ws_frame(frame.payload, frame.event)
        key = "text" if isinstance(data, str) else "bytes"
        await send({"type": "websocket.send", key: data})
    return False


def _dropped(failed: StoredEvent) -> bool:
    """Did the recorded connection break (as opposed to an error the API sent in-band)?"""
    return StreamFailed.model_validate_json(failed.payload).error_type == "WebSocketClosed"


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _deny(send: Any, status: int, body: dict[str, Any]) -> None:
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "websocket.http.response.body", "body": json.dumps(body).encode()})
