"""``streamrec sql``: one read-only query, read-only by construction on both engines.

Nothing here parses the SQL text to decide what is safe: each engine is set up
so that the statement, whatever it says, cannot change anything or reach
outside the database.

SQLite: a connection of its own, opened read-only (``mode=ro``) with
``PRAGMA query_only``, and an authorizer that allows only reading tables,
``SELECT``, recursive CTEs, whitelisted functions and a few schema-reading
pragmas. ``ATTACH`` (which creates files even on a read-only connection),
``VACUUM INTO`` (which attaches its target), ``load_extension``, transactions
and writable pragmas are denied before they run. The driver refuses a second
statement after the first.

PostgreSQL: a connection that logs in as ``streamrec_reader``, a role with no
rights but ``SELECT`` on the store's tables (``streamrec db upgrade`` creates and
grants it). A ``SET ROLE`` on the store's own connection would not do: one
``SELECT set_config('role', …)`` undoes it. The statement runs in a ``READ
ONLY`` transaction under a ``statement_timeout``, through the extended protocol
(one statement, no ``COMMIT; …`` sequences), and only if the server describes
it as returning rows (so ``SET``, ``COPY``, ``BEGIN``, ``ALTER SYSTEM`` are
refused before they execute). Server files and programs (``pg_read_file``,
``COPY … TO PROGRAM``, ``lo_import``) need rights the role does not have.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..errors import ReadOnlyQueryError, StoreError

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["READER_ROLE", "grant_reader", "run_sql"]

READER_ROLE = "streamrec_reader"
"""The PostgreSQL login role ``streamrec sql`` runs as (created by ``streamrec db upgrade``)."""

DEFAULT_TIMEOUT_S = 30.0


Result = tuple[list[str], list[tuple[Any, ...]]]


def run_sql(
    store: Store, query: str, *, limit: int | None = None, timeout: float = DEFAULT_TIMEOUT_S
) -> Result:
    """Run one read-only query on ``store``; (column names, rows)."""
    if store.engine.dialect.name == "sqlite":
        return _sqlite(store, query, limit, timeout)
    if store.engine.dialect.name == "postgresql":
        return _postgres(store, query, limit, timeout)
    raise StoreError(f"streamrec sql does not support {store.engine.dialect.name}")


# -- SQLite ------------------------------------------------------------------------------

# what a query may do, by authorizer action; everything else is denied
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
# pragmas whose argument is a name, never a setting (also as pragma_table_info(...))
_READ_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo"}
)
# SQLite's core, date, math, JSON, aggregate and window functions; not load_extension
# or fts3_tokenizer (pointer games), and no function an extension could add
_FUNCTION_NAMES = """
    abs changes char coalesce concat concat_ws format glob hex ifnull iif instr
    last_insert_rowid length like likelihood likely lower ltrim max min nullif octet_length
    printf quote random randomblob replace round rtrim sign soundex sqlite_source_id
    sqlite_version substr substring total_changes trim typeof unhex unicode unlikely upper
    zeroblob avg count group_concat string_agg sum total date time datetime julianday
    unixepoch strftime timediff current_date current_time current_timestamp row_number rank
    dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value acos
    acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10
    log2 mod pi pow power radians sin sinh sqrt tan tanh trunc json json_array
    json_array_length json_error_position json_extract json_insert json_object json_patch
    json_pretty json_remove json_replace json_set json_type json_valid json_quote
    json_group_array json_group_object jsonb jsonb_array jsonb_extract jsonb_insert
    jsonb_object jsonb_patch jsonb_remove jsonb_replace jsonb_set jsonb_group_array
    jsonb_group_object -> ->>
