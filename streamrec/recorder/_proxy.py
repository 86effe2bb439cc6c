"""The recording proxy: an ASGI app in front of the providers, for programs we cannot touch.

Each request goes to its provider's upstream with ``httpx.AsyncClient``; the
response streams back chunk by chunk as it arrives (``send(stream=True)`` in,
``StreamingResponse`` out, nothing buffered) while the shared ``Exchange``
records the LLM calls. Faults pass through as the program would have seen
them: an upstream error status and body unchanged, a connection dropped
mid-stream as a dropped connection (the response is aborted, not ended), and
an unreachable upstream as a 502 whose JSON says which one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from .._serving import BackgroundServer
from ..providers import STREAM_ID_HEADER, endpoint_for
from ..store import Store, default_store
from ._attribution import Attribution, check_metadata, split_headers
from ._exchange import IDENTITY, Exchange, OnFinish, open_exchange
from ._redact import Redact
from ._routes import (
    BadTarget,
    client_env,
    request_path,
    resolve_upstreams,
    split_provider,
    upstream_url,
)
from ._websocket import relay_websocket

__all__ = ["STREAM_ID_HEADER", "ProxyServer", "RecordingProxy", "proxy_app"]

log = logging.getLogger("streamrec.proxy")


# hop-by-hop headers (RFC 9110 7.6.1) are per connection, never forwarded; host
# comes from the upstream URL (our server adds no Date/Server: the upstream's pass through)
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "host",
        "expect",
    }
)
_CLIENT_LEFT = "the client disconnected before the response ended"
# LLM calls may think for minutes before the first byte: only connecting is bounded
_TIMEOUT = httpx.Timeout(connect=15.0, read=None, write=60.0, pool=None)
_KEEP_ALIVE = 64  # idle upstream connections kept per origin


class UpstreamDropped(Exception):
    """Raised into the server to abort the client's response when the upstream's broke."""


class _QuietDrops(logging.Filter):
    """uvicorn logs an aborted response as an ASGI error; ours are on purpose and logged by us."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, UpstreamDropped)


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


class _Clients:
    """Upstream clients of one connection each, lent to one request at a time.

    httpcore's pool looks at every connection it holds (a ``select`` and a
    ``getpeername`` each) whenever a request starts or a response closes: with
    one pool for 50 concurrent streams that walk dominated the proxy's time to
    first byte. One connection per client makes both O(1); the idle ones
    (kept alive) wait per origin, most recently used first.
    """

    def __init__(self) -> None:
        self._tls: ssl.SSLContext | None = None  # one for all: loading the CA bundle takes ms
        self._idle: dict[tuple[bytes, bytes, int | None], list[httpx.AsyncClient]] = {}
        self._origin: dict[httpx.AsyncClient, tuple[bytes, bytes, int | None]] = {}

    def __bool__(self) -> bool:
        return bool(self._origin)

    def lend(self, url: httpx.URL | str) -> httpx.AsyncClient:
        """A client for ``url``'s origin (one whose connection is kept alive, if any is idle)."""
        parsed = httpx.URL(url)
        origin = (parsed.raw_scheme, parsed.raw_host, parsed.port)
        idle = self._idle.get(origin)
        if idle:
            return idle.pop()
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        client = httpx.AsyncClient(
            verify=self._tls,
            timeout=_TIMEOUT,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=False,
            trust_env=False,  # $HTTP_PROXY must not catch the proxy's own loopback calls
        )
        self._origin[client] = origin
        return client

    async def give_back(self, client: httpx.AsyncClient) -> None:
        """``client``'s request is over (its response closed): keep it for the next one."""
        idle = self._idle.setdefault(self._origin[client], [])
        if len(idle) < _KEEP_ALIVE:
            idle.append(client)
        else:
            del self._origin[client]
            await client.aclose()

    async def aclose(self) -> None:
        """Close every client and its connection."""
        clients, self._origin, self._idle = list(self._origin), {}, {}
        for client in clients:
            await client.aclose()


