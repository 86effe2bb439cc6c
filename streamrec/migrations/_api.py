"""Running Alembic from inside the package, on an engine we already hold."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["HEAD_REVISION", "current_revision", "head_revision", "upgrade"]

_HERE = Path(__file__).resolve().parent
HEAD_REVISION = "hist01"


def _config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    """The newest revision the installed package knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


# Alembic's ``context`` is module-global: one migration at a time per process
# (other processes are kept out by the database's own locks, see env.py).
_LOCK = threading.Lock()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (head by default)."""
    with _LOCK:
        command.upgrade(_config(engine), revision)
