"""Properties that hold for every input: projection never raises, replay equals record,
rebuild equals live."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streamrec import SSEEvent, Store, record, replay
from streamrec.events import EventKind, StoredEvent, StreamStarted
from streamrec.projection import Projector

from .chunks import chunk, tool_delta, usage_body

_T = datetime(2026, 1, 1, tzinfo=timezone.utc)
_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

small_int = st.integers(min_value=0, max_value=3)
json_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=8)

text_chunk = st.builds(lambda t: chunk({"content": t}), st.text(max_size=20))
tool_chunk = st.builds(
    lambda i, ident, name, args: chunk(
        {"tool_calls": [tool_delta(i, id=ident, name=name, args=args)]}
    ),
    small_int,
    st.none() | st.sampled_from(["call_a", "call_b", "call_c"]),
    st.none() | st.sampled_from(["f", "g", ""]),
    st.none() | st.text(max_size=10),
)
usage_chunk = st.builds(
    lambda p, c, cached: chunk(choices=[], usage=usage_body(p, c, cached)),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.integers(0, 100),
)
finish_chunk = st.builds(
    lambda r: chunk({}, r), st.sampled_from(["stop", "length", "tool_calls", "content_filter"])
)
empty_chunk = st.just(chunk(choices=[]))
garbage = (
    st.text(max_size=30)
    | st.just("[DONE]")
    | st.builds(
        json.dumps,
        st.recursive(
            json_scalar,
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
            max_leaves=8,
        ),
    )
    | st.builds(
        lambda d: json.dumps({"choices": d}),
        st.lists(
            st.dictionaries(st.sampled_from(["index", "delta", "finish_reason"]), json_scalar),
            max_size=2,
        ),
    )
)
any_chunk = text_chunk | tool_chunk | usage_chunk | finish_chunk | empty_chunk | garbage


def _events(chunks: list[str]) -> Iterator[StoredEvent]:
    started = StreamStarted(provider="openai", api="openai.chat.completions", model="gpt-4o-mini")
    yield StoredEvent("s", 0, EventKind.STARTED, 0, _T, started.model_dump_json())
    for i, c in enumerate(chunks, 1):
        yield StoredEvent("s", i, EventKind.CHUNK, i, _T, c)
    yield StoredEvent("s", len(chunks) + 1, EventKind.COMPLETED, len(chunks) + 1, _T, "{}")


@_settings
@given(st.lists(any_chunk, max_size=25))
def test_any_chunk_sequence_projects_without_raising(chunks: list[str]) -> None:
    projector = Projector()
    for event in _events(chunks):
        projector.apply(event)
    state = projector.state
    assert state.chunk_count == len(chunks)
    assert state.status in {"completed", "failed"}
    # a normally ended stream leaves no call open: each is complete, or says why it is not
    assert all(t.complete != bool(t.problem) for t in state.tool_calls)
    state.construct_call_response()  # and the derived views do not raise either
    json.dumps(state.model_dump(mode="json"))


@_settings
@given(st.lists(any_chunk, max_size=25), st.integers(min_value=0, max_value=25))
def test_prefix_then_rest_equals_whole(chunks: list[str], cut: int) -> None:
    events = list(_events(chunks))
    whole = Projector()
    for e in events:
        whole.apply(e)
    split = Projector()
    for e in events[:cut]:
        split.apply(e)
    _ = split.state  # observing the state midway must not change the end result
    for e in events[cut:]:
        split.apply(e)
    assert split.state == whole.state


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = Store(Path(tmp_path_factory.mktemp("props")) / "p.db")
    yield s
    s.close()


sse_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@_settings
@given(
    st.lists(
        st.builds(
            SSEEvent,
            sse_text | any_chunk,
            st.none() | st.sampled_from(["message_start", "ping", "x"]),
        ),
        max_size=20,
    )
)
def test_replay_equals_record(shared_store: Store, events: list[SSEEvent]) -> None:
    stream = record(events, api="openai.chat.completions", store=shared_store)
    assert list(stream) == events
    assert list(replay(stream.stream_id, store=shared_store, format="sse")) == events
    assert list(replay(stream.stream_id, store=shared_store)) == [e.data for e in events]


@_settings
@given(st.lists(any_chunk, max_size=20), st.booleans())
def test_rebuild_equals_live(shared_store: Store, chunks: list[str], stop_early: bool) -> None:
    stream = record(
        [SSEEvent(c) for c in chunks], api="openai.chat.completions", store=shared_store
    )
    if stop_early and chunks:
        for _ in stream:
            break
        stream.recording.flush()
    else:
        list(stream)
    live: Any = stream.state
    assert shared_store.state(stream.stream_id) == live
    assert shared_store.verify([stream.stream_id]) == []


_any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)  # NaN != NaN: compared apart below
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.builds(json.dumps, st.dictionaries(st.text(), _any_json, max_size=4)),
        st.builds(
            lambda v: json.dumps(v, ensure_ascii=False), st.dictionaries(st.text(), _any_json)
        ),
        st.text(max_size=40),
    )
)
@example('{"\\ud800":1}')  # jiter refuses lone surrogates, escaped or raw: the stdlib decides
@example('{"a":"\udfff"}')
@example('{"a":NaN}')
@example('{"a":1,}')
@example(" {} ")
@example("[1]")
def test_chunk_decoding_reads_what_the_stdlib_reads(text: str) -> None:
    """The reducers decode chunks with jiter (falling back to json): same values, same refusals."""
    from streamrec.errors import ProjectionError
    from streamrec.projection._formats._common import decode

    try:
        expected: Any = json.loads(text)
    except ValueError:
        expected = ProjectionError
    if not isinstance(expected, dict):
        expected = ProjectionError
    try:
        got: Any = decode(text)
    except ProjectionError:
        got = ProjectionError
    assert repr(got) == repr(expected)  # repr: -0.0 and 0.0, 1 and 1.0, key order told apart
