"""Recording WebSocket streams in the proxy: OpenAI's Responses WebSocket mode and Realtime API.

The proxy accepts the client's upgrade only once the upstream accepted ours
(sent with the client's own headers and subprotocols, so the upstream decides
what it decides for the client: an upstream refusal reaches the client as the
same HTTP answer). Then every message is relayed as it arrives, both ways, by
the ``websockets`` library upstream and the ASGI server's WebSocket support
downstream; nothing is framed by hand.

What becomes a recorded stream (``ConnectionLog``, no I/O):

- Responses WebSocket mode: one stream per response, as over HTTP. A client's
  ``response.create`` opens a stream whose request is that frame's body (the
  same fields as ``POST /v1/responses``, so it matches like its HTTP twin); the
  server's events are its chunks until its terminal event (``response.completed``,
  ``.incomplete``, ``.failed`` or ``error``). Concurrent responses on one
  connection are told apart by their ``stream_id`` lane. Every stream of a
  connection carries ``connection: {id, transport, path, index}`` in its
  ``stream.started``.
- Realtime: one stream per session (per connection). Its server state (session
  config, conversation items, the audio buffer) spans responses, so a response
  cannot be understood or replayed without the frames before it; per-response
  figures live in the projection (``provider_data["responses"]``). The request
  is the connection's query (``model``, or ``call_id``).

The client's frames are ``client.message`` events and the server's are
``chunk`` events, in the order the proxy saw them, each with its time. As with
HTTP, recording never breaks the relay: a recording that raises is logged and
dropped while messages keep flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from ..events import SSEEvent, dumps, new_stream_id
from ..providers import WS_BASE64, WS_CLOSE, Endpoint, websocket_endpoint_for, ws_stored
from ..store import Store
from ._attribution import Attribution, split_headers
from ._exchange import UpstreamStatusError
from ._recording import Recording
from ._redact import Redact, is_secret_key, redact_text, scrub
from ._routes import BadTarget, request_path, split_provider, upstream_url

__all__ = ["ConnectionLog", "relay_websocket", "websocket_url"]

log = logging.getLogger("streamrec.proxy")

OnFinish = Callable[[Recording], None]

# the terminal events of one response (Responses API), as over SSE
_RESPONSE_END = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
# events that begin a response, also one the server starts by itself
_RESPONSE_START = frozenset({"response.created", "response.queued"})
# headers that belong to one hop's handshake; the websockets client makes its own
_HANDSHAKE = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    }
)
# what our own server adds to the 101 answer (or must not repeat)
_ANSWER_OWN = _HANDSHAKE | {"date", "server"}
_CONNECT_TIMEOUT = 15.0
_CLIENT_LEFT = "the client closed the WebSocket before the response ended"
# close codes that cannot be sent in a close frame (RFC 6455 7.4.1)
_UNSENDABLE = frozenset({1005, 1006, 1015})


def websocket_url(http_url: str) -> str:
    """``http(s)://…`` as the ``ws(s)://…`` URL of the same endpoint."""
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://") :]
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://") :]
    return http_url


