"""Exact payloads and read-model problems.

``events.encoding`` marks payloads stored as JSON string literals (text with a
NUL or bytes that are not UTF-8, which a TEXT column cannot hold on both
engines); ``events.event`` becomes TEXT (SSE event names of any length);
``streams.problems`` lists values the read model could not hold. Existing rows
are carried forward unchanged: their payloads are verbatim text (encoding NULL).

Revision ID: 0002
Revises: hist01
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "hist01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "event", existing_type=sa.String(128), type_=sa.Text, existing_nullable=True
        )
        batch.add_column(sa.Column("encoding", sa.String(16), nullable=True))
    with op.batch_alter_table("streams") as batch:
        batch.add_column(sa.Column("problems", sa.Text, nullable=True))


def downgrade() -> None:
    # 0001 cannot hold encoded payloads or long event names: refuse rather than lose them
    bind = op.get_bind()
    encoded = bind.execute(
        sa.text("SELECT count(*) FROM events WHERE encoding IS NOT NULL OR length(event) > 128")
    ).scalar()
    if encoded:
        raise RuntimeError(
            f"{encoded} event(s) hold payloads revision 0001 cannot store; not downgrading"
        )
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("problems")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("encoding")
        batch.alter_column(
            "event", existing_type=sa.Text, type_=sa.String(128), existing_nullable=True
        )
