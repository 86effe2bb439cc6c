"""The rollup behind ``stats`` at scale: kept exact by triggers, and giving what a full scan gives.

Rows are written straight into ``streams`` (inserts, updates, deletes, in any
order and through any status), as the recorder, ``rebuild``, ``reprice`` and
``prune`` all do; after each batch the rollup must equal the aggregate of the
rows it covers, and every ``stats`` grouping and filter the fast path serves
must equal the full-scan computation, percentiles included.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, update

from streamrec import Store
from streamrec.migrations.versions import hist02_views
from streamrec.store._filters import Filters
from streamrec.store._schema import streams
from streamrec.store._stats import _base, _merge, _percentiles, _row, _scan_totals, ordered
from streamrec.store._summary import day_of

from .history_data import expected_rollup, rollup_rows

T0 = datetime(2026, 11, 28, tzinfo=timezone.utc)
STATUSES = ("completed", "failed", "interrupted", "recording")

_maybe_text = st.sampled_from(["a", "b", "", None])
_ns = st.one_of(st.none(), st.integers(1, 3_000_000_000))
_tokens = st.one_of(st.none(), st.integers(0, 5000))

_row_values = st.fixed_dictionaries(
    {
        "name": _maybe_text,
        "provider": _maybe_text,
        "api": _maybe_text,
        "requested_model": st.sampled_from(["m1", "m2", None]),
        "model": st.sampled_from(["m1", "m2", "m3", None]),
        "status": st.sampled_from(STATUSES),
        "started": st.one_of(st.none(), st.integers(0, 4 * 86400 * 1000)),
        "ttft_ns": _ns,
        "duration_ns": _ns,
        "chunk_count": st.integers(0, 50),
        "input_tokens": _tokens,
        "cached_tokens": _tokens,
        "cache_write_tokens": _tokens,
        "output_tokens": _tokens,
        "reasoning_tokens": _tokens,
        "cost_nanousd": st.one_of(st.none(), st.integers(0, 10**9)),
        "cache_savings_nanousd": st.one_of(st.none(), st.integers(0, 10**6)),
    }
)

# an operation: insert a row, update row i with new values, or delete row i
_op = st.one_of(
    st.tuples(st.just("insert"), _row_values),
    st.tuples(st.just("update"), st.integers(0, 30), _row_values),
    st.tuples(st.just("delete"), st.integers(0, 30)),
)


def _stream_row(sid: str, v: dict[str, Any]) -> dict[str, Any]:
    row = {k: val for k, val in v.items() if k != "started"}
    started = T0 + timedelta(milliseconds=v["started"]) if v["started"] is not None else None
    row.update(
        stream_id=sid,
        tags="[]",
        started_at=started,
        day=day_of(started),
        malformed_chunks=0,
        usage_reported=False,
        tool_call_count=0,
        last_seq=-1,
    )
    return row


def _apply(store: Store, ops: list[Any]) -> None:
    ids: list[str] = []
    with store._write_engine().begin() as conn:
        for n, op in enumerate(ops):
            if op[0] == "insert":
                sid = f"s{n}"
                ids.append(sid)
                conn.execute(insert(streams), [_stream_row(sid, op[1])])
            elif ids:
                sid = ids[op[1] % len(ids)]
                if op[0] == "update":
                    values = _stream_row(sid, op[2])
                    del values["stream_id"]
                    conn.execute(update(streams).where(streams.c.stream_id == sid).values(values))
                else:
                    conn.execute(delete(streams).where(streams.c.stream_id == sid))
                    ids.remove(sid)


def _scan_stats(store: Store, names: list[str], filters: Filters) -> list[dict[str, Any]]:
    """``stats`` by the full scan alone: the definition the rollup must reproduce."""
    dialect = store.engine.dialect.name
    base = _base(names, filters, dialect)
    with store.engine.connect() as conn:
        totals = _merge(_scan_totals(conn, base, len(names)))
        pct = _percentiles(conn, base, [base.c[f"k{i}"] for i in range(len(names))])
    return ordered(names, [_row(names, key, sums, pct) for key, sums in totals.items()])


_HIST02_VIEWS = {
    d: {
        k: v
        for k, v in hist02_views._views(d).items()
        if k in ("usage_daily", "usage_daily_model", "latency_by_model")
    }
    for d in ("sqlite", "postgresql")
}

GROUPINGS = [
    ["model"],
    ["day"],
    ["day", "model"],
    ["status"],
    ["week"],
    ["month"],
    ["provider", "name"],
]
FILTERS = [
    {},
    {"since": "2026-11-29"},
    {"since": "2026-11-29T06:30:00Z", "until": "2026-12-01T12:00:00Z"},
    {"until": "2026-11-30"},
    {"since": "2026-11-29T01:00:00Z", "until": "2026-11-29T05:00:00Z"},  # not one whole day
    {"status": "completed"},
    {"model": "m1", "since": "2026-11-30"},
    {"name": "a", "api": "b"},
]


@pytest.fixture
def rollup_store(url: str) -> Any:
    store = Store(url)
    yield store
    store.close()


def _plain(**values: Any) -> dict[str, Any]:
    """A row of ``_row_values``' shape: completed, every optional value absent but ``values``."""
    row: dict[str, Any] = dict.fromkeys(
        ["name", "provider", "api", "requested_model", "model", "started", "ttft_ns"]
        + ["duration_ns", "cost_nanousd", "cache_savings_nanousd"]
        + [f"{kind}_tokens" for kind in ("input", "cached", "cache_write", "output", "reasoning")]
    )
    row.update(status="completed", chunk_count=0)
    row.update(values)
    return row


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(_op, min_size=1, max_size=40),
    checks=st.lists(
        st.tuples(st.sampled_from(GROUPINGS), st.sampled_from(FILTERS)), min_size=4, max_size=4
    ),
)
# found by this property: a row inserted after a delete took the deleted row's id
@example(
    ops=[
        ("insert", _plain(name="a", provider="a", api="a", requested_model="m1", model="m1")),
        ("delete", 0),
        ("insert", _plain(name="a", provider="a", api="a", requested_model="m1", model="m1")),
    ],
    checks=[(["model"], {})] * 4,
)
def test_rollup_and_stats_equal_the_full_scan(
    rollup_store: Store, ops: list[Any], checks: list[Any]
) -> None:
    store = rollup_store
    with store._write_engine().begin() as conn:
        conn.execute(delete(streams))
    assert rollup_rows(store) == set()  # the delete trigger emptied it
    _apply(store, ops)
    assert rollup_rows(store) == expected_rollup(store)
    for names, f in checks:
        filters = Filters.of(**f)
        assert store.stats(names, filters=filters) == _scan_stats(store, names, filters), (names, f)
    # the views over the rollup answer what hist02's views over every row answered
    with store.engine.connect() as conn:
        for view, select in _HIST02_VIEWS[conn.dialect.name].items():
            got = sorted(map(tuple, conn.exec_driver_sql(f"SELECT * FROM {view}")), key=repr)
            want = sorted(map(tuple, conn.exec_driver_sql(select)), key=repr)
            assert got == want, view


