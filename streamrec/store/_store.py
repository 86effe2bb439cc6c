"""The store: opens (and on first use creates) a database, appends events, reads them back.

Every driver error is wrapped in a ``StoreError`` that says what was being done,
so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Integer, bindparam, func, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError

from .. import (
    migrations,
    projection,  # lazy: its pydantic models load when a state is first folded
)
from ..errors import NotAStreamrecDatabase, StoreError, StoreUnavailable, UnknownStream
from ..events import EventKind, StoredEvent
from ._engine import make_engine, resolve_url, sqlite_path, use_wal
from ._failures import DRIVER_ERRORS, store_error
from ._filters import Filters
from ._rows import (
    ambiguous_prefix,
    batches,
    decode_payload,
    encode_payload,
    insert_events,
    read_events,
    read_fold,
    read_timeline,
    replay_rows,
    same,
    started_row,
    stored_event,
    stream_row,
)
from ._schema import events, streams
from ._summary import fit_row, summary_row

if TYPE_CHECKING:
    from ..projection import StreamState

__all__ = ["SORTS", "Progress", "Store", "as_store", "default_store"]

SORTS = {
    # "started" is the primary key, which sorts as the start time (UUIDv7)
    "started": "stream_id",
    "status": "status",
    "model": "model",
    "provider": "provider",
    "api": "api",
    "chunks": "chunk_count",
    "input": "input_tokens",
    "output": "output_tokens",
    "cost": "cost_nanousd",
    "ttft": "ttft_ns",
    "duration": "duration_ns",
    "name": "name",
}
"""``Store.streams(sort=…)`` keys and the ``streams`` column each orders by."""

_APPEND_BUSY_TIMEOUT_MS = 1000

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called as long maintenance work advances."""


