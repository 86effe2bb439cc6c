"""Folds a stream's events into the state a streaming client holds (one reducer per wire format)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._cost import price
    from ._projector import Projector, project
    from ._reducers import Reducer, api_for_provider, reducer_for, register, tool_identity
    from ._state import CallResponse, StreamState, ToolCall, Usage

__all__ = [
    "CallResponse",
    "Projector",
    "Reducer",
    "StreamState",
    "ToolCall",
    "Usage",
    "api_for_provider",
    "price",
    "project",
    "reducer_for",
    "register",
    "tool_identity",
]

# imported on first use (see streamrec._lazy): a CLI command pays only for what it touches
__getattr__, __dir__ = exports(
    __name__,
    {
        "CallResponse": "._state",
        "Projector": "._projector",
        "Reducer": "._reducers",
        "StreamState": "._state",
        "ToolCall": "._state",
        "Usage": "._state",
        "api_for_provider": "._reducers",
        "price": "._cost",
        "project": "._projector",
        "reducer_for": "._reducers",
        "register": "._reducers",
        "tool_identity": "._reducers",
    },
    globals(),
)