def test_empty_string_and_null_stay_apart(rollup_store: Store) -> None:
    timed = {"started": 0, "ttft_ns": 5, "duration_ns": 9, "chunk_count": 2}
    same = {"provider": "p", "api": "x", "requested_model": "m1", "model": "m1"}
    ops = [("insert", _plain(**timed, **same, name=name)) for name in ("", None)]
    _apply(rollup_store, ops)
    rows = rollup_store.stats("name")
    assert [(r["name"], r["streams"]) for r in rows] == [(None, 1), ("", 1)]


def test_pages_sorted_by_any_column_never_overlap(rollup_store: Store) -> None:
    counts = [5, 3, 5, 1, 9, 3]
    _apply(rollup_store, [("insert", _plain(chunk_count=n)) for n in counts])
    # ascending chunks, ties by id ascending: s3(1) s1(3) s5(3) s0(5) s2(5) s4(9)
    pages = [
        [
            r["stream_id"]
            for r in rollup_store.streams(sort="chunks", descending=False, limit=2, offset=o)
        ]
        for o in (0, 2, 4)
    ]
    assert pages == [["s3", "s1"], ["s5", "s0"], ["s2", "s4"]]
    newest = [r["stream_id"] for r in rollup_store.streams(limit=2, offset=1)]
    assert newest == ["s4", "s3"]
    with pytest.raises(ValueError, match="sort must be one of"):
        rollup_store.streams(sort="payload")


def test_choices_come_from_the_rollup_and_the_streams_still_recording(rollup_store: Store) -> None:
    _apply(
        rollup_store,
        [
            ("insert", _plain(provider="openai", api="openai.responses", model="gpt-x")),
            ("insert", _plain(provider="", api=None, model="m2", status="failed")),
            ("insert", _plain(provider="google", model="gem", status="recording")),
        ],
    )
    assert rollup_store.choices() == {
        "provider": ["google", "openai"],
        "api": ["openai.responses"],
        "model": ["gem", "gpt-x", "m2"],
    }
