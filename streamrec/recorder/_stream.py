"""``streamrec.record``: wrap a live iterable so that iterating it records every chunk.

The wrapper yields the very objects the source yields. Sync and async share
the ``Recording``; the two generators below differ only by ``await``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from ..errors import RecorderError
from ..projection import StreamState
from ..store import Store
from ._recording import Durability, Recording
from ._redact import Redact

__all__ = ["RecordedStream", "record"]

T = TypeVar("T")

_EARLY = "the consumer stopped before the stream ended"
_STATE_NAMES = frozenset(StreamState.model_fields) | {
    "construct_call_response",
    "tool_message_params",
}


class RecordedStream(Generic[T]):
    """A live stream being recorded: iterate it (``for`` or ``async for``) as you would the source."""

    def __init__(self, source: Iterable[T] | AsyncIterable[T], recording: Recording) -> None:
        self._source = source
        self._recording = recording
        self._started = False

    @property
    def stream_id(self) -> str:
        """The id the recording is stored under."""
        return self._recording.stream_id

    @property
    def state(self) -> StreamState:
        """The live state, updated chunk by chunk by the projection."""
        return self._recording.state

    @property
    def recording(self) -> Recording:
        """The underlying recording (for tool results, flush, storage errors)."""
        return self._recording

    def tool_results(self, tools_and_outputs: Iterable[tuple[Any, Any]]) -> None:
        """Record the outputs of this stream's tool calls (after it ended)."""
        self._recording.tool_results(tools_and_outputs)
        self._recording.flush()

    def _claim(self) -> None:
        if self._started:
            raise RecorderError("a recorded stream can be iterated only once")
        self._started = True

    def __iter__(self) -> Iterator[T]:
        self._claim()
        if not isinstance(self._source, Iterable):
            raise RecorderError("this source is async: use `async for`")
        return self._sync(iter(self._source))

    def __aiter__(self) -> AsyncIterator[T]:
        self._claim()
        if isinstance(self._source, AsyncIterable):
            return self._async(aiter(self._source))
        if isinstance(self._source, Iterable):
            return self._async_over_sync(iter(self._source))
        raise RecorderError(f"cannot iterate {type(self._source).__name__}")

    def _sync(self, source: Iterator[T]) -> Iterator[T]:
        rec = self._recording
        put = rec.chunk
        durable = rec.durable if rec.durability == "chunk" else None  # group: nothing to wait for
        try:
            for chunk in source:
                put(chunk)
                if durable is not None:
                    durable()
                yield chunk
        except GeneratorExit:
            rec.interrupt(_EARLY)
            _close(source)
            if source is not self._source:
                _close(self._source)
            rec.flush(check=False)
            raise
        except BaseException as exc:
            _end_with_error(rec, exc)
            rec.flush(check=False)
            raise
        rec.complete()
        rec.flush()

    async def _async(self, source: AsyncIterator[T]) -> AsyncIterator[T]:
        rec = self._recording
        put = rec.chunk
        durable = rec.adurable if rec.durability == "chunk" else None  # group: nothing to wait for
        try:
            async for chunk in source:
                put(chunk)
                if durable is not None:
                    await durable()
                yield chunk
        except GeneratorExit:
            rec.interrupt(_EARLY)
            await _aclose(source)
            if source is not self._source:
                await _aclose(self._source)
            raise
        except BaseException as exc:
            _end_with_error(rec, exc)
            await rec.aflush(check=False)
            raise
        rec.complete()
        await rec.aflush()

    async def _async_over_sync(self, source: Iterator[T]) -> AsyncIterator[T]:
        for chunk in self._sync(source):
            yield chunk

    def close(self) -> None:
        """Stop recording; a stream not read to its end is marked interrupted."""
        if not self._recording.finished:
            self._recording.interrupt(_EARLY if self._started else "the stream was never consumed")
        _close(self._source)

    def __del__(self) -> None:
        recording = getattr(self, "_recording", None)
        if recording is not None and not recording.finished:
            recording.interrupt(_EARLY if self._started else "the stream was never consumed")

    def __enter__(self) -> RecordedStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # BaseStream's attributes (content, cost, tool_calls, …) come from the live
        # state, as on a Mirascope stream; anything else is the SDK stream's own
        # (response, get_final_message, …)
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _STATE_NAMES:
            return getattr(self._recording.state, name)
        return getattr(self._source, name)


def _end_with_error(rec: Recording, exc: BaseException) -> None:
    if isinstance(exc, Exception):
        rec.fail(exc, status_code=getattr(exc, "status_code", None))
    else:  # KeyboardInterrupt, SystemExit, CancelledError: not the stream's fault
        rec.interrupt(f"{type(exc).__name__}")


def _close(source: Any) -> None:
    close = getattr(source, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):  # best effort; the recording is already marked
            close()


async def _aclose(source: Any) -> None:
    for name in ("aclose", "close"):
        method = getattr(source, name, None)
        if callable(method):
            try:
                result = method()
                if hasattr(result, "__await__"):
                    await result
            except Exception:
                pass
            return


def record(
    source: Iterable[T] | AsyncIterable[T],
    *,
    api: str,
    request: Mapping[str, Any] | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    name: str | None = None,
    strict: bool = False,
    tags: Iterable[str] = (),
    prompt_template: str | None = None,
    fn_args: Mapping[str, Any] | None = None,
    redact: Redact | None = None,
    durability: Durability = "group",
    metadata: Mapping[str, Any] | None = None,
) -> RecordedStream[T]:
    """Record ``source`` (a sync or async iterable of chunks) as it is iterated.

    ``api`` names the wire format (``"openai.chat.completions"``, or a provider
    such as ``"openai"`` for its default). ``request`` is what was sent (API keys
    and auth headers are removed before storing). Chunks may be SDK objects,
    dicts, JSON text or bytes, or ``SSEEvent``. A storage failure warns and marks
    the recording failed, never breaking the stream, unless ``strict=True``.
    ``redact`` hooks change what is stored (not what is yielded). ``durability``:
    ``"group"`` (default) commits in groups, ``"chunk"`` commits each chunk before
    it is yielded (see the README's "Reliability and security").
    ``metadata`` attributes the call beyond name and tags (user, session,
    project, feature, any key: values stored as text), for ``ls``/``stats`` filters.
    """
    recording = Recording(
        api=api,
        request=request,
        store=store,
        name=name,
        tags=tags,
        metadata=metadata,
        strict=strict,
        prompt_template=prompt_template,
        fn_args=fn_args,
        redact=redact,
        durability=durability,
    )
    return RecordedStream(source, recording)
