"""How events and read-model rows look in the database, and back: one place for the encoding.

Payload text that a TEXT column cannot hold on both engines is stored as a JSON
string literal (see ``_schema``); the SQLite read paths use the driver's cursor
directly, because SQLAlchemy's per-row processing doubled a replay's cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Text, insert, select

from ..errors import StoreError
from ..events import EventKind, StoredEvent
from ._schema import events
from ._summary import day_of, fit_row
from ._threads import link

T = TypeVar("T")

__all__ = [
    "ambiguous_prefix",
    "aware",
    "batches",
    "decode_payload",
    "encode_payload",
    "event_row",
    "insert_events",
    "interrupted_payload",
    "read_events",
    "read_fold",
    "read_timeline",
    "replay_rows",
    "same",
    "started_row",
    "stored_event",
    "stream_row",
]


def event_row(e: StoredEvent) -> dict[str, Any]:
    payload, event, encoding = encode_payload(e.payload, e.event)
    return {
        "stream_id": e.stream_id,
        "seq": e.seq,
        "kind": e.kind.value,
        "t_ns": e.t_ns,
        "recorded_at": e.recorded_at,
        "event": event,
        "payload": payload,
        "encoding": encoding,
    }


_KIND_TEXT = {k: k.value for k in EventKind}
_COLUMNS = ("stream_id", "seq", "kind", "t_ns", "recorded_at", "event", "payload", "encoding")
_ONE_ROW = f"({', '.join(['?'] * len(_COLUMNS))})"


def insert_events(conn: Any, batch: Sequence[StoredEvent]) -> None:
    """INSERT ``batch`` into ``events``.

    On SQLite, through the driver, many rows per statement: the values are
    ``event_row``'s and ``recorded_at`` goes through the column type's own bind
    processor (SQLite's DATETIME text), so what is stored is what ``insert(events)``
    stored. SQLAlchemy's per-row work on that path (a dict per row, bind processing by
    name, the compiled statement's parameter assembly) was most of a commit's cost, and
    the sqlite3 module's ``executemany`` releases the GIL around each row's step: on a
    busy process every release waits a switch interval (5 ms) to get it back, so 1,000
    rows took seconds while a live stream held the GIL. One statement is one release.
    On PostgreSQL, ``COPY … FROM STDIN`` through psycopg (``_copy_events``): SQLAlchemy's
    pipelined executemany measured 2.5x its time per 1,000 rows, driver-level VALUES
    lists no faster than that.
    """
    if not batch:
        return
    dialect = conn.dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy_events(conn, batch)
        return
    if not (_fast(conn) and dialect.paramstyle == "qmark"):
        conn.execute(insert(events), [event_row(e) for e in batch])
        return
    when = events.c.recorded_at.type.dialect_impl(dialect).bind_processor(dialect)
    rows = _values(batch, when)
    for part in batches(rows, _rows_per_statement()):
        conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES {', '.join([_ONE_ROW] * len(part))}",
            tuple(value for row in part for value in row),
        )


def _values(batch: Sequence[StoredEvent], when: Any = None) -> list[tuple[Any, ...]]:
    """Each event's values in ``_COLUMNS`` order, as ``event_row`` gives them; ``when`` is
    the dialect's bind processor for ``recorded_at`` (None: the driver adapts it)."""
    kinds, encode = _KIND_TEXT, encode_payload
    rows = []
    for e in batch:
        payload, event, encoding = encode(e.payload, e.event)
        at = e.recorded_at
        rows.append(
            (
                e.stream_id,
                e.seq,
                kinds[e.kind],
                e.t_ns,
                at if when is None else when(at),
                event,
                payload,
                encoding,
            )
        )
    return rows


_COPY = f"COPY events ({', '.join(_COLUMNS)}) FROM STDIN"


def _copy_events(conn: Any, batch: Sequence[StoredEvent]) -> None:
    """``batch`` into ``events`` by COPY, in the connection's transaction: the values are
    ``event_row``'s (psycopg adapts them as it does the INSERT's parameters), ``position``
    is the identity's as with the INSERT.

    The driver's error comes out as SQLAlchemy's, as if SQLAlchemy had run the statement:
    the writer tells a refused retry by its ``IntegrityError`` and an outage by the
    invalidated connection (``store/_failures.py``), and a broken connection must leave
    the pool.
    """
    import psycopg
    from sqlalchemy.exc import DBAPIError

    fairy = conn.connection
    cursor = fairy.driver_connection.cursor()
    try:
        with cursor.copy(_COPY) as copy:
            for row in _values(batch):
                copy.write_row(row)
    except psycopg.Error as exc:
        gone = conn.dialect.is_disconnect(exc, fairy.dbapi_connection, cursor)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            _COPY, None, exc, psycopg.Error, connection_invalidated=gone, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()


IN_BATCH = 500
"""Ids per ``IN (…)`` list: within SQLite's parameter limit before 3.32 (999) as after."""


def batches(items: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size`` (``itertools.batched`` is 3.12's)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_per_statement() -> int:
    import sqlite3

    # SQLite takes 32,766 parameters from 3.32 (999 before)
    return 500 if sqlite3.sqlite_version_info >= (3, 32) else 999 // len(_COLUMNS)


def _storable(text: str) -> bool:
    if text.isascii():
        return "\x00" not in text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes of bytes that were not UTF-8
        return False
    return "\x00" not in text


def encode_payload(payload: str, event: str | None) -> tuple[str, str | None, str | None]:
    """(payload, event, encoding) as stored: verbatim, or JSON string literals (``'json'``)
    when either holds text a TEXT column cannot keep on both engines."""
    if _storable(payload) and (event is None or _storable(event)):
        return payload, event, None
    return json.dumps(payload), None if event is None else json.dumps(event), "json"


def decode_payload(payload: str, event: str | None, encoding: str | None) -> tuple[str, str | None]:
    """The text ``encode_payload`` was given."""
    if encoding is None:
        return payload, event
    if encoding != "json":
        raise StoreError(f"payload encoding {encoding!r} is unknown to this streamrec")
    return json.loads(payload), None if event is None else json.loads(event)


def started_row(started: StoredEvent, conn: Any) -> dict[str, Any]:
    try:
        payload: Any = started.model()
    except ValueError:  # not the request we wrote; the log keeps it, the row stays bare
        payload = None
    request = getattr(payload, "request", None)
    links = link(conn, started.stream_id, request if isinstance(request, dict) else {})
    return fit_row(
        {
            **links,
            "stream_id": started.stream_id,
            "name": getattr(payload, "name", None),
            "tags": json.dumps(getattr(payload, "tags", [])),
            "provider": getattr(payload, "provider", None),
            "api": getattr(payload, "api", None),
            "requested_model": getattr(payload, "model", None),
            "model": getattr(payload, "model", None),
            "status": "recording",
            "started_at": started.recorded_at,
            "day": day_of(started.recorded_at),
            "chunk_count": 0,
            "malformed_chunks": 0,
            "usage_reported": False,
            "tool_call_count": 0,
            "fingerprint": getattr(payload, "fingerprint", None),
            "last_seq": -1,
            "meta": json.dumps(dict(getattr(payload, "metadata", None) or {}), sort_keys=True),
        }
    )


def interrupted_payload(reason: str) -> str:
    from ..events import StreamInterrupted

    return StreamInterrupted(reason=reason).model_dump_json()


_KINDS = {k.value: k for k in EventKind}


_SQLITE_EVENTS = (
    "SELECT position, stream_id, seq, kind, t_ns, recorded_at, event, payload, encoding"
    " FROM events WHERE stream_id = ? ORDER BY seq"
)
_SQLITE_TIMELINE = (
    "SELECT kind, t_ns, event, payload, encoding FROM events WHERE stream_id = ? ORDER BY seq"
)
# replay's own read: a plain chunk's kind comes back NULL (one shared None, not a string
# per row) and an encoded row's as '' (it needs decoding); `encoding` itself is never
# fetched, because it lies past the payload in the record (reading it cost a third more)
_MARK = "CASE WHEN encoding IS NOT NULL THEN '' WHEN kind = 'chunk' THEN NULL ELSE kind END"
_SQLITE_REPLAY = {
    timed: f"SELECT {_MARK}, {'t_ns' if timed else '0'}, event, payload FROM events"
    " WHERE stream_id = ? ORDER BY seq"
    for timed in (True, False)
}


def _sqlite_rows(conn: Any, sql: str, stream_id: str) -> list[Any]:
    """The driver's own cursor: rows as plain tuples made in C. SQLAlchemy's per-row
    result processing (its string-to-datetime parse above all) doubled a replay's cost."""
    cursor = conn.connection.cursor()
    try:
        rows: list[Any] = cursor.execute(sql, (stream_id,)).fetchall()
    finally:
        cursor.close()
    return rows


def _fast(conn: Any) -> bool:
    return _driver_reads(conn.dialect)


def _driver_reads(dialect: Any) -> bool:
    # the driver paths know the columns' storage as of revision 0002 (TEXT, plus `encoding`)
    return dialect.name == "sqlite" and isinstance(events.c.payload.type, Text)


def replay_rows(engine: Any, stream_id: str, *, timed: bool) -> list[Any] | None:
    """``read_timeline``'s rows the quickest way, on SQLite: the pool's driver connection
    without SQLAlchemy's ``Connection`` around it (half of a short replay's fixed cost).
    None where ``read_timeline`` must read them (another engine, a row to decode)."""
    if not _driver_reads(engine.dialect):
        return None
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            rows: list[Any] = cursor.execute(_SQLITE_REPLAY[timed], (stream_id,)).fetchall()
        finally:
            cursor.close()
    finally:
        connection.close()
    return None if any(row[0] == "" for row in rows if row[0] is not None) else rows


def read_events(conn: Any, stream_id: str) -> list[StoredEvent]:
    """A stream's rows in seq order."""
    if not _fast(conn):
        rows = conn.execute(
            select(events).where(events.c.stream_id == stream_id).order_by(events.c.seq)
        ).all()
        return [stored_event(row) for row in rows]
    kinds, utc, parse = _KINDS, timezone.utc, datetime.fromisoformat
    out = []
    for pos, sid, seq, kind, t_ns, at, name, payload, encoding in _sqlite_rows(
        conn, _SQLITE_EVENTS, stream_id
    ):
        if encoding is not None:
            payload, name = decode_payload(payload, name, encoding)
        when = parse(at)
        if when.tzinfo is None:
            when = when.replace(tzinfo=utc)
        out.append(StoredEvent(sid, seq, kinds[kind], t_ns, when, payload, name, pos))
    return out


def read_timeline(
    conn: Any, stream_id: str, *, timed: bool = True
) -> list[tuple[str | None, int, str | None, str]]:
    """``(kind, t_ns, event name, payload)`` per event in seq order, ``kind`` None for a
    chunk; without ``timed`` every ``t_ns`` is 0 (instant replay never reads it)."""
    if _fast(conn):  # a stream with encoded rows (``replay_rows`` reads the others)
        rows: list[Any] = _sqlite_rows(conn, _SQLITE_TIMELINE, stream_id)
    else:
        c = events.c
        query = select(c.kind, c.t_ns, c.event, c.payload, c.encoding)
        rows = conn.execute(query.where(c.stream_id == stream_id).order_by(c.seq)).all()
    chunk = EventKind.CHUNK.value
    out: list[tuple[str | None, int, str | None, str]] = []
    for kind, t_ns, name, payload, encoding in rows:
        if encoding is not None:  # stored as JSON literals (see _schema)
            payload, name = decode_payload(payload, name, encoding)
        out.append((None if kind == chunk else kind, t_ns if timed else 0, name, payload))
    return out


# a plain chunk comes back as (None, seq, t_ns, event, payload, None, position): no kind
# text and no date text made for it, as in _SQLITE_REPLAY
_SQLITE_FOLD = (
    f"SELECT {_MARK}, seq, t_ns, event, payload,"
    " CASE WHEN encoding IS NULL AND kind = 'chunk' THEN NULL ELSE recorded_at END, position"
    " FROM events WHERE stream_id = ? ORDER BY seq"
)


def read_fold(conn: Any, stream_id: str) -> list[Any] | None:
    """A stream's rows for the fold: ``(seq, t_ns, payload, event)`` per plain chunk, a
    ``StoredEvent`` for every other row; None where only ``read_events`` reads them.

    A chunk's ``recorded_at`` is never folded, and parsing it per row was a fifth of a
    state read; so is making a ``StoredEvent`` (eight frozen slots) for each chunk.
    """
    if not _fast(conn):
        return None
    rows = _sqlite_rows(conn, _SQLITE_FOLD, stream_id)
    kinds, utc, parse = _KINDS, timezone.utc, datetime.fromisoformat
    out: list[Any] = []
    for kind, seq, t_ns, name, payload, at, position in rows:
        if kind is None:
            out.append((seq, t_ns, payload, name))
        elif kind == "":  # an encoded row: the general read decodes it
            return None
        else:
            when = parse(at)
            if when.tzinfo is None:
                when = when.replace(tzinfo=utc)
            out.append(
                StoredEvent(stream_id, seq, kinds[kind], t_ns, when, payload, name, position)
            )
    return out


def stored_event(row: Any) -> StoredEvent:
    # positional unpacking: replay reads every row through here, and it is the hot path
    position, stream_id, seq, kind, t_ns, recorded_at, event, payload, encoding = row
    if recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=timezone.utc)
    if encoding is not None:
        payload, event = decode_payload(payload, event, encoding)
    return StoredEvent(stream_id, seq, _KINDS[kind], t_ns, recorded_at, payload, event, position)


def stream_row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("started_at", "ended_at"):
        if out.get(key) is not None:
            out[key] = aware(out[key])
    return out


def aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def ambiguous_prefix(prefix: str, found: Sequence[Any]) -> StoreError:
    """The error for an id prefix that matches several of ``found`` (rows of id, started_at,
    model, name; newest first, up to 11): each is listed so the user can pick one."""
    listed = "; ".join(
        " ".join(
            str(v)
            for v in (
                r.stream_id,
                aware(r.started_at).strftime("%Y-%m-%d %H:%M:%S") if r.started_at else None,
                r.model,
                r.name,
            )
            if v
        )
        for r in found[:10]
    )
    more = " and more" if len(found) > 10 else ""
    return StoreError(f"stream id prefix {prefix!r} is ambiguous: it matches {listed}{more}")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return aware(a) == aware(b)
    return bool(a == b)
