"""The event log and the streams read model.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", _Position, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("t_ns", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(128), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_events"),
        sa.UniqueConstraint("stream_id", "seq", name="uq_events_stream_id_seq"),
    )
    op.create_table(
        "streams",
        sa.Column("stream_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("api", sa.String(64), nullable=True),
        sa.Column("requested_model", sa.String(255), nullable=True),
        sa.Column("model", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ttft_ns", sa.BigInteger, nullable=True),
        sa.Column("duration_ns", sa.BigInteger, nullable=True),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("malformed_chunks", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.Integer, nullable=True),
        sa.Column("cached_tokens", sa.Integer, nullable=True),
        sa.Column("cache_write_tokens", sa.Integer, nullable=True),
        sa.Column("output_tokens", sa.Integer, nullable=True),
        sa.Column("reasoning_tokens", sa.Integer, nullable=True),
        sa.Column("usage_reported", sa.Boolean, nullable=False),
        sa.Column("cost_nanousd", sa.BigInteger, nullable=True),
        sa.Column("cost_reason", sa.Text, nullable=True),
        sa.Column("prices_version", sa.String(32), nullable=True),
        sa.Column("finish_reasons", sa.Text, nullable=True),
        sa.Column("response_id", sa.String(255), nullable=True),
        sa.Column("tool_call_count", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name="pk_streams"),
    )
    op.create_index("ix_streams_started_at", "streams", ["started_at"])
    op.create_index("ix_streams_status", "streams", ["status"])
    op.create_index("ix_streams_fingerprint", "streams", ["fingerprint"])


def downgrade() -> None:
    op.drop_table("streams")
    op.drop_table("events")
