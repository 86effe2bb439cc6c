"""Every query in docs/queries.md, run on SQLite and PostgreSQL against tests/history_data.py's
history, with the expected numbers (worked out in that module's docstring)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streamrec import Store

from .history_data import populate

DOC = Path(__file__).parent.parent / "docs" / "queries.md"
QUERIES = dict(re.findall(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", DOC.read_text(), re.S))
MINI, BIG = "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def history(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, dict[str, list[str]]]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('queries')}/q.db"
        store = Store(url)
        ids = populate(store)
        yield store, ids
        store.close()
        return
    from .conftest import pg_schema

    with pg_schema() as url:
        store = Store(url)
        store.grant_reader()
        try:
            yield store, populate(store)
        finally:
            store.close()


def _plain(value: Any) -> Any:
    # PostgreSQL sums integers as numeric: compare numbers as numbers
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _run(store: Store, name: str) -> list[tuple[Any, ...]]:
    _, rows = store.sql(QUERIES[name])
    return [tuple(_plain(v) for v in row) for row in rows]


def test_the_page_has_every_query() -> None:
    assert set(QUERIES) == {
        "spend_per_day",
        "top_models",
        "cache_savings",
        "ttft_p95",
        "unpriced",
        "failures_by_type",
        "top_conversations",
    }


def test_spend_per_day(history: tuple[Store, Any]) -> None:
    assert _run(history[0], "spend_per_day") == [
        ("2026-11-02", 20, 0, 3_900_000),
        ("2026-11-03", 2, 1, 5_500_000),
        ("2026-11-10", 1, 0, 7_250_000),
        ("2026-12-01", 1, 0, None),
    ]


def test_top_models(history: tuple[Store, Any]) -> None:
    assert _run(history[0], "top_models") == [(BIG, 4, 12_750_000), (MINI, 20, 3_900_000)]


def test_cache_savings(history: tuple[Store, Any]) -> None:
    assert _run(history[0], "cache_savings") == [
        (BIG, 5000, 1000, 1_250_000),
        (MINI, 20000, 4000, 300_000),
    ]


def test_ttft_p95_per_model(history: tuple[Store, Any]) -> None:
    assert _run(history[0], "ttft_p95") == [(BIG, 4, 800), (MINI, 20, 190)]


def test_streams_missing_usage_or_price(history: tuple[Store, Any]) -> None:
    store, ids = history
    rows = _run(store, "unpriced")
    assert [(r[0], r[2]) for r in rows] == [
        (ids["gpt-4o"][1], "failed"),
        (ids["gpt-4o"][3], "interrupted"),
    ]
    assert all(r[3] == "usage not reported by the provider" for r in rows)


def test_failures_by_error_type(history: tuple[Store, Any]) -> None:
    assert _run(history[0], "failures_by_type") == [("RateLimitError", 1)]


def test_top_conversations(history: tuple[Store, Any]) -> None:
    store, ids = history
    odd_mini = sorted(ids["gpt-4o-mini"][1::2])[0]  # 210 000 each: the smallest id first
    assert _run(store, "top_conversations") == [
        (ids["gpt-4o"][2], 1, 7_250_000),
        (ids["gpt-4o"][0], 1, 5_500_000),
        (odd_mini, 1, 210_000),
    ]
