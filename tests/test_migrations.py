"""Alembic owns the schema: one head, a blank database at head matches the models, bad databases are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from streamrec import Store, migrations
from streamrec.errors import NotAStreamrecDatabase
from streamrec.migrations._api import _config
from streamrec.store._schema import metadata


def test_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(_config()).get_heads()
    assert heads == [migrations.HEAD_REVISION]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_blank_database_at_head_matches_the_models(
    backend: str, sqlite_url: str, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    try:
        assert store.revision() == migrations.head_revision()
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diffs == []
    finally:
        store.close()


def test_a_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    with pytest.raises(NotAStreamrecDatabase, match="not a streamrec database"):
        Store(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'events'").fetchall() == []


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(NotAStreamrecDatabase, match="not a readable database"):
        Store(path)
    assert path.read_bytes() == b"this is not sqlite at all" * 100


def test_a_newer_schema_is_refused(sqlite_url: str) -> None:
    Store(sqlite_url).close()
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(NotAStreamrecDatabase, match="which this streamrec does not know"):
        Store(sqlite_url)
