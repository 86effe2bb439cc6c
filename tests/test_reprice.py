"""`streamrec reprice`: costs recomputed from stored usage, with genai-prices or a price file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamrec import Store
from streamrec.cli import main
from streamrec.errors import StoreError
from streamrec.store import Filters

from .history_data import write_stream

UTC = timezone.utc
WHEN = datetime(2026, 11, 2, 10, tzinfo=UTC)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.close()


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "prices": [
                    # no longer in force when the stream started: skipped
                    {
                        "model": "acme-*",
                        "input_mtok": "9",
                        "output_mtok": "9",
                        "until": "2026-10-31",
                    },
                    {
                        "model": "acme-*",
                        "provider": "openai",
                        "input_mtok": "1.00",
                        "cached_mtok": "0.50",
                        "output_mtok": "4.00",
                        "from": "2026-11-01",
                    },
                ]
            }
        )
    )
    return path


def test_genai_prices_restores_a_stale_figure(store: Store) -> None:
    sid = write_stream(store, started_at=WHEN, model="gpt-4o-mini-2024-07-18", ttft_ms=5)
    right = store.stream(sid)["cost_nanousd"]
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE streams SET cost_nanousd = 1, prices_version = 'old' WHERE stream_id = '{sid}'"
        )
    [change] = store.reprice(dry_run=True)
    assert change["before"]["cost_nanousd"] == 1 and change["after"]["cost_nanousd"] == right
    assert store.stream(sid)["cost_nanousd"] == 1  # a dry run changes nothing
    assert len(store.reprice()) == 1
    row = store.stream(sid)
    assert row["cost_nanousd"] == right and row["prices_version"] not in (None, "old")
    assert store.reprice() == [] and store.verify() == []


def test_a_price_file_prices_private_models_exactly(store: Store, prices: Path) -> None:
    own = write_stream(
        store, started_at=WHEN, model="acme-ft-7b", ttft_ms=5, usage=(1000, 100, 400)
    )
    public = write_stream(store, started_at=WHEN, model="gpt-4o-mini-2024-07-18", ttft_ms=5)
    assert store.stream(own)["cost_nanousd"] is None  # genai-prices does not know it
    changes = store.reprice(prices=prices)
    assert [c["stream_id"] for c in changes] == [own]
    row = store.stream(own)
    # 600 plain at $1, 400 cached at $0.50, 100 out at $4 per million tokens
    assert row["cost_nanousd"] == 600_000 + 200_000 + 400_000
    assert row["cache_savings_nanousd"] == 400 * 500
    assert row["cost_reason"] is None and row["prices_version"].startswith("override:")
    assert store.stream(public)["prices_version"] != row["prices_version"]
    assert store.verify() == []  # an overridden cost is not the events' to redo
    [total] = store.stats("provider")
    assert total["cost_nanousd"] == 1_200_000 + store.stream(public)["cost_nanousd"]
    assert store.reprice(prices=prices) == []
    assert store.reprice(prices=prices, filters=Filters.of(since="2026-11-03")) == []


def test_bad_price_files_are_refused(store: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for content, message in (
        ("{", "not JSON"),
        ('{"prices": []}', 'no "prices" list'),
        ('{"prices": [{"model": "x", "output_mtok": 1}]}', 'needs "input_mtok"'),
        ('{"prices": [{"model": "x", "input_mtok": "a", "output_mtok": 1}]}', "not a number"),
        ('{"prices": [{"model": "x", "input_mtok": 1, "output_mtok": 1, "colour": 1}]}', "unknown"),
    ):
        bad.write_text(content)
        with pytest.raises(StoreError, match=message):
            store.reprice(prices=bad)


def test_cli_reprice(store: Store, prices: Path) -> None:
    own = write_stream(store, started_at=WHEN, model="acme-ft-7b", ttft_ms=5, usage=(1000, 100, 0))
    result = CliRunner().invoke(
        main, ["--db", store.url, "reprice", "--prices", str(prices), "--dry-run", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True
    assert [(c["stream_id"], c["after"]["cost_nanousd"]) for c in data["changed"]] == [
        (own, 1_400_000)
    ]
    result = CliRunner().invoke(main, ["--db", store.url, "reprice", "--prices", str(prices)])
    assert result.exit_code == 0, result.output
    assert own in result.stdout and "$0.001400" in result.stdout and "override:" in result.stdout
    assert "changed 1 stream(s)" in result.stderr
    result = CliRunner().invoke(main, ["--db", store.url, "reprice", "--since", "nope"])
    assert result.exit_code == 2
