"""The log: sustained recording (written and committed), replay, state reads, bytes on disk.

Floors use the same table streamrec creates (its DDL read back from the
database, with its indexes), so the floor pays for the same indexes and the
same SQLite settings (WAL, ``synchronous=NORMAL``): what is left is what
streamrec adds. The peer is the ``eventsourcing`` library's application
recorder, inserting one stream's events per call (its unit of work).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._harness import Row, Scale, interleave, timed

__all__ = ["PG_URL", "pg_available", "rows"]

PG_URL = os.environ.get("STREAMREC_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _chunks(n: int) -> list[Any]:
    from ._recorder import sse_chunks

    return sse_chunks(n)


def _record_all(store: Any, data: list[Any], streams: int) -> list[str]:
    from streamrec import record

    ids = []
    for _ in range(streams):
        stream = record(data, api="openai.chat.completions", store=store)
        for _ in stream:  # each stream ends with a flush: all of it committed
            pass
        ids.append(stream.stream_id)
    return ids


def _events_ddl(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL"
                " ORDER BY type DESC"  # the table before its indexes
            )
        ]
    finally:
        conn.close()


def _raw_sqlite(path: Path, ddl: list[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for sql in ddl:
        conn.execute(sql)
    return conn


def _rows_for(data: list[Any], sid: str) -> list[tuple[Any, ...]]:
    now = "2026-12-01 00:00:00.000000+00:00"
    return [(sid, i, "chunk", i * 1000, now, None, c.data) for i, c in enumerate(data)]


_INSERT = (
    "INSERT INTO events (stream_id, seq, kind, t_ns, recorded_at, event, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _sqlite_writes(size: Scale, repeats: int) -> list[Row]:
    from streamrec import Store

    streams, per = size.pick((2, 20), (20, 200), (200, 1000))
    data = _chunks(per - 4)  # per chunks with the role/stop/usage/[DONE] ones
    tmp = Path(tempfile.mkdtemp())
    total = streams * len(data)
    run = iter(range(10**9))

    def ours() -> float:
        store = Store(tmp / f"ours{next(run)}.db")
        try:
            return total / timed(lambda: _record_all(store, data, streams))
        finally:
            store.close()

    ddl: list[str] | None = None

    def floor() -> float:
        nonlocal ddl
        if ddl is None:
            probe = Store(tmp / "ddl.db")
            probe.close()
            ddl = _events_ddl(tmp / "ddl.db")
        conn = _raw_sqlite(tmp / f"raw{next(run)}.db", ddl)

        def write() -> None:
            for s in range(streams):
                conn.execute("BEGIN")
                conn.executemany(_INSERT, _rows_for(data, f"s{s}"))
                conn.execute("COMMIT")

        try:
            return total / timed(write)
        finally:
            conn.close()

    def peer() -> float:
        from eventsourcing.persistence import StoredEvent
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

        datastore = SQLiteDatastore(str(tmp / f"es{next(run)}.db"))
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        batches = [
            [StoredEvent(oid, i, "streamrec:chunk", c.data.encode()) for i, c in enumerate(data)]
            for oid in (uuid.uuid4() for _ in range(streams))
        ]

        def write() -> None:
            for batch in batches:
                recorder.insert_events(batch)

        try:
            return total / timed(write)
        finally:
            datastore.close()

    a, b = interleave(ours, floor, repeats, warmup=0)
    try:
        a2, c = interleave(ours, peer, max(2, repeats // 2) if repeats > 1 else 1, warmup=0)
        note = ""
    except ImportError as exc:  # the bench extra brings eventsourcing
        a2, c, note = a, [], f"peer failed: {exc}: pip install -e '.[bench]'"
    label = f"{streams} x {per} chunks"
    return [
        Row(
            f"sustained recording into SQLite, {label}, committed",
            "chunks/s",
            a,
            "raw sqlite3 executemany per stream",
            b,
            target="ratio ≥ 0.7",
            check=lambda r: (r.ratio or 0) >= 0.7,
        ),
        Row(
            "the same, against eventsourcing's SQLite recorder",
            "chunks/s",
            a2,
            "eventsourcing SQLiteApplicationRecorder" if c else "",
            c,
            target="ratio > 1",
            check=lambda r: (r.ratio or 0) > 1,
            note=note,
        ),
    ]


def pg_available() -> bool:
    """Whether the benchmark's PostgreSQL answers (rows that need it are skipped if not)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=2):
            return True
    except Exception:
        return False


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema on the benchmark's PostgreSQL; its URL (search_path set); dropped after."""
    import psycopg

    schema = f"streamrec_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _pg_writes(size: Scale, repeats: int) -> list[Row]:
    import psycopg

    from streamrec import Store

    streams, per = size.pick((2, 20), (10, 200), (100, 1000))
    data = _chunks(per - 4)
    total = streams * len(data)

    def ours() -> float:
        with pg_schema() as url:
            store = Store(url)
            try:
                return total / timed(lambda: _record_all(store, data, streams))
            finally:
                store.close()

    def floor() -> float:
        with pg_schema() as url:
            Store(url).close()  # streamrec's own table and indexes
            with psycopg.connect(url) as conn:

                def write() -> None:
                    for s in range(streams):
                        with (
                            conn.cursor() as cur,
                            cur.copy(
                                "COPY events (stream_id, seq, kind, t_ns, recorded_at, event,"
                                " payload) FROM STDIN"
                            ) as copy,
                        ):
                            for row in _rows_for(data, f"s{s}"):
                                copy.write_row(row)
                        conn.commit()

                return total / timed(write)

    def peer() -> float:
        from eventsourcing.persistence import StoredEvent
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        with pg_schema() as url:
            schema = url.rsplit("%3D", 1)[1]
            datastore = PostgresDatastore(
                "test", "127.0.0.1", "5432", "postgres", "", schema=schema
            )
            recorder = PostgresApplicationRecorder(datastore)
            recorder.create_table()
            batches = [
                [
                    StoredEvent(oid, i, "streamrec:chunk", c.data.encode())
                    for i, c in enumerate(data)
                ]
                for oid in (uuid.uuid4() for _ in range(streams))
            ]

            def write() -> None:
                for batch in batches:
                    recorder.insert_events(batch)

            try:
                return total / timed(write)
            finally:
                datastore.close()

    a, b = interleave(ours, floor, repeats, warmup=0)
    rows = [
        Row(
            f"the same into PostgreSQL, {streams} x {per} chunks",
            "chunks/s",
            a,
            "psycopg COPY per stream",
            b,
            target="ratio ≥ 0.5",
            check=lambda r: (r.ratio or 0) >= 0.5,
        )
    ]
    try:
        a2, c = interleave(ours, peer, max(2, repeats // 2) if repeats > 1 else 1, warmup=0)
    except Exception as exc:  # eventsourcing's postgres extra missing, say
        rows.append(Row("the same, against eventsourcing's PostgreSQL recorder", "chunks/s", [0],
                        note=f"peer failed: {type(exc).__name__}: {exc}"))  # fmt: skip
    else:
        rows.append(
            Row(
                "the same, against eventsourcing's PostgreSQL recorder",
                "chunks/s",
                a2,
                "eventsourcing PostgresApplicationRecorder",
                c,
                target="ratio > 1",
                check=lambda r: (r.ratio or 0) > 1,
            )
        )
    return rows


def _fold_floor(payloads: list[str]) -> str:
    """The least fold that still reads every chunk: orjson (else json) and the text deltas."""
    try:
        import orjson

        loads: Callable[[str], Any] = orjson.loads
    except ImportError:  # the bench extra installs it
        loads = json.loads
    parts = []
    for p in payloads:
        if p == "[DONE]":
            continue
        for choice in loads(p).get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                parts.append(text)
    return "".join(parts)


def _reads(size: Scale, repeats: int) -> list[Row]:
    from streamrec import Store, replay

    long_n = size.pick(50, 1000, 5000)
    short_n, short_count = 50, size.pick(5, 100, 1000)
    tmp = Path(tempfile.mkdtemp())
    store = Store(tmp / "reads.db")
    (long_id,) = _record_all(store, _chunks(long_n - 4), 1)
    short_ids = _record_all(store, _chunks(short_n - 4), short_count)
    raw = sqlite3.connect(tmp / "reads.db")
    select = "SELECT payload FROM events WHERE stream_id = ? AND kind = 'chunk' ORDER BY seq"

    def raw_replay(sid: str) -> list[str]:
        return [p for (p,) in raw.execute(select, (sid,))]

    n_long = len(raw_replay(long_id))
    assert list(replay(long_id, store=store)) == raw_replay(long_id)

    a, b = interleave(
        lambda: n_long / timed(lambda: list(replay(long_id, store=store))),
        lambda: n_long / timed(lambda: raw_replay(long_id)),
        repeats,
    )

    def many(fn: Callable[[str], Any]) -> float:
        return timed(lambda: [fn(s) for s in short_ids]) / len(short_ids) * 1e6

    a2, b2 = interleave(
        lambda: many(lambda s: list(replay(s, store=store))),
        lambda: many(raw_replay),
        repeats,
    )
    assert store.state(long_id).content == _fold_floor(raw_replay(long_id))
    a3, b3 = interleave(
        lambda: n_long / timed(lambda: store.state(long_id)),
        lambda: n_long / timed(lambda: _fold_floor(raw_replay(long_id))),
        repeats,
    )
    a4, b4 = interleave(
        lambda: many(store.state),
        lambda: many(lambda s: _fold_floor(raw_replay(s))),
        repeats,
    )
    raw.close()

    # bytes on disk: the file (after a checkpoint) per chunk, against the chunks' own JSON
    store.close()
    conn = sqlite3.connect(tmp / "reads.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    (payload_bytes,) = conn.execute(
        "SELECT SUM(LENGTH(CAST(payload AS BLOB))) FROM events WHERE kind = 'chunk'"
    ).fetchone()
    (chunks,) = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'chunk'").fetchone()
    payloads = [p for (p,) in conn.execute(select, (long_id,))]
    conn.close()
    on_disk = (tmp / "reads.db").stat().st_size
    compression = _compression(payloads)
    return [
        Row(
            f"`replay(id)` of one {long_n}-chunk stream",
            "chunks/s",
            a,
            "raw sqlite3 SELECT",
            b,
            target="≥ 1M/s and ratio ≥ 0.5",
            check=lambda r: r.figure >= 1e6 and (r.ratio or 0) >= 0.5,
        ),
        Row(
            f"replay of {short_count} short ({short_n}-chunk) streams",
            "µs/stream",
            a2,
            "raw sqlite3 SELECT",
            b2,
            higher_is_better=False,
            target="ratio ≥ 0.5",
            check=lambda r: (r.ratio or 0) >= 0.5,
        ),
        Row(
            f"`store.state(id)`, one {long_n}-chunk stream",
            "chunks/s",
            a3,
            "sqlite3 + orjson + fold",
            b3,
            target="ratio ≥ 0.5",
            check=lambda r: (r.ratio or 0) >= 0.5,
        ),
        Row(
            f"`store.state(id)`, {short_count} short streams",
            "µs/stream",
            a4,
            "sqlite3 + orjson + fold",
            b4,
            higher_is_better=False,
            target="ratio ≥ 0.5",
            check=lambda r: (r.ratio or 0) >= 0.5,
        ),
        Row(
            "bytes on disk per chunk (SQLite file after VACUUM)",
            "B",
            [on_disk / chunks],
            "the chunk's own JSON",
            [payload_bytes / chunks],
            higher_is_better=False,
            target="ratio ≥ 0.83 (≤ 1.2x)",
            check=lambda r: (r.ratio or 0) >= 1 / 1.2,
        ),
        *compression,
    ]


def _compression(payloads: list[str]) -> list[Row]:
    """What compressing stored payloads would save (measured in process; nothing is stored
    compressed): zlib per chunk, per chunk with a preset dictionary taken from the stream's
    first chunks (what a per-stream dictionary column could do), and the stream as one blob."""
    import zlib

    raw = [p.encode() for p in payloads]
    n = len(raw)
    json_bytes = sum(map(len, raw)) / n
    per_chunk = sum(len(zlib.compress(b, 6)) for b in raw) / n
    zdict = b"".join(raw[:20])[-32768:]

    def with_dict(b: bytes) -> int:
        c = zlib.compressobj(6, zdict=zdict)
        return len(c.compress(b) + c.flush())

    dictionary = sum(with_dict(b) for b in raw[20:]) / max(1, n - 20)
    blob = len(zlib.compress(b"".join(raw), 6)) / n
    out = []
    for label, figure in (
        ("zlib per chunk", per_chunk),
        ("zlib per chunk, preset dictionary from the stream's first 20 chunks", dictionary),
        ("zlib over the whole stream as one blob", blob),
    ):
        out.append(
            Row(
                f"payload bytes per chunk compressed: {label}",
                "B",
                [figure],
                "the chunk's own JSON",
                [json_bytes],
                higher_is_better=False,
                note="measured, not stored",
            )
        )
    return out


def rows(size: Scale) -> list[Row]:
    """Writes (SQLite, PostgreSQL when reachable), reads, and bytes on disk."""
    repeats = size.pick(1, 3, 3)  # a full write run is 200k chunks: three pairs keep it minutes
    out = _sqlite_writes(size, repeats)
    if pg_available():
        out += _pg_writes(size, repeats)
    else:
        out.append(Row("the same into PostgreSQL", "chunks/s", [0], note="PostgreSQL unreachable"))
    out += _reads(size, size.pick(1, 3, 7))
    return out
