"""Database URLs and engines: where the store lives and how each backend is tuned.

SQLite runs in WAL mode with a busy timeout so several processes can record
into one file; writes take the lock up front (``BEGIN IMMEDIATE``) so two
writers queue on the busy timeout instead of failing a lock upgrade. Connecting
changes nothing in a file: the switch to WAL happens only once the store has
seen that the file is its own (``Store``), so a foreign file is left as found.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..errors import DatabaseURLError

__all__ = ["DEFAULT_PATH", "ENV_VAR", "SUPPORTED", "make_engine", "resolve_url", "sqlite_path"]

ENV_VAR = "STREAMREC_DB"
DEFAULT_PATH = Path(".streamrec") / "streamrec.db"
BUSY_TIMEOUT_MS = 10_000
SUPPORTED = "an SQLite path, sqlite:///PATH or postgresql://USER@HOST/DB"
# PostgreSQL: give up on a connection attempt quickly, so an outage is noticed
# (and buffered) instead of hanging the writer on a dead host
_PG_CONNECT_TIMEOUT_S = 5


def resolve_url(url: str | os.PathLike[str] | None = None) -> str:
    """``url``, else ``$STREAMREC_DB``, else the embedded SQLite file under the current directory.

    A bare path is taken as an SQLite file; ``postgresql://`` means psycopg 3. Any
    other scheme (``mysql://``, ``http://``) is a ``DatabaseURLError`` naming what works.
    """
    raw = os.fspath(url) if url is not None else os.environ.get(ENV_VAR) or ""
    if not raw:
        return f"sqlite:///{(Path.cwd() / DEFAULT_PATH).as_posix()}"
    if "://" not in raw:
        return f"sqlite:///{Path(raw).expanduser().resolve().as_posix()}"
    scheme = raw.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    if scheme in ("sqlite", "postgresql+psycopg", "sqlite+pysqlite"):
        return raw
    raise DatabaseURLError(f"unsupported database URL scheme {scheme + '://'!r}: use {SUPPORTED}")


def sqlite_path(url: str) -> Path | None:
    """The file an SQLite URL names (None for other backends and in-memory databases)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def make_engine(
    url: str, *, writer: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Engine:
    """An engine for ``url``; ``writer=True`` makes SQLite transactions take the write lock first."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"bad database URL {url!r}: {exc}; use {SUPPORTED}") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
        if "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": _PG_CONNECT_TIMEOUT_S}
    else:
        raise DatabaseURLError(f"unsupported database {parsed.drivername!r}: use {SUPPORTED}")
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseURLError(f"cannot use {parsed.drivername!r} URLs: {exc}") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, immediate=writer, busy_timeout_ms=busy_timeout_ms)
    return engine


def _tune_sqlite(engine: Engine, *, immediate: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy, not the driver, decide when transactions begin
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # per-connection settings only: nothing here writes to the file
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def use_wal(engine: Engine, *, wait_s: float = 30.0) -> None:
    """Switch a new SQLite file to WAL (persistent in the file: done once, at creation).

    Processes (or threads) creating the file at once: the switch needs the file to
    itself, and SQLite may refuse it at once ("database is locked") while another
    one's schema transaction runs, busy timeout or not; it is done once, so it waits.
    """
    deadline = time.monotonic() + wait_s
    raw = engine.raw_connection()  # outside a transaction, as the pragma needs
    try:
        while True:
            try:
                raw.cursor().execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        raw.close()
