"""Any payload is stored exactly, and one stream's data never hurts another (issue 7, point 1).

Payloads go through ``record()`` into real SQLite and PostgreSQL stores; what
replay and ``events()`` give back must be the very text received (for bytes:
the bytes), every stream must end ``completed``, and ``verify`` must agree
with the read model.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streamrec import SSEEvent, Store, record, replay
from streamrec.events import EventKind, StoredEvent, utcnow
from streamrec.projection import project
from streamrec.store._rows import decode_payload, encode_payload

from .chunks import text_stream
from .conftest import pg_schema

FUZZED = {"payloads": 0, "crashes": 0}

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: far past 64 bits
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
chunk_dict = st.fixed_dictionaries(
    {},
    optional={
        "id": json_value,
        "model": json_value,
        "object": json_value,
        "choices": json_value,
        "usage": json_value
        | st.fixed_dictionaries(
            {"prompt_tokens": st.integers(), "completion_tokens": st.integers()}
        ),
        "type": json_value,
    },
)
odd_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)
payload = (
    st.binary(max_size=60)
    | odd_text
    | chunk_dict
    | st.builds(SSEEvent, odd_text, st.none() | odd_text)
)


def _expected(chunk: Any) -> tuple[str, str | None]:
    """What the log must hold for a chunk given to record() (the recorder's wire form)."""
    if isinstance(chunk, SSEEvent):
        return chunk.data, chunk.event
    if isinstance(chunk, bytes):
        return chunk.decode("utf-8", "surrogateescape"), None
    if isinstance(chunk, str):
        return chunk, None
    return json.dumps(chunk, separators=(",", ":"), ensure_ascii=False), None


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fuzz_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One store per engine for the whole module (hypothesis runs many examples on it)."""
    if request.param == "sqlite":
        store = Store(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
        yield store
        store.close()
        return
    with pg_schema("streamrec_fuzz_") as url:
        store = Store(url)
        try:
            yield store
        finally:
            store.close()


def _round_trip(store: Store, chunks: list[Any], api: str = "openai") -> str:
    started = time.monotonic()
    stream = record(iter(chunks), api=api, store=store)
    assert list(stream) == chunks  # the consumer gets the very objects
    assert time.monotonic() - started < 5  # no stall at stream end
    assert stream.recording.storage_error is None
    stored = [e for e in store.events(stream.stream_id) if e.kind is EventKind.CHUNK]
    assert [(e.payload, e.event) for e in stored] == [_expected(c) for c in chunks]
    assert list(replay(stream.stream_id, store=store)) == [_expected(c)[0] for c in chunks]
    # the timed plan and the SSE shape read the same rows by another query
    timed = replay(stream.stream_id, store=store, speed=1e6, format="sse")
    assert [(e.data, e.event) for e in timed] == [_expected(c) for c in chunks]
    # the state read folds bare rows (plain chunks) or events (encoded ones): the same state
    assert store.state(stream.stream_id) == project(store.events(stream.stream_id))
    assert store.stream(stream.stream_id)["status"] == "completed"
    assert store.verify([stream.stream_id]) == []
    return stream.stream_id


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(chunks=st.lists(payload, min_size=1, max_size=4))
@example(chunks=[{"id": True}])  # verify disagreed with the read model (a bool in response_id)
@example(chunks=[{"id": {"nested": [1, 2]}, "model": ["a", None]}])  # lost the whole recording
@example(chunks=[b'{"id":"a\xff"}'])  # invalid UTF-8 killed the writer thread
@example(chunks=['{"usage":{"prompt_tokens":' + str(10**30) + "}}"])  # integer beyond 64 bits
@example(chunks=[{"usage": {"prompt_tokens": 2**70, "completion_tokens": -(2**70)}}])
@example(chunks=["a\x00b", "\ufeff{}", b"\xef\xbb\xbf\x00"])  # NUL (PostgreSQL TEXT) and BOMs
@example(chunks=[SSEEvent("x", "e" * 1000), SSEEvent("y", "a\x00b"), SSEEvent("\udcff", "\udc80")])
@example(chunks=[{"model": "m" * 1_000_000}])  # a 1 MB model name
def test_any_payload_is_stored_exactly(fuzz_store: Store, chunks: list[Any]) -> None:
    FUZZED["payloads"] += len(chunks)
    try:
        _round_trip(fuzz_store, chunks)
    except BaseException:
        FUZZED["crashes"] += 1
        raise


def test_fuzz_count(fuzz_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """Reports how many payloads went through (run with -s to see it)."""
    with capsys.disabled():
        print(f"\nfuzzed payloads so far: {FUZZED['payloads']}, crashes: {FUZZED['crashes']}")
    assert FUZZED["crashes"] == 0


def test_deep_nesting_and_big_chunks(fuzz_store: Store) -> None:
    deep = "[" * 5000 + "]" * 5000  # past json's recursion limit: kept as text, folded as malformed
    big = json.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 10_000_000}}]})
    nested: Any = {}
    for _ in range(200):
        nested = {"a": nested}
    _round_trip(fuzz_store, [deep, big, nested, *text_stream(["ok"])])


def test_read_model_values_it_cannot_hold_are_recorded_as_problems(fuzz_store: Store) -> None:
    chunks = [
        {"id": True, "model": "m" * 1000, "choices": [], "usage": {"prompt_tokens": 2**80}},
        "[DONE]",
    ]
    stream_id = _round_trip(fuzz_store, chunks)
    row = fuzz_store.stream(stream_id)
    assert row["response_id"] is None
    assert row["model"] == "m" * 255
    problems = json.loads(row["problems"])
    assert any(p.startswith("response_id:") for p in problems)
    assert any(p.startswith("model:") and "truncated" in p for p in problems)


@given(
    text=st.text(alphabet=st.characters(codec=None, exclude_categories=())),
    event=st.none() | st.text(),
)
@example(text="\x00", event="\udcff")
@example(text='"already json"', event=None)
def test_the_payload_encoding_round_trips(text: str, event: str | None) -> None:
    stored, stored_event, encoding = encode_payload(text, event)
    assert encoding in (None, "json")
    if encoding is not None:
        assert stored.isascii() and "\x00" not in stored
    assert decode_payload(stored, stored_event, encoding) == (text, event)


def _events(stream_id: str, *kinds: EventKind) -> list[StoredEvent]:
    return [
        StoredEvent(
            stream_id,
            seq,
            kind,
            seq,
            utcnow(),
            "{}"
            if kind is not EventKind.STARTED
            else '{"provider":"openai","api":"openai.chat.completions"}',
        )
        for seq, kind in enumerate(kinds)
    ]


def test_a_batch_that_fails_marks_only_its_own_streams(any_store: Store) -> None:
    writer = any_store.writer
    bad = str(uuid.uuid4())
    (started,) = _events(bad, EventKind.STARTED)
    good = record(iter(text_stream(["fine"])), api="openai", store=any_store)
    iterator = iter(good)
    next(iterator)  # the good stream has started and has a chunk pending
    errors: list[BaseException] = []
    writer.listen(bad, errors.append)
    writer.submit(started)
    writer.submit(started)  # the same (stream, seq) twice: the database refuses the batch
    assert list(iterator)  # the good stream goes on and ends
    assert errors and "could not be stored" in str(any_store.stream(bad)["error"])
    assert any_store.stream(bad)["status"] == "failed"
    assert any_store.stream(good.stream_id)["status"] == "completed"
    later = record(iter(text_stream(["later"])), api="openai", store=any_store)
    list(later)
    assert any_store.state(later.stream_id).content == "later"


def test_the_writer_survives_an_error_of_its_own(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = store.append
    calls = {"n": 0}

    def append_once_broken(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug below the writer")
        real(*args, **kwargs)

    monkeypatch.setattr(store, "append", append_once_broken)
    with caplog.at_level(logging.WARNING, "streamrec"):
        first = record(iter(text_stream(["lost"])), api="openai", store=store)
        with pytest.warns(Warning, match="could not be stored"):
            list(first)
    assert first.recording.storage_error is not None
    second = record(iter(text_stream(["kept"])), api="openai", store=store)
    list(second)
    assert store.state(second.stream_id).content == "kept"
    assert store.stream(second.stream_id)["status"] == "completed"
    assert threading.active_count() >= 1


def test_unsupported_chunks_are_stored_best_effort_and_reported(store: Store) -> None:
    class Odd:
        def __repr__(self) -> str:
            return "<Odd>"

    chunks: list[Any] = [Odd(), {"when": {1, 2}, "obj": Odd()}, *text_stream(["x"])]
    stream = record(iter(chunks), api="openai", store=store)
    assert list(stream) == chunks  # never raised into the consumer's loop
    assert len(stream.recording.problems) == 2
    payloads = [e.payload for e in store.events(stream.stream_id) if e.kind is EventKind.CHUNK]
    assert payloads[0] == "<Odd>"
    assert json.loads(payloads[1])["obj"] == "<Odd>"
    assert store.stream(stream.stream_id)["status"] == "completed"


def test_a_request_json_cannot_encode_is_stored_best_effort(store: Store, tmp_path: Path) -> None:
    request = {"model": "gpt-4o-mini", "messages": [], "when": tmp_path, "bad": "\udcff"}
    stream = record(iter(text_stream(["x"])), api="openai", store=store, request=request)
    list(stream)
    started = store.events(stream.stream_id)[0].model()
    assert started.request["when"] == repr(tmp_path)  # type: ignore[union-attr]
    assert started.request["bad"] == "\udcff"  # type: ignore[union-attr]
    assert stream.recording.problems


def test_bytes_that_are_not_utf8_round_trip_through_the_recording_transport(store: Store) -> None:
    import httpx

    from streamrec.providers import frame_sse
    from streamrec.recorder import RecordingTransport

    body = b'data: {"a":"\xff\xfe\x00"}\n\nevent: odd\xc3\ndata: \xe2\x82\n\ndata: [DONE]\n\n'

    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:  # split inside multi-byte sequences
            yield from (body[i : i + 3] for i in range(0, len(body), 3))

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pieces())

    transport = RecordingTransport(httpx.MockTransport(upstream), store=store)
    with httpx.Client(transport=transport) as http:
        got = http.post(
            "http://upstream.test/v1/chat/completions",
            json={"model": "m", "messages": [], "stream": True},
        ).content
    assert got == body  # the client gets the very bytes
    [stream_id] = transport.stream_ids
    chunks = [e for e in store.events(stream_id) if e.kind is EventKind.CHUNK]
    framed = b"".join(frame_sse("openai.chat.completions", e.payload, e.event) for e in chunks)
    assert framed == body  # and the log gives them back


# text COPY escapes backslashes, tabs and newlines; NUL and lone surrogates are encoded first
_AWKWARD = ["a\x00b", "\udcff", "é💥", "", '{"x": "\\\\n"}', "tab\tnl\nbs\\cr\r", "\\N", "é" * 5000]


@pytest.mark.postgres
def test_copy_stores_exactly_what_sqlalchemys_insert_stored(pg_url: str) -> None:
    """PostgreSQL batches go in by COPY (``store/_rows.py``): every column of every row must
    be what ``insert(events)`` wrote for the same event, and read back the same."""
    from sqlalchemy import insert, select

    from streamrec.store._rows import event_row, insert_events
    from streamrec.store._schema import events

    when = utcnow()

    def batch(stream_id: str) -> list[StoredEvent]:
        names = [None, "e\tv", "\\", "\x00", "ok"]
        return [
            StoredEvent(stream_id, i, kind, 10**15 + i, when, text, names[i % len(names)])
            for i, (kind, text) in enumerate(
                [(EventKind.STARTED, "{}"), *((EventKind.CHUNK, t) for t in _AWKWARD)]
            )
        ]

    with Store(pg_url) as store:
        with store.engine.begin() as conn:
            conn.execute(insert(events), [event_row(e) for e in batch("by-insert")])
        with store.engine.begin() as conn:
            insert_events(conn, batch("by-copy"))
        c = events.c
        columns = [c.seq, c.kind, c.t_ns, c.recorded_at, c.event, c.payload, c.encoding]
        with store.engine.connect() as conn:
            rows = {
                sid: conn.execute(select(*columns).where(c.stream_id == sid).order_by(c.seq)).all()
                for sid in ("by-insert", "by-copy")
            }
        assert rows["by-copy"] == rows["by-insert"] and len(rows["by-copy"]) == len(_AWKWARD) + 1
        assert [(e.payload, e.event) for e in store.events("by-copy")] == [
            (e.payload, e.event) for e in batch("x")
        ]


@pytest.mark.postgres
def test_a_copy_refused_on_the_events_key_is_sqlalchemys_integrity_error(pg_url: str) -> None:
    """The writer tells a retried batch that had landed by this error (see Writer._commit)."""
    from sqlalchemy.exc import IntegrityError

    from streamrec.store._rows import insert_events

    event = StoredEvent("twice", 0, EventKind.STARTED, 0, utcnow(), "{}")
    with Store(pg_url) as store:
        with store.engine.begin() as conn:
            insert_events(conn, [event])
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            insert_events(conn, [event])
        assert len(store.events("twice")) == 1  # the pool's connections still answer
