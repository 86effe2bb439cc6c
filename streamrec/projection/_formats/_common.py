"""Small helpers the reducers share: request fields and JSON decoding of chunks."""

from __future__ import annotations

import json
from typing import Any

from ...errors import ProjectionError
from ...events import StreamStarted
from .._state import StreamState

# request keys that are not call params: what is sent, not how
_NOT_PARAMS = frozenset(
    {"model", "messages", "input", "contents", "system", "tools", "stream", "stream_options"}
)


def decode(data: str) -> dict[str, Any]:
    """A chunk's JSON object; ProjectionError (counted as malformed) for anything else."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ProjectionError(f"chunk is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProjectionError(f"chunk is JSON {type(value).__name__}, not an object")
    return value


def take_request(state: StreamState, started: StreamStarted, messages_key: str) -> dict[str, Any]:
    """Fill the request-side attributes every format shares; return the request."""
    request = dict(started.request)
    messages = request.get(messages_key)
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    state.messages = list(messages or [])
    state.call_params = {k: v for k, v in request.items() if k not in _NOT_PARAMS}
    state.call_kwargs = {k: v for k, v in request.items() if k not in {"stream", "stream_options"}}
    tools = request.get("tools")
    state.tool_types = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
    users = [m for m in state.messages if isinstance(m, dict) and m.get("role") == "user"]
    state.user_message_param = users[-1] if users else None
    return request


def as_int(value: Any) -> int | None:
    """An integer token count, or None for anything that is not one."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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
