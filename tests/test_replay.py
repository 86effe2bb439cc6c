"""Replay timing and the sync/async twins: same chunks, on absolute deadlines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from streamrec import SSEEvent, Store, record, replay, replay_async, replay_stream
from streamrec.errors import ReplayError, UnknownStream

from .chunks import text_stream


def _slow_source(delay: float) -> Iterator[SSEEvent]:
    for c in text_stream(["a", "b", "c", "d"]):
        time.sleep(delay)
        yield SSEEvent(c)


@pytest.fixture
def slow_stream(store: Store) -> str:
    stream = record(_slow_source(0.03), api="openai", store=store)
    list(stream)
    return stream.stream_id


def _arrivals(it: Iterator[str]) -> list[float]:
    start = time.monotonic()
    return [time.monotonic() - start for _ in it]


@pytest.mark.parametrize("speed", [1.0, 2.0])
def test_chunks_never_arrive_before_their_recorded_offset(
    store: Store, slow_stream: str, speed: float
) -> None:
    offsets = [e.t_ns / 1e9 / speed for e in store.events(slow_stream) if e.kind.value == "chunk"]
    arrivals = _arrivals(replay(slow_stream, store=store, speed=speed))
    assert len(arrivals) == len(offsets)
    assert all(a >= o - 0.002 for a, o in zip(arrivals, offsets, strict=True))
    # deadlines are absolute: the last chunk is due at its offset, not at the sum of sleeps plus drift
    assert arrivals[-1] < offsets[-1] + 0.25


def test_instant_replay_does_not_wait(store: Store, slow_stream: str) -> None:
    assert _arrivals(replay(slow_stream, store=store))[-1] < 0.1


def test_async_twin_yields_the_same_as_sync(store: Store, slow_stream: str) -> None:
    async def collect(fmt: str) -> list[object]:
        return [c async for c in replay_async(slow_stream, store=store, format=fmt)]  # type: ignore[arg-type]

    for fmt in ("raw", "json", "sse", "sdk"):
        assert asyncio.run(collect(fmt)) == list(replay(slow_stream, store=store, format=fmt))  # type: ignore[arg-type]


def test_replay_stream_async_twin(store: Store, slow_stream: str) -> None:
    async def collect() -> list[object]:
        stream = replay_stream(slow_stream, store=store)
        return [pair async for pair in stream]

    assert asyncio.run(collect()) == list(replay_stream(slow_stream, store=store))


def test_bad_arguments_and_unknown_ids(store: Store, slow_stream: str) -> None:
    with pytest.raises(ReplayError, match="unknown chunk format"):
        list(replay(slow_stream, store=store, format="yaml"))  # type: ignore[arg-type]
    with pytest.raises(ReplayError, match="speed"):
        list(replay(slow_stream, store=store, speed=-1))
    with pytest.raises(UnknownStream):
        list(replay("0000-nope", store=store))
