"""The vocabulary every part of streamrec shares: event kinds, their payloads, the stored row.

A recorded stream is an append-only sequence of events with a gapless ``seq``.
Everything else (the read model, replay, live state) is derived from these rows,
so this module imports nothing of ours and changes only by addition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
        if self.kind is EventKind.CHUNK:
            return ChunkPayload(data=self.payload, event=self.event)
        if self.kind is EventKind.CLIENT_MESSAGE:
            return ClientMessage(data=self.payload, event=self.event)
        payload: EventPayload = _PAYLOADS[self.kind].model_validate_json(self.payload)
        return payload


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class StreamStarted(_Payload):
    """The request side of a stream: enough to rebuild messages, params and tools."""

    provider: str
    api: str
    model: str | None = None
    request: dict[str, Any] = Field(default_factory=dict)
    prompt_template: str | None = None
    fn_args: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    # attribution beyond name and tags: user, session, project, feature, any key
    metadata: dict[str, str] = Field(default_factory=dict)
    fingerprint: str | None = None
    # where the process that records lives, so `recover` can tell a dead recorder
    host: str | None = None
    pid: int | None = None
    # a WebSocket recording: its connection's id, transport, path and this stream's
    # position on it (several responses share one Responses API connection)
    connection: dict[str, Any] | None = None


class ChunkPayload(_Payload):
    """A chunk as received; not stored as JSON (see ``StoredEvent.payload``)."""

    data: str
    event: str | None = None


class ClientMessage(_Payload):
    """A frame the client sent over a WebSocket; stored verbatim like a chunk.

    ``event`` is the frame's JSON ``type`` where it has one. A binary frame is
    marked ``websocket.binary`` (its bytes were UTF-8: the payload is their text)
    or ``websocket.base64`` (the payload is its bytes in base64), so replay sends
    the same frame type and bytes. Server frames (chunks) are marked the same way.
    """

    data: str
    event: str | None = None


class StreamCompleted(_Payload):
    """The stream reached its natural end; the timestamps say when."""


class StreamFailed(_Payload):
    """The live stream raised, or the provider answered with an error."""

    error_type: str
    message: str
    status_code: int | None = None


class StreamInterrupted(_Payload):
    """The stream stopped before its end without an error of its own."""

    reason: str


class ToolResult(_Payload):
    """Tool outputs appended after the stream, for ``tool_message_params``."""

    outputs: list[dict[str, Any]]


EventPayload = StreamStarted | StreamCompleted | StreamFailed | StreamInterrupted | ToolResult

_PAYLOADS: dict[EventKind, type[EventPayload]] = {
    EventKind.STARTED: StreamStarted,
    EventKind.COMPLETED: StreamCompleted,
    EventKind.FAILED: StreamFailed,
    EventKind.INTERRUPTED: StreamInterrupted,
    EventKind.TOOL_RESULT: ToolResult,
}


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
