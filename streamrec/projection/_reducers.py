"""The reducer contract and the registry that picks one per wire format by its ``api`` string.

A reducer folds one stream's chunks into a ``StreamState``. It is stateful per
stream (partial tool calls, open content blocks live in the instance), and the
same class runs live in the recorder, during replay and on rebuild, so the
three can never disagree.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ProjectionError
from ..events import StreamStarted
from ._state import StreamState, ToolCall

__all__ = ["Reducer", "api_for_provider", "reducer_for", "register"]

_REGISTRY: dict[str, type[Reducer]] = {}


class Reducer:
    """Folds the chunks of one wire format; subclasses fill in the provider's meaning."""

    api: ClassVar[str]
    provider: ClassVar[str]

    def __init__(self, state: StreamState) -> None:
        self.state = state

    def start(self, started: StreamStarted) -> None:
        """Take what the request says: messages, params, tools."""

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        """Fold one chunk; return the tool calls this chunk completed. May raise on bad input."""
        raise NotImplementedError

    def client(self, data: str, event: str | None) -> None:
        """Fold a frame the client sent (WebSocket APIs); most formats have none to read."""

    def end(self) -> list[ToolCall]:
        """The stream is over: complete what is still open; return tool calls completed now."""
        return close_tool_calls(self.state)

    def abandon(self, why: str) -> None:
        """The stream failed or was interrupted: say why each open tool call is not runnable."""
        from ._formats._common import partial_object

        for tool in self.state.tool_calls:
            if not tool.complete and not tool.problem:
                invalid = tool.arguments and partial_object(tool.arguments) is None
                tool.problem = "input is not valid JSON" if invalid else why

    @classmethod
    def message_param(cls, state: StreamState) -> dict[str, Any] | list[dict[str, Any]]:
        """The assistant message in the provider's shape, to append to the conversation."""
        return {}

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        """The provider's non-streaming response body for the same call."""
        return {}

    @classmethod
    def tool_message_params(
        cls, state: StreamState, tools_and_outputs: list[tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        """Messages that return tool outputs to the model, in the provider's shape."""
        raise ProjectionError(f"{cls.api} has no tool message shape")


def register(cls: type[Reducer]) -> type[Reducer]:
    """Class decorator: make ``cls`` the reducer for its ``api``."""
    _REGISTRY[cls.api] = cls
    return cls


def reducer_for(api: str | None) -> type[Reducer]:
    """The reducer class for an api string; a clear error for one we do not know."""
    from . import _formats  # noqa: F401  (registers the built-in reducers)

    try:
        return _REGISTRY[api or ""]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ProjectionError(f"unknown api {api!r} (known: {known})") from None


def api_for_provider(provider: str) -> str:
    """The default api of a provider name (``openai`` -> ``openai.chat.completions``)."""
    from . import _formats  # noqa: F401

    for api, cls in _REGISTRY.items():
        if cls.provider == provider or api == provider:
            return api
    raise ProjectionError(f"unknown provider {provider!r}")


def close_tool_calls(state: StreamState) -> list[ToolCall]:
    """Mark every open tool call complete; return those that were open."""
    done = [t for t in state.tool_calls if not t.complete]
    for tool in done:
        tool.complete = True
    return done


def tool_identity(tool: Any) -> tuple[str | None, str | None]:
    """(id, name) of a ToolCall, a Mirascope tool, or a mapping."""
    if isinstance(tool, dict):
        return tool.get("id"), tool.get("name")
    call = getattr(tool, "tool_call", None)
    if call is not None:  # a Mirascope tool: the provider's call object is attached
        ident = getattr(call, "id", None)
        function = getattr(call, "function", None)
        name = getattr(function, "name", None) or getattr(call, "name", None)
        return ident, name
    return getattr(tool, "id", None), getattr(tool, "name", None)
