"""The vocabulary every part of streamrec shares: event kinds, their payloads, the stored row.

A recorded stream is an append-only sequence of events with a gapless ``seq``.
Everything else (the read model, replay, live state) is derived from these rows,
so this module imports nothing of ours and changes only by addition. (The pydantic
payload models live in ``_payloads`` and load on first use: reading rows needs no pydantic.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
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
    "ChunkPayload",
    "ClientMessage",
    "EventKind",
    "SSEEvent",
    "StoredEvent",
    "StreamCompleted",
    "StreamFailed",
    "StreamInterrupted",
    "StreamStarted",
    "ToolResult",
    "dumps",
    "new_stream_id",
    "request_fingerprint",
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
