"""Deterministic re-emission of recorded chunks, instantly or on the recorded clock.

Timing is scheduled against absolute deadlines from the replay's start
(``t_ns / speed``), so per-chunk sleep error never accumulates. The plan
(which chunks, when, in what shape) is one plain function; the sync and async
iterators only sleep differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

from ..errors import RecordedStreamError, ReplayError
from ..events import EventKind, SSEEvent, StoredEvent, StreamFailed
from ..projection import Projector, StreamState, ToolCall
from ..store import Store, as_store
from ._sdk import to_sdk

__all__ = ["ChunkFormat", "ReplayStream", "replay", "replay_async", "replay_stream"]

ChunkFormat = Literal["raw", "json", "sse", "sdk"]
StoreLike = Store | str | os.PathLike[str] | None
_FORMATS = ("raw", "json", "sse", "sdk")
# other names people reach for
_ALIASES = {
    "text": "raw",
    "bytes": "raw",
    "dict": "json",
    "dicts": "json",
    "event": "sse",
    "sdk_objects": "sdk",
    "openai": "sdk",
}


def _load(stream_id: str, store: StoreLike) -> tuple[str, list[StoredEvent]]:
    events = as_store(store).events(stream_id)
    started = events[0].model() if events else None
    api = getattr(started, "api", None)
    if not api:
        raise ReplayError(f"stream {stream_id} has no stream.started event")
    return api, events


#: (kind, t_ns, event name, payload); kind None for a chunk (see ``Store.timeline``)
Timeline = list[tuple["str | None", int, "str | None", str]]


def _load_timeline(stream_id: str, store: StoreLike, *, timed: bool = True) -> tuple[str, Timeline]:
    """``_load`` for the chunk iterators: plain rows (see ``Store.timeline``)."""
    rows = as_store(store).timeline(stream_id, timed=timed)
    api = None
    if rows and rows[0][0] == EventKind.STARTED.value:
        with contextlib.suppress(ValueError, AttributeError):
            api = json.loads(rows[0][3]).get("api")
    if not isinstance(api, str) or not api:
        raise ReplayError(f"stream {stream_id} has no stream.started event")
    return api, rows


def _timeline_failure(rows: Timeline) -> RecordedStreamError | None:
    if rows and rows[-1][0] == EventKind.FAILED.value:
        failed = StreamFailed.model_validate_json(rows[-1][3])
        return RecordedStreamError(failed.error_type, failed.message, failed.status_code)
    return None


def _timeline_plan(rows: Timeline, api: str, fmt: str, speed: float) -> Iterator[tuple[float, Any]]:
    """``_plan`` over plain rows (see ``Store.timeline``)."""
    start = time.monotonic_ns()
    for kind, t_ns, name, payload in rows:
        if kind is not None:
            continue
        emit, value = _shape_text(payload, name, api, fmt)
        if emit:
            yield (_deadline(start, t_ns, speed) if speed else 0.0), value


def _instant(rows: Timeline, fmt: str) -> list[Any] | None:
    """Instant raw or SSE replay: the values at once, without a per-chunk plan step."""
    if fmt == "raw":
        return [payload for kind, _, _, payload in rows if kind is None]
    if fmt == "sse":
        return [SSEEvent(payload, name) for kind, _, name, payload in rows if kind is None]
    return None


def _shape(event: StoredEvent, api: str, fmt: str) -> tuple[bool, Any]:
    """(emit?, value) for one chunk event in the requested format."""
    return _shape_text(event.payload, event.event, api, fmt)


def _shape_text(payload: str, name: str | None, api: str, fmt: str) -> tuple[bool, Any]:
    """(emit?, value) for one chunk's text in the requested format."""
    if fmt == "raw":
        return True, payload
    if fmt == "sse":
        return True, SSEEvent(payload, name)
    try:
        data = json.loads(payload)
    except ValueError:
        return False, None  # `[DONE]` and other non-JSON sentinels have no decoded form
    if fmt == "json":
        return True, data
    if not isinstance(data, dict):
        return False, None
    value = to_sdk(api, data)  # None for events an SDK never yields (Anthropic's ping)
    return value is not None, value


def _check(fmt: str, speed: float) -> str:
    fmt = _ALIASES.get(fmt, fmt)
    if fmt not in _FORMATS:
        raise ReplayError(f"unknown chunk format {fmt!r} (one of {', '.join(_FORMATS)})")
    if speed < 0:
        raise ReplayError("speed must be >= 0 (0 replays instantly)")
    return fmt


def _failure(events: Sequence[StoredEvent]) -> RecordedStreamError | None:
    last = events[-1] if events else None
    if last is not None and last.kind is EventKind.FAILED:
        failed = StreamFailed.model_validate_json(last.payload)
        return RecordedStreamError(failed.error_type, failed.message, failed.status_code)
    return None


def _deadline(start_ns: int, t_ns: int, speed: float) -> float:
    """Seconds from now until an event recorded at ``t_ns`` is due (<= 0: due already)."""
    return (start_ns + t_ns / speed - time.monotonic_ns()) / 1e9