class RecordingProxy:
    """ASGI app forwarding every request to its provider's upstream, recording the LLM calls.

    ``upstreams`` maps provider (``openai``, ``anthropic``, ``google``) to base
    URL; providers not named use ``$STREAMREC_UPSTREAM_<P>`` or the public API.
    ``on_finish(recording)`` runs (on the server's thread) as each call ends.
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        upstreams: Mapping[str, str] | None = None,
        name: str | None = None,
        tags: Iterable[str] = (),
        on_finish: OnFinish | None = None,
        redact: Redact | None = None,
        durability: str = "group",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store if store is not None else default_store()
        self._durability = durability
        self._attribution = Attribution(name, tuple(tags), check_metadata(metadata))
        self._redact = redact
        self.upstreams = resolve_upstreams(upstreams)
        self.stream_ids: list[str] = []
        """Ids of the calls recorded, in the order they started."""
        self._name = name
        self._tags = list(tags)
        self._on_finish = on_finish
        # one client per event loop serving us: its pooled connections belong to that loop
        self._clients: dict[asyncio.AbstractEventLoop, _Clients] = {}
        self._closers: dict[asyncio.AbstractEventLoop, AsyncGenerator[None, None]] = {}
        self._active = 0
        _quiet_uvicorn()

    @property
    def active(self) -> int:
        """Requests being forwarded right now."""
        return self._active

    async def aclose(self) -> None:
        """Close the upstream connections opened on the running loop."""
        closer = self._closers.pop(asyncio.get_running_loop(), None)
        if closer is not None:
            await closer.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # under a server that runs it (BackgroundServer does not)
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # Responses WebSocket mode, Realtime: _websocket.py
            self._active += 1
            try:
                await relay_websocket(
                    scope,
                    receive,
                    send,
                    upstreams=self.upstreams,
                    store=self.store,
                    attribution=self._attribution,
                    on_finish=self._on_finish,
                    on_open=lambda recording: self.stream_ids.append(recording.stream_id),
                    redact=self._redact,
                    durability=self._durability,
                )
            finally:
                self._active -= 1
            return
        if scope["type"] != "http":
            return
        self._active += 1
        try:
            await self._forward(Request(scope, receive), scope, receive, send)
        finally:
            self._active -= 1

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _pool(self) -> _Clients:
        loop = asyncio.get_running_loop()
        pool = self._clients.get(loop)
        if pool is None:
            pool = self._clients[loop] = _Clients()
            # nobody may tell us the server stops (BackgroundServer runs no lifespan),
            # but asyncio.run closes every open async generator of its loop when it
            # ends: this one then closes the clients while the loop still runs
            closer = self._closer(loop, pool)
            await closer.asend(None)
            self._closers[loop] = closer
        return pool

    async def _closer(
        self, loop: asyncio.AbstractEventLoop, pool: _Clients
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            self._clients.pop(loop, None)
            self._closers.pop(loop, None)
            await pool.aclose()

    async def _forward(
        self, request: Request, scope: dict[str, Any], receive: Any, send: Any
    ) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            target = request_path(scope.get("raw_path") or scope["path"].encode())
            provider, path = split_provider(target, request.headers, query)
            base = self.upstreams[provider]
            url = upstream_url(base, path, query)
        except BadTarget as exc:
            log.warning("streamrec proxy: refused a request: %s", exc)
            body = {"error": {"type": "bad_request_target", "message": f"streamrec proxy: {exc}"}}
            await JSONResponse(body, status_code=400)(scope, receive, send)
            return
        # x-streamrec-* headers attribute this call and never reach the provider
        found, kept = split_headers(request.headers.items())
        headers = [(k, v) for k, v in kept if k not in _HOP]
        who = self._attribution.with_headers(found)
        exchange: Exchange | None = None
        content: Any = None
        endpoint = endpoint_for(request.method, path)
        if endpoint is not None:
            content = await request.body()
            exchange = open_exchange(
                endpoint,
                content,
                store=self.store,
                name=who.name,
                tags=who.tags,
                metadata=who.metadata,
                on_finish=self._on_finish,
                redact=self._redact,
                durability=self._durability,
                client=request.headers.get("user-agent"),
            )
            if exchange is not None:
                self.stream_ids.append(exchange.stream_id)
                headers = [(k, v) for k, v in headers if k != IDENTITY[0]] + [IDENTITY]
        elif "content-length" in request.headers or "transfer-encoding" in request.headers:
            content = request.stream()  # unrecorded bodies (uploads) stream through
        pool = await self._pool()
        client = pool.lend(url)
        try:
            outgoing = client.build_request(request.method, url, headers=headers, content=content)
            if exchange is not None:
                exchange.sent()
            try:
                upstream = await client.send(outgoing, stream=True)
            except httpx.HTTPError as exc:
                if exchange is not None:
                    exchange.unreachable(exc)
                message = (
                    f"streamrec proxy: could not reach the {provider} upstream {base}: {exc!r}"
                )
                log.warning("%s", message)
                body = {"error": {"type": "upstream_unreachable", "message": message}}
                await JSONResponse(body, status_code=502)(scope, receive, send)
                return
            except BaseException:
                if exchange is not None:
                    exchange.close(_CLIENT_LEFT)
                raise
            await self._respond(upstream, exchange, scope, receive, send)
        finally:
            await pool.give_back(client)

    async def _respond(
        self,
        upstream: httpx.Response,
        exchange: Exchange | None,
        scope: Any,
        receive: Any,
        send: Any,
    ) -> None:
        head = [(k, v) for k, v in upstream.headers.raw if k.decode("latin-1").lower() not in _HOP]
        if exchange is not None:
            exchange.response(upstream.status_code, upstream.headers)
            head.append((STREAM_ID_HEADER.encode(), exchange.stream_id.encode()))
        body = _relay(upstream, exchange)
        response = StreamingResponse(body, status_code=upstream.status_code)
        response.raw_headers = head
        try:
            await response(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await body.aclose()
                await upstream.aclose()
            if exchange is not None:
                exchange.close(_CLIENT_LEFT)


async def _relay(
    upstream: httpx.Response, exchange: Exchange | None
) -> AsyncGenerator[bytes, None]:
    """The upstream's body chunks as they arrive, recorded on the way."""
    try:
        async for chunk in upstream.aiter_raw():
            if exchange is None:
                yield chunk
            elif exchange.recording.durability == "chunk":
                exchange.feed(chunk)  # committed before the client may see it
                await exchange.adurable()
                yield chunk
            else:
                # forwarded first: recording a chunk never delays it; stored even when the
                # client went away while it was being sent (every received chunk is kept)
                try:
                    yield chunk
                finally:
                    exchange.feed(chunk)
    except httpx.HTTPError as exc:
        if exchange is not None:
            exchange.dropped(exc)
        log.warning("streamrec proxy: the upstream broke off a response (%r); aborting it", exc)
        raise UpstreamDropped(str(exc)) from exc
    if exchange is not None:
        exchange.end()


