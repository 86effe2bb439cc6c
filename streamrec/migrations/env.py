"""Alembic environment: runs on the engine streamrec hands over, online only."""

from __future__ import annotations

from alembic import context

from streamrec.store._schema import schema_metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    # Several processes may open a new database at once: serialise the upgrade.
    # (SQLite engines streamrec hands over take the write lock with BEGIN IMMEDIATE.)
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7391620455)")
    context.configure(
        connection=connection, target_metadata=schema_metadata(), render_as_batch=True
    )
    context.run_migrations()
