"""The tables: ``events`` (the log, append-only) and ``streams`` (the read model, rebuildable).

One schema for SQLite and PostgreSQL; Alembic's versions must match it (a test checks).

Payloads are kept exactly. ``events.payload`` is TEXT, and most payloads (UTF-8
JSON) are stored there verbatim with ``encoding`` NULL. Text that one of the
engines cannot hold in a TEXT column (a NUL, which PostgreSQL refuses; bytes
that are not UTF-8, which the recorder carries as surrogate escapes) is stored
with ``encoding = 'json'``: ``payload`` (and ``event``) then hold a JSON string
literal in ASCII (``"\\u0000"``, ``"\\udcff"``), which decodes to the exact
text, and so to the exact bytes received. The store encodes and decodes; every
reader sees the original text.

Read-model columns that cannot hold a value (an integer beyond the column's
range, an id that is not a string, a name past the column's length) get NULL
or a truncated string, and ``streams.problems`` says so (a JSON list of text).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "ROLLUP_KEYS",
    "ROLLUP_VALUES",
    "events",
    "schema_metadata",
    "stream_rollup",
    "streams",
]

# Autoincrement on SQLite needs INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
_Position = BigInteger().with_variant(Integer(), "sqlite")

_metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s",
        "pk": "pk_%(table_name)s",
    }
)

events = Table(
    "events",
    _metadata,
    # global order of appends, for followers that tail the log
    Column("position", _Position, primary_key=True, autoincrement=True),
    Column("stream_id", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("t_ns", BigInteger, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("event", Text, nullable=True),
    Column("payload", Text, nullable=False),
    # NULL: payload/event are the text verbatim; 'json': JSON string literals of it
    Column("encoding", String(16), nullable=True),
    UniqueConstraint("stream_id", "seq"),
)

streams = Table(
    "streams",
    _metadata,
    Column("stream_id", String(36), primary_key=True),
    Column("name", String(255), nullable=True),
    Column("tags", Text, nullable=False, default="[]"),
    Column("provider", String(64), nullable=True),
    Column("api", String(64), nullable=True),
    Column("requested_model", String(255), nullable=True),
    Column("model", String(255), nullable=True),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("ttft_ns", BigInteger, nullable=True),
    Column("duration_ns", BigInteger, nullable=True),
    Column("chunk_count", Integer, nullable=False, default=0),
    Column("malformed_chunks", Integer, nullable=False, default=0),
    Column("input_tokens", Integer, nullable=True),
    Column("cached_tokens", Integer, nullable=True),
    Column("cache_write_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("reasoning_tokens", Integer, nullable=True),
    Column("usage_reported", Boolean, nullable=False, default=False),
    # exact money: integer nano-dollars; NULL with cost_reason when unknown
    Column("cost_nanousd", BigInteger, nullable=True),
    Column("cost_reason", Text, nullable=True),
    Column("prices_version", String(32), nullable=True),
    Column("finish_reasons", Text, nullable=True),
    Column("response_id", String(255), nullable=True),
    Column("tool_call_count", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("fingerprint", String(64), nullable=True),
    Column("last_seq", Integer, nullable=False, default=-1),
    # attribution: free-form metadata (user, session, project, …) as a JSON object of strings
    Column("meta", Text, nullable=False, default="{}", server_default="{}"),
    # what cache reads saved against paying full input price (exact, like cost)
    Column("cache_savings_nanousd", BigInteger, nullable=True),
    # values the columns above could not hold (JSON list of text), NULL when none
    Column("problems", Text, nullable=True),
    # conversation links (set when a stream starts): the thread's first stream, the stream
    # this one continues, and the hash of the turns it sent (what a follow-up repeats)
    Column("conversation_id", String(36), nullable=True),
    Column("parent_id", String(36), nullable=True),
    Column("prompt_hash", String(64), nullable=True),
    # the UTC calendar day of started_at ('YYYY-MM-DD'): the rollup's key and the leading
    # column of the latency indexes, written with the row (see _summary.day_of)
    Column("day", String(10), nullable=True),
    Index("ix_streams_started_at", "started_at"),
    Index("ix_streams_status", "status"),
    Index("ix_streams_fingerprint", "fingerprint"),
    Index("ix_streams_conversation_id", "conversation_id"),
    Index("ix_streams_prompt_hash", "prompt_hash"),
    Index("ix_streams_response_id", "response_id"),
)


ROLLUP_KEYS = ("day", "provider", "api", "requested_model", "model", "name")
"""Key columns of ``stream_rollup`` besides ``status``; an absent value is '' with bit
``1 << i`` (its place here) set in ``nulls``."""
ROLLUP_VALUES = (
    "streams",
    "chunks",
    *(
        f"{t}{suffix}"
        for t in (
            "input_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "output_tokens",
            "reasoning_tokens",
        )
        for suffix in ("", "_n")
    ),
    "cached_known",
    "cost_nanousd",
    "priced",
    "cache_savings_nanousd",
    "cache_savings_n",
    "ttft_sum",
    "ttft_n",
    "duration_n",
    "gen_ns_tokens",
    "gen_tokens",
    "gen_tokens_n",
    "gen_ns_chunks",
    "gen_chunks",
    "gen_chunks_n",
)
"""Sums and counts per key over the streams that are not ``recording`` (``_n``: how many
streams knew the value summed before it)."""

stream_rollup = Table(
    "stream_rollup",
    _metadata,
    # kept by triggers on `streams` (migration hist04): exact in the same transaction
    *(Column(k, streams.c[k].type, nullable=False) for k in ROLLUP_KEYS),
    Column("status", String(16), nullable=False),
    Column("nulls", Integer, nullable=False),
    *(Column(v, BigInteger, nullable=False) for v in ROLLUP_VALUES),
    PrimaryKeyConstraint(*ROLLUP_KEYS, "status", "nulls", name="pk_stream_rollup"),
)


LATENCY_INDEXES = {
    f"ix_streams_{'_'.join(lead)}_{value}": (*lead, value)
    for lead in (("model",), ("day",), ("day", "model"))
    for value in ("ttft_ns", "duration_ns")
}
"""The partial indexes a nearest-rank percentile is read from at its rank, not sorted.

A row enters once its latency is known (the stream's end), not at its start as well.
Their ``where`` clause is dialect-specific, and declaring PostgreSQL's imports that
dialect (about 30 ms): so they join the tables only in ``schema_metadata()``, which
DDL comparison asks for, and not in the start of every command on an SQLite store.
"""


def schema_metadata() -> MetaData:
    """The whole schema, partial latency indexes included, for comparing DDL against."""
    for name, columns in LATENCY_INDEXES.items():
        if name not in {index.name for index in streams.indexes}:
            present = text(f"{columns[-1]} IS NOT NULL")
            Index(
                name,
                *(streams.c[c] for c in columns),
                sqlite_where=present,
                postgresql_where=present,
            )
    return _metadata
