"""The store contract on each backend, plus what only one backend has."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamrec import Store

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
