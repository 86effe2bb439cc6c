"""Alembic owns the schema: one head, a blank database at head matches the models, bad databases are refused."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from streamrec import Store, migrations
from streamrec.errors import NotAStreamrecDatabase
from streamrec.migrations._api import _config
from streamrec.store._engine import make_engine
from streamrec.store._schema import events as events_table
from streamrec.store._schema import schema_metadata
from streamrec.store._schema import streams as streams_table

from .history_data import expected_rollup, rollup_rows


def test_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(_config()).get_heads()
    assert heads == [migrations.HEAD_REVISION]


def test_blank_database_at_head_matches_the_models(url: str) -> None:
    store = Store(url)
    try:
        assert store.revision() == migrations.head_revision()
        with store.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), schema_metadata())
        assert diffs == []
    finally:
        store.close()


def test_a_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    with pytest.raises(NotAStreamrecDatabase, match="not a streamrec database"):
        Store(path)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
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


# -- every earlier revision upgrades to head with its data intact (issue 7, point 8) ---------

_PACKAGES = {
    "openai_chat": "httpx",
    "openai_responses": "httpx2",
    "anthropic": "httpx2",
    "google": "httpx",
}


def _revisions() -> list[str]:
    """Every revision but head, oldest first (other engineers' later ones included)."""
    walked = [s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions()]
    return list(reversed(walked))[:-1]


@pytest.fixture(scope="module")
def recorded_at_head(tmp_path_factory: pytest.TempPathFactory, upstream_session: Any) -> Any:
    """Streams of every format (each SDK through the recording transport, plus a failed, an
    interrupted and a tool-result stream), recorded at head: (events rows, streams rows)."""
    import importlib

    from streamrec import record
    from streamrec.recorder import RecordingTransport
    from tests.sdk_clients import KINDS, call

    from .chunks import text_stream

    upstream_session.reset()
    path = tmp_path_factory.mktemp("head") / "head.db"
    store = Store(path)
    for kind in KINDS:
        pkg: Any = importlib.import_module(_PACKAGES[kind])
        base = (
            upstream_session.openai_base_url
            if kind.startswith("openai")
            else upstream_session.base_url
        )
        short = {"openai_responses": "responses", "google": "gemini"}.get(kind, kind)
        for scenario in (None, f"{short}.tools"):
            with pkg.Client(transport=RecordingTransport(pkg.HTTPTransport(), store=store)) as http:
                call(
                    kind,
                    "sync",
                    f"migrate {kind}",
                    scenario=scenario,
                    base_url=base,
                    http_client=http,
                )

    def broken() -> Any:
        yield from text_stream(["half"])[:2]
        raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        list(record(broken(), api="openai", store=store))
    early = record(iter(text_stream(["a", "b"])), api="openai", store=store)
    next(iter(early))
    early.close()
    tools = record(iter(text_stream(["t"])), api="openai", store=store)
    list(tools)
    tools.tool_results([({"id": "call_1", "name": "f"}, {"ok": True})])
    store.writer.flush()
    assert store.verify() == []
    with store.engine.connect() as conn:
        events_rows = [dict(r._mapping) for r in conn.execute(sa.select(events_table))]
        streams_rows = [dict(r._mapping) for r in conn.execute(sa.select(streams_table))]
    store.close()
    assert {r["api"] for r in streams_rows} >= {
        "openai.chat.completions",
        "openai.responses",
        "anthropic.messages",
        "google.generate_content",
    }
    return events_rows, streams_rows


def _fill(
    url: str, revision: str, events_rows: list[dict[str, Any]], streams_rows: list[dict[str, Any]]
) -> None:
    """A database at ``revision`` holding the given rows (as far as its columns go)."""
    engine = make_engine(url, writer=True)
    try:
        migrations.upgrade(engine, revision)
        meta = sa.MetaData()
        meta.reflect(engine, only=["events", "streams"])
        with engine.begin() as conn:
            for name, rows in (("events", events_rows), ("streams", streams_rows)):
                table = meta.tables[name]
                conn.execute(
                    table.insert(), [{k: v for k, v in r.items() if k in table.c} for r in rows]
                )
    finally:
        engine.dispose()


def _log(store: Store) -> list[tuple[Any, ...]]:
    return [
        (e.stream_id, e.seq, e.kind.value, e.t_ns, e.event, e.payload)
        for stream_id in store.stream_ids()
        for e in store.events(stream_id)
    ]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.parametrize("revision", _revisions())
def test_every_earlier_revision_upgrades_with_its_data(
    revision: str,
    backend: str,
    recorded_at_head: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    events_rows, streams_rows = recorded_at_head
    url = (
        f"sqlite:///{tmp_path}/old.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    )
    _fill(url, revision, events_rows, streams_rows)
    with pytest.raises(NotAStreamrecDatabase, match="run `streamrec db upgrade`"):
        Store(url)
    with Store(url, migrate=True) as store:
        assert store.revision() == migrations.head_revision()
        expected = sorted(
            (r["stream_id"], r["seq"], r["kind"], r["t_ns"], r["event"], r["payload"])
            for r in events_rows
        )
        assert sorted(_log(store)) == expected
        assert {r["stream_id"]: r["status"] for r in store.streams()} == {
            r["stream_id"]: r["status"] for r in streams_rows
        }
        assert store.verify() == []
        assert rollup_rows(store) == expected_rollup(store)


def test_an_upgrade_that_fills_its_columns_in_sql_does_not_rebuild(
    recorded_at_head: Any, tmp_path: Path
) -> None:
    """hist04 backfills ``day`` and the rollup itself: a million streams' rows are not refolded."""
    events_rows, streams_rows = recorded_at_head
    url = f"sqlite:///{tmp_path}/old.db"
    tampered = [{**r, "name": "left as it was"} for r in streams_rows]
    _fill(url, "hist03", events_rows, tampered)
    with Store(url, migrate=True) as store:
        rows = store.streams()
        assert {r["name"] for r in rows} == {"left as it was"}
        assert all(r["day"] == r["started_at"].strftime("%Y-%m-%d") for r in rows)
        assert rollup_rows(store) == expected_rollup(store)


@pytest.mark.parametrize("revision", _revisions())
def test_downgrade_keeps_the_log(revision: str, recorded_at_head: Any, tmp_path: Path) -> None:
    from alembic import command

    events_rows, streams_rows = recorded_at_head
    url = f"sqlite:///{tmp_path}/new.db"
    _fill(url, "head", events_rows, streams_rows)
    engine = make_engine(url, writer=True)
    try:
        command.downgrade(_config(engine), revision)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT stream_id, seq, payload FROM events")).all()
    finally:
        engine.dispose()
    assert sorted(tuple(r) for r in rows) == sorted(
        (r["stream_id"], r["seq"], r["payload"]) for r in events_rows
    )
