"""The typed (pydantic) payloads of the non-chunk events; exported by ``streamrec.events``.

Kept apart so that reading rows and kinds (every CLI start) does not import
pydantic; ``streamrec.events`` loads this module on first use of a payload name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .events import EventKind

__all__ = [
    "ChunkPayload",
    "ClientMessage",
    "EventPayload",
    "StreamCompleted",
    "StreamFailed",
    "StreamInterrupted",
    "StreamStarted",
    "ToolResult",
]


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
    # the SDK that made the call, from its User-Agent ("OpenAI/Python 2.8.1"): staleness
    client: str | None = None


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

    response: dict[str, Any] | None = None
    """HTTP recordings: ``{"status": 200, "headers": {...}}`` (credentials and cookies
    removed), so replay answers with the provider's own headers."""


class StreamFailed(_Payload):
    """The live stream raised, or the provider answered with an error."""

    error_type: str
    message: str
    status_code: int | None = None
    response: dict[str, Any] | None = None
    """As ``StreamCompleted.response``, when a response head arrived."""


class StreamInterrupted(_Payload):
    """The stream stopped before its end without an error of its own."""

    reason: str
    response: dict[str, Any] | None = None
    """As ``StreamCompleted.response``, when a response head arrived."""


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
