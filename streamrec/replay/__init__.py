"""Deterministic replay: chunk iterators, BaseStream-like objects, the SSE server, the pytest plugin."""

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
