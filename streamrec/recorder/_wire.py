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

__all__ = [
    "AS_IS",
    "AS_IS_UNLESS_EXTRA_TYPE",
    "CHOOSE",
    "NOT_SDK",
    "dump_sdk",
    "is_sdk_type",
    "sdk_mode",
    "sdk_modes",
    "sdk_part",
    "to_wire",
]

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
        part = sdk_part(chunk, api)
        return None if part is None else dump_sdk(part, api)
    else:
        raise TypeError(f"cannot record a chunk of type {type(chunk).__name__}")
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text, _event_name(data, api)


def sdk_part(chunk: Any, api: str) -> Any | None:
    """The wire object inside an SDK object; None for an SDK-synthesised event (not stored).

    Attribute checks only, so the live path can decide what is stored (and keep
    ``seq`` gapless) without paying for the dump.
    """
    kind = _field(chunk, "type")
    if api == "anthropic.messages" and isinstance(kind, str) and kind not in _ANTHROPIC_WIRE:
        return None
    if api == "openai.chat.completions" and isinstance(kind, str):
        # ``chat.completions.stream()`` wraps each wire chunk in a ``chunk`` event and adds
        # its own (``content.delta``, …): store the wire chunk, drop the rest
        inner = _field(chunk, "chunk")
        return sdk_part(inner, api) if kind == "chunk" and inner is not None else None
    return chunk


#: how the live path treats a class of chunk objects, for one api (see ``sdk_modes``)
NOT_SDK, AS_IS, AS_IS_UNLESS_EXTRA_TYPE, CHOOSE = 0, 1, 2, 3
_MODES: dict[str, dict[type, int]] = {}


def sdk_modes(api: str) -> dict[type, int]:
    """A cache, per class of chunk, of what ``sdk_part`` does with its objects for ``api``
    (fill it with ``sdk_mode``): the live path decides with one dict lookup instead of
    attribute walks. ``AS_IS``: stored as they are; ``AS_IS_UNLESS_EXTRA_TYPE``: the
    same unless an extra (undeclared) field named ``type`` came on the wire; ``CHOOSE``:
    ask ``sdk_part``; ``NOT_SDK``: not an SDK object (``to_wire``)."""
    return _MODES.setdefault(api, {})


def sdk_mode(cls: type, api: str) -> int:
    """The mode of ``cls`` for ``api`` (see ``sdk_modes``), computed and cached."""
    modes = sdk_modes(api)
    mode = modes.get(cls)
    if mode is None:
        if not is_sdk_type(cls):
            mode = NOT_SDK
        elif api not in ("anthropic.messages", "openai.chat.completions"):
            mode = AS_IS  # sdk_part looks at nothing for other APIs
        elif isinstance(fields := getattr(cls, "model_fields", None), dict) and not (
            "type" in fields or _on_class(cls, "type")
        ):
            mode = AS_IS_UNLESS_EXTRA_TYPE  # ``type`` can only be an extra field
        else:
            mode = CHOOSE
        modes[cls] = mode
    return mode


_SDK_TYPES: dict[type, bool] = {}
_CLASS_ATTRS: dict[tuple[type, str], bool] = {}


def is_sdk_type(cls: type) -> bool:
    """Whether chunks of this class are SDK objects (``model_dump``), not mappings (cached)."""
    known = _SDK_TYPES.get(cls)
    if known is None:
        known = _SDK_TYPES[cls] = hasattr(cls, "model_dump") and not issubclass(cls, Mapping)
    return known


def _field(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)`` without pydantic's slow miss (a missing attribute is an
    exception raised and caught inside: ~2 µs, most of a chunk's live cost)."""
    values = getattr(obj, "__dict__", None)
    if values is None:
        return getattr(obj, name, None)
    if name in values:
        return values[name]
    extra = getattr(obj, "__pydantic_extra__", None)
    if extra and name in extra:
        return extra[name]
    return getattr(obj, name, None) if _on_class(type(obj), name) else None


def _on_class(cls: type, name: str) -> bool:
    """A property or class attribute of that name (looked up once per class)."""
    known = _CLASS_ATTRS.get((cls, name))
    if known is None:
        known = _CLASS_ATTRS[cls, name] = hasattr(cls, name)
    return known


def dump_sdk(part: Any, api: str) -> tuple[str, str | None]:
    """(data text, SSE event name) of a wire object an SDK parsed (see ``sdk_part``)."""
    data = _dump_sdk_object(part, api)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False), _event_name(data, api)


def _dump_sdk_object(chunk: Any, api: str) -> dict[str, Any]:
    kind = getattr(chunk, "type", None)
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
