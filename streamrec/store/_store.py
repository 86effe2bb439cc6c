"""The store: opens (and on first use creates) a database, appends events, reads them back.

Every driver error is wrapped in a ``StoreError`` that says what was being done,
so the CLI can print one line instead of a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from .. import (
    migrations,
    projection,  # lazy: its pydantic models load when a state is first folded
)
from ..errors import NotAStreamrecDatabase, StoreError, UnknownStream
from ..events import EventKind, StoredEvent, utcnow
from ._engine import make_engine, resolve_url
from ._filters import Filters
from ._schema import events, streams
from ._summary import summary_row

if TYPE_CHECKING:
    from ..projection import StreamState

__all__ = ["Progress", "Store", "as_store", "default_store"]

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
    ) -> None:
        self.url = resolve_url(url)
        self.engine: Engine = make_engine(self.url)
        self._writer_engine: Engine | None = None
        self._writer: Any = None
        self._lock = threading.Lock()
        self._open(create, migrate)
        if recover:
            # the design's "next open": streams whose recorder on this host died
            self.recover(local_only=True)

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
            current = migrations.current_revision(self.engine)
            tables = set(inspect(self.engine).get_table_names())
        return current, tables

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic (safe when processes race to do it)."""
        with self._errors("upgrade the schema"):
            migrations.upgrade(self._write_engine(), revision)

    def _write_engine(self) -> Engine:
        if self._writer_engine is None:
            self._writer_engine = make_engine(self.url, writer=True)
        return self._writer_engine

    def revision(self) -> str | None:
        """The schema revision the database is at."""
        with self._errors("read the schema revision"):
            return migrations.current_revision(self.engine)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except (DBAPIError, OperationalError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            if "not a database" in reason or "malformed" in reason:
                raise NotAStreamrecDatabase(
                    f"{self.display_url} is not a readable database: {reason}"
                ) from exc
            raise StoreError(f"could not {doing} at {self.display_url}: {reason}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"could not {doing} at {self.display_url}: {exc}") from exc

    # -- writing -----------------------------------------------------------------------

    @property
    def writer(self) -> Any:
        """The group-commit writer every recording into this store shares (started lazily)."""
        with self._lock:
            if self._writer is None:
                from ._writer import Writer

                self._writer = Writer(self)
            return self._writer

    def append(
        self, batch: Sequence[StoredEvent], summaries: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Append events and upsert read-model rows in one transaction.

        A ``stream.started`` event creates its ``streams`` row; chunk events move
        ``chunk_count``/``last_seq`` forward; ``summaries`` (full rows, from the
        projection) replace what the row holds.
        """
        engine = self._write_engine()
        rows = [
            {
                "stream_id": e.stream_id,
                "seq": e.seq,
                "kind": e.kind.value,
                "t_ns": e.t_ns,
                "recorded_at": e.recorded_at,
                "event": e.event,
                "payload": e.payload,
            }
            for e in batch
        ]
        progress: dict[str, list[int]] = {}
        for e in batch:
            seen = progress.setdefault(e.stream_id, [0, -1])
            seen[0] += e.kind is EventKind.CHUNK
            seen[1] = max(seen[1], e.seq)
        starts = [e for e in batch if e.kind is EventKind.STARTED]
        with self._errors("append events"), engine.begin() as conn:
            for started in starts:
                conn.execute(insert(streams), [_started_row(started)])
            if rows:
                conn.execute(insert(events), rows)
            for stream_id, (chunks, last) in progress.items():
                conn.execute(
                    update(streams)
                    .where(streams.c.stream_id == stream_id)
                    .values(
                        chunk_count=streams.c.chunk_count + chunks,
                        last_seq=func.max(streams.c.last_seq, last)
                        if conn.dialect.name == "sqlite"
                        else func.greatest(streams.c.last_seq, last),
                    )
                )
            for row in summaries:
                conn.execute(
                    update(streams).where(streams.c.stream_id == row["stream_id"]).values(**row)
                )

    def mark_failed(self, stream_id: str, reason: str) -> None:
        """Mark a stream failed in the read model (its events could not be stored)."""
        error = json.dumps({"type": "StoreError", "message": reason})
        with self._errors("mark a stream failed"), self.engine.begin() as conn:
            updated = conn.execute(
                update(streams)
                .where(streams.c.stream_id == stream_id)
                .values(status="failed", error=error)
            )
            if updated.rowcount == 0:
                conn.execute(
                    insert(streams),
                    [
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
                    ],
                )

    def close(self) -> None:
        """Flush and stop the writer, and release connections."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.engine.dispose()
        if self._writer_engine is not None:
            self._writer_engine.dispose()

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
                    listed = "; ".join(
                        " ".join(
                            str(v)
                            for v in (
                                r.stream_id,
                                _aware(r.started_at).strftime("%Y-%m-%d %H:%M:%S")
                                if r.started_at
                                else None,
                                r.model,
                                r.name,
                            )
                            if v
                        )
                        for r in found[:10]
                    )
                    more = " and more" if len(found) > 10 else ""
                    raise StoreError(
                        f"stream id prefix {stream_id!r} is ambiguous: it matches {listed}{more}"
                    )
        raise UnknownStream(stream_id)

    def events(self, stream_id: str) -> list[StoredEvent]:
        """A stream's events in seq order; ``UnknownStream`` if it has none."""
        stream_id = self.resolve(stream_id)
        with self._errors("read events"), self.engine.connect() as conn:
            rows = conn.execute(
                select(events).where(events.c.stream_id == stream_id).order_by(events.c.seq)
            ).all()
        return [_stored(row) for row in rows]

    def state(self, stream_id: str) -> StreamState:
        """The stream's state rebuilt from its events alone."""
        return projection.project(self.events(stream_id))

    def stream(self, stream_id: str) -> dict[str, Any]:
        """The read-model row of one stream."""
        stream_id = self.resolve(stream_id)
        with self._errors("read a stream"), self.engine.connect() as conn:
            row = conn.execute(select(streams).where(streams.c.stream_id == stream_id)).one()
        return _row(row)

    def streams(
        self,
        *,
        limit: int | None = None,
        filters: Filters | None = None,
        status: str | Sequence[str] | None = None,
        model: str | None = None,
        name: str | None = None,
        tag: str | None = None,
        fingerprint: str | None = None,
        **filter_args: Any,
    ) -> list[dict[str, Any]]:
        """Read-model rows, newest first, optionally filtered (see ``Filters.of``)."""
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
        query = select(streams).order_by(streams.c.stream_id.desc())
        conditions = filters.conditions(self.engine.dialect.name)
        if conditions:
            query = query.where(*conditions)
        if limit:
            query = query.limit(limit)
        with self._errors("list streams"), self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query).all()]

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
            expected = summary_row(projection.project(stored), stored[-1].seq if stored else -1)
            actual = self.stream(stream_id)
            for key, value in expected.items():
                if not _same(actual.get(key), value):
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
        recovered = []
        now = utcnow()
        for row in self.streams(status="recording"):
            stream_id = row["stream_id"]
            started = self.event(stream_id, 0)
            payload = started.model() if started else None
            host, pid = getattr(payload, "host", None), getattr(payload, "pid", None)
            if host == socket.gethostname() and pid is not None:
                dead = not _pid_alive(pid)
            elif local_only:
                continue
            else:
                last = self.event(stream_id, row["last_seq"])
                age = (now - last.recorded_at).total_seconds() if last else older_than_s
                dead = age >= older_than_s
            if not dead or started is None:
                continue
            try:
                self._close_interrupted(self.events(stream_id), "recorder process died")
            except StoreError:
                continue  # another process recovered it first
            recovered.append(stream_id)
        return recovered

    def event(self, stream_id: str, seq: int) -> StoredEvent | None:
        """One event of a stream by its seq (0 is ``stream.started``); None if absent."""
        with self._errors("read an event"), self.engine.connect() as conn:
            row = conn.execute(
                select(events).where(events.c.stream_id == stream_id, events.c.seq == seq)
            ).first()
        return _stored(row) if row is not None else None

    def _close_interrupted(self, stored: Sequence[StoredEvent], reason: str) -> None:
        """Append ``stream.interrupted`` (and its read-model row) to a stream that will never end."""
        last = stored[-1]
        event = StoredEvent(
            stream_id=last.stream_id,
            seq=last.seq + 1,
            kind=EventKind.INTERRUPTED,
            t_ns=last.t_ns,
            recorded_at=utcnow(),
            payload=_interrupted(reason),
        )
        self.append([event], [summary_row(projection.project([*stored, event]), event.seq)])

    def sql(
        self, query: str, *, limit: int | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only query; returns (column names, rows).

        Read-only by construction on both engines, whatever the text says (see
        ``store._sql``); a refused statement raises ``ReadOnlyQueryError``.
        """
        from ._sql import run_sql

        return run_sql(self, query, limit=limit)

    def grant_reader(self) -> str | None:
        """PostgreSQL: create the read-only role ``sql`` runs as and let it read this schema.

        Returns the schema granted (None on SQLite, which needs no role).
        """
        from ._sql import grant_reader

        with self._errors("create the read-only role for `streamrec sql`"):
            return grant_reader(self._write_engine())


def _started_row(started: StoredEvent) -> dict[str, Any]:
    payload = started.model()
    return {
        "stream_id": started.stream_id,
        "name": getattr(payload, "name", None),
        "tags": json.dumps(getattr(payload, "tags", [])),
        "provider": getattr(payload, "provider", None),
        "api": getattr(payload, "api", None),
        "requested_model": getattr(payload, "model", None),
        "model": getattr(payload, "model", None),
        "status": "recording",
        "started_at": started.recorded_at,
        "chunk_count": 0,
        "malformed_chunks": 0,
        "usage_reported": False,
        "tool_call_count": 0,
        "fingerprint": getattr(payload, "fingerprint", None),
        "last_seq": -1,
        "meta": json.dumps(dict(getattr(payload, "metadata", None) or {}), sort_keys=True),
    }


def _interrupted(reason: str) -> str:
    from ..events import StreamInterrupted

    return StreamInterrupted(reason=reason).model_dump_json()


_KINDS = {k.value: k for k in EventKind}
_BACK = re.compile(r"^(?:latest|-([1-9]\d*))$")


def _stored(row: Any) -> StoredEvent:
    # positional unpacking: replay reads every row through here, and it is the hot path
    position, stream_id, seq, kind, t_ns, recorded_at, event, payload = row
    if recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=timezone.utc)
    return StoredEvent(stream_id, seq, _KINDS[kind], t_ns, recorded_at, payload, event, position)


def _row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for key in ("started_at", "ended_at"):
        if out.get(key) is not None:
            out[key] = _aware(out[key])
    return out


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return _aware(a) == _aware(b)
    return bool(a == b)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            opened = _OPENED[url] = Store(url)
        return opened
