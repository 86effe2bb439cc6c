"""An HTTP server that answers provider requests from recordings, so unmodified programs run offline.

It speaks the endpoints the recording proxy records (see ``streamrec.providers``):
a streamed recording is re-sent event by event, framed as the provider frames
it, instantly or on the recorded clock; a recorded HTTP error is returned with
its status and body; a recording whose connection dropped drops again. A
request with no recording gets a 404 in the provider's error shape naming the
request and the closest recordings: never a silent live call. A store that cannot
be read (a database that is down, a corrupt file) answers 503 or 500 in the same
shape, with streamrec's one-line reason, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from ..errors import NoMatchingRecording, StoreError
from ..events import EventKind, StoredEvent
from ..projection import project
from ..providers import (
    JSON_ARRAY_API,
    STREAM_ID_HEADER,
    endpoint_for,
    frame_json_array,
    frame_sse,
    json_array_end,
    request_body,
)
from ..store import Store
from ._faults import Faults, error_event, rechunked
from ._match import Matcher
from ._replay import _failure, _plan
from ._unreadable import store_failure
from ._ws_server import with_websockets

__all__ = ["PLACEHOLDER_KEYS", "placeholder_keys", "replay_app"]

#: API-key variables the SDKs refuse to start without, and the placeholder an offline run gets
PLACEHOLDER_KEYS = {
    "OPENAI_API_KEY": "sk-streamrec-placeholder",
    "ANTHROPIC_API_KEY": "sk-ant-streamrec-placeholder",
    "GOOGLE_API_KEY": "streamrec-placeholder",
}


def placeholder_keys(environ: Mapping[str, str]) -> dict[str, str]:
    """The placeholder keys for the providers ``environ`` has no key for (an offline
    replay needs no secret; google-genai also takes ``GEMINI_API_KEY``)."""
    return {
        var: value
        for var, value in PLACEHOLDER_KEYS.items()
        if not environ.get(var) and not (var == "GOOGLE_API_KEY" and environ.get("GEMINI_API_KEY"))
    }


_CHOSEN = "streamrec.stream_id"  # scope state key: the recording auto mode chose


class _Dropped(Exception):
    """Raised inside a streaming body to make the server abort the connection, as recorded."""


class _QuietDrops(logging.Filter):
    """uvicorn logs an aborted response with a traceback; ours replay a recorded drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, _Dropped)


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def replay_app(
    store: Store,
    *,
    speed: float = 0.0,
    matcher: Matcher | None = None,
    fallback: Any = None,
    faults: Faults | None = None,
) -> Any:
    """An ASGI app serving ``store``'s recordings; ``speed`` as in ``streamrec.replay``.

    With ``fallback`` (another ASGI app, e.g. the recording proxy), a request
    that has no recording goes there instead of getting a 404: "auto" mode.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    match = matcher or Matcher(store)
    _quiet_uvicorn()

    async def handle(request: Request) -> Response:
        endpoint = endpoint_for(request.method, request.url.path)
        if endpoint is None:
            return JSONResponse(
                {
                    "error": {
                        "type": "streamrec_not_served",
                        "message": f"streamrec replays provider endpoints, not {request.method} {request.url.path}",
                    }
                },
                status_code=404,
            )
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": "request body is not JSON"}},
                status_code=400,
            )
        asked = request_body(endpoint, body)
        try:
            # auto mode's front door may have chosen the recording already
            stream_id = request.scope.get("state", {}).get(_CHOSEN) or await asyncio.to_thread(
                match.find, endpoint.api, asked, describe=f"POST {request.url.path}"
            )
        except NoMatchingRecording as exc:
            return JSONResponse(
                {
                    "error": {
                        "type": "streamrec_no_recording",
                        "code": "no_recording",
                        "message": str(exc),
                    }
                },
                status_code=404,
            )
        events = await asyncio.to_thread(store.events, stream_id)
        chunks = [e for e in events if e.kind is EventKind.CHUNK]
        status, recorded = _recorded_head(events)
        headers = {**recorded, STREAM_ID_HEADER: stream_id}
        media = headers.pop("content-type", None)
        shot = faults.take_status() if faults is not None else None
        if shot is not None:
            body_bytes, extra = faults.status_response(endpoint.api, shot)  # type: ignore[union-attr]
            return Response(
                body_bytes,
                status_code=shot,
                media_type="application/json",
                headers={STREAM_ID_HEADER: stream_id, **extra},
            )
        failed = _failure(events)
        if failed is not None and failed.status_code and failed.status_code >= 400:
            body_text = (
                chunks[0].payload if chunks else json.dumps({"error": {"message": str(failed)}})
            )
            return Response(
                body_text,
                status_code=failed.status_code,
                media_type=media or "application/json",
                headers=headers,
            )
        streaming = (
            endpoint.streaming if endpoint.streaming is not None else bool(asked.get("stream"))
        )
        if not streaming:
            if len(chunks) == 1 and _recorded_whole(events[0]):
                return Response(
                    chunks[0].payload,
                    status_code=status,
                    media_type=media or "application/json",
                    headers=headers,
                )
            call = project(events).construct_call_response()
            return JSONResponse(call.response, headers=headers)
        # recorded from SDK objects, which hide OpenAI's closing [DONE]: send it as the wire had it
        done = (
            endpoint.api == "openai.chat.completions"
            and events[-1].kind is EventKind.COMPLETED
            and not any(c.payload.strip() == "[DONE]" for c in chunks)
        )
        # Gemini frames a stream by the request, whatever the recording's framing was:
        # SSE with ?alt=sse, else one JSON array growing element by element
        array = endpoint.api == JSON_ARRAY_API and request.query_params.get("alt") != "sse"
        if array:
            media = "application/json; charset=UTF-8"
        elif not (media or "text/event-stream").startswith("text/event-stream"):
            media = "text/event-stream"  # recorded as an array, asked for as SSE
        plan = _delivery(events, endpoint.api, speed, done, faults, array=array)

        async def body_iter() -> AsyncIterator[bytes]:
            if not speed and faults is None:
                # instant replay: the first event, then the rest in one write (an ASGI message
                # and a socket write per chunk made a 500-chunk replay slower than a cassette)
                frames = [data for _, data in plan if data is not None]
                if frames:
                    yield frames[0]
                if len(frames) > 1:
                    yield b"".join(frames[1:])
            else:
                start = time.monotonic()
                cutoff = (
                    faults.disconnect_after_ms / 1000
                    if faults is not None and faults.disconnect_after_ms is not None
                    else None
                )
                for wait, data in plan:
                    if cutoff is not None and time.monotonic() - start + max(wait, 0) >= cutoff:
                        await asyncio.sleep(max(0.0, cutoff - (time.monotonic() - start)))
                        raise _Dropped(f"disconnect_after_ms={faults.disconnect_after_ms}")  # type: ignore[union-attr]
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if data is None:
                        raise _Dropped(f"fail_at_chunk={faults.fail_at_chunk}")  # type: ignore[union-attr]
                    yield data
            if failed is not None:
                raise _Dropped(f"recorded stream {stream_id} failed: {failed.error_type}")

        return StreamingResponse(
            body_iter(), media_type=media or "text/event-stream", headers=headers
        )

    async def store_failed(request: Request, exc: Exception) -> Response:
        status, body = store_failure(exc)  # type: ignore[arg-type]
        return JSONResponse(body, status_code=status)

    inner = Starlette(
        routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "DELETE"])],
        exception_handlers={StoreError: store_failed},
    )
    if fallback is None:
        return with_websockets(inner, store=store, matcher=match, speed=speed)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)

        replayed = False

        async def again() -> dict[str, Any]:
            # the body once, as read; then the real channel (disconnects, …)
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        endpoint = endpoint_for(scope["method"], scope["path"])
        target = fallback
        if endpoint is not None:
            try:
                asked = request_body(endpoint, json.loads(body or b"{}"))
            except ValueError:
                asked = None
            try:
                chosen = (
                    await asyncio.to_thread(match.take, endpoint.api, asked)
                    if asked is not None
                    else None
                )
            except StoreError as exc:
                status, answer = store_failure(exc)
                await JSONResponse(answer, status_code=status)(scope, again, send)
                return
            if chosen is not None:
                scope.setdefault("state", {})[_CHOSEN] = chosen
                target = inner
        await target(scope, again, send)

    return with_websockets(app, store=store, matcher=match, speed=speed, fallback=fallback)


def _recorded_head(events: list[StoredEvent]) -> tuple[int, dict[str, str]]:
    """The recorded response status and headers (200 and none for older recordings)."""
    last = events[-1].model() if events else None
    response = getattr(last, "response", None) or {}
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    return int(response.get("status") or 200), headers


def _delivery(
    events: list[StoredEvent],
    api: str,
    speed: float,
    done: bool,
    faults: Faults | None,
    *,
    array: bool = False,
) -> Iterator[tuple[float, bytes | None]]:
    """(wait, bytes) per write of a streamed replay; ``None`` bytes: drop the connection here.
    ``array``: Gemini's framing without ``?alt=sse`` (one JSON array) instead of SSE."""
    fail_at = faults.fail_at_chunk if faults is not None else None

    def frame(n: int, data: str, event: str | None) -> bytes:
        return frame_json_array(n, data) if array else frame_sse(api, data, event)

    def framed() -> Iterator[tuple[float, bytes | None]]:
        sent = 0
        for n, (wait, sse) in enumerate(_plan(events, api, "sse", speed)):
            if fail_at is not None and n >= fail_at:
                error = error_event(api) if faults and faults.fail_as == "error" else None
                if error is None:  # without the provider's own error event, a drop
                    yield wait, None
                    return
                yield wait, frame(sent, *error)  # which ends the stream
                if array:
                    yield 0.0, json_array_end(sent + 1)
                return
            yield wait, frame(sent, sse.data, sse.event)
            sent += 1
        if array:
            yield 0.0, json_array_end(sent)
        if done:
            yield 0.0, frame_sse(api, "[DONE]", None)

    if faults is None or faults.rechunk is None:
        yield from framed()
        return
    # re-cut the bytes before the drop (if any); the drop stays last
    dropped = False

    def data_only() -> Iterator[tuple[float, bytes]]:
        nonlocal dropped
        for wait, data in framed():
            if data is None:
                dropped = True
                return
            yield wait, data

    yield from rechunked(data_only(), faults.rechunk)
    if dropped:
        yield 0.0, None


def _recorded_whole(started: StoredEvent) -> bool:
    """Was this recording a non-streaming call (its one chunk the whole response body)?"""
    payload = started.model()
    request = getattr(payload, "request", {})
    return not request.get("stream", False)