class ConnectionLog:
    """The recorded streams of one WebSocket connection: fed its frames, builds no I/O."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        path: str,
        query: str,
        store: Store | None,
        name: str | None = None,
        tags: Iterable[str] = (),
        on_finish: OnFinish | None = None,
        on_open: Callable[[Recording], None] | None = None,
        redact: Redact | None = None,
        metadata: Mapping[str, str] | None = None,
        durability: str = "group",
    ) -> None:
        self.endpoint = endpoint
        self.connection_id = new_stream_id()
        self.recordings: list[Recording] = []
        self._path = path
        self._query = [(k, v) for k, v in parse_qsl(query) if not is_secret_key(k)]
        self._store = store
        self._name = name
        self._tags = list(tags)
        self._on_finish = on_finish
        self._on_open = on_open
        self._redact = redact
        self._metadata = dict(metadata or {})
        self._durability = durability
        self._per_session = endpoint.api == "openai.realtime"
        # open responses per lane (Responses API ``stream_id``; None: the default lane)
        self._lanes: dict[str | None, list[Recording]] = {}
        self._session: Recording | None = None
        self._closed = False  # frames still in flight after a close reach nobody: not recorded
        # streams the server opened with a frame that starts no response (steering
        # news after a response ended): settled as complete by whatever comes next
        self._orphans: list[Recording] = []

    # -- what the relay calls -----------------------------------------------------------

    def opened(self) -> None:
        """The upstream accepted the connection: a Realtime session starts now."""
        if self._per_session:
            self._session = self._open(dict(self._query))

    def refused(self, status: int, body: bytes) -> None:
        """The upstream refused the upgrade with an HTTP answer (Realtime: a failed session)."""
        session = self._open(dict(self._query))
        if session is None:
            return
        text = redact_text(body.decode("utf-8", errors="replace"))  # a 401 may echo the key
        if text:
            _guard(session, session.chunk, SSEEvent(text))
        error = UpstreamStatusError(
            f"the upstream refused the WebSocket with HTTP {status}: {text[:2000]}"
        )
        self._finish(session, session.fail, error, status)

    def client(self, message: str | bytes) -> None:
        """A frame the client sent (recorded before it is forwarded)."""
        if self._closed:
            return
        data, event = ws_stored(message)
        if event != WS_BASE64:
            data = _scrubbed(data)  # what the client sent is a request: no credentials kept
        if self._per_session:
            target = self._session
        else:
            body = _object(data)
            lane = _lane(body)
            if event == "response.create":
                self._settle_orphans(lane)
                request = {k: v for k, v in body.items() if k != "type"}
                target = self._open(request)
                if target is not None:
                    self._lanes.setdefault(lane, []).append(target)
            else:
                target = self._current(lane)
        if target is not None:
            _guard(target, target.client_message, data, event)

    def server(self, message: str | bytes) -> None:
        """A frame the upstream sent (recorded before it is forwarded)."""
        if self._closed:
            return
        data, event = ws_stored(message)
        if self._per_session:
            if self._session is not None:
                _guard(self._session, self._session.chunk, SSEEvent(data, event))
            return
        body = _object(data)
        lane = _lane(body)
        kind = body.get("type") if isinstance(body.get("type"), str) else event
        if kind in _RESPONSE_START:
            self._settle_orphans(lane)
        target = self._current(lane)
        if target is None:  # the server began a response by itself (a steered successor)
            target = self._open({})
            if target is None:
                return
            self._lanes.setdefault(lane, []).append(target)
            if kind not in _RESPONSE_START:
                self._orphans.append(target)
        _guard(target, target.chunk, SSEEvent(data, event))
        if kind in _RESPONSE_END:
            self._lanes[lane].remove(target)
            self._finish(target, target.complete)

    def client_closed(self, code: int) -> None:
        """The client closed (or dropped) the connection."""
        self._closed = True
        if self._session is not None:
            if code in (1000, 1001):  # hanging up is how a session ends
                self._finish(self._session, self._session.complete)
            else:
                self._finish(
                    self._session, self._session.interrupt, f"{_CLIENT_LEFT} (code {code})"
                )
        for recording in self._open_responses():
            self._finish(recording, recording.interrupt, _CLIENT_LEFT)

    def upstream_closed(self, code: int | None, reason: str, error: BaseException | None) -> None:
        """The upstream closed the connection; ``error`` when it dropped it."""
        self._closed = True
        described = (
            f"the upstream closed the WebSocket (code {code}{', ' + reason if reason else ''})"
        )
        if self._session is not None and not self._session.finished:
            if code is not None and code not in _UNSENDABLE:
                # the server ended the session with a close frame: kept, so replay ends it too
                close = json.dumps({"code": code, "reason": reason}, separators=(",", ":"))
                _guard(self._session, self._session.chunk, SSEEvent(close, WS_CLOSE))
            if error is None and code in (1000, 1001):
                self._finish(self._session, self._session.complete)
            else:
                self._finish(self._session, self._session.fail, WebSocketClosed(described, error))
        for recording in self._open_responses():
            self._finish(
                recording, recording.fail, WebSocketClosed(described + " mid-response", error)
            )

    # -- internals ----------------------------------------------------------------------

    def _open(self, request: dict[str, Any]) -> Recording | None:
        index = len(self.recordings)
        try:
            recording = Recording(
                api=self.endpoint.api,
                request=request,
                store=self._store,
                name=self._name,
                tags=self._tags,
                metadata=self._metadata,
                redact=self._redact,
                durability=self._durability,
                connection={
                    "id": self.connection_id,
                    "transport": "websocket",
                    "path": self._path,
                    "index": index,
                },
            )
        except Exception as exc:  # the relay goes on unrecorded
            log.warning("streamrec: not recording a WebSocket stream: %s", exc)
            return None
        self.recordings.append(recording)
        if self._on_open is not None:
            self._on_open(recording)
        return recording

    def _current(self, lane: str | None) -> Recording | None:
        """The oldest open response of a lane (events of one lane arrive in order)."""
        open_ = self._lanes.get(lane)
        return open_[0] if open_ else None

    def _open_responses(self) -> list[Recording]:
        """The responses still open at the close (orphans are settled as complete)."""
        for lane in list(self._lanes):
            self._settle_orphans(lane)
        out = [r for lane in self._lanes.values() for r in lane]
        self._lanes.clear()
        return out

    def _settle_orphans(self, lane: str | None) -> None:
        for recording in [r for r in self._lanes.get(lane, ()) if r in self._orphans]:
            self._orphans.remove(recording)
            self._lanes[lane].remove(recording)
            self._finish(recording, recording.complete)

    def _finish(self, recording: Recording, method: Callable[..., Any], *args: Any) -> None:
        if recording.finished:
            return
        _guard(recording, method, *args)
        if self._on_finish is not None:
            try:
                self._on_finish(recording)
            except Exception:  # a reporting hook must not break the relay
                log.exception("streamrec: on_finish hook failed")


class WebSocketClosed(Exception):
    """Why a WebSocket stream ended without its last event."""

    def __init__(self, message: str, cause: BaseException | None) -> None:
        super().__init__(message if cause is None else f"{message}: {cause}")


def _guard(recording: Recording, method: Callable[..., Any], *args: Any) -> None:
    try:
        method(*args)
    except Exception as exc:
        if recording.strict:
            raise
        recording.finished = True  # give up on this one; the relay goes on
        log.warning("streamrec: recording %s stopped: %s", recording.stream_id, exc)


def _scrubbed(text: str) -> str:
    """A client frame fit to store: verbatim unless it carries credentials (then scrubbed
    as a request is, and written back as compact JSON)."""
    body = _object(text)
    if not body:
        return redact_text(text)
    clean = scrub(body)
    return text if clean == body else dumps(clean)


def _object(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _lane(body: Mapping[str, Any]) -> str | None:
    lane = body.get("stream_id")
    return lane if isinstance(lane, str) else None


# -- the relay (I/O) ----------------------------------------------------------------------


async def relay_websocket(
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    *,
    upstreams: Mapping[str, str],
    store: Store | None,
    attribution: Attribution | None = None,
    on_finish: OnFinish | None = None,
    on_open: Callable[[Recording], None] | None = None,
    redact: Redact | None = None,
    durability: str = "group",
) -> None:
    """Serve one ASGI WebSocket connection: connect upstream, relay both ways, record.

    ``attribution`` is the proxy's default name, tags and metadata; the upgrade
    request's ``x-streamrec-*`` headers add to them for every stream of the
    connection, and are not forwarded.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    message = await receive()
    if message["type"] != "websocket.connect":
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    query = scope.get("query_string", b"").decode("latin-1")
    try:  # the same rule as HTTP: only ever the configured upstream, its base path kept
        target = request_path(scope.get("raw_path") or scope["path"].encode())
        provider, path = split_provider(target, headers, query)
        url = websocket_url(str(upstream_url(upstreams[provider], path, query)))
    except BadTarget as exc:
        body = json.dumps({"error": {"type": "bad_request_target", "message": str(exc)}})
        await _deny(send, 400, [(b"content-type", b"application/json")], body.encode())
        return
    found, kept = split_headers(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
    )
    who = (attribution or Attribution()).with_headers(found)
    forwarded = [(k, v) for k, v in kept if k.lower() not in _HANDSHAKE]

    def connection_log(endpoint: Endpoint) -> ConnectionLog:
        # the recorder of this connection's streams, refused at the upgrade or relayed
        return ConnectionLog(
            endpoint,
            path=path,
            query=query,
            store=store,
            name=who.name,
            tags=who.tags,
            metadata=who.metadata,
            on_finish=on_finish,
            on_open=on_open,
            redact=redact,
            durability=durability,
        )

    try:
        upstream = await connect(
            url,
            additional_headers=forwarded,
            subprotocols=scope.get("subprotocols") or None,
            user_agent_header=None,  # the client's own passes through
            proxy=None,  # never $HTTPS_PROXY: the proxy connects only to its upstreams
            max_size=None,
            open_timeout=_CONNECT_TIMEOUT,
        )
    except InvalidStatus as exc:
        answer = exc.response
        head = _answer_headers(answer.headers.raw_items())
        refusal = answer.body or b""
        endpoint = websocket_endpoint_for(path)
        if endpoint is not None and endpoint.api == "openai.realtime":
            # a session refused at the upgrade is a recorded failure, as an HTTP 4xx is
            # (a Responses connection has sent no request yet: nothing to record)
            connection_log(endpoint).refused(answer.status_code, refusal)
        await _deny(send, answer.status_code, head, refusal)
        return
    except Exception as exc:  # refused, unreachable, timed out, not a WebSocket server
        text = (
            f"streamrec proxy: could not open a WebSocket to the {provider} upstream {url}: {exc!r}"
        )
        log.warning("%s", text)
        body = json.dumps({"error": {"type": "upstream_unreachable", "message": text}})
        await _deny(send, 502, [(b"content-type", b"application/json")], body.encode())
        return
    endpoint = websocket_endpoint_for(path)
    connection = connection_log(endpoint) if endpoint is not None else None
    answer_headers = _answer_headers(
        upstream.response.headers.raw_items() if upstream.response else ()
    )
    await send(
        {"type": "websocket.accept", "subprotocol": upstream.subprotocol, "headers": answer_headers}
    )
    if connection is not None:
        connection.opened()
    await _pump(upstream, receive, send, connection)


