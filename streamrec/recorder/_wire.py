"""Turning whatever a source yields into the wire text that is stored.

Text and bytes are stored verbatim. SDK objects are pydantic models parsed from
the wire; dumping the fields that were set (by their wire aliases) gives back
the wire JSON. SDK helper streams add events the wire never carried (Anthropic's
``MessageStream`` yields ``text``/``input_json`` snapshots): those are passed to
the caller but not stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, datetime, time
from enum import Enum
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
_SDK_ONLY_FIELDS = frozenset(
    {"sdk_http_response", "automatic_function_calling_history", "parsed", "snapshot"}
)


def to_wire(chunk: Any, api: str) -> tuple[str, str | None] | None:
    """(data text, SSE event name) for ``chunk``; None for SDK-synthesised events not to store."""
    if isinstance(chunk, SSEEvent):
        return chunk.data, chunk.event
    if isinstance(chunk, str):
        return chunk, _event_name_from_text(chunk, api)
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        text = bytes(chunk).decode("utf-8", errors="surrogateescape")
        return text, _event_name_from_text(text, api)
    data: dict[str, Any] | None
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
    if api == "openai.chat.completions" and isinstance(kind, str):
        # ``chat.completions.stream()`` wraps each wire chunk in a ``chunk`` event and adds
        # its own (``content.delta``, …): store the wire chunk, drop the rest
        inner = getattr(chunk, "chunk", None)
        return _dump_sdk_object(inner, api) if kind == "chunk" and inner is not None else None
    dumped = chunk.model_dump(
        mode="python", exclude_unset=True, by_alias=True, exclude=set(_SDK_ONLY_FIELDS)
    )
    data: dict[str, Any] = _jsonable(dumped)
    if api == "anthropic.messages":
        # MessageStream's snapshots ride on these events; they were never on the wire
        if kind == "content_block_stop":
            data.pop("content_block", None)
        elif kind == "message_stop":
            data.pop("message", None)
    return data


def _jsonable(value: Any) -> Any:
    """Python-mode SDK values as the wire's JSON values.

    Bytes are standard, padded base64, as proto3 JSON (Gemini's ``thoughtSignature``,
    ``inlineData``) and the providers send them; pydantic's JSON mode would write
    the URL-safe alphabet, which is not what was received.
    """
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "model_dump"):  # a model held in an untyped field
        return _jsonable(value.model_dump(mode="python", exclude_unset=True, by_alias=True))
    return str(value)


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