def _plan(
    events: Sequence[StoredEvent], api: str, fmt: str, speed: float
) -> Iterator[tuple[float, Any]]:
    """(seconds to wait, value) per chunk to emit; the one plan of both twins.

    A generator, so each wait is computed when that chunk is asked for.
    """
    start = time.monotonic_ns()
    for event in events:
        if event.kind is not EventKind.CHUNK:
            continue
        emit, value = _shape(event, api, fmt)
        if emit:
            yield (_deadline(start, event.t_ns, speed) if speed else 0.0), value


def replay(
    stream_id: str,
    *,
    store: StoreLike = None,
    speed: float = 0.0,
    format: ChunkFormat = "raw",
    raise_errors: bool = True,
) -> Iterator[Any]:
    """Yield a recording's chunks in order: ``raw`` payload text (byte-identical), ``json``
    dicts, ``sse`` SSEEvents or ``sdk`` objects.

    ``speed=0`` is instant, ``1`` as recorded, ``N`` N times faster. A recording
    that failed raises ``RecordedStreamError`` after its last chunk, as the
    live stream raised after its last chunk.
    """
    fmt = _check(format, speed)
    api, rows = _load_timeline(stream_id, store, timed=bool(speed))
    instant = _instant(rows, fmt) if not speed else None
    if instant is not None:
        yield from instant
    else:
        for wait, value in _timeline_plan(rows, api, fmt, speed):
            if wait > 0:
                time.sleep(wait)
            yield value
    error = _timeline_failure(rows)
    if error is not None and raise_errors:
        raise error


async def replay_async(
    stream_id: str,
    *,
    store: StoreLike = None,
    speed: float = 0.0,
    format: ChunkFormat = "raw",
    raise_errors: bool = True,
) -> AsyncIterator[Any]:
    """The async twin of ``replay``: same chunks, ``asyncio.sleep`` for timing."""
    fmt = _check(format, speed)
    api, rows = _load_timeline(stream_id, store)
    for wait, value in _timeline_plan(rows, api, fmt, speed):
        if wait > 0:
            await asyncio.sleep(wait)
        yield value
    error = _timeline_failure(rows)
    if error is not None and raise_errors:
        raise error


class ReplayStream:
    """A replayed stream that behaves like Mirascope's ``BaseStream``.

    Iterating yields ``(chunk, None)`` for every chunk and then ``(chunk, tool)``
    for each tool call that chunk completed; attributes (``content``,
    ``tool_calls``, ``input_tokens``, …) fill in as it goes, from the same
    projection the recorder ran live.
    """

    def __init__(
        self,
        stream_id: str,
        *,
        store: StoreLike = None,
        speed: float = 0.0,
        chunks: ChunkFormat = "json",
    ) -> None:
        chunks = _check(chunks, speed)  # type: ignore[assignment]
        self.stream_id = stream_id
        self._api, self._events = _load(stream_id, store)
        self._speed = speed
        self._chunks = chunks
        self._projector = Projector(stream_id)
        self._consumed = False

    @property
    def state(self) -> StreamState:
        """What has been replayed so far, as state."""
        return self._projector.state

    @property
    def content(self) -> str:
        """The text replayed so far (see ``Projector.content``)."""
        return self._projector.content

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._projector.state, name)

    def _steps(self) -> Iterator[tuple[float, Any, list[ToolCall], bool]]:
        """(delay, chunk, completed tools, emit?) per event; folds as it goes."""
        if self._consumed:
            raise ReplayError("a replayed stream can be iterated only once")
        self._consumed = True
        start = time.monotonic_ns()
        for event in self._events:
            tools = self._projector.apply(event)
            if event.kind is EventKind.CHUNK:
                wait = _deadline(start, event.t_ns, self._speed) if self._speed else 0.0
                emit, value = _shape(event, self._api, self._chunks)
                yield wait, value, tools, emit
            elif tools:
                yield 0.0, None, tools, False

    def __iter__(self) -> Iterator[tuple[Any, ToolCall | None]]:
        for wait, chunk, tools, emit in self._steps():
            if wait > 0:
                time.sleep(wait)
            if emit:
                yield chunk, None
            for tool in tools:
                yield chunk, tool

    async def __aiter__(self) -> AsyncIterator[tuple[Any, ToolCall | None]]:
        for wait, chunk, tools, emit in self._steps():
            if wait > 0:
                await asyncio.sleep(wait)
            if emit:
                yield chunk, None
            for tool in tools:
                yield chunk, tool


def replay_stream(
    stream_id: str,
    *,
    store: StoreLike = None,
    speed: float = 0.0,
    chunks: ChunkFormat = "json",
) -> ReplayStream:
    """A ``BaseStream``-like replay of ``stream_id`` (see ``ReplayStream``)."""
    return ReplayStream(stream_id, store=store, speed=speed, chunks=chunks)