async def _pump(upstream: Any, receive: Any, send: Any, connection: ConnectionLog | None) -> None:
    from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

    async def downstream() -> None:  # client -> upstream
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                code = int(message.get("code") or 1005)
                if connection is not None:
                    connection.client_closed(code)
                await upstream.close(code if code not in _UNSENDABLE else 1000)
                return
            if message["type"] != "websocket.receive":
                continue
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            if connection is not None:
                connection.client(data)
            try:
                await upstream.send(data)
            except ConnectionClosed:
                return  # the upstream side settles the recording

    async def upstream_side() -> None:  # upstream -> client
        try:
            async for data in upstream:
                if connection is not None:
                    connection.server(data)
                key = "text" if isinstance(data, str) else "bytes"
                await send({"type": "websocket.send", key: data})
        except ConnectionClosed as exc:
            error: BaseException | None = None if isinstance(exc, ConnectionClosedOK) else exc
        else:
            error = None
        code = upstream.close_code or 1006
        reason = upstream.close_reason or ""
        if connection is not None:
            connection.upstream_closed(code, reason, error)
        if error is not None:
            log.warning("streamrec proxy: the upstream dropped a WebSocket (%r)", error)
        await send(
            {
                "type": "websocket.close",
                "code": code if code not in _UNSENDABLE else 1011,
                "reason": reason,
            }
        )

    tasks = [asyncio.ensure_future(downstream()), asyncio.ensure_future(upstream_side())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await upstream.close()


def _answer_headers(items: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """The upstream's handshake answer as ASGI headers, less those this hop sets itself."""
    return [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in items
        if k.lower() not in _ANSWER_OWN
    ]


async def _deny(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Refuse the upgrade with an HTTP answer (the ASGI WebSocket denial response)."""
    # uvicorn sets one content-type itself and fails on several: keep the last one
    types = [h for h in headers if h[0] == b"content-type"]
    headers = [h for h in headers if h[0] != b"content-type"] + types[-1:]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})
