"""The store contract: one abstract suite whose only hook is a ``store`` fixture.

Run against SQLite (a file) and PostgreSQL by subclasses in test_store.py, the
way eventsourcing's persistence tests are reused across backends.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from streamrec import SSEEvent, Store, record, replay
from streamrec.errors import StoreError, UnknownStream
from streamrec.events import EventKind, StoredEvent
from streamrec.store import export_lines, import_lines, stats

from .chunks import REQUEST, chunk, text_stream


def _record(store: Store, words: list[str], name: str | None = None) -> str:
    stream = record(
        [SSEEvent(c) for c in text_stream(words)],
        api="openai.chat.completions",
        request=REQUEST,
        store=store,
        name=name,
    )
    for _ in stream:
        pass
    return stream.stream_id


class StoreContract:
    """Behaviour every backend must have. Subclasses provide the ``store`` fixture."""

    def test_append_and_read_back_in_seq_order(self, store: Store) -> None:
        sid = _record(store, ["Hel", "lo"])
        events = store.events(sid)
        assert [e.seq for e in events] == list(range(len(events)))
        assert events[0].kind is EventKind.STARTED
        assert events[-1].kind is EventKind.COMPLETED
        assert [e.payload for e in events if e.kind is EventKind.CHUNK] == text_stream(
            ["Hel", "lo"]
        )
        assert all(isinstance(e.recorded_at, datetime) and e.recorded_at.tzinfo for e in events)
        assert [e.t_ns for e in events] == sorted(e.t_ns for e in events)
        positions = [e.position for e in events]
        assert positions == sorted(positions) and len(set(positions)) == len(positions)

    def test_seq_is_unique_per_stream(self, store: Store) -> None:
        sid = _record(store, ["a"])
        dup = StoredEvent(sid, 0, EventKind.CHUNK, 1, datetime.now(timezone.utc), "{}")
        with pytest.raises(StoreError) as info:
            store.append([dup])
        assert isinstance(info.value.__cause__, IntegrityError)
        assert len(store.events(sid)) == len(text_stream(["a"])) + 2  # nothing lost

    def test_read_model_row(self, store: Store) -> None:
        sid = _record(store, ["x", "y", "z"], name="greeting")
        row = store.stream(sid)
        assert row["status"] == "completed"
        assert row["name"] == "greeting"
        assert row["provider"] == "openai"
        assert row["requested_model"] == "gpt-4o-mini"
        assert row["model"] == "gpt-4o-mini-2024-07-18"
        assert row["chunk_count"] == len(text_stream(["x", "y", "z"]))
        assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
        assert row["cost_nanousd"] == 12 * 150 + 3 * 600  # gpt-4o-mini: $0.15 / $0.60 per MTok
        assert row["finish_reasons"] == '["stop"]'
        assert row["response_id"] == "chatcmpl-test123"

    def test_state_rebuilt_from_events(self, store: Store) -> None:
        sid = _record(store, ["Hel", "lo"])
        state = store.state(sid)
        assert state.content == "Hello"
        assert state.status == "completed"
        assert state.finish_reasons == ["stop"]

    def test_unknown_stream(self, store: Store) -> None:
        with pytest.raises(UnknownStream, match="no stream with id 'nope'"):
            store.events("nope")

    def test_resolve_unique_prefix(self, store: Store) -> None:
        sid = _record(store, ["a"])
        assert store.resolve(sid[:13]) == sid

    def test_listing_newest_first_and_filters(self, store: Store) -> None:
        first = _record(store, ["a"], name="one")
        second = _record(store, ["b"], name="two")
        assert [r["stream_id"] for r in store.streams()] == [second, first]
        assert [r["stream_id"] for r in store.streams(name="one")] == [first]
        assert [r["stream_id"] for r in store.streams(limit=1)] == [second]

    def test_rebuild_gives_the_same_rows(self, store: Store) -> None:
        ids = [_record(store, ["a", "b"]), _record(store, ["c"])]
        before = [store.stream(i) for i in ids]
        assert store.rebuild() == 2
        assert [store.stream(i) for i in ids] == before
        assert store.verify() == []

    def test_verify_finds_a_tampered_read_model(self, store: Store) -> None:
        sid = _record(store, ["a"])
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE streams SET output_tokens = 999 WHERE stream_id = '{sid}'"
            )
        assert any("output_tokens" in p for p in store.verify())
        store.rebuild([sid])
        assert store.verify() == []

    def test_sql_is_read_only(self, store: Store) -> None:
        store.grant_reader()  # PostgreSQL: the role `streamrec db upgrade` creates
        _record(store, ["a"])
        columns, rows = store.sql("SELECT count(*) AS n FROM streams")
        assert (columns, rows) == (["n"], [(1,)])
        with pytest.raises(StoreError):
            store.sql("DELETE FROM events")
        assert store.sql("SELECT count(*) FROM events")[1][0][0] > 0

    def test_concurrent_recordings_lose_nothing(self, store: Store) -> None:
        ids: list[str] = []
        lock = threading.Lock()

        def work(n: int) -> None:
            sid = _record(store, [f"w{n}-{i}" for i in range(20)])
            with lock:
                ids.append(sid)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == 8
        for sid in ids:
            state = store.state(sid)
            n = state.content.split("-")[0][1:]
            assert state.content == "".join(f"w{n}-{i}" for i in range(20))
        assert store.verify() == []

    def test_export_import_round_trip(self, store: Store, tmp_path: object) -> None:
        sid = _record(store, ["a", "b"])
        lines = list(export_lines(store))
        other = Store(f"sqlite:///{tmp_path}/other.db")
        try:
            imported, skipped = import_lines(other, lines)
            assert (imported, skipped) == ([sid], [])
            assert list(replay(sid, store=other)) == list(replay(sid, store=store))
            assert other.stream(sid) == store.stream(sid)
            assert import_lines(other, lines) == ([], [sid])
        finally:
            other.close()

    def test_stats_sum_exact_cost(self, store: Store) -> None:
        _record(store, ["a"])
        _record(store, ["b", "c"])
        [row] = stats(store, "model")
        assert row["group"] == "gpt-4o-mini-2024-07-18"
        assert row["streams"] == 2
        assert (row["input_tokens"], row["output_tokens"]) == (24, 3)
        assert row["cost"] == Decimal("0.0000054")
        assert row["cost_nanousd"] == 5400

    def test_malformed_chunk_is_kept_and_counted(self, store: Store) -> None:
        raw = [chunk({"content": "ok"}), "{not json", chunk({}, "stop")]
        stream = record([SSEEvent(c) for c in raw], api="openai.chat.completions", store=store)
        assert list(stream) == [SSEEvent(c) for c in raw]
        state = store.state(stream.stream_id)
        assert state.malformed_chunks == 1
        assert state.content == "ok"
        assert list(replay(stream.stream_id, store=store)) == raw
