"""Deterministic replay: chunk iterators, BaseStream-like objects, the SSE server, the pytest plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._faults import Faults
    from ._match import Matcher, MatchOptions, json_differences
    from ._mirascope import recorded
    from ._replay import ChunkFormat, ReplayStream, replay, replay_async, replay_stream
    from ._sdk import to_sdk
    from ._server import PLACEHOLDER_KEYS, placeholder_keys, replay_app

__all__ = [
    "PLACEHOLDER_KEYS",
    "ChunkFormat",
    "Faults",
    "MatchOptions",
    "Matcher",
    "ReplayStream",
    "json_differences",
    "placeholder_keys",
    "recorded",
    "replay",
    "replay_app",
    "replay_async",
    "replay_stream",
    "to_sdk",
]

# imported on first use (see streamrec._lazy): a CLI command pays only for what it touches
__getattr__, __dir__ = exports(
    __name__,
    {
        "PLACEHOLDER_KEYS": "._server",
        "ChunkFormat": "._replay",
        "Faults": "._faults",
        "MatchOptions": "._match",
        "Matcher": "._match",
        "ReplayStream": "._replay",
        "json_differences": "._match",
        "placeholder_keys": "._server",
        "recorded": "._mirascope",
        "replay": "._replay",
        "replay_app": "._server",
        "replay_async": "._replay",
        "replay_stream": "._replay",
        "to_sdk": "._sdk",
    },
    globals(),
)