class Store:
    """A streamrec database (SQLite file or PostgreSQL), brought to head on first use.

    ``Store(url)`` resolves the URL like the CLI does (argument, ``$STREAMREC_DB``,
    ``.streamrec/streamrec.db``). ``create=False`` refuses to initialise a blank
    database (the CLI's read commands use it, so a typo does not create files);
    ``migrate=True`` upgrades an older schema (otherwise an older schema is an
    error that says to run ``streamrec db upgrade``). ``recover`` marks streams
    whose recorder on this host has died as interrupted (see ``recover()``).
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        migrate: bool = False,
        recover: bool = True,
        offline_ok: bool = False,
        buffer_bytes: int | None = None,
    ) -> None:
        self.url = resolve_url(url)
        self.engine: Engine = make_engine(self.url)
        self._writer_engine: Engine | None = None
        self._append_engine: Engine | None = None
        self._writer: Any = None
        self._lock = threading.Lock()
        self._open_lock = threading.RLock()
        self._buffer_bytes = buffer_bytes
        self._create, self._migrate, self._recover = create, migrate, recover
        self._ready = False
        self._opener: int | None = None
        self.unavailable: StoreUnavailable | None = None
        """Why the store could not be opened yet (``offline_ok``); None once it is open."""
        try:
            self._ensure_open()
        except StoreUnavailable as exc:
            if not offline_ok:
                self.engine.dispose()
                raise
            # recording paths: the writer buffers and opens the store once it is back
            self.unavailable = exc
        except BaseException:
            self.engine.dispose()
            raise

    def _ensure_open(self) -> None:
        """Check (and on first use create) the schema, once; retried while the database is away."""
        if self._ready or self._opener == threading.get_ident():
            return
        with self._open_lock:
            if self._ready:
                return
            self._opener = threading.get_ident()  # the checks below come back through _errors
            try:
                self._check_path(self._create)
                self._open(self._create, self._migrate)
                if self._recover:
                    # the design's "next open": streams whose recorder on this host died
                    with contextlib.suppress(StoreUnavailable):
                        self.recover(local_only=True)
            finally:
                self._opener = None
            self._ready = True
            self.unavailable = None

    def _check_path(self, create: bool) -> None:
        """An SQLite file must exist unless we may create it, in a directory we can create."""
        path = sqlite_path(self.url)
        if path is None:
            return
        if path.exists():
            if path.is_dir():
                raise StoreError(f"{path} is a directory, not an SQLite database file")
            try:
                with open(path, "rb") as f:
                    header = f.read(16)
            except OSError as exc:
                raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
            if header and header != b"SQLite format 3\x00":
                # refused before any connection: nothing is opened, nothing can change
                raise NotAStreamrecDatabase(
                    f"{self.display_url} is not a readable database: file is not a database"
                )
            return
        if not create:
            raise NotAStreamrecDatabase(
                f"{path} does not exist, so it is not a streamrec database (check the path or --db)"
            )
        parent = path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(
                f"cannot create {path}: a parent of it is a file, not a directory"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot create {path}: {exc.strerror or exc}") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError(f"cannot create {path}: {parent} is not writable")

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- opening and schema ------------------------------------------------------------

    def _open(self, create: bool, migrate: bool) -> None:
        current, tables = self._inspect()
        if current == migrations.HEAD_REVISION:
            return  # the common case, decided without importing Alembic
        head = migrations.head_revision()
        if current is None and tables - {"alembic_version"}:
            current, tables = self._inspect()  # another process may have just created it
        if current is None:
            if tables - {"alembic_version"}:
                raise NotAStreamrecDatabase(
                    f"{self.display_url} holds tables ({', '.join(sorted(tables))}) "
                    "but is not a streamrec database"
                )
            if not create:
                raise NotAStreamrecDatabase(f"{self.display_url} is not a streamrec database yet")
            self._use_wal()
            self.upgrade()
        elif current != head:
            known = {s.revision for s in _script().walk_revisions()}
            if current not in known:
                raise NotAStreamrecDatabase(
                    f"{self.display_url} is at schema revision {current!r}, which this "
                    f"streamrec does not know (its newest is {head}): written by a newer "
                    "streamrec (upgrade streamrec), or not a streamrec database"
                )
            if migrate:
                self.upgrade()
                return
            raise NotAStreamrecDatabase(
                f"{self.display_url} is at schema revision {current}, head is {head}: "
                "run `streamrec db upgrade`"
            )

    def _inspect(self) -> tuple[str | None, set[str]]:
        with self._errors("open the database"):
            tables = set(inspect(self.engine).get_table_names())
            try:
                current = migrations.current_revision(self.engine)
            except (DBAPIError, sqlite3.Error):  # the driver's: _errors maps them
                raise
            except Exception as exc:  # an alembic_version table that is not Alembic's
                raise NotAStreamrecDatabase(
                    f"{self.display_url} has a broken alembic_version table ({exc}); "
                    "not a streamrec database this version can open"
                ) from None
        return current, tables

    def _use_wal(self) -> None:
        if self.engine.dialect.name != "sqlite":
            return
        with self._errors("create the database"):
            try:
                use_wal(self.engine)
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(
                    f"could not create the database at {self.display_url}: {exc}"
                ) from exc

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic (safe when processes race to do it).

        A database that held streams at an earlier revision gets its read model
        rebuilt from the events afterwards: the read model is a projection, and a
        revision that adds a column (or changes what one means) has no other way
        to fill it for old rows that ``verify`` would accept, unless the revision
        fills it itself in SQL (``migrations.needs_rebuild``).
        """
        with self._errors("upgrade the schema"):
            before = migrations.current_revision(self.engine)
            migrations.upgrade(self._write_engine(), revision)
            after = migrations.current_revision(self.engine)
        if before is not None and after != before and migrations.needs_rebuild(before, after):
            self.rebuild()

    def _write_engine(self) -> Engine:
        if self._writer_engine is None:
            self._writer_engine = make_engine(self.url, writer=True)
        return self._writer_engine

    def _appender(self) -> Engine:
        # appends wait on another SQLite writer only briefly: past that the writer
        # buffers and retries (StoreUnavailable) instead of holding a stream's end
        if self._append_engine is None:
            self._append_engine = make_engine(
                self.url, writer=True, busy_timeout_ms=_APPEND_BUSY_TIMEOUT_MS
            )
        return self._append_engine

    def revision(self) -> str | None:
        """The schema revision the database is at."""
        with self._errors("read the schema revision"):
            return migrations.current_revision(self.engine)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        self._ensure_open()
        try:
            yield
        except StoreError:
            raise
        except DRIVER_ERRORS as exc:
            raise store_error(exc, doing, self.display_url) from exc

    # -- writing -----------------------------------------------------------------------

    @property
    def writer(self) -> Any:
        """The group-commit writer every recording into this store shares (started lazily)."""
        with self._lock:
            if self._writer is None:
                from ._writer import Writer

                self._writer = Writer(self, max_buffer_bytes=self._buffer_bytes)
            return self._writer

    def append(
        self, batch: Sequence[StoredEvent], summaries: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Append events and upsert read-model rows in one transaction.

        A ``stream.started`` event creates its ``streams`` row; chunk events move
        ``chunk_count``/``last_seq`` forward; ``summaries`` (full rows, from the
        projection) replace what the row holds.
        """
        progress: dict[str, list[int]] = {}
        for e in batch:
            seen = progress.setdefault(e.stream_id, [0, -1])
            seen[0] += e.kind is EventKind.CHUNK
            seen[1] = max(seen[1], e.seq)
        starts = [e for e in batch if e.kind is EventKind.STARTED]
        with self._errors("append events"), self._appender().begin() as conn:
            for started in starts:
                conn.execute(insert(streams), [started_row(started, conn)])
            insert_events(conn, batch)
            if progress:
                # one statement for every stream in the batch (executemany), not one
                # compiled per stream: at 50 concurrent streams a batch holds ~1 event each
                conn.execute(
                    _progress(conn.dialect.name),
                    [
                        {"sid": stream_id, "chunks": chunks, "last": last}
                        for stream_id, (chunks, last) in progress.items()
                    ],
                )
            for row in summaries:
                conn.execute(
                    update(streams).where(streams.c.stream_id == row["stream_id"]).values(**row)
                )

    def mark_failed(self, stream_id: str, reason: str) -> None:
        """Mark a stream failed in the read model (its events could not be stored)."""
        error = json.dumps({"type": "StoreError", "message": reason})
        with self._errors("mark a stream failed"), self._appender().begin() as conn:
            updated = conn.execute(
                update(streams)
                .where(streams.c.stream_id == stream_id)
                .values(status="failed", error=error)
            )
            if updated.rowcount == 0:
                conn.execute(
                    insert(streams),
                    [
                        fit_row(
                            {
                                "stream_id": stream_id,
                                "tags": "[]",
                                "status": "failed",
                                "error": error,
                                "chunk_count": 0,
                                "malformed_chunks": 0,
                                "usage_reported": False,
                                "tool_call_count": 0,
                                "last_seq": -1,
                            }
                        )
                    ],
                )

    def close(self) -> None:
        """Flush and stop the writer, and release connections."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.engine.dispose()
        for engine in (self._writer_engine, self._append_engine):
            if engine is not None:
                engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------

    def resolve(self, stream_id: str) -> str:
        """The full id for ``stream_id``, a unique prefix of one (as git takes short hashes),
        ``latest`` (the newest stream) or ``-N`` (the Nth newest: ``-1`` is ``latest``).

        An ambiguous prefix is an error that lists the streams it matches.
        """
        with self._errors("look up a stream"), self.engine.connect() as conn:
            exact = conn.execute(
                select(streams.c.stream_id).where(streams.c.stream_id == stream_id)
            ).scalar()
            if exact:
                return str(exact)
            back = _BACK.match(stream_id)
            if back:
                nth = 1 if back.group(1) is None else int(back.group(1))
                found_id = conn.execute(
                    select(streams.c.stream_id)
                    .order_by(streams.c.stream_id.desc())
                    .offset(nth - 1)
                    .limit(1)
                ).scalar()
                if found_id is None:
                    raise UnknownStream(stream_id)
                return str(found_id)
            if len(stream_id) >= 4:
                found = conn.execute(
                    select(
                        streams.c.stream_id, streams.c.started_at, streams.c.model, streams.c.name
                    )
                    .where(streams.c.stream_id.startswith(stream_id, autoescape=True))
                    .order_by(streams.c.stream_id.desc())
                    .limit(11)
                ).all()
                if len(found) == 1:
                    return str(found[0].stream_id)
                if len(found) > 1:
                    raise ambiguous_prefix(stream_id, found)
        raise UnknownStream(stream_id)

    def events(self, stream_id: str) -> list[StoredEvent]:
        """A stream's events in seq order; ``UnknownStream`` if it has none."""
        # the exact id first: replay and state reads pay one query, not a lookup and a query
        with self._errors("read events"), self.engine.connect() as conn:
            found = read_events(conn, stream_id)
            if not found:  # a prefix, or no such stream
                found = read_events(conn, self.resolve(stream_id))
        return found

    def timeline(
        self, stream_id: str, *, timed: bool = True
    ) -> list[tuple[str | None, int, str | None, str]]:
        """What replay reads, as the driver's own tuples (see ``read_timeline``): building
        a ``StoredEvent`` and parsing its ``recorded_at`` per row was most of its cost."""
        with self._errors("read events"):
            found = replay_rows(self.engine, stream_id, timed=timed)
            if found == []:  # a prefix, or no such stream
                found = replay_rows(self.engine, stream_id := self.resolve(stream_id), timed=timed)
            if found is None:  # another engine, or a row to decode
                with self.engine.connect() as conn:
                    found = read_timeline(conn, stream_id, timed=timed)
                    if not found:  # a prefix, or no such stream
                        found = read_timeline(conn, self.resolve(stream_id), timed=timed)
        return found

    def state(self, stream_id: str) -> StreamState:
        """The stream's state rebuilt from its events alone (plain chunks read as bare rows)."""
        with self._errors("read events"), self.engine.connect() as conn:
            rows = read_fold(conn, stream_id)
            if rows == []:  # a prefix, or no such stream
                rows = read_fold(conn, stream_id := self.resolve(stream_id))
        if rows is None:
            return projection.project(self.events(stream_id))
        projector = projection.Projector(stream_id)
        apply, chunk = projector.apply, projector.chunk
        for row in rows:
            if row.__class__ is tuple:
                chunk(*row)
            else:
                apply(row)
        return projector.state

    def stream(self, stream_id: str) -> dict[str, Any]:
        """The read-model row of one stream."""
        stream_id = self.resolve(stream_id)
        with self._errors("read a stream"), self.engine.connect() as conn:
            row = conn.execute(select(streams).where(streams.c.stream_id == stream_id)).one()
        return stream_row(row)

    def streams(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "started",
        descending: bool = True,
        filters: Filters | None = None,
        status: str | Sequence[str] | None = None,
        model: str | None = None,
        name: str | None = None,
        tag: str | None = None,
        fingerprint: str | None = None,
        **filter_args: Any,
    ) -> list[dict[str, Any]]:
        """Read-model rows, newest first unless ``sort`` names another of ``SORTS``, optionally
        filtered (see ``Filters.of``); ``limit`` and ``offset`` cut a page in the database.

        Ties (and NULLs) are broken by id, so consecutive pages never overlap or skip.
        """
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        if filters is None:
            filters = Filters.of(
                status=list(status)
                if status is not None and not isinstance(status, str)
                else status,
                model=model,
                name=name,
                tag=tag,
                fingerprint=fingerprint,
                **filter_args,
            )
        column = streams.c[SORTS[sort]]
        tie = streams.c.stream_id.desc() if descending else streams.c.stream_id.asc()
        order = [column.desc() if descending else column.asc()]
        query = select(streams).order_by(*order, *([] if sort == "started" else [tie]))
        conditions = filters.conditions(self.engine.dialect.name)
        if conditions:
            query = query.where(*conditions)
        if limit:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        with self._errors("list streams"), self.engine.connect() as conn:
            return [stream_row(r) for r in conn.execute(query).all()]

    def choices(self) -> dict[str, list[str]]:
        """Every provider, api and model the store holds: from the rollup, not a scan."""
        from ._rollup import choices

        with self._errors("list filter values"), self.engine.connect() as conn:
            return choices(conn)

    def stats(
        self,
        by: str | Sequence[str] = "model",
        *,
        filters: Filters | None = None,
        **filter_args: Any,
    ) -> list[dict[str, Any]]:
        """Token, cost and latency figures per group; see ``streamrec.store.stats`` for the row shape."""
        from ._stats import stats

        return stats(self, by, filters=filters, **filter_args)

    def remove(self, stream_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Delete streams (full ids) with their events; see ``streamrec.store._retention``."""
        from ._retention import delete_streams

        return delete_streams(self, stream_ids)

    def prune(
        self,
        *,
        older_than: str | datetime | None = None,
        filters: Filters | None = None,
        dry_run: bool = False,
    ) -> list[dict[str, Any]]:
        """Delete (or with ``dry_run`` list) streams started before ``older_than`` matching ``filters``."""
        from ._retention import prune

        return prune(self, older_than=older_than, filters=filters, dry_run=dry_run)

    def reprice(
        self,
        *,
        filters: Filters | None = None,
        prices: str | os.PathLike[str] | None = None,
        dry_run: bool = False,
    ) -> list[dict[str, Any]]:
        """Recompute costs from stored usage (genai-prices, or a price file); see ``_reprice``."""
        from ._reprice import reprice

        return reprice(self, filters=filters, prices=prices, dry_run=dry_run)

    def vacuum(self) -> None:
        """Reclaim the space deleted rows left (SQLite ``VACUUM``, PostgreSQL ``VACUUM``)."""
        from ._retention import vacuum

        vacuum(self)

    def stream_ids(self) -> list[str]:
        """Every stream id, oldest first."""
        with self._errors("list streams"), self.engine.connect() as conn:
            ids = conn.execute(select(events.c.stream_id).distinct()).scalars().all()
        return sorted(str(i) for i in ids)

    # -- maintenance ---------------------------------------------------------------------

    def rebuild(
        self, stream_ids: Sequence[str] | None = None, *, progress: Progress | None = None
    ) -> int:
        """Recompute read-model rows from events alone; returns how many streams.

        ``progress(done, total)`` is called after each stream (the CLI draws a bar).
        """
        ids = list(stream_ids) if stream_ids is not None else self.stream_ids()
        for done, stream_id in enumerate(ids, 1):
            stored = self.events(stream_id)
            row = summary_row(projection.project(stored), stored[-1].seq)
            with self._errors("rebuild the read model"), self.engine.begin() as conn:
                exists = conn.execute(
                    select(streams.c.stream_id).where(streams.c.stream_id == stream_id)
                ).scalar()
                if exists:
                    conn.execute(
                        update(streams).where(streams.c.stream_id == stream_id).values(**row)
                    )
                else:
                    conn.execute(insert(streams), [row])
            if progress is not None:
                progress(done, len(ids))
        return len(ids)

    def verify(
        self, stream_ids: Sequence[str] | None = None, *, progress: Progress | None = None
    ) -> list[str]:
        """Problems found: seq gaps, missing starts, read-model rows that differ from a rebuild."""
        problems: list[str] = []
        ids = list(stream_ids) if stream_ids is not None else self.stream_ids()
        for done, stream_id in enumerate(ids, 1):
            if progress is not None:
                progress(done, len(ids))
            stored = self.events(stream_id)
            seqs = [e.seq for e in stored]
            if seqs != list(range(len(seqs))):
                problems.append(f"{stream_id}: seq is not gapless from 0")
            if not stored or stored[0].kind is not EventKind.STARTED:
                problems.append(f"{stream_id}: does not begin with stream.started")
            if stored and stored[-1].kind in _OPEN_KINDS:
                # still recording (or its recorder died): its row is written whole only
                # at the end, and more events may have landed since the log was read
                continue
            try:
                expected = summary_row(projection.project(stored), stored[-1].seq if stored else -1)
            except Exception as exc:  # a projection bug must not hide the other streams
                problems.append(f"{stream_id}: events cannot be folded: {exc!r}")
                continue
            actual = self.stream(stream_id)
            from ._reprice import overridden

            # a cost from a user's price file (`reprice --prices`) is not the events' to redo
            skip = _COST_COLUMNS if overridden(actual) else ()
            for key, value in expected.items():
                if key not in skip and not same(actual.get(key), value):
                    problems.append(
                        f"{stream_id}: streams.{key} is {actual.get(key)!r}, events say {value!r}"
                    )
        return problems

    def recover(self, *, older_than_s: float = 600.0, local_only: bool = False) -> list[str]:
        """Mark streams left ``recording`` by a dead process as interrupted; return their ids.

        A recorder on this host whose pid is gone is dead; elsewhere, a stream
        with no new event for ``older_than_s`` seconds is taken as dead (unless
        ``local_only``: opening a store recovers only what it can be sure of).
        Only the first and last event are read to decide; a dead stream's log is
        read once, to close it.
        """
        from ._recover import recover

        return recover(self, older_than_s=older_than_s, local_only=local_only)

    def stored_through(self, stream_ids: Sequence[str]) -> dict[str, int]:
        """The highest stored seq of each of these streams (absent: none stored).

        The writer asks it when a retry is refused on the events' key (an earlier write's
        outcome was lost): a stream's events are committed in seq order, so everything up
        to this seq is in."""
        found: dict[str, int] = {}
        ids = list(dict.fromkeys(stream_ids))
        with self._errors("read stored events"), self.engine.connect() as conn:
            for chunk in batches(ids):
                query = (
                    select(events.c.stream_id, func.max(events.c.seq))
                    .where(events.c.stream_id.in_(chunk))
                    .group_by(events.c.stream_id)
                )
                found.update({sid: seq for sid, seq in conn.execute(query)})
        return found

    def event(self, stream_id: str, seq: int) -> StoredEvent | None:
        """One event of a stream by its seq (0 is ``stream.started``); None if absent."""
        with self._errors("read an event"), self.engine.connect() as conn:
            row = conn.execute(
                select(events).where(events.c.stream_id == stream_id, events.c.seq == seq)
            ).first()
        return stored_event(row) if row is not None else None

    def sql(
        self, query: str, *, limit: int | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only query; returns (column names, rows).

        Read-only by construction on both engines, whatever the text says (see
        ``store._sql``); a refused statement raises ``ReadOnlyQueryError``.
        """
        from ._sql import run_sql

        return run_sql(self, query, limit=limit)

    def rewrite_payloads(self, changes: dict[tuple[str, int], str]) -> None:
        """Replace stored events' payloads in place, then rebuild their streams' read model.

        The log is append-only except for this: ``streamrec audit --scrub`` uses it
        to redact secrets that reached the store. ``changes`` maps (stream id, seq)
        to the new payload text.
        """
        with self._errors("rewrite payloads"), self._write_engine().begin() as conn:
            for (stream_id, seq), text in changes.items():
                where = (events.c.stream_id == stream_id) & (events.c.seq == seq)
                row = conn.execute(select(events.c.event, events.c.encoding).where(where)).one()
                _, name = decode_payload("null", row.event, row.encoding)
                payload, event, encoding = encode_payload(text, name)
                conn.execute(
                    update(events)
                    .where(where)
                    .values(payload=payload, event=event, encoding=encoding)
                )
        self.rebuild(sorted({stream_id for stream_id, _ in changes}))

    def grant_reader(self) -> str | None:
        """PostgreSQL: create the read-only role ``sql`` runs as and let it read this schema.

        Returns the schema granted (None on SQLite, which needs no role).
        """
        from ._sql import grant_reader

        with self._errors("create the read-only role for `streamrec sql`"):
            return grant_reader(self._write_engine())


_COST_COLUMNS = ("cost_nanousd", "cost_reason", "prices_version", "cache_savings_nanousd")
_BACK = re.compile(r"^(?:latest|-([1-9]\d*))$")
# a stream whose last event is one of these has not ended (tool results follow an end)
_OPEN_KINDS = frozenset({EventKind.STARTED, EventKind.CHUNK})


def _progress(dialect: str) -> Any:
    """``UPDATE streams``: a batch's chunks counted, ``last_seq`` moved forward (never back)."""
    greatest = func.max if dialect == "sqlite" else func.greatest
    return (
        update(streams)
        .where(streams.c.stream_id == bindparam("sid"))
        .values(
            chunk_count=streams.c.chunk_count + bindparam("chunks", type_=Integer),
            last_seq=greatest(streams.c.last_seq, bindparam("last", type_=Integer)),
        )
    )


def _script() -> Any:
    from alembic.script import ScriptDirectory

    from ..migrations._api import _config

    return ScriptDirectory.from_config(_config())


_DEFAULT_LOCK = threading.Lock()


_OPENED: dict[str, Store] = {}


def default_store() -> Store:
    """The process-wide store for ``record(store=None)``: ``$STREAMREC_DB`` or the embedded file."""
    return as_store(None)


def as_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """A ``Store`` for an argument that may be one, a URL or path, or None (the default).

    Stores opened from URLs here are shared per URL for the life of the process,
    so every recording into one database goes through one writer.
    """
    if isinstance(store, Store):
        return store
    url = resolve_url(store)
    with _DEFAULT_LOCK:
        opened = _OPENED.get(url)
        if opened is None:
            # a database that is down now is opened by the writer when it is back
            opened = _OPENED[url] = Store(url, offline_ok=True)
        return opened
