"""``stats`` at scale: sums from ``stream_rollup``, percentiles read at their rank from an index.

The rollup (kept by triggers, migration hist04) holds exact per-day sums of
every stream that is not ``recording``; the streams still recording, and the
part of a ``--since``/``--until`` window that does not cover a whole UTC day,
are summed live from ``streams``. The two parts never overlap, so adding them
gives the same integers a full scan gives. A nearest-rank percentile is the
value at rank ``ceil(p*n/100)``: with ``n`` known from the sums and an index on
(group columns, value), it is one ``ORDER BY value LIMIT 1 OFFSET rank`` that
walks the index, not a sort of every value. Anything else (tags, metadata,
conversations, other groupings for percentiles) takes the full scan in
``_stats``; both paths are one definition of each figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, cast, func, or_, select

from ._filters import Filters
from ._schema import ROLLUP_KEYS, ROLLUP_VALUES, stream_rollup, streams

__all__ = ["PERCENTILE_GROUPINGS", "Plan", "choices", "pick", "plan", "rollup_totals"]

_ROLLED = frozenset({"day", "week", "month", "model", "provider", "api", "name", "status"})
PERCENTILE_GROUPINGS = (frozenset({"model"}), frozenset({"day"}), frozenset({"day", "model"}))
"""Groupings whose percentiles are read from an index (hist04's (…, ttft_ns/duration_ns))."""


@dataclass(frozen=True)
class Plan:
    """Whole UTC days [lo, hi) the rollup answers; the rest of the window is summed live."""

    lo: datetime | None
    hi: datetime | None

    def covers(self, day: str | None) -> bool:
        """Whether every stream of ``day`` is inside the window (so no time condition applies)."""
        if day is None:
            return self.lo is None and self.hi is None
        return (self.lo is None or day >= _label(self.lo)) and (
            self.hi is None or day < _label(self.hi)
        )

    def live(self) -> ColumnElement[bool]:
        """Streams the rollup does not hold, or holds for days outside the covered ones."""
        c = streams.c
        parts: list[ColumnElement[bool]] = [c.status == "recording"]
        if self.lo is not None:
            parts.append(c.started_at < self.lo)
        if self.hi is not None:
            parts.append(c.started_at >= self.hi)
        return or_(*parts)


def _label(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def _midnight(when: datetime, up: bool) -> datetime:
    when = when.astimezone(timezone.utc)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1) if up and day != when else day


def plan(names: Sequence[str], filters: Filters) -> Plan | None:
    """How the rollup can answer ``names`` under ``filters``; None when it cannot."""
    if not set(names) <= _ROLLED:
        return None
    if filters.tag or filters.meta or filters.fingerprint or filters.conversation:
        return None
    lo = _midnight(filters.since, up=True) if filters.since is not None else None
    hi = _midnight(filters.until, up=False) if filters.until is not None else None
    if lo is not None and hi is not None and lo >= hi:
        return None  # not one whole day in the window: the live scan is all there is
    return Plan(lo, hi)


def _key(name: str) -> ColumnElement[Any]:
    return case(
        (stream_rollup.c.nulls.op("&")(1 << ROLLUP_KEYS.index(name)) == 0, stream_rollup.c[name])
    )


def _dimension(name: str, dialect: str) -> ColumnElement[Any]:
    r = stream_rollup.c
    if name == "status":
        return r.status
    day = _key("day")
    if name == "week":
        if dialect == "postgresql":
            return func.to_char(func.date_trunc("week", cast(day, Date)), "YYYY-MM-DD")
        return func.date(day, "weekday 0", "-6 days")
    if name == "month":
        return func.substr(day, 1, 7)
    return _key(name)


def rollup_totals(
    conn: Any, names: Sequence[str], filters: Filters, p: Plan, dialect: str
) -> list[tuple[tuple[Any, ...], dict[str, int]]]:
    """Per group: the partial sums (``_stats`` vocabulary) of the streams the rollup holds."""
    r = stream_rollup.c
    keys = [_dimension(n, dialect).label(f"k{i}") for i, n in enumerate(names)]
    by_status = {
        s: func.sum(case((r.status == s, r.streams), else_=0)).label(s)
        for s in ("completed", "failed", "interrupted")
    }
    query = select(*keys, *by_status.values(), *(func.sum(r[v]).label(v) for v in ROLLUP_VALUES))
    conditions: list[ColumnElement[bool]] = []
    if p.lo is not None or p.hi is not None:
        conditions.append(r.nulls.op("&")(1) == 0)
    if p.lo is not None:
        conditions.append(r.day >= _label(p.lo))
    if p.hi is not None:
        conditions.append(r.day < _label(p.hi))
    if filters.status:
        conditions.append(r.status.in_(filters.status))
    # a filter value is never '' (Filters drops empty ones), so '' (absent) never matches
    if filters.model:
        conditions.append(or_(r.model == filters.model, r.requested_model == filters.model))
    for column in ("api", "provider", "name"):
        value = getattr(filters, column)
        if value:
            conditions.append(r[column] == value)
    if conditions:
        query = query.where(and_(*conditions))
    if keys:
        query = query.group_by(*keys)
    out = []
    width = len(names)
    for row in conn.execute(query):
        m = row._mapping
        sums = {v: int(m[v] or 0) for v in ROLLUP_VALUES}
        sums["completed"] = int(m["completed"] or 0)
        sums["failures"] = int(m["failed"] or 0)
        sums["interrupted"] = int(m["interrupted"] or 0)
        sums["recording"] = 0
        out.append((tuple(row[:width]), sums))
    return out


def pick(
    conn: Any,
    names: Sequence[str],
    filters: Filters,
    p: Plan | None,
    counts: dict[tuple[Any, ...], dict[str, int]],
    ranks: dict[str, tuple[int, ...]],
) -> dict[tuple[Any, ...], dict[str, Any]] | None:
    """Nearest-rank percentiles per group from the (group, value) indexes; None if none fits.

    Applies to the groupings in ``PERCENTILE_GROUPINGS`` with no filter but
    the time window, which a whole covered day drops, so the walk reads the
    index alone. Each figure walks at most its group's entries: on SQLite one
    statement each on the driver's cursor (a few thousand for ``day,model``
    over a quarter, cheap in process), on PostgreSQL one statement per column.
    """
    if frozenset(names) not in PERCENTILE_GROUPINGS or p is None:
        return None
    if filters.status or filters.model or filters.api or filters.provider or filters.name:
        return None
    if "day" not in names and (filters.since is not None or filters.until is not None):
        return None  # a window would be checked row by row along the walk: scan instead
    dialect = conn.dialect.name
    mark = "?" if dialect == "sqlite" else "%s"
    out: dict[tuple[Any, ...], dict[str, Any]] = {key: {} for key in counts}
    # one statement per figure: (key, figure, column, conditions, their values, offset)
    single: list[tuple[tuple[Any, ...], str, str, list[str], list[Any], int]] = []
    # PostgreSQL: figures of groups with every key present, one statement per column
    batched: dict[str, list[tuple[tuple[Any, ...], str, int]]] = {}
    for key, sums in counts.items():
        where: list[str] = []
        params: list[Any] = []
        for name, value in zip(names, key, strict=True):
            if value is None:
                where.append(f"{name} IS NULL")
            else:
                where.append(f"{name} = {mark}")
                params.append(value)
        day = key[list(names).index("day")] if "day" in names else None
        if not ("day" in names and p.covers(day)):
            if filters.since is not None:
                where.append(f"started_at >= {mark}")
                params.append(_bound(filters.since, conn.dialect))
            if filters.until is not None:
                where.append(f"started_at < {mark}")
                params.append(_bound(filters.until, conn.dialect))
        together = dialect == "postgresql" and len(params) == len(names)
        for column, wanted in ranks.items():
            n = sums["ttft_n" if column == "ttft_ns" else "duration_n"]
            for q in wanted:
                figure = f"{column}_p{q}"
                out[key][figure] = None
                if not n:
                    continue
                offset = (q * n + 99) // 100 - 1
                if together:
                    batched.setdefault(column, []).append((key, figure, offset))
                else:
                    single.append((key, figure, column, where, params, offset))
    cursor = conn.connection.cursor()
    try:
        for key, figure, column, where, params, offset in single:
            conditions = " AND ".join([*where, f"{column} IS NOT NULL"])
            cursor.execute(
                f"SELECT {column} FROM streams WHERE {conditions}"
                f" ORDER BY {column} LIMIT 1 OFFSET {mark}",
                (*params, offset),
            )
            found = cursor.fetchone()
            out[key][figure] = found[0] if found else None
        for column, jobs in batched.items():
            # the round trips, not the index walks, were the cost: a few thousand figures
            # go as one statement whose correlated OFFSET PostgreSQL takes from the row
            keys = [f"k{i}" for i in range(len(names))]
            match = " AND ".join(f"s.{name} = g.{k}" for name, k in zip(names, keys, strict=True))
            row = f"({', '.join(['%s'] * (len(names) + 2))})"
            cursor.execute(
                f"SELECT g.i, (SELECT s.{column} FROM streams s WHERE {match}"
                f" AND s.{column} IS NOT NULL ORDER BY s.{column}"
                f" LIMIT 1 OFFSET CAST(g.o AS bigint))"
                f" FROM (VALUES {', '.join([row] * len(jobs))}) AS g(i, {', '.join(keys)}, o)",
                [v for i, (key, _, offset) in enumerate(jobs) for v in (i, *key, offset)],
            )
            for i, value in cursor.fetchall():
                key, figure, _ = jobs[i]
                out[key][figure] = value
    finally:
        cursor.close()
    return out


def _bound(when: datetime, dialect: Any) -> Any:
    """A time bound as the driver takes it for ``started_at``: the column type's own
    conversion (SQLite stores SQLAlchemy's text form, so it compares as text)."""
    process = streams.c.started_at.type.bind_processor(dialect)
    when = when.astimezone(timezone.utc)
    return process(when) if process is not None else when


def choices(conn: Any) -> dict[str, list[str]]:
    """Distinct providers, apis and models: the rollup's keys and the streams still recording."""
    c = streams.c
    out: dict[str, set[str]] = {"provider": set(), "api": set(), "model": set()}
    for key in out:
        rolled = select(_key(key)).distinct()
        live = select(c[key]).where(c.status == "recording").distinct()
        for (value,) in conn.execute(rolled.union(live)):
            if value:
                out[key].add(value)
    return {key: sorted(values) for key, values in out.items()}
