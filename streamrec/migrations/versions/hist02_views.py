"""Conversation links and the SQL views: usage per day and per day x model, latency per model,
errors, conversations.

The views answer the everyday questions in plain SQL (``streamrec sql``, a BI
tool); docs/queries.md shows them in use. Days are UTC calendar days of
``started_at``; a model is the reported model, else the requested one; money
stays integer nano-dollars; percentiles are nearest-rank (the recorded value at
rank ceil(p*n/100)), as ``stats`` computes them. Only the day and JSON
expressions differ between SQLite and PostgreSQL. The definitions live here,
frozen with the revision, so a later change is a later revision.

Revision ID: hist02
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hist02"
down_revision = "0002"
branch_labels = None
depends_on = None

_DAY = {
    "sqlite": "substr(started_at, 1, 10)",
    "postgresql": "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
_ERROR = {
    "sqlite": ("json_extract(error, '$.type')", "json_extract(error, '$.message')"),
    "postgresql": ("CAST(error AS json) ->> 'type'", "CAST(error AS json) ->> 'message'"),
}

_USAGE = """
    count(*) AS streams,
    sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failures,
    sum(CASE WHEN status = 'interrupted' THEN 1 ELSE 0 END) AS interrupted,
    sum(input_tokens) AS input_tokens,
    sum(cached_tokens) AS cached_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(output_tokens) AS output_tokens,
    sum(reasoning_tokens) AS reasoning_tokens,
    sum(cost_nanousd) AS cost_nanousd,
    count(cost_nanousd) AS priced,
    sum(cache_savings_nanousd) AS cache_savings_nanousd"""


def _latency() -> str:
    def pct(column: str, p: int) -> str:
        return f"max(CASE WHEN {column}_rank = ({p} * {column}_n + 99) / 100 THEN {column} END)"

    ranked = """
    SELECT coalesce(model, requested_model) AS model, ttft_ns, duration_ns,
        row_number() OVER (PARTITION BY coalesce(model, requested_model)
            ORDER BY CASE WHEN ttft_ns IS NULL THEN 1 ELSE 0 END, ttft_ns) AS ttft_ns_rank,
        count(ttft_ns) OVER (PARTITION BY coalesce(model, requested_model)) AS ttft_ns_n,
        row_number() OVER (PARTITION BY coalesce(model, requested_model)
            ORDER BY CASE WHEN duration_ns IS NULL THEN 1 ELSE 0 END, duration_ns)
            AS duration_ns_rank,
        count(duration_ns) OVER (PARTITION BY coalesce(model, requested_model)) AS duration_ns_n
    FROM streams"""
    figures = ",\n    ".join(
        [f"{pct('ttft_ns', p)} AS ttft_p{p}_ns" for p in (50, 95, 99)]
        + [f"{pct('duration_ns', p)} AS duration_p{p}_ns" for p in (50, 95)]
    )
    return f"""SELECT model, count(*) AS streams, max(ttft_ns_n) AS with_ttft,
    {figures}
FROM ({ranked}) ranked
GROUP BY model"""


def _views(dialect: str) -> dict[str, str]:
    """View name -> SELECT defining it, for ``dialect`` ("sqlite" or "postgresql")."""
    day = _DAY[dialect]
    error_type, error_message = _ERROR[dialect]
    return {
        "usage_daily": f"SELECT {day} AS day,{_USAGE}\nFROM streams\n"
        f"WHERE started_at IS NOT NULL GROUP BY {day}",
        "usage_daily_model": f"SELECT {day} AS day, coalesce(model, requested_model) AS model,"
        f"{_USAGE}\nFROM streams\nWHERE started_at IS NOT NULL\n"
        f"GROUP BY {day}, coalesce(model, requested_model)",
        "latency_by_model": _latency(),
        "stream_errors": f"SELECT stream_id, started_at, provider, api,"
        f" coalesce(model, requested_model) AS model, status,"
        f" {error_type} AS error_type, {error_message} AS error_message\n"
        "FROM streams WHERE error IS NOT NULL",
        "conversations": "SELECT coalesce(conversation_id, stream_id) AS conversation_id,"
        " count(*) AS streams, min(started_at) AS first_started_at,"
        " max(started_at) AS last_started_at, sum(input_tokens) AS input_tokens,"
        " sum(output_tokens) AS output_tokens, sum(cost_nanousd) AS cost_nanousd,"
        " count(cost_nanousd) AS priced\n"
        "FROM streams GROUP BY coalesce(conversation_id, stream_id)",
    }


def upgrade() -> None:
    with op.batch_alter_table("streams") as batch:
        batch.add_column(sa.Column("conversation_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("prompt_hash", sa.String(64), nullable=True))
        batch.create_index("ix_streams_conversation_id", ["conversation_id"])
        batch.create_index("ix_streams_prompt_hash", ["prompt_hash"])
        batch.create_index("ix_streams_response_id", ["response_id"])
    for name, select in _views(op.get_bind().dialect.name).items():
        op.execute(f"CREATE VIEW {name} AS\n{select}")


def downgrade() -> None:
    for name in reversed(list(_views(op.get_bind().dialect.name))):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    with op.batch_alter_table("streams") as batch:
        batch.drop_index("ix_streams_response_id")
        batch.drop_index("ix_streams_prompt_hash")
        batch.drop_index("ix_streams_conversation_id")
        batch.drop_column("prompt_hash")
        batch.drop_column("parent_id")
        batch.drop_column("conversation_id")
