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
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from enum import Enum
from typing import Any, cast

from ..events import ChunkRow, SSEEvent

__all__ = [
    "AS_IS",
    "AS_IS_UNLESS_EXTRA_TYPE",
    "CHOOSE",
    "NOT_SDK",
    "DeferredChunk",
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


class DeferredChunk(ChunkRow):
    """A chunk row whose wire text is made from its SDK object on first read of ``payload``.

    Dumping an SDK object back to its wire JSON costs tens of microseconds; the
    live stream should not wait for it. The writer thread reads ``payload`` when
    it commits (or a state read folds it first); either way the text is made
    once and the object released. SDK chunk objects are not changed after they
    are yielded (helper streams keep their snapshots apart, see ``sdk_part``).
    A dump that fails stores the object's repr and tells ``problem``, as the
    eager path does.

    Its row holds the SDK object and how to dump it where a ``ChunkRow`` holds the
    text: ``(stream_id, seq, t_ns, wall_ns, part, (api, problem))``.
    """

    __slots__ = ("_wire",)
    _wire: tuple[str, str | None] | None
    size_estimate = 1024
    """What the writer counts against its buffer bound without dumping the object."""

    def __init__(
        self,
        stream_id: str,
        seq: int,
        t_ns: int,
        wall_ns: int,
        part: Any,
        how: tuple[str, Callable[[str], None]],
    ) -> None:
        put = object.__setattr__  # the row is frozen: fill it as its own __init__ would
        put(self, "_row", (stream_id, seq, t_ns, wall_ns, part, how))
        put(self, "_wire", None)

    def _resolve(self) -> tuple[str, str | None]:
        row = self._row  # before ``_wire``: a resolve on another thread sets ``_wire`` first
        wire: tuple[str, str | None] | None = self._wire
        if wire is None:
            part: Any = row[4]
            api, problem = cast("tuple[str, Callable[[str], None]]", row[5])
            try:
                wire = dump_sdk(part, api)
            except Exception as exc:  # never into the writer or the fold: keep what we can
                wire = (repr(part), None)
                problem(f"chunk {row[1]}: a {type(part).__name__} stored as its repr ({exc})")
            object.__setattr__(self, "_wire", wire)
            # the SDK object is released: the row keeps only what is stored
            object.__setattr__(self, "_row", (*row[:4], wire[0], wire[1]))
        return wire

    @property
    def payload(self) -> str:
        """The chunk's wire JSON text."""
        return self._resolve()[0]

    @property
    def event(self) -> str | None:
        """The SSE event name the wire carried (named-event APIs)."""
        return self._resolve()[1]
