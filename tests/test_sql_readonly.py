"""`streamrec sql` is read-only whatever the text says, on SQLite and PostgreSQL (issue 7, point 6).

Each bypass a hostile or careless user could try is run through ``Store.sql``
(and some through the CLI); afterwards the log is intact, no file was created,
and the server was not touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from streamrec import Store
from streamrec.cli import main
from streamrec.errors import ReadOnlyQueryError, StoreError
from streamrec.store import READER_ROLE

from .chunks import record_texts, text_stream
from .conftest import PG_URL, pg_schema, reader_role_in_use

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}

# statement sequences and transaction control: none may leave the read-only transaction
SEQUENCES = [
    "COMMIT; DELETE FROM events",
    "ROLLBACK; DELETE FROM events",
    "SELECT 1; DELETE FROM events",
    "SELECT 1; DROP TABLE events",
    "END; DELETE FROM events",
    "SET TRANSACTION READ WRITE",
    "BEGIN",
    "COMMIT",
    "SAVEPOINT s",
]
# writes of every kind, as one statement
WRITES = [
    "DELETE FROM events",
    "UPDATE streams SET status = 'failed'",
    "INSERT INTO streams (stream_id, tags, status) VALUES ('x', '[]', 'completed')",
    "DROP TABLE events",
    "CREATE TABLE t (x integer)",
    "CREATE TEMP TABLE t AS SELECT 1 AS x",
    "CREATE VIEW v AS SELECT 1 AS x",
    "ALTER TABLE streams ADD COLUMN x integer",
    "CREATE INDEX i ON events (t_ns)",
    "DELETE FROM events RETURNING *",
]
SQLITE_ONLY = [
    "ATTACH DATABASE '{tmp}/attached.db' AS a",
    "VACUUM INTO '{tmp}/copy.db'",
    "VACUUM",
    "SELECT load_extension('{tmp}/evil')",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA writable_schema = ON",
    "PRAGMA user_version = 7",
    "PRAGMA query_only = OFF",
    "REINDEX",
    "ANALYZE",
    "DETACH DATABASE main",
    "SELECT fts3_tokenizer('simple')",
]
POSTGRES_ONLY = [
    "COPY events TO STDOUT",
    "COPY (SELECT 1) TO PROGRAM 'touch {tmp}/pwned'",
    "COPY events FROM PROGRAM 'true'",
    "COPY (SELECT 1) TO '{tmp}/copied'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_ls_dir('.')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT lo_export(0, '{tmp}/lo')",
    "ALTER SYSTEM SET work_mem = '1MB'",
    "SET work_mem = '1MB'",
    "SET ROLE postgres",
    "RESET ROLE",
    "SELECT set_config('role', 'postgres', false)",
    "SELECT set_config('session_authorization', 'postgres', false)",
    "SELECT set_config('transaction_read_only', 'off', true)",
    "DO $$ BEGIN DELETE FROM events; END $$",
    "WITH d AS (DELETE FROM events RETURNING 1) SELECT count(*) FROM d",
    "SELECT * FROM events FOR UPDATE",
    "EXPLAIN ANALYZE DELETE FROM events",
    "CREATE TABLE public.streamrec_pwned (x integer)",
    "SELECT pg_reload_conf()",
    "CHECKPOINT",
    "LISTEN x",
]


def _record(store: Store) -> str:
    return record_texts(store, text_stream(["a", "b"]), api="openai")


@pytest.fixture
def engine_store(url: str) -> Iterator[Store]:
    """A store on each engine, with one recording and (PostgreSQL) the reader role granted."""
    store = Store(url)
    store.grant_reader()
    _record(store)
    yield store
    store.close()


def _counts(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (
            conn.exec_driver_sql("SELECT count(*) FROM events").scalar_one(),
            conn.exec_driver_sql("SELECT count(*) FROM streams").scalar_one(),
        )


def _refused(store: Store, query: str) -> str:
    with pytest.raises(StoreError) as caught:
        store.sql(query)
    return str(caught.value)


def test_queries_that_read_work(engine_store: Store) -> None:
    store = engine_store
    assert store.sql("SELECT count(*) AS n FROM streams") == (["n"], [(1,)])
    cte = (
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) "
        "SELECT sum(n) AS s FROM c"
    )
    assert store.sql(cte)[1] == [(6,)]
    assert store.sql("SELECT kind FROM events ORDER BY seq", limit=1)[1] == [("stream.started",)]
    assert store.sql("SELECT 1 AS one;")[1] == [(1,)]  # a trailing semicolon is one statement
    assert store.sql("EXPLAIN SELECT * FROM events")[1]
    if store.engine.dialect.name == "sqlite":
        assert store.sql("SELECT json_extract(payload, '$.api') FROM events WHERE seq = 0")[1] == [
            ("openai.chat.completions",)
        ]
        assert (
            store.sql("SELECT count(*) FROM events, json_each(events.payload) WHERE seq = 0")[1][0][
                0
            ]
            > 0
        )
        assert ("stream_id",) in [r[1:2] for r in store.sql("PRAGMA table_info(streams)")[1]]
        assert store.sql("SELECT count(*) FROM pragma_table_info('events')")[1][0][0] > 0
    else:
        assert store.sql("SELECT payload::json->>'api' FROM events WHERE seq = 0")[1] == [
            ("openai.chat.completions",)
        ]
        assert store.sql("SELECT current_user")[1] == [(READER_ROLE,)]
        assert store.sql("SHOW transaction_read_only")[1] == [("on",)]


@pytest.mark.parametrize("query", SEQUENCES + WRITES)
def test_no_statement_changes_the_log(engine_store: Store, query: str) -> None:
    before = _counts(engine_store)
    _refused(engine_store, query)
    assert _counts(engine_store) == before
    assert engine_store.verify() == []


def test_sqlite_bypasses_are_refused(tmp_path: Path, sqlite_url: str) -> None:
    store = Store(sqlite_url)
    _record(store)
    before = _counts(store)
    files = sorted(os.listdir(tmp_path))
    for query in SQLITE_ONLY:
        message = _refused(store, query.format(tmp=tmp_path))
        assert "read-only" in message, (query, message)
    assert sorted(os.listdir(tmp_path)) == files  # ATTACH / VACUUM INTO created nothing
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA user_version").scalar() == 0
    assert _counts(store) == before
    store.close()


def test_a_runaway_query_is_stopped(engine_store: Store) -> None:
    from streamrec.store._sql import run_sql

    forever = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT max(n) FROM c"
    with pytest.raises(StoreError, match="longer than"):
        run_sql(engine_store, forever, timeout=0.2)
    if engine_store.engine.dialect.name == "postgresql":
        with pytest.raises(StoreError, match="longer than"):  # set_config cannot lift it
            run_sql(
                engine_store,
                "SELECT set_config('statement_timeout', '0', false), pg_sleep(5)",
                timeout=0.2,
            )


@pytest.mark.postgres
def test_postgres_bypasses_are_refused(tmp_path: Path, pg_url: str) -> None:
    store = Store(pg_url)
    store.grant_reader()
    _record(store)
    before = _counts(store)
    # a connection of the store's own user that pg_terminate_backend must not reach
    with psycopg.connect(PG_URL.replace("+psycopg", "")) as bystander:
        pid = bystander.info.backend_pid
        queries = [*POSTGRES_ONLY, f"SELECT pg_terminate_backend({pid})"]
        queries.append(f"SELECT pg_cancel_backend({pid})")
        for query in queries:
            message = _refused(store, query.format(tmp=tmp_path))
            assert "read-only" in message or "permission denied" in message, (query, message)
        assert bystander.execute("SELECT 1").fetchone() == (1,)
    assert os.listdir(tmp_path) == []  # no program ran, no server file was written
    assert _counts(store) == before
    admin = create_engine(PG_URL)
    with admin.connect() as conn:
        auto = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem' AND setting = '1MB'"
        ).scalar()
        assert auto == 0  # ALTER SYSTEM wrote nothing
        assert (
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'streamrec_pwned'"
            ).scalar()
            == 0
        )
        role = conn.exec_driver_sql(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
            f"WHERE rolname = '{READER_ROLE}'"
        ).one()
        assert tuple(role) == (False, False, False, False)
    admin.dispose()
    store.close()


@pytest.mark.postgres
def test_without_the_role_postgres_refuses_and_says_what_to_run(pg_url: str) -> None:
    store = Store(pg_url)  # created on first use: no grant for this schema
    _record(store)
    message = _refused(store, "SELECT count(*) FROM events")
    assert "db upgrade" in message
    store.close()


def _reader_role() -> tuple[bool, int]:
    """Whether the reader role exists, and how many grants (in any database) depend on it."""
    admin = create_engine(PG_URL)
    try:
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                f"SELECT count(*) FROM pg_roles WHERE rolname = '{READER_ROLE}'"
            ).scalar_one()
            grants = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON d.refobjid = r.oid "
                f"WHERE r.rolname = '{READER_ROLE}'"
            ).scalar_one()
    finally:
        admin.dispose()
    return exists == 1, grants


@pytest.mark.postgres
def test_the_suite_leaves_no_reader_role_behind() -> None:
    # the role is cluster-wide and outlives the schema it was granted in: the
    # tests' schemas take it with them once no grant needs it
    with pg_schema() as url:
        with Store(url) as store:
            store.grant_reader()
        exists, grants = _reader_role()
        assert exists and grants >= 3  # usage on the schema, its tables, default privileges
    exists, grants = _reader_role()
    # it stays only where the cluster used it before this session, or another
    # test run on this cluster (a developer's, at the same time) holds a grant
    assert not exists or reader_role_in_use() or grants > 0


@pytest.mark.postgres
def test_grant_reader_is_idempotent(pg_url: str) -> None:
    store = Store(pg_url)
    first = store.grant_reader()
    assert store.grant_reader() == first
    _record(store)
    assert store.sql("SELECT count(*) FROM streams")[1] == [(1,)]
    store.close()


def test_the_cli_refuses_in_one_line(url: str) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(main, ["--db", url, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    if url.startswith("postgresql"):
        assert READER_ROLE in upgraded.stdout
    with Store(url) as store:
        _record(store)
    result = runner.invoke(main, ["--db", url, "sql", "COMMIT; DELETE FROM events"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "read-only" in result.stderr
    ok = runner.invoke(main, ["--db", url, "sql", "SELECT count(*) AS n FROM events", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)[0]["n"] > 0
    with pytest.raises(ReadOnlyQueryError), Store(url) as store:
        store.sql("DELETE FROM events")
