"""``streamrec.record`` over plain iterables: what is yielded, what is stored, how streams end."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from streamrec import SSEEvent, Store, record, replay
from streamrec.errors import RecorderError, StoreWarning
from streamrec.events import EventKind

from .chunks import REQUEST, chunk, text_stream


def test_yields_the_very_same_objects_and_stores_each_chunk(store: Store) -> None:
    source = [json.loads(c) for c in text_stream(["Hel", "lo"], done=False)]
    stream = record(source, api="openai.chat.completions", request=REQUEST, store=store)
    out = list(stream)
    assert len(out) == len(source) and all(a is b for a, b in zip(out, source, strict=True))
    kinds = [e.kind for e in store.events(stream.stream_id)]
    assert kinds == [EventKind.STARTED] + [EventKind.CHUNK] * len(source) + [EventKind.COMPLETED]
    assert [json.loads(p) for p in replay(stream.stream_id, store=store)] == source


@pytest.mark.parametrize("shape", ["str", "bytes", "sse"])
def test_text_chunks_are_stored_byte_for_byte(store: Store, shape: str) -> None:
    texts = [c.replace(",", ", ") for c in text_stream(["a", "ü"])]  # odd spacing must survive
    source = {
        "str": texts,
        "bytes": [t.encode() for t in texts],
        "sse": [SSEEvent(t) for t in texts],
    }[shape]
    stream = record(source, api="openai.chat.completions", store=store)
    assert list(stream) == source
    assert list(replay(stream.stream_id, store=store)) == texts


def test_started_event_has_the_request_without_secrets(store: Store) -> None:
    request = {
        **REQUEST,
        "api_key": "sk-secret",
        "extra_headers": {"Authorization": "Bearer sk-secret", "X-Trace": "t1"},
    }
    stream = record(
        text_stream(["a"]), api="openai", request=request, store=store, name="n", tags=["x"]
    )
    list(stream)
    started = store.events(stream.stream_id)[0]
    assert "sk-secret" not in started.payload
    body = json.loads(started.payload)
    assert body["request"]["extra_headers"] == {"X-Trace": "t1"}
    assert body["request"]["messages"] == REQUEST["messages"]
    assert (body["api"], body["provider"], body["model"]) == (
        "openai.chat.completions",
        "openai",
        "gpt-4o-mini",
    )
    assert (body["name"], body["tags"]) == ("n", ["x"])


def test_timestamps_are_monotonic_since_start(store: Store) -> None:
    stream = record(text_stream(["a", "b", "c"]), api="openai", store=store)
    list(stream)
    events = store.events(stream.stream_id)
    t = [e.t_ns for e in events]
    assert t[0] >= 0 and t == sorted(t)
    walls = [e.recorded_at for e in events]
    assert walls == sorted(walls)


def _failing(chunks: list[str], error: Exception) -> Iterator[str]:
    yield from chunks
    raise error


def test_a_raising_source_is_recorded_as_failed_and_the_same_exception_reaches_the_caller(
    store: Store,
) -> None:
    boom = ConnectionError("peer closed connection")
    stream = record(_failing(text_stream(["a", "b"])[:2], boom), api="openai", store=store)
    seen = []
    with pytest.raises(ConnectionError) as info:
        for c in stream:
            seen.append(c)
    assert info.value is boom
    assert len(seen) == 2
    state = store.state(stream.stream_id)
    assert state.status == "failed"
    assert state.error == {
        "type": "ConnectionError",
        "message": "peer closed connection",
        "status_code": None,
    }
    assert state.content == "a"
    assert store.stream(stream.stream_id)["status"] == "failed"


def test_breaking_early_marks_the_stream_interrupted(store: Store) -> None:
    closed = []

    class Source:
        def __iter__(self) -> Iterator[str]:
            return iter(text_stream(["a", "b", "c"]))

        def close(self) -> None:
            closed.append(True)

    stream = record(Source(), api="openai", store=store)
    for _ in stream:
        break
    stream.recording.flush()
    state = store.state(stream.stream_id)
    assert state.status == "interrupted"
    assert state.chunk_count == 1
    assert closed == [True]


def test_garbage_collected_unconsumed_stream_is_interrupted(store: Store) -> None:
    stream = record(text_stream(["a"]), api="openai", store=store)
    sid = stream.stream_id
    del stream
    gc.collect()
    store.writer.flush()
    assert store.state(sid).status == "interrupted"
    assert store.state(sid).error == {
        "type": "interrupted",
        "message": "the stream was never consumed",
    }


def test_live_state_is_updated_chunk_by_chunk(store: Store) -> None:
    stream = record(text_stream(["Hel", "lo", "!"]), api="openai", store=store)
    contents = [stream.state.content for _ in stream]
    assert contents[:4] == ["", "Hel", "Hello", "Hello!"]
    assert stream.state == store.state(stream.stream_id)


def test_async_twin(store: Store) -> None:
    async def source() -> AsyncIterator[str]:
        for c in text_stream(["x", "y"]):
            await asyncio.sleep(0)
            yield c

    async def main() -> tuple[list[str], str]:
        stream = record(source(), api="openai", store=store)
        return [c async for c in stream], stream.stream_id

    out, sid = asyncio.run(main())
    assert out == text_stream(["x", "y"])
    assert list(replay(sid, store=store)) == out
    assert store.state(sid).status == "completed"


def test_async_source_raising(store: Store) -> None:
    async def source() -> AsyncIterator[str]:
        yield chunk({"content": "a"})
        raise TimeoutError("read timed out")

    async def main() -> str:
        stream = record(source(), api="openai", store=store)
        with pytest.raises(TimeoutError, match="read timed out"):
            async for _ in stream:
                pass
        await stream.recording.aflush()
        return stream.stream_id

    sid = asyncio.run(main())
    assert store.state(sid).status == "failed"


def test_iterating_twice_is_an_error(store: Store) -> None:
    stream = record(text_stream(["a"]), api="openai", store=store)
    list(stream)
    with pytest.raises(RecorderError, match="only once"):
        list(stream)


def test_an_unknown_api_is_refused_before_anything_is_stored(store: Store) -> None:
    with pytest.raises(Exception, match="unknown"):
        record([], api="nosuch.api", store=store)
    assert store.streams() == []


def _broken_store(path: Path) -> Store:
    broken = Store(path)
    with broken.engine.begin() as conn:  # every append now fails inside the database
        conn.exec_driver_sql("DROP TABLE events")
    return broken


def test_a_storage_failure_does_not_break_the_live_stream(tmp_path: Path) -> None:
    broken = _broken_store(tmp_path / "broken.db")
    stream = record(text_stream(["a", "b"]), api="openai", store=broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = list(stream)
    assert out == text_stream(["a", "b"])
    assert any(issubclass(w.category, StoreWarning) for w in caught)
    assert stream.recording.storage_error is not None
    assert broken.stream(stream.stream_id)["status"] == "failed"
    broken.close()


def test_strict_turns_a_storage_failure_into_an_error(tmp_path: Path) -> None:
    broken = _broken_store(tmp_path / "broken.db")
    stream = record(text_stream(["a", "b"]), api="openai", store=broken, strict=True)
    with pytest.raises(RecorderError, match="could not be stored"):
        list(stream)
    broken.close()


def test_default_store_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/env.db"
    monkeypatch.setenv("STREAMREC_DB", url)
    stream = record(text_stream(["a"]), api="openai")
    list(stream)
    with Store(url) as store:
        assert store.state(stream.stream_id).content == "a"


def test_store_may_be_given_as_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/by-url.db"
    stream = record(text_stream(["a"]), api="openai", store=url)
    list(stream)
    assert list(replay(stream.stream_id, store=url, format="text")) == text_stream(["a"])
    assert list(replay(stream.stream_id, store=str(tmp_path / "by-url.db"), format="dict"))[
        1
    ] == json.loads(text_stream(["a"])[1])


def test_secret_named_fields_inside_content_are_data_not_secrets(store: Store) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "login",
            "parameters": {
                "type": "object",
                "properties": {"password": {"type": "string"}, "key": {"type": "string"}},
            },
        },
    }
    request = {
        **REQUEST,
        "tools": [tool],
        "api_key": "sk-x",
        "extra_query": {"key": "AIza-secret", "alt": "sse"},
    }
    stream = record(text_stream(["a"]), api="openai", request=request, store=store)
    list(stream)
    stored = json.loads(store.events(stream.stream_id)[0].payload)["request"]
    assert stored["tools"] == [tool]
    assert stored["extra_query"] == {"alt": "sse"}
    assert "api_key" not in stored and "AIza-secret" not in json.dumps(stored)


def test_redaction_hooks_change_what_is_stored_not_what_is_yielded(store: Store) -> None:
    from streamrec import Redact

    def hide_emails(text: str) -> str:
        return text.replace("ann@example.com", "[email]")

    request = {**REQUEST, "messages": [{"role": "user", "content": "mail ann@example.com"}]}
    source = text_stream(["to ", "ann@example.com"])
    stream = record(
        source,
        api="openai",
        request=request,
        store=store,
        redact=Redact(
            request=lambda r: json.loads(hide_emails(json.dumps(r))),
            chunk=hide_emails,
        ),
    )
    assert list(stream) == source  # the live caller sees the original
    stored = store.events(stream.stream_id)
    assert all("ann@example.com" not in e.payload for e in stored)
    assert store.state(stream.stream_id).content == "to [email]"
    assert store.state(stream.stream_id).messages == [{"role": "user", "content": "mail [email]"}]


def test_tool_results_are_events_and_feed_tool_message_params(store: Store) -> None:
    from .chunks import chunk as make_chunk
    from .chunks import tool_delta

    source = [
        make_chunk(
            {
                "tool_calls": [
                    tool_delta(0, id="call_1", name="get_weather", args='{"city": "Paris"}')
                ]
            }
        ),
        make_chunk({}, "tool_calls"),
    ]
    stream = record(source, api="openai", request=REQUEST, store=store)
    list(stream)
    [tool] = stream.state.tool_calls
    stream.tool_results([(tool, {"temp_c": 21})])
    events = store.events(stream.stream_id)
    assert [e.kind for e in events][-2:] == [EventKind.COMPLETED, EventKind.TOOL_RESULT]
    state = store.state(stream.stream_id)
    assert state.tool_outputs == [{"id": "call_1", "name": "get_weather", "output": {"temp_c": 21}}]
    assert state.tool_message_params() == [
        {
            "role": "tool",
            "content": '{"temp_c":21}',
            "tool_call_id": "call_1",
            "name": "get_weather",
        }
    ]
    assert state.status == "completed"
    assert store.verify([stream.stream_id]) == []


def test_basestream_attributes_read_through_the_wrapper(store: Store) -> None:
    class SDKStream:
        """Stands in for an SDK stream object with helpers of its own."""

        def __iter__(self) -> Iterator[str]:
            return iter(text_stream(["Hel", "lo"]))

        def get_final_text(self) -> str:
            return "sdk helper"

    stream = record(SDKStream(), api="openai", request=REQUEST, store=store)
    for _ in stream:
        pass
    assert (stream.content, stream.finish_reasons, stream.output_tokens) == ("Hello", ["stop"], 2)
    assert stream.cost == stream.state.cost and stream.cost is not None
    assert stream.construct_call_response().content == "Hello"
    assert stream.get_final_text() == "sdk helper"


def test_the_writer_keeps_no_listener_once_a_stream_is_committed(store: Store) -> None:
    for _ in range(5):
        list(record(text_stream(["a"]), api="openai", store=store))
    store.writer.flush()
    assert store.writer._listeners == {}  # a long-running proxy must not grow without bound


class _Chunk:
    """An SDK-like object (``model_dump``): stored through the deferred dump; counts dumps."""

    dumps = 0

    def __init__(self, data: dict[str, object], fail: bool = False) -> None:
        self.data, self.fail = data, fail

    def model_dump(self, **_: object) -> dict[str, object]:
        type(self).dumps += 1
        if self.fail:
            raise ValueError("cannot dump")
        return self.data

    def __repr__(self) -> str:
        return "<chunk that cannot dump>"


def test_sdk_objects_are_dumped_once_for_the_fold_and_the_writer(store: Store) -> None:
    source = [_Chunk(json.loads(c)) for c in text_stream(["Hel", "lo"], done=False)]
    _Chunk.dumps = 0
    stream = record(source, api="openai.chat.completions", store=store)
    for _ in stream:
        assert stream.state is not None  # a state read folds (and dumps) each chunk first
    assert stream.state.content == "Hello"
    assert _Chunk.dumps == len(source)
    stored = [json.loads(p) for p in replay(stream.stream_id, store=store)]
    assert stored == [c.data for c in source]


def test_an_sdk_object_that_cannot_be_dumped_is_stored_as_its_repr_and_named(
    store: Store,
) -> None:
    texts = text_stream(["Hel", "lo"], done=False)
    source = [_Chunk(json.loads(c), fail=i == 1) for i, c in enumerate(texts)]
    stream = record(source, api="openai.chat.completions", store=store)
    assert list(stream) == source  # the live stream is untouched
    stored = list(replay(stream.stream_id, store=store))
    assert stored[1] == "<chunk that cannot dump>"
    assert [json.loads(p) for i, p in enumerate(stored) if i != 1] == [
        c.data for i, c in enumerate(source) if i != 1
    ]
    assert stream.recording.problems == ["chunk 1: a _Chunk stored as its repr (cannot dump)"]
