"""The live path's rows (issue 10): a chunk handed over as a bare tuple is stored and folded
exactly as a ``StoredEvent`` built on the spot would be, in order, with its wall clock."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone

from streamrec import SSEEvent, Store, record
from streamrec.events import ChunkRow, EventKind, StoredEvent, utc_from_ns

from .chunks import text_stream


def test_wall_nanoseconds_become_the_microseconds_datetime_now_gives() -> None:
    ns = 1_700_000_000_123_456_789
    assert utc_from_ns(ns) == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=timezone.utc)
    assert utc_from_ns(999) == datetime(1970, 1, 1, tzinfo=timezone.utc)  # truncated, not rounded
    before = datetime.now(timezone.utc)
    now = utc_from_ns(time.time_ns())
    assert before <= now <= datetime.now(timezone.utc)


def test_a_chunk_row_reads_as_the_stored_event_it_stands_for() -> None:
    row = ChunkRow("s1", 3, 42, 1_700_000_000_123_456_789, '{"a":1}', "delta")
    same = StoredEvent(
        "s1", 3, EventKind.CHUNK, 42, utc_from_ns(1_700_000_000_123_456_789), '{"a":1}', "delta"
    )
    fields = [f.name for f in dataclasses.fields(StoredEvent)]
    assert [getattr(row, f) for f in fields] == [getattr(same, f) for f in fields]
    assert isinstance(row, StoredEvent)
    assert ChunkRow.from_tuple(("s1", 3, 42, 1_700_000_000_123_456_789, '{"a":1}', "delta")) == row


def test_live_rows_are_stored_in_order_with_their_wall_clock(store: Store) -> None:
    texts = text_stream([f"w{i} " for i in range(300)])
    before = datetime.now(timezone.utc)
    stream = record([SSEEvent(t) for t in texts], api="openai", store=store)
    assert [e.data for e in stream] == texts
    after = datetime.now(timezone.utc)
    events = store.events(stream.stream_id)
    chunks = [e for e in events if e.kind is EventKind.CHUNK]
    assert [e.seq for e in events] == list(range(len(texts) + 2))
    assert [e.payload for e in chunks] == texts
    stamps = [e.recorded_at for e in chunks]
    assert stamps == sorted(stamps)
    assert before - timedelta(seconds=1) <= stamps[0] and stamps[-1] <= after
    assert [e.t_ns for e in chunks] == sorted(e.t_ns for e in chunks)
    # the fold of the live rows is the fold of the stored ones
    assert stream.state.content == store.state(stream.stream_id).content
    assert stream.state.content == "".join(f"w{i} " for i in range(300))
