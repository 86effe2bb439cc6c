"""The vocabulary every part of streamrec shares: event kinds, their payloads, the stored row.

A recorded stream is an append-only sequence of events with a gapless ``seq``.
Everything else (the read model, replay, live state) is derived from these rows,
so this module imports nothing of ours and changes only by addition. (The pydantic
payload models live in ``_payloads`` and load on first use: reading rows needs no pydantic.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._payloads import (
        ChunkPayload,
        ClientMessage,
        EventPayload,
        StreamCompleted,
        StreamFailed,
        StreamInterrupted,
        StreamStarted,
        ToolResult,
    )


__all__ = [
    "ChunkCell",
    "ChunkPayload",
    "ChunkRow",
    "ChunkTuple",
    "ClientMessage",
    "DeferredChunk",
    "EventKind",
    "SSEEvent",
    "StoredEvent",
    "StreamCompleted",
    "StreamFailed",
    "StreamInterrupted",
    "StreamStarted",
    "ToolResult",
    "chunk_row",
    "dumps",
    "new_stream_id",
    "request_fingerprint",
    "utc_from_ns",
    "utcnow",
]


class EventKind(str, Enum):
    """What happened; the ``kind`` column."""

    STARTED = "stream.started"
    CHUNK = "chunk"
    COMPLETED = "stream.completed"
    FAILED = "stream.failed"
    # The consumer stopped early (break, close, GC) or the process died: what
    # arrived is kept, but the stream never reached its natural end.
    INTERRUPTED = "stream.interrupted"
    TOOL_RESULT = "tool.result"
    # a WebSocket frame the client sent, in order with the server's frames (the chunks)
    CLIENT_MESSAGE = "client.message"


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event as received: its ``data`` text and, where the wire has one, its name."""

    data: str
    event: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A row of the ``events`` table: the only shape the store reads and writes.

    ``payload`` is text: for chunks the wire ``data`` verbatim (replay must be
    byte-identical), for the other kinds the JSON of their pydantic payload.
    """

    stream_id: str
    seq: int
    kind: EventKind
    t_ns: int
    recorded_at: datetime
    payload: str
    event: str | None = None
    position: int | None = None

    def model(self) -> EventPayload | ChunkPayload | ClientMessage:
        """The typed payload of this event."""
        from ._payloads import _PAYLOADS, ChunkPayload, ClientMessage

        if self.kind is EventKind.CHUNK:
            return ChunkPayload(data=self.payload, event=self.event)
        if self.kind is EventKind.CLIENT_MESSAGE:
            return ClientMessage(data=self.payload, event=self.event)
        model = _PAYLOADS[self.kind]
        try:
            payload: EventPayload = model.model_validate_json(self.payload)
        except ValueError:
            # pydantic's parser refuses lone surrogates (\udcff: bytes that were not
            # UTF-8, kept exactly); the standard parser takes them
            payload = model.model_validate(json.loads(self.payload))
        return payload


#: a chunk as the live path hands it over: (stream_id, seq, t_ns, wall_ns, payload, event);
#: ``wall_ns`` is ``time.time_ns()``. Nothing else is allocated per chunk on that path.
ChunkTuple = tuple[str, int, int, int, str, str | None]

#: an SDK chunk as the live path hands it over, its wire JSON not made yet:
#: ``[stream_id, seq, t_ns, wall_ns, part, dump, wire]``, where ``dump(part, seq)`` makes
#: ``wire``, the ``(payload, event)`` pair, and ``wire`` is None until it has (see
#: ``DeferredChunk``). A list, the one object made for the chunk on the live path.
ChunkCell = list[Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_from_ns(wall_ns: int) -> datetime:
    """``time.time_ns()`` as the aware UTC datetime ``datetime.now(timezone.utc)`` gives
    (microseconds, truncated as it does), exactly: no float on the way."""
    return _EPOCH + timedelta(microseconds=wall_ns // 1000)


class ChunkRow(StoredEvent):
    """A chunk's row as the live path makes it: one tuple, read through the row's fields.

    A ``StoredEvent`` fills eight frozen slots (``object.__setattr__`` each, most
    of a chunk's cost on the live stream's path); this row fills one, and keeps
    the wall clock as ``time.time_ns()`` until ``recorded_at`` is read (by the
    writer's thread, or the fold). It is a ``StoredEvent`` in every other way.
    The recorder hands the writer the bare tuple (``ChunkTuple``); the row is
    made from it off the live path (``from_tuple``).
    """

    __slots__ = ("_row",)
    _row: ChunkTuple
    # the same for every chunk row: class attributes, no write on the live path
    kind = EventKind.CHUNK
    position = None
    size_estimate: int | None = None
    """What the writer counts against its buffer bound (None: the payload's length)."""

    def __init__(
        self, stream_id: str, seq: int, t_ns: int, wall_ns: int, payload: str, event: str | None
    ) -> None:
        object.__setattr__(self, "_row", (stream_id, seq, t_ns, wall_ns, payload, event))

    @classmethod
    def from_tuple(cls, row: ChunkTuple) -> ChunkRow:
        """The row of ``(stream_id, seq, t_ns, wall_ns, payload, event)``."""
        made = object.__new__(cls)
        object.__setattr__(made, "_row", row)
        return made

    @property
    def stream_id(self) -> str:
        """The stream's id."""
        return self._row[0]

    @property
    def seq(self) -> int:
        """The chunk's place in its stream."""
        return self._row[1]

    @property
    def t_ns(self) -> int:
        """Monotonic nanoseconds since the stream's start."""
        return self._row[2]

    @property
    def recorded_at(self) -> datetime:
        """The UTC wall clock when the chunk arrived."""
        return utc_from_ns(self._row[3])

    @property
    def payload(self) -> str:
        """The chunk's wire text, verbatim."""
        return self._row[4]

    @property
    def event(self) -> str | None:
        """The SSE event name the wire carried, if any."""
        return self._row[5]


class DeferredChunk(ChunkRow):
    """A chunk row whose wire text is made from its SDK object on first read of ``payload``.

    Dumping an SDK object back to its wire JSON costs tens of microseconds; the
    live stream should not wait for it. The writer thread reads ``payload`` when
    it commits (or a state read folds it first): both hold rows over the same
    ``ChunkCell``, so the text is made once, stored in the cell, and the object
    released. SDK chunk objects are not changed after they are yielded (helper
    streams keep their snapshots apart, ``recorder._wire.sdk_part``).
    """

    __slots__ = ()
    _row: ChunkCell  # type: ignore[assignment]
    size_estimate = 1024
    """What the writer counts against its buffer bound without dumping the object."""

    def __init__(self, cell: ChunkCell) -> None:
        object.__setattr__(self, "_row", cell)

    def _resolve(self) -> tuple[str, str | None]:
        cell = self._row
        # the object before the wire: a resolve on another thread sets the wire, then
        # releases the object, so an object read as None means the wire is there
        part = cell[4]
        wire: tuple[str, str | None] | None = cell[6]
        if wire is None:
            wire = cell[5](part, cell[1])
            cell[6] = wire
            cell[4] = None
        return wire

    @property
    def payload(self) -> str:
        """The chunk's wire JSON text."""
        return self._resolve()[0]

    @property
    def event(self) -> str | None:
        """The SSE event name the wire carried (named-event APIs)."""
        return self._resolve()[1]


def chunk_row(item: ChunkTuple | ChunkCell) -> ChunkRow:
    """The row of a chunk as the live path handed it over (a tuple, or an SDK chunk's cell)."""
    if isinstance(item, tuple):
        return ChunkRow.from_tuple(item)
    return DeferredChunk(item)


# The payload models are pydantic, which costs a CLI start ~100 ms; the rows, kinds and
# helpers here do not need it, so the models load on first use (PEP 562). A new payload
# model goes in _payloads.py and its name here.
_LAZY = frozenset(
    {
        "ChunkPayload",
        "ClientMessage",
        "EventPayload",
        "StreamCompleted",
        "StreamFailed",
        "StreamInterrupted",
        "StreamStarted",
        "ToolResult",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import _payloads

    value = getattr(_payloads, name)
    globals()[name] = value
    return value


def new_stream_id() -> str:
    """A time-sortable id (UUIDv7), so `ORDER BY stream_id` is recording order."""
    import uuid_utils

    return str(uuid_utils.uuid7())


def utcnow() -> datetime:
    """Wall-clock time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def dumps(value: Any) -> str:
    """Compact, stable JSON for payloads we build ourselves (never for wire chunks)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


# request keys that do not change what the model is asked (transport and bookkeeping)
_UNMATCHED_KEYS = frozenset(
    {"stream", "stream_options", "metadata", "user", "store", "service_tier"}
)


def request_fingerprint(api: str, request: dict[str, Any]) -> str:
    """A stable hash of what a request asks, so replay can find its recording.

    Keys that do not change the answer (``stream``, ``user``, …) are left out;
    key order and whitespace do not matter.
    """
    import hashlib

    body = {k: v for k, v in request.items() if k not in _UNMATCHED_KEYS}
    text = json.dumps([api, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
