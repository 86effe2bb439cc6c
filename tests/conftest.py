"""Shared fixtures: stores on a real SQLite file and on the local PostgreSQL (a schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine

from streamrec import Store

# Property tests are reproducible in CI: a fixed seed (derandomize), no example
# database carried between runs, no deadline a loaded machine could miss. Locally
# the default profile keeps exploring; HYPOTHESIS_PROFILE=ci reproduces a CI run.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)

PG_URL = os.environ.get("STREAMREC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    """A fresh SQLite file."""
    return f"sqlite:///{os.path.join(tmp_path, 'streamrec.db')}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty schema on the local PostgreSQL; dropped afterwards."""
    schema = f"streamrec_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    """A store on a fresh SQLite file (tests that are not about the backend use this)."""
    s = Store(sqlite_url)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _isolated_default_store(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test does may write into the developer's own .streamrec/."""
    monkeypatch.setenv("STREAMREC_DB", f"sqlite:///{os.path.join(tmp_path, 'default.db')}")


from tests.oracle import oracle, oracle_store  # noqa: E402,F401  (fixtures)
from tests.upstream import upstream, upstream_session  # noqa: E402,F401  (fixtures)
from tests.ws_upstream import ws_upstream, ws_upstream_session  # noqa: E402,F401  (fixtures)

pytest_plugins = ["pytester"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Store]:
    """A fresh store on each backend in turn (for end-to-end paths that must not care)."""
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Store(url)
    yield s
    s.close()
