"""Attribution metadata and cache savings on the read model.

Revision ID: hist01
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hist01"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("streams") as batch:
        batch.add_column(sa.Column("meta", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("cache_savings_nanousd", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("cache_savings_nanousd")
        batch.drop_column("meta")
