"""Token, cost and latency history from the read model, grouped by any mix of dimensions.

Every figure is computed the same way on SQLite and PostgreSQL: sums and
counts in SQL, money as integer nano-dollars (``Decimal`` USD beside them,
never a float sum), and percentiles by the nearest-rank method (the value at
rank ``ceil(p/100 * n)`` of the group's values in ascending order), ranked in
Python over the values either engine returns, so both give the same recorded
value, never an interpolation one engine does and the other does not. The
``latency_by_model`` view computes the same ranks in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    FromClause,
    Select,
    and_,
    case,
    cast,
    func,
    select,
    true,
    type_coerce,
)

from ..errors import FilterError
from ._filters import Filters, meta_value
from ._rollup import pick, plan, rollup_totals
from ._schema import ROLLUP_VALUES, streams

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["DIMENSIONS", "GROUPS", "STAT_FIELDS", "ordered", "parse_by", "stats"]

DIMENSIONS = (
    "day",
    "week",
    "month",
    "model",
    "provider",
    "api",
    "name",
    "tag",
    "status",
    "conversation",
)
"""Built-in ``by`` dimensions; any other name (or ``meta.KEY``) is a metadata key."""
GROUPS = DIMENSIONS  # the name earlier releases exported

STAT_FIELDS = (
    "streams",
    "completed",
    "failures",
    "interrupted",
    "recording",
    "failure_rate",
    "chunks",
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "cost_nanousd",
    "priced",
    "unpriced",
    "cache_hit_ratio",
    "cache_savings",
    "cache_savings_nanousd",
    "ttft_ms_p50",
    "ttft_ms_p95",
    "ttft_ms_p99",
    "mean_ttft_ms",
    "duration_ms_p50",
    "duration_ms_p95",
    "output_tokens_per_s",
    "ms_per_output_chunk",
)
"""The figures of every ``stats`` row, in order (after the group keys)."""

_NANO = Decimal(1_000_000_000)
_TOKENS = (
    "input_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
_PERCENTILES: dict[str, tuple[int, ...]] = {"ttft_ns": (50, 95, 99), "duration_ns": (50, 95)}


def parse_by(by: str | Sequence[str]) -> list[str]:
    """Dimension names from ``"day,model"`` or a sequence; ``meta.KEY`` names a metadata key."""
    names = [p.strip() for p in by.split(",")] if isinstance(by, str) else [str(b) for b in by]
    names = [n for n in names if n]
    if not names:
        raise FilterError(
            f"stats needs at least one grouping ({', '.join(DIMENSIONS)}, or a metadata key)"
        )
    if len(set(names)) != len(names):
        raise FilterError(f"grouping {','.join(names)!r} names a dimension twice")
    for n in names:
        key = n[5:] if n.startswith("meta.") else n
        if not key:
            raise FilterError(f"grouping {n!r} names no metadata key")
    return names


def stats(
    store: Store,
    by: str | Sequence[str] = "model",
    *,
    filters: Filters | None = None,
    since: Any = None,
    until: Any = None,
    **filter_args: Any,
) -> list[dict[str, Any]]:
    """One row per group, ordered by the group keys (absent values first).

    ``by``: one dimension or several (``"day,model"`` or ``["day", "model"]``)
    from ``DIMENSIONS`` (``day``/``week``/``month`` are UTC calendar periods of
    ``started_at``, labelled ``2026-12-01``, ``2026-11-30`` (the ISO week's
    Monday) and ``2026-12``; ``tag`` counts a stream once under each of its
    tags; ``conversation`` is the id of a thread's first stream), else a metadata key (``user`` or ``meta.user``). Streams are chosen
    by ``filters`` or by the ``Filters.of`` keywords (``since``, ``until``,
    ``status``, ``model``, ``api``, ``provider``, ``name``, ``tag``, ``meta``).

    Each row holds every dimension under its own name, ``group`` (the key
    itself for one dimension, the list of keys for several), then
    ``STAT_FIELDS``:

    - ``streams``; ``completed``, ``failures`` (status failed), ``interrupted``,
      ``recording``; ``failure_rate`` = failures / streams.
    - ``chunks`` and token sums by kind (``input_tokens`` includes cache reads
      and writes, ``output_tokens`` includes reasoning); None when no stream
      in the group reported that kind.
    - ``cost`` (``Decimal`` USD) and ``cost_nanousd`` (int), summed over the
      ``priced`` streams; ``unpriced`` have no cost (no usage, or no price).
    - ``cache_hit_ratio`` = cached / input tokens over streams reporting input;
      ``cache_savings`` (``Decimal``) and ``cache_savings_nanousd``: what cache
      reads saved against full input price.
    - ``ttft_ms_p50/p95/p99`` (time to first chunk), ``duration_ms_p50/p95``:
      nearest-rank percentiles in milliseconds; ``mean_ttft_ms``.
    - ``output_tokens_per_s`` = output tokens / time from first chunk to end,
      summed over streams that have both; ``ms_per_output_chunk`` = that time /
      the chunks after the first.
    """
    names = parse_by(by)
    if filters is None:
        filters = Filters.of(since=since, until=until, **filter_args)
    elif since is not None or until is not None or filter_args:
        raise TypeError("pass either filters= or filter keywords, not both")
    dialect = store.engine.dialect.name
    fast = plan(names, filters)
    base = _base(names, filters, dialect)
    with store._errors("compute stats"), store.engine.connect() as conn:
        if fast is None:
            totals = _merge(_scan_totals(conn, base, len(names)))
        else:
            # the rollup's whole days, plus what it does not hold, summed live
            live = _base(names, filters, dialect, fast.live())
            totals = _merge(
                rollup_totals(conn, names, filters, fast, dialect),
                _scan_totals(conn, live, len(names)),
            )
        pct = pick(conn, names, filters, fast, totals, _PERCENTILES)
        if pct is None:
            pct = _percentiles(conn, base, [base.c[f"k{i}"] for i in range(len(names))])
    return ordered(names, [_row(names, key, sums, pct) for key, sums in totals.items()])


def ordered(names: Sequence[str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``stats`` rows in the order of their group keys, absent values first."""
    return sorted(
        rows,
        key=lambda r: tuple((r[n] is not None, r[n] if r[n] is not None else "") for n in names),
    )


def _dimension(name: str, dialect: str, tag: ColumnElement[Any] | None) -> ColumnElement[Any]:
    c = streams.c
    if name in ("day", "week", "month"):
        if dialect == "postgresql":
            utc = func.timezone("UTC", c.started_at)
            if name == "week":
                return func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD")
            return func.to_char(utc, "YYYY-MM-DD" if name == "day" else "YYYY-MM")
        # SQLite holds UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text
        if name == "week":
            # the Sunday ending the ISO week, back to its Monday
            return func.date(c.started_at, "weekday 0", "-6 days")
        return func.substr(c.started_at, 1, 10 if name == "day" else 7)
    if name == "tag":
        assert tag is not None
        return tag
    if name in ("model", "provider", "api", "name", "status"):
        return c[name]
    if name == "conversation":
        return func.coalesce(c.conversation_id, c.stream_id)
    return meta_value(dialect, name[5:] if name.startswith("meta.") else name)


def _base(
    names: list[str],
    filters: Filters,
    dialect: str,
    also: ColumnElement[bool] | None = None,
) -> FromClause:
    """One row per stream (per stream and tag when grouping by tag) with its group keys."""
    source: FromClause = streams
    tag: ColumnElement[Any] | None = None
    if "tag" in names:
        if dialect == "postgresql":
            elements = func.json_array_elements_text(cast(streams.c.tags, JSON)).table_valued(
                "value"
            )
        else:
            elements = func.json_each(type_coerce(streams.c.tags, JSON)).table_valued("value")
        each = elements.alias("t")
        source = streams.outerjoin(each, true())
        tag = each.c.value
    columns = [_dimension(n, dialect, tag).label(f"k{i}") for i, n in enumerate(names)]
    c = streams.c
    query = select(
        *columns,
        c.status,
        c.chunk_count,
        *(c[t] for t in _TOKENS),
        c.cost_nanousd,
        c.cache_savings_nanousd,
        c.ttft_ns,
        c.duration_ns,
    ).select_from(source)
    conditions = filters.conditions(dialect)
    if also is not None:
        conditions.append(also)
    if conditions:
        query = query.where(and_(*conditions))
    return query.subquery("base")


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _known(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.sum(case((value.is_not(None), 1), else_=0))


def _totals(base: FromClause, keys: Sequence[ColumnElement[Any]]) -> Select[Any]:
    """Per group, the partial sums the rollup also holds (see ``ROLLUP_VALUES``), from rows."""
    b = base.c
    generating = and_(b.ttft_ns.is_not(None), b.duration_ns.is_not(None), b.duration_ns > b.ttft_ns)
    gen_tokens = and_(generating, b.output_tokens.is_not(None))
    gen_chunks = and_(generating, b.chunk_count > 1)
    return select(
        *keys,
        func.count().label("streams"),
        _count_if(b.status == "completed").label("completed"),
        _count_if(b.status == "failed").label("failures"),
        _count_if(b.status == "interrupted").label("interrupted"),
        _count_if(b.status == "recording").label("recording"),
        func.sum(b.chunk_count).label("chunks"),
        *(func.sum(b[t]).label(t) for t in _TOKENS),
        *(_known(b[t]).label(f"{t}_n") for t in _TOKENS),
        func.sum(case((b.input_tokens.is_not(None), func.coalesce(b.cached_tokens, 0)))).label(
            "cached_known"
        ),
        func.sum(b.cost_nanousd).label("cost_nanousd"),
        func.count(b.cost_nanousd).label("priced"),
        func.sum(b.cache_savings_nanousd).label("cache_savings_nanousd"),
        func.count(b.cache_savings_nanousd).label("cache_savings_n"),
        func.sum(b.ttft_ns).label("ttft_sum"),
        func.count(b.ttft_ns).label("ttft_n"),
        func.count(b.duration_ns).label("duration_n"),
        func.sum(case((gen_tokens, b.duration_ns - b.ttft_ns))).label("gen_ns_tokens"),
        func.sum(case((gen_tokens, b.output_tokens))).label("gen_tokens"),
        _count_if(gen_tokens).label("gen_tokens_n"),
        func.sum(case((gen_chunks, b.duration_ns - b.ttft_ns))).label("gen_ns_chunks"),
        func.sum(case((gen_chunks, b.chunk_count - 1))).label("gen_chunks"),
        _count_if(gen_chunks).label("gen_chunks_n"),
    ).group_by(*keys)


_SUMS = (*ROLLUP_VALUES, "completed", "failures", "interrupted", "recording")


def _scan_totals(
    conn: Any, base: FromClause, width: int
) -> list[tuple[tuple[Any, ...], dict[str, int]]]:
    keys = [base.c[f"k{i}"] for i in range(width)]
    out = []
    for row in conn.execute(_totals(base, keys)):
        m = row._mapping
        out.append((tuple(row[:width]), {v: int(m[v] or 0) for v in _SUMS}))
    return out


def _merge(
    *parts: list[tuple[tuple[Any, ...], dict[str, int]]],
) -> dict[tuple[Any, ...], dict[str, int]]:
    merged: dict[tuple[Any, ...], dict[str, int]] = {}
    for part in parts:
        for key, sums in part:
            found = merged.get(key)
            if found is None:
                merged[key] = dict(sums)
            else:
                for v, n in sums.items():
                    found[v] += n
    return merged


def _percentiles(
    conn: Any, base: FromClause, keys: Sequence[ColumnElement[Any]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Nearest-rank percentiles per group: the value at rank ceil(p·n/100) of the sorted values.

    One pass over the group keys and both latencies, ranked here rather than
    with window functions: one sort per group instead of two full window
    sorts in SQL, and the same code whatever the engine.
    """
    b = base.c
    values: dict[tuple[Any, ...], tuple[list[int], list[int]]] = {}
    nkeys = len(keys)
    for row in conn.execute(select(*keys, b.ttft_ns, b.duration_ns)):
        key = tuple(row[:nkeys])
        found = values.get(key)
        if found is None:
            found = values[key] = ([], [])
        ttft, duration = row[nkeys], row[nkeys + 1]
        if ttft is not None:
            found[0].append(ttft)
        if duration is not None:
            found[1].append(duration)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, lists in values.items():
        figures: dict[str, Any] = {}
        for (column, ranks), sample in zip(_PERCENTILES.items(), lists, strict=True):
            sample.sort()
            n = len(sample)
            for p in ranks:
                # integer arithmetic: ceil(p*n/100) == (p*n + 99) // 100
                figures[f"{column}_p{p}"] = sample[(p * n + 99) // 100 - 1] if n else None
        out[key] = figures
    return out


def _ms(ns: Any) -> float | None:
    return round(float(ns) / 1e6, 3) if ns is not None else None


def _row(
    names: list[str],
    key: tuple[Any, ...],
    m: dict[str, int],
    pct: dict[tuple[Any, ...], dict[str, Any]],
) -> dict[str, Any]:
    item: dict[str, Any] = dict(zip(names, key, strict=True))
    item["group"] = key[0] if len(key) == 1 else list(key)

    def known(value: str, count: str) -> int | None:
        return m[value] if m[count] else None

    n = m["streams"]
    failures = m["failures"]
    priced = m["priced"]
    cost = known("cost_nanousd", "priced")
    savings = known("cache_savings_nanousd", "cache_savings_n")
    input_known = known("input_tokens", "input_tokens_n")
    cached_known = m["cached_known"] if m["input_tokens_n"] else None
    p = pct.get(key, {})
    gen_ns_tokens, gen_tokens = m["gen_ns_tokens"], known("gen_tokens", "gen_tokens_n")
    gen_ns_chunks, gen_chunks = m["gen_ns_chunks"], m["gen_chunks"]
    ttft_n = m["ttft_n"]
    item.update(
        streams=n,
        completed=m["completed"],
        failures=failures,
        interrupted=m["interrupted"],
        recording=m["recording"],
        failure_rate=round(failures / n, 6) if n else None,
        chunks=m["chunks"],
        **{t: known(t, f"{t}_n") for t in _TOKENS},
        cost=Decimal(cost) / _NANO if cost is not None else None,
        cost_nanousd=cost,
        priced=priced,
        unpriced=n - priced,
        cache_hit_ratio=round(cached_known / input_known, 6)
        if input_known and cached_known is not None
        else None,
        cache_savings=Decimal(savings) / _NANO if savings is not None else None,
        cache_savings_nanousd=savings,
        ttft_ms_p50=_ms(p.get("ttft_ns_p50")),
        ttft_ms_p95=_ms(p.get("ttft_ns_p95")),
        ttft_ms_p99=_ms(p.get("ttft_ns_p99")),
        mean_ttft_ms=_ms(m["ttft_sum"] / ttft_n) if ttft_n else None,
        duration_ms_p50=_ms(p.get("duration_ns_p50")),
        duration_ms_p95=_ms(p.get("duration_ns_p95")),
        output_tokens_per_s=round(gen_tokens * 1e9 / gen_ns_tokens, 3)
        if gen_ns_tokens and gen_tokens is not None
        else None,
        ms_per_output_chunk=round(gen_ns_chunks / 1e6 / gen_chunks, 3)
        if gen_ns_chunks and gen_chunks
        else None,
    )
    return item