"""
_FUNCTIONS = frozenset(_FUNCTION_NAMES.split())
_SCHEMA = "sqlite_master"


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _FUNCTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    # a table-valued function (json_each, pragma_table_info) declares its virtual
    # table through an internal update of the schema table; the connection is
    # read-only and sqlite_master cannot be written without writable_schema
    # (a pragma denied above), so this allows no user write
    if action == sqlite3.SQLITE_UPDATE and arg1 == _SCHEMA:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _sqlite(store: Store, query: str, limit: int | None, timeout: float) -> Result:
    database = store.engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StoreError("streamrec sql needs an SQLite database file")
    uri = f"file:{quote(database)}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"could not open {store.display_url} read-only: {exc}") from exc
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_authorize)
        deadline = time.monotonic() + timeout
        # a runaway query (WITH RECURSIVE without end) is interrupted at the deadline
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = conn.execute(query)
            columns = [d[0] for d in cursor.description or ()]
            rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
        except (sqlite3.ProgrammingError, sqlite3.Warning) as exc:
            # "You can only execute one statement at a time" (a Warning before 3.11)
            raise ReadOnlyQueryError(
                f"streamrec sql is read-only and runs one statement: {exc}"
            ) from exc
        except sqlite3.DatabaseError as exc:
            reason = str(exc)
            if reason == "interrupted":
                reason = f"the query ran longer than {timeout:g} s"
            elif (
                "not authorized" in reason
                or "authorization denied" in reason
                or "readonly" in reason
            ):
                raise ReadOnlyQueryError(f"streamrec sql is read-only: {reason}") from exc
            raise StoreError(f"could not run the query: {reason}") from exc
        return columns, [tuple(r) for r in rows]
    finally:
        conn.close()


# -- PostgreSQL --------------------------------------------------------------------------


def _reader_engine(store: Store) -> Engine:
    url = store.engine.url.set(username=READER_ROLE, password=None)
    return create_engine(url, poolclass=NullPool)


def _postgres(store: Store, query: str, limit: int | None, timeout: float) -> Result:
    import psycopg

    with store.engine.connect() as own:
        schema = own.execute(text("SELECT current_schema()")).scalar()
    engine = _reader_engine(store)
    try:
        try:
            raw = engine.raw_connection()
        except (DBAPIError, SQLAlchemyError, psycopg.Error) as exc:  # the pool does not wrap
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            hint = (
                f"give it a password (ALTER ROLE {READER_ROLE} PASSWORD …) and put it in ~/.pgpass"
                if "password" in reason
                else "run `streamrec db upgrade` to create it"
            )
            raise StoreError(
                f"streamrec sql runs as the read-only role {READER_ROLE}, which cannot "
                f"connect ({reason}): {hint}"
            ) from exc
        try:
            conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
            conn.read_only = True
            with conn.cursor() as cursor:
                # first statement of the READ ONLY transaction: it takes the snapshot,
                # after which no SET TRANSACTION can make the transaction read-write
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true), "
                    "has_schema_privilege(%s, 'USAGE')",
                    (f"{int(timeout * 1000)}", schema),
                )
                granted = cursor.fetchone()
                if not (granted and granted[1]):
                    raise StoreError(
                        f"streamrec sql runs as the read-only role {READER_ROLE}, which may "
                        f"not read schema {schema}: run `streamrec db upgrade` to grant it"
                    )
                _only_a_query(conn, query)
                cursor.execute(query.encode(), prepare=True)
                columns = [c.name for c in cursor.description or ()]
                rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
                # a query that only reads never gets a transaction id: one that did
                # wrote something (lo_create is not stopped by READ ONLY); it is
                # rolled back when the connection closes
                cursor.execute("SELECT txid_current_if_assigned() IS NOT NULL")
                wrote = cursor.fetchone()
                if wrote is None or wrote[0]:
                    raise ReadOnlyQueryError(
                        "streamrec sql is read-only: the statement wrote to the database "
                        "(rolled back)"
                    )
            return columns, [tuple(r) for r in rows]
        except psycopg.Error as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if isinstance(exc, psycopg.errors.QueryCanceled):
                raise StoreError(f"the query ran longer than {timeout:g} s") from exc
            # 42501 insufficient privilege; class 25: read-only transaction and the
            # transaction-state errors of SET TRANSACTION / set_config tricks
            if exc.sqlstate == "42501" or (exc.sqlstate or "").startswith("25"):
                raise ReadOnlyQueryError(f"streamrec sql is read-only: {reason}") from exc
            raise StoreError(f"could not run the query: {reason}") from exc
        finally:
            raw.close()
    finally:
        engine.dispose()


def _only_a_query(conn: Any, query: str) -> None:
    """Refuse, before it runs, a statement the server says returns no rows (SET, COPY, BEGIN…)."""
    pgconn = conn.pgconn
    parsed = pgconn.prepare(b"", query.encode())
    if parsed.error_message:
        message = parsed.error_message.decode(errors="replace").strip().splitlines()[0]
        message = message.removeprefix("ERROR:").strip()
        if "multiple commands" in message:
            raise ReadOnlyQueryError(
                f"streamrec sql is read-only and runs one statement: {message}"
            )
        raise StoreError(f"could not run the query: {message}")
    described = pgconn.describe_prepared(b"")
    if described.nfields == 0:
        raise ReadOnlyQueryError(
            "streamrec sql is read-only: only a query that returns rows may run "
            "(no SET, COPY, BEGIN/COMMIT, DO or ALTER)"
        )


def grant_reader(engine: Engine, role: str = READER_ROLE) -> str | None:
    """Create the read-only login role and let it read the store's tables; None if not PostgreSQL.

    Idempotent, and safe when several processes (or test schemas) run it at
    once: the role is cluster-wide, so its creation is serialised by an
    advisory lock; grants are per schema (``current_schema()``), including
    tables and views created later by the same owner. Returns the schema.
    """
    if engine.dialect.name != "postgresql":
        return None
    quoted = f'"{role}"'
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": role})
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if exists.scalar() is None:
            conn.exec_driver_sql(
                f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOREPLICATION NOBYPASSRLS NOINHERIT"
            )
            conn.exec_driver_sql(f"ALTER ROLE {quoted} SET default_transaction_read_only = on")
        schema = str(conn.execute(text("SELECT current_schema()")).scalar())
        qschema = '"' + schema.replace('"', '""') + '"'
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {qschema} TO {quoted}")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {qschema} TO {quoted}")
        conn.exec_driver_sql(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {qschema} GRANT SELECT ON TABLES TO {quoted}"
        )
    return schema
