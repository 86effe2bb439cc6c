"""Small helpers the reducers share: request fields, JSON decoding of chunks, usage and errors.

They exist so that every reducer reads a field the same way: a count is an int
or nothing, a chunk is a JSON object or malformed, an error is ``{"type", "message"}``.
"""

from __future__ import annotations

import json
from typing import Any

import jiter

from ...errors import ProjectionError
from ...events import StreamStarted, dumps
from .._state import StreamState

# request keys that are not call params: what is sent, not how
_NOT_PARAMS = frozenset(
    {
        "model",
        "messages",
        "input",
        "contents",
        "system",
        "systemInstruction",
        "system_instruction",
        "instructions",
        "tools",
        "stream",
        "stream_options",
    }
)


def decode(data: str) -> dict[str, Any]:
    """A chunk's JSON object; ProjectionError (counted as malformed) for anything else.

    The object is fresh and the reducer's own: keep parts of it without copying.
    jiter reads a chunk in a third of the stdlib's time (the fold's largest single cost);
    what it refuses (a lone surrogate, escaped or raw) goes to ``json.loads``, which
    keeps the same values for everything both accept.
    """
    value = _loads(data)
    if not isinstance(value, dict):
        raise ProjectionError(f"chunk is JSON {type(value).__name__}, not an object")
    return value


def decode_objects(data: str) -> list[dict[str, Any]]:
    """``decode`` of a chunk that is an array of objects (a whole Gemini stream as one body)."""
    value = _loads(data)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProjectionError("chunk is a JSON array of something other than objects")
    return value


def _loads(data: str) -> Any:
    try:
        return jiter.from_json(data.encode())
    except ValueError:  # UnicodeEncodeError is one too
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ProjectionError(f"chunk is not JSON: {exc}") from None


def take_request(state: StreamState, started: StreamStarted, messages_key: str) -> None:
    """Fill the request-side attributes from a body whose messages are under ``messages_key``."""
    request = dict(started.request)
    messages = request.get(messages_key)
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    tools = request.get("tools")
    fill_request(
        state,
        request,
        list(messages) if isinstance(messages, list) else [],
        [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else [],
    )


def fill_request(
    state: StreamState,
    request: dict[str, Any],
    messages: list[Any],
    tool_types: list[dict[str, Any]],
    *,
    default_role: str | None = None,
) -> None:
    """The request-side attributes every format shares, once the format found its
    messages and tools (``default_role``: the role of a message that names none)."""
    state.messages = messages
    state.call_params = {k: v for k, v in request.items() if k not in _NOT_PARAMS}
    state.call_kwargs = {k: v for k, v in request.items() if k not in {"stream", "stream_options"}}
    state.tool_types = tool_types
    # BaseStream's meaning: the message this call sent, when it is the user's turn
    last = messages[-1] if messages else None
    role = last.get("role", default_role) if isinstance(last, dict) else None
    state.user_message_param = last if role == "user" else None


def as_int(value: Any) -> int | None:
    """A non-negative integer token count, or None for anything that is not one."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (absent and null read alike)."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any, what: str) -> str:
    """A string field that the format requires; ProjectionError (malformed) otherwise."""
    if not isinstance(value, str):
        raise ProjectionError(f"{what} is {type(value).__name__}, not a string")
    return value


def as_index(value: Any, what: str = "index") -> int:
    """A required, non-negative integer index; ProjectionError (malformed) otherwise."""
    index = as_int(value)
    if index is None:
        raise ProjectionError(f"{what} is {value!r}, not an index")
    return index


def parse_object(text: str) -> dict[str, Any] | None:
    """The JSON object in ``text``; ``{}`` for empty text; None if it is not one."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def partial_object(text: str, *, trailing_strings: bool = False) -> dict[str, Any] | None:
    """What the SDKs make of a JSON object cut off mid-stream (jiter's partial mode, as
    openai and anthropic use it): the members that are complete (and, with
    ``trailing_strings``, a string cut short); None if the text is not JSON at all."""
    if not text.strip():
        return {}
    try:
        value = jiter.from_json(
            text.encode(), partial_mode="trailing-strings" if trailing_strings else True
        )
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def unknown(state: StreamState) -> None:
    """Count an event type the format does not document (it stays in the log, ignored)."""
    state.unknown_events += 1


def set_error(state: StreamState, kind: Any, message: Any, **extra: Any) -> None:
    """Record an error the provider sent inside the stream (the stream then ends failed)."""
    error: dict[str, Any] = {
        "type": str(kind) if kind else "error",
        "message": message if isinstance(message, str) else dumps(message),
    }
    error.update({k: v for k, v in extra.items() if v is not None})
    state.error = error


def set_usage(
    state: StreamState,
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> None:
    """Record provider-reported usage, already normalised to inclusive totals."""
    usage = state.usage
    usage.input_tokens = input_tokens
    usage.output_tokens = output_tokens
    usage.cached_tokens = cached_tokens
    usage.cache_write_tokens = cache_write_tokens
    usage.reasoning_tokens = reasoning_tokens
    usage.reported = True
    state.input_tokens = input_tokens
    state.output_tokens = output_tokens
    state.cached_tokens = cached_tokens
    state.cache_write_tokens = cache_write_tokens
    state.reasoning_tokens = reasoning_tokens


def output_text(output: Any) -> str:
    """Tool output as the text most providers take."""
    return output if isinstance(output, str) else dumps(output)


def tool_output(output: Any) -> Any:
    """A tool output as a JSON value: kept if it is one, else its text."""
    if output is None or isinstance(output, (str, int, float, bool)):
        return output
    try:
        return json.loads(dumps(output)) if isinstance(output, (dict, list)) else str(output)
    except (TypeError, ValueError):
        return str(output)
