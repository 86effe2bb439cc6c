"""Deterministic replay: chunk iterators, BaseStream-like objects, the SSE server, the pytest plugin."""

from ._replay import ChunkFormat, ReplayStream, replay, replay_async, replay_stream
from ._sdk import to_sdk

__all__ = ["ChunkFormat", "ReplayStream", "replay", "replay_async", "replay_stream", "to_sdk"]
