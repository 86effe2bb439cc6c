"""Database URLs and engines: where the store lives and how each backend is tuned.

SQLite runs in WAL mode with a busy timeout so several processes can record
into one file; writes take the lock up front (``BEGIN IMMEDIATE``) so two
writers queue on the busy timeout instead of failing a lock upgrade.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ..errors import DatabaseURLError

__all__ = ["DEFAULT_PATH", "ENV_VAR", "make_engine", "resolve_url"]

ENV_VAR = "STREAMREC_DB"
DEFAULT_PATH = Path(".streamrec") / "streamrec.db"
BUSY_TIMEOUT_MS = 10_000


def resolve_url(url: str | os.PathLike[str] | None = None) -> str:
    """``url``, else ``$STREAMREC_DB``, else the embedded SQLite file under the current directory.

    A bare path is taken as an SQLite file; ``postgresql://`` means psycopg 3.
    """
    raw = os.fspath(url) if url is not None else os.environ.get(ENV_VAR) or ""
    if not raw:
        return f"sqlite:///{(Path.cwd() / DEFAULT_PATH).as_posix()}"
    if "://" not in raw:
        return f"sqlite:///{Path(raw).expanduser().resolve().as_posix()}"
    if raw.startswith("postgresql://") or raw.startswith("postgres://"):
        raw = "postgresql+psycopg://" + raw.split("://", 1)[1]
    return raw


def make_engine(url: str, *, writer: bool = False) -> Engine:
    """An engine for ``url``; ``writer=True`` makes SQLite transactions take the write lock first."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"bad database URL {url!r}: {exc}") from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise DatabaseURLError(f"cannot use {parsed.drivername!r} URLs: {exc}") from None
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, immediate=writer)
    return engine


def _tune_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy, not the driver, decide when transactions begin
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
