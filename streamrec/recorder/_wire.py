"""Turning whatever a source yields into the wire text that is stored.

Text and bytes are stored verbatim. SDK objects are pydantic models parsed from
the wire; dumping the fields that were set (by their wire aliases) gives back
the wire JSON. SDK helper streams add events the wire never carried (Anthropic's
``MessageStream`` yields ``text``/``input_json`` snapshots): those are passed to
the caller but not stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..events import SSEEvent

__all__ = ["to_wire"]

# APIs whose SSE events carry an ``event:`` name equal to the payload's ``type``
_NAMED_EVENTS = frozenset({"anthropic.messages", "openai.responses"})
_ANTHROPIC_WIRE = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
        "error",
    }
)
# fields SDKs attach to parsed objects that were never on the wire
_SDK_ONLY_FIELDS = frozenset({"sdk_http_response", "automatic_function_calling_history", "parsed", "snapshot"})


def to_wire(chunk: Any, api: str) -> tuple[str, str | None] | None:
    """(data text, SSE event name) for ``chunk``; None for SDK-synthesised events not to store."""
    if isinstance(chunk, SSEEvent):
        return chunk.data, chunk.event
    if isinstance(chunk, str):
        return chunk, _event_name_from_text(chunk, api)
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        text = bytes(chunk).decode("utf-8", errors="surrogateescape")
        return text, _event_name_from_text(text, api)
    if isinstance(chunk, Mapping):
        data = dict(chunk)
    elif hasattr(chunk, "model_dump"):
        data = _dump_sdk_object(chunk, api)
        if data is None:
            return None
    else:
        raise TypeError(f"cannot record a chunk of type {type(chunk).__name__}")
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text, _event_name(data, api)


def _dump_sdk_object(chunk: Any, api: str) -> dict[str, Any] | None:
    kind = getattr(chunk, "type", None)
    if api == "anthropic.messages" and isinstance(kind, str) and kind not in _ANTHROPIC_WIRE:
        return None
    data: dict[str, Any] = chunk.model_dump(
        mode="json", exclude_unset=True, by_alias=True, exclude=set(_SDK_ONLY_FIELDS)
    )
    if api == "anthropic.messages" and kind == "content_block_stop":
        data.pop("content_block", None)  # MessageStream's snapshot, not wire
    return data


def _event_name(data: Mapping[str, Any], api: str) -> str | None:
    if api in _NAMED_EVENTS and isinstance(data.get("type"), str):
        return str(data["type"])
    return None


def _event_name_from_text(text: str, api: str) -> str | None:
    if api not in _NAMED_EVENTS:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return _event_name(data, api) if isinstance(data, dict) else None
