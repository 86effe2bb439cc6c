"""An HTTP server that answers provider requests from recordings, so unmodified programs run offline.

It speaks the endpoints the recording proxy records (see ``streamrec.providers``):
a streamed recording is re-sent event by event, framed as the provider frames
it, instantly or on the recorded clock; a recorded HTTP error is returned with
its status and body; a recording whose connection dropped drops again. A
request with no recording gets a 404 in the provider's error shape naming the
request and the closest recordings: never a silent live call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ..errors import NoMatchingRecording
from ..events import EventKind, StoredEvent
from ..projection import project
from ..providers import STREAM_ID_HEADER, endpoint_for, frame_sse, request_body
from ..store import Store
from ._match import Matcher
from ._replay import _failure, _plan
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


def replay_app(
    store: Store, *, speed: float = 0.0, matcher: Matcher | None = None, fallback: Any = None
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
        headers = {STREAM_ID_HEADER: stream_id}
        failed = _failure(events)
        if failed is not None and failed.status_code and failed.status_code >= 400:
            body_text = (
                chunks[0].payload if chunks else json.dumps({"error": {"message": str(failed)}})
            )
            return Response(
                body_text,
                status_code=failed.status_code,
                media_type="application/json",
                headers=headers,
            )
        streaming = (
            endpoint.streaming if endpoint.streaming is not None else bool(asked.get("stream"))
        )
        if not streaming:
            if len(chunks) == 1 and _recorded_whole(events[0]):
                return Response(chunks[0].payload, media_type="application/json", headers=headers)
            call = project(events).construct_call_response()
            return JSONResponse(call.response, headers=headers)
        # recorded from SDK objects, which hide OpenAI's closing [DONE]: send it as the wire had it
        done = (
            endpoint.api == "openai.chat.completions"
            and events[-1].kind is EventKind.COMPLETED
            and not any(c.payload.strip() == "[DONE]" for c in chunks)
        )

        async def body_iter() -> AsyncIterator[bytes]:
            for wait, sse in _plan(events, endpoint.api, "sse", speed):
                if wait > 0:
                    await asyncio.sleep(wait)
                yield frame_sse(endpoint.api, sse.data, sse.event)
            if done:
                yield frame_sse(endpoint.api, "[DONE]", None)
            if failed is not None:
                raise _Dropped(f"recorded stream {stream_id} failed: {failed.error_type}")

        return StreamingResponse(body_iter(), media_type="text/event-stream", headers=headers)

    inner = Starlette(
        routes=[Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "DELETE"])]
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
            chosen = (
                await asyncio.to_thread(match.take, endpoint.api, asked)
                if asked is not None
                else None
            )
            if chosen is not None:
                scope.setdefault("state", {})[_CHOSEN] = chosen
                target = inner
        await target(scope, again, send)

    return with_websockets(app, store=store, matcher=match, speed=speed, fallback=fallback)


def _recorded_whole(started: StoredEvent) -> bool:
    """Was this recording a non-streaming call (its one chunk the whole response body)?"""
    payload = started.model()
    request = getattr(payload, "request", {})
    return not request.get("stream", False)
