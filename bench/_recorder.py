"""The live path: what ``record()`` adds to each chunk the caller iterates.

The floor is the least any recorder must do per chunk on the caller's path: a
generator that takes two timestamps (monotonic for replay timing, wall clock
for ``recorded_at``) and puts the chunk on a queue for a writer thread. Both
are measured as the CPU time of the caller's thread (``time.thread_time``) to
iterate the stream's chunks, minus that of iterating the bare source, per
chunk, in the same run: what the live stream pays on its own thread. The
writer's work (turning SDK objects into wire JSON, committing) runs on its own
thread, in the gaps between a live stream's chunks; it is the writer row's
figure, as is the end of the stream (terminal event, flush, commit).
"""

from __future__ import annotations

import asyncio
import json
import queue
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ._harness import Row, Scale, interleave

__all__ = ["rows"]


def _texts(n: int) -> list[str]:
    from tests.chunks import chunk, usage_body

    body = [chunk({"role": "assistant", "content": ""})]
    body += [chunk({"content": f"tok{i} "}) for i in range(n)]
    body.append(chunk({}, "stop"))
    body.append(chunk(choices=[], usage=usage_body(100, n)))
    return body


def sse_chunks(n: int) -> list[Any]:
    """``n`` OpenAI chat chunks as ``SSEEvent`` (what the transports and proxy hand over)."""
    from streamrec import SSEEvent

    return [SSEEvent(t) for t in _texts(n)] + [SSEEvent("[DONE]")]


def sdk_chunks(n: int) -> list[Any]:
    """The same chunks as the openai SDK yields them: ``ChatCompletionChunk`` objects,
    built the way its stream builds them (``construct_type``, no validation)."""
    from openai._models import construct_type
    from openai.types.chat import ChatCompletionChunk

    return [construct_type(type_=ChatCompletionChunk, value=json.loads(t)) for t in _texts(n)]


def _floor(source: Iterable[Any], sink: queue.SimpleQueue[Any]) -> Iterator[Any]:
    for c in source:
        sink.put((c, time.monotonic_ns(), time.time_ns()))
        yield c


async def _afloor(source: AsyncIterator[Any], sink: queue.SimpleQueue[Any]) -> AsyncIterator[Any]:
    async for c in source:
        sink.put((c, time.monotonic_ns(), time.time_ns()))
        yield c


async def _agen(data: list[Any]) -> AsyncIterator[Any]:
    for c in data:
        yield c


def _iterate(it: Iterator[Any], n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        next(it)
    return time.thread_time() - start


async def _aiterate(it: AsyncIterator[Any], n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        await it.__anext__()
    return time.thread_time() - start


Runner = tuple[Callable[[], float], Callable[[], float], Callable[[], None]]
"""(streamrec's run, the floor's run, what to release after both)."""


def _sync_runner(data: list[Any], store: Any) -> Runner:
    from streamrec import record

    n = len(data)

    def bare() -> float:
        return _iterate(iter(data), n)

    def ours() -> float:
        stream = record(data, api="openai.chat.completions", store=store)
        it = iter(stream)
        t = _iterate(it, n) - bare()
        for _ in it:  # the end of the stream: complete, flush (not in the figure)
            pass
        return t / n * 1e6

    def floor() -> float:
        sink: queue.SimpleQueue[Any] = queue.SimpleQueue()
        return (_iterate(_floor(data, sink), n) - bare()) / n * 1e6

    return ours, floor, lambda: None


def _async_runner(data: list[Any], store: Any) -> Runner:
    from streamrec import record

    n = len(data)

    async def bare() -> float:
        it = _agen(data)
        t = await _aiterate(it, n)
        await it.aclose()
        return t

    async def ours() -> float:
        stream = record(_agen(data), api="openai.chat.completions", store=store)
        it = stream.__aiter__()
        t = await _aiterate(it, n) - await bare()
        async for _ in it:
            pass
        return t / n * 1e6

    async def floor() -> float:
        sink: queue.SimpleQueue[Any] = queue.SimpleQueue()
        it = _afloor(_agen(data), sink)
        t = await _aiterate(it, n) - await bare()
        await it.aclose()  # not left for the garbage collector (a pending-task warning)
        return t / n * 1e6

    loop = asyncio.new_event_loop()

    def close() -> None:
        # the floor's inner generator is left suspended by its aclose(); finalised after the
        # loop was dropped, it left "Task was destroyed but it is pending" at exit
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    return (
        (lambda: loop.run_until_complete(ours())),
        (lambda: loop.run_until_complete(floor())),
        close,
    )


def rows(size: Scale) -> list[Row]:
    """The four hot-path rows: SSE text and SDK objects, sync and async."""
    from streamrec import Store

    n = size.pick(50, 500, 5000)
    repeats = size.pick(1, 3, 9)
    store = Store(Path(tempfile.mkdtemp()) / "hot.db")
    out = []
    for label, data in (
        ("SSEEvent JSON text", sse_chunks(n)),
        ("openai SDK objects", sdk_chunks(n)),
    ):
        for mode, runner in (("sync", _sync_runner), ("async", _async_runner)):
            ours, floor, release = runner(data, store)
            a, b = interleave(ours, floor, repeats)
            release()
            out.append(
                Row(
                    f"`record()` extra per chunk, {label}, {mode}",
                    "µs",
                    a,
                    "generator + 2 timestamps + queue put",
                    b,
                    higher_is_better=False,
                    target="≤ 2 µs and ratio ≥ 0.2",
                    note="caller-thread CPU",
                    check=lambda r: r.figure <= 2.0 and (r.ratio or 0) >= 0.2,
                )
            )
    store.close()
    return out
