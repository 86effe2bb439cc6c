"""The store contract on each backend, plus what only one backend has."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamrec import Store, migrations

from .store_contract import StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store(self, sqlite_url: str) -> Iterator[Store]:
        s = Store(sqlite_url)
        yield s
        s.close()

    def test_wal_mode_and_busy_timeout(self, store: Store) -> None:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[Store]:
        s = Store(pg_url)
        yield s
        s.close()

    def test_it_is_postgres(self, store: Store) -> None:
        assert store.engine.dialect.name == "postgresql"
        assert store.engine.dialect.driver == "psycopg"


_RECORDER_PROCESS = """
import sys
from streamrec import SSEEvent, Store, record
from tests.chunks import text_stream
store = Store(sys.argv[1])
for n in range(5):
    stream = record([SSEEvent(c) for c in text_stream([f"p{sys.argv[2]}-{n}-{i}" for i in range(30)])], api="openai", store=store)
    for _ in stream:
        pass
    print(stream.stream_id, flush=True)
store.close()
"""


def test_several_processes_record_into_one_sqlite_file(sqlite_url: str) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parent.parent
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RECORDER_PROCESS, sqlite_url, str(p)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for p in range(4)
    ]
    ids = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        ids += out.split()
    assert len(ids) == 20
    with Store(sqlite_url) as store:
        assert {r["stream_id"] for r in store.streams()} == set(ids)
        assert store.verify() == []
        for sid in ids:
            state = store.state(sid)
            prefix = state.content.split("-")[0] + "-" + state.content.split("-")[1]
            assert state.content == "".join(f"{prefix}-{i}" for i in range(30))


def test_many_first_opens_at_once_create_the_schema_once(url: str) -> None:
    import threading

    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_it() -> None:
        try:
            stores.append(Store(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {s.revision() for s in stores} == {migrations.HEAD_REVISION}
    for s in stores:
        s.close()
