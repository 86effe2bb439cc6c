"""Recording httpx transports: hand one to an SDK's ``http_client=`` and its LLM calls are recorded.

Composition, not patching: the transport wraps the one that does the I/O and
wraps each response's byte stream; the SDK sees the very bytes it would have
seen. The twins below differ only by ``await``; everything else is the shared
``Exchange``.

The SDKs have moved to ``httpx2`` (a fork under its own import name): anthropic
accepts only ``httpx2.Client``, openai and google-genai take either. The
wrappers therefore derive from both packages' base classes, so one
``RecordingTransport`` works inside ``httpx.Client`` and ``httpx2.Client``;
give it the inner transport of the same package (``httpx2.HTTPTransport()``).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ..errors import StoreError, StoreWarning
from ..providers import Endpoint, endpoint_for
from ..store import Store, default_store
from ._attribution import HEADER_PREFIX, Attribution, check_metadata, split_headers
from ._exchange import IDENTITY, Exchange, OnFinish, open_exchange
from ._redact import Redact

__all__ = ["STREAM_ID_EXTENSION", "AsyncRecordingTransport", "RecordingTransport"]

#: ``response.extensions`` key holding the id a call was recorded under
STREAM_ID_EXTENSION = "streamrec.stream_id"

log = logging.getLogger("streamrec.recorder")


def _bases(name: str) -> tuple[type, ...]:
    found: list[type] = [getattr(httpx, name)]
    try:
        import httpx2
    except ImportError:  # pragma: no cover - installed with every current SDK
        return tuple(found)
    found.append(getattr(httpx2, name))
    return tuple(found)


if TYPE_CHECKING:
    _Transport = httpx.BaseTransport
    _AsyncTransport = httpx.AsyncBaseTransport
    _ByteStream = httpx.SyncByteStream
    _AsyncByteStream = httpx.AsyncByteStream
else:
    _Transport = type("_Transport", _bases("BaseTransport"), {})
    _AsyncTransport = type("_AsyncTransport", _bases("AsyncBaseTransport"), {})
    _ByteStream = type("_ByteStream", _bases("SyncByteStream"), {})
    _AsyncByteStream = type("_AsyncByteStream", _bases("AsyncByteStream"), {})


class _Common:
    """What both twins hold: where and how to record."""

    def __init__(
        self,
        store: Store | None,
        name: str | None,
        tags: Iterable[str],
        strict: bool,
        on_finish: OnFinish | None,
        redact: Redact | None = None,
        durability: str = "group",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._store = store
        self._durability = durability
        self._attribution = Attribution(name, tuple(tags), check_metadata(metadata))
        self._redact = redact
        self._name = name
        self._tags = list(tags)
        self._strict = strict
        self._on_finish = on_finish
        self._warned = False
        self.stream_ids: list[str] = []
        """Ids of the calls recorded through this transport, in the order they started."""

    @property
    def store(self) -> Store:
        """The store recordings go to."""
        if self._store is None:
            self._store = default_store()
        return self._store

    def _endpoint(self, request: Any) -> Endpoint | None:
        return endpoint_for(request.method, request.url.path)

    def _open(self, request: Any, endpoint: Endpoint) -> Exchange | None:
        try:
            store = self.store
        except StoreError as exc:  # the call goes ahead unrecorded, said once
            if self._strict:
                raise
            if not self._warned:
                self._warned = True
                log.warning("streamrec: not recording (%s); calls go ahead", exc)
                warnings.warn(f"streamrec: not recording ({exc})", StoreWarning, stacklevel=5)
            return None
        found, _ = split_headers(request.headers.items())
        for key in [k for k in request.headers if k.lower().startswith(HEADER_PREFIX)]:
            del request.headers[key]  # ours, never the provider's
        who = self._attribution.with_headers(found)
        exchange = open_exchange(
            endpoint,
            request.content,
            durability=self._durability,
            store=store,
            name=who.name,
            tags=who.tags,
            metadata=who.metadata,
            strict=self._strict,
            on_finish=self._on_finish,
            redact=self._redact,
            client=request.headers.get("user-agent"),
        )
        if exchange is not None:
            self.stream_ids.append(exchange.stream_id)
            request.headers[IDENTITY[0]] = IDENTITY[1]
        return exchange

    @staticmethod
    def _attach(response: Any, exchange: Exchange) -> None:
        exchange.response(response.status_code, response.headers)
        response.extensions = {**response.extensions, STREAM_ID_EXTENSION: exchange.stream_id}


class RecordingTransport(_Common, _Transport):
    """``httpx.Client(transport=RecordingTransport(httpx.HTTPTransport(), store=store))``.

    Calls to the LLM endpoints (chat completions, responses, messages,
    generateContent) are recorded; every other request passes through untouched.
    Closing the client waits until the recordings are committed.
    """

    def __init__(
        self,
        transport: Any = None,
        *,
        store: Store | None = None,
        name: str | None = None,
        tags: Iterable[str] = (),
        strict: bool = False,
        on_finish: OnFinish | None = None,
        redact: Redact | None = None,
        durability: str = "group",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(store, name, tags, strict, on_finish, redact, durability, metadata)
        self._inner = transport if transport is not None else httpx.HTTPTransport()

    def handle_request(self, request: Any) -> Any:
        """Forward ``request``; if it is an LLM call, record its response as the SDK reads it."""
        endpoint = self._endpoint(request)
        if endpoint is None:
            return self._inner.handle_request(request)
        request.read()
        exchange = self._open(request, endpoint)
        if exchange is None:
            return self._inner.handle_request(request)
        try:
            response = self._inner.handle_request(request)
        except Exception as exc:
            exchange.unreachable(exc)
            raise
        except BaseException:
            exchange.close("the request was interrupted")
            raise
        self._attach(response, exchange)
        response.stream = _RecordedStream(response.stream, exchange)
        return response

    def close(self) -> None:
        """Close the inner transport and wait until recorded events are committed."""
        self._inner.close()
        if self._store is not None:
            self._store.writer.flush()  # returns at once while the database is away


class AsyncRecordingTransport(_Common, _AsyncTransport):
    """``httpx.AsyncClient(transport=AsyncRecordingTransport(httpx.AsyncHTTPTransport(), …))``."""

    def __init__(
        self,
        transport: Any = None,
        *,
        store: Store | None = None,
        name: str | None = None,
        tags: Iterable[str] = (),
        strict: bool = False,
        on_finish: OnFinish | None = None,
        redact: Redact | None = None,
        durability: str = "group",
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(store, name, tags, strict, on_finish, redact, durability, metadata)
        self._inner = transport if transport is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: Any) -> Any:
        """Forward ``request``; if it is an LLM call, record its response as the SDK reads it."""
        endpoint = self._endpoint(request)
        if endpoint is None:
            return await self._inner.handle_async_request(request)
        await request.aread()
        exchange = self._open(request, endpoint)
        if exchange is None:
            return await self._inner.handle_async_request(request)
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            exchange.unreachable(exc)
            raise
        except BaseException:
            exchange.close("the request was interrupted")
            raise
        self._attach(response, exchange)
        response.stream = _AsyncRecordedStream(response.stream, exchange)
        return response

    async def aclose(self) -> None:
        """Close the inner transport and wait (without blocking the loop) for the commits."""
        await self._inner.aclose()
        if self._store is not None:
            await asyncio.wrap_future(self._store.writer.flush_future())


class _RecordedStream(_ByteStream):
    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        try:
            for chunk in self._inner:
                exchange.feed(chunk)
                exchange.durable()
                yield chunk
        except Exception as exc:
            exchange.dropped(exc)
            raise
        exchange.end()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._exchange.close()


class _AsyncRecordedStream(_AsyncByteStream):
    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        try:
            async for chunk in self._inner:
                exchange.feed(chunk)
                await exchange.adurable()
                yield chunk
        except Exception as exc:
            exchange.dropped(exc)
            raise
        exchange.end()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._exchange.close()
