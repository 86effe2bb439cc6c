"""PostgreSQL tells followers (``streamrec tail``) that the log grew: NOTIFY on each insert statement.

One notification per statement into ``events`` (not per row), delivered when
the transaction commits; PostgreSQL folds identical notifications of one
transaction into one. SQLite has no notifications: its followers poll.

Revision ID: hist03
Revises: hist02
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "hist03"
down_revision = "hist02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION streamrec_notify_events() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('streamrec_events', '');
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER streamrec_events_notify AFTER INSERT ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION streamrec_notify_events()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS streamrec_events_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS streamrec_notify_events()")
