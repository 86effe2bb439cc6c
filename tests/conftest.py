"""Shared fixtures: stores on a real SQLite file and on the local PostgreSQL (a schema per test)."""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from streamrec import Store
from streamrec.store import READER_ROLE

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


@contextlib.contextmanager
def pg_schema(prefix: str = "streamrec_t_") -> Iterator[str]:
    """A fresh, empty schema on the local PostgreSQL (its URL), dropped afterwards.

    Dropping it drops every grant made in it; the cluster-wide role ``streamrec
    sql`` runs as (created by ``Store.grant_reader`` / ``streamrec db upgrade``)
    goes too once no grant needs it, unless the cluster used it before this
    session (``reader_role_in_use``).
    """
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    reader_role_in_use()  # asked before any test of this session can grant it
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        _drop_reader_role(admin)
        admin.dispose()


@functools.cache
def reader_role_in_use() -> bool:
    """Whether, before this session's first schema, a grant somewhere needed the reader role.

    Then the cluster has a user of it (a real ``streamrec db upgrade``, or another
    test run under way) and the suite leaves the role alone. A role that nothing
    needs is a leftover of earlier runs (``grant_reader`` creates and grants at
    once) and goes like the one this session creates.
    """
    admin = create_engine(PG_URL)
    try:
        with admin.connect() as conn:
            grants = conn.execute(
                text(
                    "SELECT count(*) FROM pg_shdepend d JOIN pg_roles r ON d.refobjid = r.oid "
                    "WHERE r.rolname = :r"
                ),
                {"r": READER_ROLE},
            ).scalar_one()
    finally:
        admin.dispose()
    return bool(grants)


def _drop_reader_role(admin: Engine) -> None:
    """Drop the reader role unless a grant still needs it (another test's, or another run's)."""
    if reader_role_in_use():
        return
    with admin.begin() as conn:
        # the lock grant_reader takes: a grant either comes first (and keeps the role)
        # or after (and creates it again)
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": READER_ROLE})
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{READER_ROLE}"')
        except DBAPIError as exc:
            # 2BP01: privileges in a schema still in use depend on it; it stays
            if getattr(exc.orig, "sqlstate", None) != "2BP01":
                raise


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty schema on the local PostgreSQL; dropped afterwards."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A fresh database on each backend in turn: a SQLite file, a PostgreSQL schema."""
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


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


from tests.history_data import populate  # noqa: E402
from tests.oracle import oracle, oracle_store  # noqa: E402,F401  (fixtures)
from tests.upstream import upstream, upstream_session  # noqa: E402,F401  (fixtures)
from tests.ws_upstream import ws_upstream, ws_upstream_session  # noqa: E402,F401  (fixtures)

pytest_plugins = ["pytester"]


@pytest.fixture
def any_store(url: str) -> Iterator[Store]:
    """A fresh store on each backend in turn (for end-to-end paths that must not care)."""
    s = Store(url)
    yield s
    s.close()


@pytest.fixture
def history(url: str) -> Iterator[Store]:
    """tests/history_data.py's known history in a fresh store, on each backend in turn."""
    store = Store(url)
    populate(store)
    yield store
    store.close()
