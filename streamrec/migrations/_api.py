"""Running Alembic from inside the package, on an engine we already hold.

Alembic is imported only to migrate or to walk the revisions: opening a store
that is already at ``HEAD_REVISION`` reads the version table with one SELECT
(importing Alembic and parsing its scripts costs a CLI start ~90 ms).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "current_revision", "head_revision", "needs_rebuild", "upgrade"]

_HERE = Path(__file__).resolve().parent
HEAD_REVISION = "hist04"


def _config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    """The newest revision the installed package knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        if len(rows) <= 1:
            return str(rows[0][0]) if rows else None
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()  # raises: >1 head


# Alembic's ``context`` is module-global: one migration at a time per process
# (other processes are kept out by the database's own locks, see env.py).
_LOCK = threading.Lock()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (head by default)."""
    from alembic import command

    with _LOCK:
        command.upgrade(_config(engine), revision)


def needs_rebuild(before: str, after: str | None) -> bool:
    """Whether going from ``before`` to ``after`` leaves read-model rows only a rebuild can fill.

    A revision that fills what it adds in SQL says so with ``REBUILDS_READ_MODEL
    = False``: rebuilding a million streams' rows from their events takes hours,
    and nothing would change.
    """
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config())
    return any(
        getattr(revision.module, "REBUILDS_READ_MODEL", True)
        for revision in script.iterate_revisions(after or "head", before)
        if revision.revision != before
    )
