"""Retention: deleting recordings (``rm``) and pruning old ones (``prune``), and reclaiming space.

A stream's events and its read-model row go together, in one transaction per
batch of streams, so a crash mid-prune leaves whole streams, never a row
without its log or a log without its row. Streams still ``recording`` are
pruned only when asked for by status: a live recorder may be appending to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from ._filters import Filters, parse_time
from ._rows import batches
from ._schema import events, streams

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["BATCH", "delete_streams", "prune", "vacuum"]

BATCH = 500
"""Streams deleted per transaction."""

_LISTED = (
    streams.c.stream_id,
    streams.c.started_at,
    streams.c.status,
    streams.c.model,
    streams.c.requested_model,
    streams.c.name,
    streams.c.chunk_count,
    streams.c.cost_nanousd,
)


def delete_streams(
    store: Store, stream_ids: Sequence[str], *, batch: int = BATCH
) -> list[dict[str, Any]]:
    """Delete these streams (full ids), log and read-model row together; returns what was removed.

    One transaction per ``batch`` streams. A stream with events but no row
    (or a row but no events) is removed as well.
    """
    removed: list[dict[str, Any]] = []
    engine = store._write_engine()
    for chunk in batches(list(dict.fromkeys(stream_ids)), batch):
        with store._errors("delete streams"), engine.begin() as conn:
            rows = conn.execute(select(*_LISTED).where(streams.c.stream_id.in_(chunk))).all()
            found = {r.stream_id: dict(r._mapping) for r in rows}
            logged = set(
                conn.execute(
                    select(events.c.stream_id).where(events.c.stream_id.in_(chunk)).distinct()
                ).scalars()
            )
            conn.execute(delete(events).where(events.c.stream_id.in_(chunk)))
            conn.execute(delete(streams).where(streams.c.stream_id.in_(chunk)))
        for stream_id in chunk:
            if stream_id in found:
                removed.append(found[stream_id])
            elif stream_id in logged:
                removed.append({"stream_id": stream_id, "status": None})
    return removed


def prune(
    store: Store,
    *,
    older_than: str | datetime | None = None,
    filters: Filters | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
) -> list[dict[str, Any]]:
    """Delete the streams that started before ``older_than`` and match ``filters``; return them.

    ``older_than`` is a time or a span back from now (``30d``); ``dry_run``
    lists without deleting. Streams still recording are left alone unless
    ``filters`` asks for status ``recording``. Oldest first.
    """
    filters = filters or Filters()
    if older_than is not None:
        cutoff = parse_time(older_than)
        until = cutoff if filters.until is None else min(cutoff, filters.until)
        filters = replace(filters, until=until)
    conditions = filters.conditions(store.engine.dialect.name)
    if not filters.status:
        conditions.append(streams.c.status != "recording")
    query = select(*_LISTED).where(*conditions).order_by(streams.c.stream_id)
    with store._errors("find streams to prune"), store.engine.connect() as conn:
        chosen = [dict(r._mapping) for r in conn.execute(query).all()]
    if dry_run or not chosen:
        return chosen
    delete_streams(store, [r["stream_id"] for r in chosen], batch=batch)
    return chosen


def vacuum(store: Store) -> None:
    """Give freed pages back to the file system (SQLite ``VACUUM``; PostgreSQL ``VACUUM``)."""
    engine = store._write_engine()
    with store._errors("vacuum the database"):
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                # VACUUM cannot run inside a transaction, and our SQLite engines open one
                # on begin: go through the driver connection in autocommit
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.execute("VACUUM")
                # in WAL mode the rewritten pages sit in the log until a checkpoint
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) events, streams")
