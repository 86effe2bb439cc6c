"""History at scale: a rollup of the read model kept by triggers, a ``day`` column, and the
indexes that rank latencies without a scan.

``stream_rollup`` holds, per (UTC day, provider, api, requested model, model,
status, name), the sums and counts ``stats`` and the usage views need, over
every stream that is not ``recording`` (those change with every batch and are
read live). Triggers on ``streams`` keep it exact inside the same transaction
as the change, whoever writes: the recorder, ``rebuild``, ``reprice``,
``rm``/``prune``, or a user's own SQL. Key columns cannot be NULL in a unique
key that both engines enforce alike, so an absent value is stored as '' with
its bit set in ``nulls`` (1 day, 2 provider, 4 api, 8 requested model,
16 model, 32 name), which keeps '' and NULL apart.

``streams.day`` is the UTC calendar day of ``started_at`` ('YYYY-MM-DD'),
written with the row; the indexes on (day, model, ttft_ns) and the like let a
nearest-rank percentile be read at its rank from the index instead of sorting
every value. The usage views are redefined over the rollup. ``latency_by_model``
reads each percentile at its rank from the (model, value) index on PostgreSQL;
SQLite cannot use an outer query's count in a correlated OFFSET, so there it
stays as revision hist02 defined it (a window over every row; ``stats --by
model`` is the fast path to the same figures).

The definitions live here, frozen with the revision.

Revision ID: hist04
Revises: hist03
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hist04"
down_revision = "hist03"
branch_labels = None
depends_on = None

# everything added is filled here in SQL: no rebuild of the read model from the events
REBUILDS_READ_MODEL = False

KEYS = ("day", "provider", "api", "requested_model", "model", "name")
_KEY_TYPES = {
    "day": sa.String(10),
    "provider": sa.String(64),
    "api": sa.String(64),
    "requested_model": sa.String(255),
    "model": sa.String(255),
    "name": sa.String(255),
}
_TOKENS = (
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def _n(expr: str) -> str:
    return f"CASE WHEN {expr} IS NULL THEN 0 ELSE 1 END"


def contributions(r: str) -> dict[str, str]:
    """Rollup column -> what one ``streams`` row (``r``: NEW or OLD) adds to it."""
    generating = (
        f"{r}.ttft_ns IS NOT NULL AND {r}.duration_ns IS NOT NULL AND {r}.duration_ns > {r}.ttft_ns"
    )
    gen_tokens = f"{generating} AND {r}.output_tokens IS NOT NULL"
    gen_chunks = f"{generating} AND {r}.chunk_count > 1"
    out = {"streams": "1", "chunks": f"{r}.chunk_count"}
    for t in _TOKENS:
        out[t] = f"coalesce({r}.{t}, 0)"
        out[f"{t}_n"] = _n(f"{r}.{t}")
    out.update(
        cached_known=f"CASE WHEN {r}.input_tokens IS NULL THEN 0 ELSE coalesce({r}.cached_tokens, 0) END",
        cost_nanousd=f"coalesce({r}.cost_nanousd, 0)",
        priced=_n(f"{r}.cost_nanousd"),
        cache_savings_nanousd=f"coalesce({r}.cache_savings_nanousd, 0)",
        cache_savings_n=_n(f"{r}.cache_savings_nanousd"),
        ttft_sum=f"coalesce({r}.ttft_ns, 0)",
        ttft_n=_n(f"{r}.ttft_ns"),
        duration_n=_n(f"{r}.duration_ns"),
        gen_ns_tokens=f"CASE WHEN {gen_tokens} THEN {r}.duration_ns - {r}.ttft_ns ELSE 0 END",
        gen_tokens=f"CASE WHEN {gen_tokens} THEN {r}.output_tokens ELSE 0 END",
        gen_tokens_n=f"CASE WHEN {gen_tokens} THEN 1 ELSE 0 END",
        gen_ns_chunks=f"CASE WHEN {gen_chunks} THEN {r}.duration_ns - {r}.ttft_ns ELSE 0 END",
        gen_chunks=f"CASE WHEN {gen_chunks} THEN {r}.chunk_count - 1 ELSE 0 END",
        gen_chunks_n=f"CASE WHEN {gen_chunks} THEN 1 ELSE 0 END",
    )
    return out


VALUES = tuple(contributions("r"))


def _key(r: str) -> dict[str, str]:
    key = {k: f"coalesce({r}.{k}, '')" for k in KEYS}
    key["status"] = f"{r}.status"
    key["nulls"] = " + ".join(
        f"CASE WHEN {r}.{k} IS NULL THEN {1 << i} ELSE 0 END" for i, k in enumerate(KEYS)
    )
    return key


def _add(r: str) -> str:
    key, values = _key(r), contributions(r)
    columns = [*key, *values]
    updates = ", ".join(f"{v} = stream_rollup.{v} + excluded.{v}" for v in values)
    return (
        f"INSERT INTO stream_rollup ({', '.join(columns)})\n"
        f"    VALUES ({', '.join([*key.values(), *values.values()])})\n"
        f"    ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def _subtract(r: str) -> list[str]:
    key, values = _key(r), contributions(r)
    where = " AND ".join(f"{k} = {e}" for k, e in key.items())
    sets = ", ".join(f"{v} = {v} - ({e})" for v, e in values.items())
    return [
        f"UPDATE stream_rollup SET {sets}\n    WHERE {where}",
        f"DELETE FROM stream_rollup WHERE streams = 0 AND {where}",
    ]


_DAY = {
    "sqlite": "substr(started_at, 1, 10)",
    "postgresql": "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}


def _backfill() -> str:
    key, values = _key("streams"), contributions("streams")
    columns = [*key, *values]
    return (
        f"INSERT INTO stream_rollup ({', '.join(columns)})\n"
        f"SELECT {', '.join(key.values())}, "
        + ", ".join(f"sum({e})" for e in values.values())
        + "\nFROM streams WHERE status <> 'recording'\nGROUP BY "
        + ", ".join(key.values())
    )


def _triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":
        subtract = ";\n            ".join(_subtract("OLD"))
        return [
            f"""CREATE FUNCTION streamrec_rollup() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        IF OLD.status <> 'recording' THEN
            {subtract};
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        IF NEW.status <> 'recording' THEN
            {_add("NEW")};
        END IF;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql""",
            "CREATE TRIGGER streams_rollup AFTER INSERT OR UPDATE OR DELETE ON streams "
            "FOR EACH ROW EXECUTE FUNCTION streamrec_rollup()",
        ]
    sub = ";\n    ".join(_subtract("OLD"))
    return [
        "CREATE TRIGGER streams_rollup_insert AFTER INSERT ON streams "
        f"WHEN NEW.status <> 'recording' BEGIN\n    {_add('NEW')};\nEND",
        "CREATE TRIGGER streams_rollup_delete AFTER DELETE ON streams "
        f"WHEN OLD.status <> 'recording' BEGIN\n    {sub};\nEND",
        "CREATE TRIGGER streams_rollup_update_old AFTER UPDATE ON streams "
        f"WHEN OLD.status <> 'recording' BEGIN\n    {sub};\nEND",
        "CREATE TRIGGER streams_rollup_update_new AFTER UPDATE ON streams "
        f"WHEN NEW.status <> 'recording' BEGIN\n    {_add('NEW')};\nEND",
    ]


def _sum(column: str, known: str | None = None) -> str:
    """A bigint sum (PostgreSQL's sum of bigint is numeric), NULL when no stream knew it."""
    total = f"CAST(sum({column}) AS BIGINT)"
    return f"CASE WHEN sum({known}) > 0 THEN {total} END" if known else total


_FAILED = "CASE WHEN status = 'failed' THEN streams ELSE 0 END"
_INTERRUPTED = "CASE WHEN status = 'interrupted' THEN streams ELSE 0 END"
_USAGE = "".join(
    f",\n    {figure}"
    for figure in [
        f"{_sum('streams')} AS streams",
        f"{_sum(_FAILED)} AS failures",
        f"{_sum(_INTERRUPTED)} AS interrupted",
        *(f"{_sum(t, f'{t}_n')} AS {t}" for t in _TOKENS),
        f"{_sum('cost_nanousd', 'priced')} AS cost_nanousd",
        f"{_sum('priced')} AS priced",
        f"{_sum('cache_savings_nanousd', 'cache_savings_n')} AS cache_savings_nanousd",
    ]
)


def _parts() -> str:
    """Rollup rows and the live ``recording`` streams as one relation of partial sums."""
    rolled = ", ".join(
        [
            "CASE WHEN (nulls & 1) = 0 THEN day END AS day",
            "CASE WHEN (nulls & 16) = 0 THEN model "
            "WHEN (nulls & 8) = 0 THEN requested_model END AS model",
            "status",
            *VALUES,
        ]
    )
    live = ", ".join(
        [
            "day",
            "coalesce(model, requested_model) AS model",
            "status",
            *(f"{e} AS {v}" for v, e in contributions("streams").items()),
        ]
    )
    return (
        f"SELECT {rolled} FROM stream_rollup\n"
        f"    UNION ALL\n    SELECT {live} FROM streams WHERE status = 'recording'"
    )


def _pick(column: str, p: int) -> str:
    """PostgreSQL: the value at nearest rank ceil(p*n/100) of ``column`` in group ``g``.

    When every stream of the group reported its model (the common case: a
    stream that failed before its first chunk has no latency either), the
    (model, column) index is walked to the rank; otherwise the group's union
    with the streams that only requested that model is ranked.
    """
    rank = f"({p} * g.{column}_n + 99) / 100 - 1"
    ranked = f"AND s.{column} IS NOT NULL ORDER BY s.{column} LIMIT 1 OFFSET {rank})"
    return (
        f"CASE WHEN g.{column}_n = 0 THEN NULL WHEN g.bare_{column}_n = 0 THEN "
        f"(SELECT s.{column} FROM streams s WHERE s.model = g.model {ranked} ELSE "
        f"(SELECT s.{column} FROM streams s WHERE (coalesce(s.model, s.requested_model) = g.model"
        f" OR (g.model IS NULL AND s.model IS NULL AND s.requested_model IS NULL)) {ranked} END"
    )


def _latency() -> str:
    """PostgreSQL's ``latency_by_model``: the columns of hist02's, counts from the rollup."""
    counts = """
    SELECT model, CAST(sum(streams) AS BIGINT) AS streams,
        CAST(sum(ttft_n) AS BIGINT) AS ttft_ns_n,
        CAST(sum(duration_n) AS BIGINT) AS duration_ns_n,
        CAST(sum(CASE WHEN bare THEN ttft_n ELSE 0 END) AS BIGINT) AS bare_ttft_ns_n,
        CAST(sum(CASE WHEN bare THEN duration_n ELSE 0 END) AS BIGINT) AS bare_duration_ns_n
    FROM (
        SELECT CASE WHEN (nulls & 16) = 0 THEN model
            WHEN (nulls & 8) = 0 THEN requested_model END AS model,
            (nulls & 16) <> 0 AS bare, streams, ttft_n, duration_n
        FROM stream_rollup
        UNION ALL
        SELECT coalesce(model, requested_model), model IS NULL, 1,
            CASE WHEN ttft_ns IS NULL THEN 0 ELSE 1 END,
            CASE WHEN duration_ns IS NULL THEN 0 ELSE 1 END
        FROM streams WHERE status = 'recording'
    ) parts
    GROUP BY model"""
    figures = ",\n    ".join(
        [f"{_pick('ttft_ns', p)} AS ttft_p{p}_ns" for p in (50, 95, 99)]
        + [f"{_pick('duration_ns', p)} AS duration_p{p}_ns" for p in (50, 95)]
    )
    return f"SELECT g.model, g.streams, g.ttft_ns_n AS with_ttft,\n    {figures}\nFROM ({counts}) g"


_LATENCY_FUNCTION = """CREATE FUNCTION streamrec_latency_by_model() RETURNS TABLE (
    model varchar, streams bigint, with_ttft bigint, ttft_p50_ns bigint, ttft_p95_ns bigint,
    ttft_p99_ns bigint, duration_p50_ns bigint, duration_p95_ns bigint
) LANGUAGE sql STABLE SET jit = off AS $$
{select}
$$"""
"""PostgreSQL's view body, in a function only to turn the JIT off: the plan's cost counts the
fallback branches it never runs, which handed it to the JIT (1.7 s of compiling for 0.15 s of
work over 100,000 streams)."""


def _views(dialect: str) -> dict[str, str]:
    parts = _parts()
    return {
        "usage_daily": f"SELECT day{_USAGE}\nFROM ({parts}) parts\n"
        "WHERE day IS NOT NULL GROUP BY day",
        "usage_daily_model": f"SELECT day, model{_USAGE}\nFROM ({parts}) parts\n"
        "WHERE day IS NOT NULL GROUP BY day, model",
        **(
            {"latency_by_model": "SELECT * FROM streamrec_latency_by_model()"}
            if dialect == "postgresql"
            else {}
        ),
    }


_INDEXES = {
    "ix_streams_model_ttft_ns": ["model", "ttft_ns"],
    "ix_streams_model_duration_ns": ["model", "duration_ns"],
    "ix_streams_day_ttft_ns": ["day", "ttft_ns"],
    "ix_streams_day_duration_ns": ["day", "duration_ns"],
    "ix_streams_day_model_ttft_ns": ["day", "model", "ttft_ns"],
    "ix_streams_day_model_duration_ns": ["day", "model", "duration_ns"],
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in _views(dialect):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    with op.batch_alter_table("streams") as batch:
        batch.add_column(sa.Column("day", sa.String(10), nullable=True))
    op.execute(f"UPDATE streams SET day = {_DAY[dialect]} WHERE started_at IS NOT NULL")
    for name, columns in _INDEXES.items():
        # partial: a row enters when its latency is known (at the stream's end), not at its
        # start and again at its end; the picks ask `value IS NOT NULL`, which selects them
        present = sa.text(f"{columns[-1]} IS NOT NULL")
        op.create_index(name, "streams", columns, sqlite_where=present, postgresql_where=present)
    op.create_table(
        "stream_rollup",
        *(sa.Column(k, _KEY_TYPES[k], nullable=False) for k in KEYS),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nulls", sa.Integer, nullable=False),
        *(sa.Column(v, sa.BigInteger, nullable=False) for v in VALUES),
        sa.PrimaryKeyConstraint(*KEYS, "status", "nulls", name="pk_stream_rollup"),
    )
    op.execute(_backfill())
    for statement in _triggers(dialect):
        op.execute(statement)
    if dialect == "postgresql":
        op.execute(_LATENCY_FUNCTION.format(select=_latency()))
    for name, select in _views(dialect).items():
        op.execute(f"CREATE VIEW {name} AS\n{select}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Alembic loads each script on its own (no package): the earlier one by its path
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    spec = spec_from_file_location("hist02_views", Path(__file__).with_name("hist02_views.py"))
    assert spec is not None and spec.loader is not None
    hist02 = module_from_spec(spec)
    spec.loader.exec_module(hist02)
    earlier = hist02._views(dialect)
    for name in reversed(list(earlier)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS streamrec_latency_by_model()")
        op.execute("DROP TRIGGER IF EXISTS streams_rollup ON streams")
        op.execute("DROP FUNCTION IF EXISTS streamrec_rollup()")
    else:
        for suffix in ("insert", "delete", "update_old", "update_new"):
            op.execute(f"DROP TRIGGER IF EXISTS streams_rollup_{suffix}")
    op.drop_table("stream_rollup")
    for name in _INDEXES:
        op.drop_index(name, "streams")
    with op.batch_alter_table("streams") as batch:
        batch.drop_column("day")
    for name, select in earlier.items():
        op.execute(f"CREATE VIEW {name} AS\n{select}")
