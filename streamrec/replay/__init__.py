"""Deterministic replay: chunk iterators, BaseStream-like objects, the SSE server, the pytest plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._match import Matcher
    from ._replay import ChunkFormat, ReplayStream, replay, replay_async, replay_stream
    from ._sdk import to_sdk
    from ._server import replay_app

__all__ = [
    "ChunkFormat",
    "Matcher",
    "ReplayStream",
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
        "ChunkFormat": "._replay",
        "Matcher": "._match",
        "ReplayStream": "._replay",
        "replay": "._replay",
        "replay_app": "._server",
        "replay_async": "._replay",
        "replay_stream": "._replay",
        "to_sdk": "._sdk",
    },
    globals(),
)
