"""Folds a stream's events into the state a streaming client holds (one reducer per wire format)."""

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