class ProxyServer:
    """``with ProxyServer(RecordingProxy(store=…)) as server:`` the proxy on loopback, in a thread.

    ``allow_remote`` and ``allowed_hosts`` as for ``BackgroundServer`` (loopback
    only, and a ``Host`` naming the proxy, unless told otherwise). ``server.env``
    holds the base-URL variables that point the SDKs at it.
    """

    def __init__(
        self,
        proxy: RecordingProxy,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self.proxy = proxy
        self._server = BackgroundServer(
            proxy, host=host, port=port, allow_remote=allow_remote, allowed_hosts=allowed_hosts
        )

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy."""
        return self._server.url

    @property
    def env(self) -> dict[str, str]:
        """The SDKs' base-URL variables (``OPENAI_BASE_URL``, …) for this proxy."""
        return client_env(self.url)

    def start(self) -> ProxyServer:
        """Start serving; returns once the proxy accepts connections."""
        self._server.start()
        return self

    def stop(self, drain: float = 2.0) -> None:
        """Let requests in flight finish (up to ``drain`` s), then stop serving."""
        deadline = time.monotonic() + drain
        while self.proxy.active and time.monotonic() < deadline:
            time.sleep(0.01)
        self._server.stop()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def proxy_app(**kwargs: Any) -> RecordingProxy:
    """The recording proxy as an ASGI app (``RecordingProxy``'s keyword arguments)."""
    return RecordingProxy(**kwargs)
