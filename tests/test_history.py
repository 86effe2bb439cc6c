"""History: time filters, `stats` groupings and figures, `ls` filters, on SQLite and PostgreSQL.

The data is tests/history_data.py's hand-computable history; every number
asserted here is worked out in that module's docstring.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner, Result
from hypothesis import example, given
from hypothesis import strategies as st

from streamrec import Store
from streamrec.cli import main
from streamrec.errors import FilterError
from streamrec.store import STAT_FIELDS, Filters, parse_time, stats

UTC = timezone.utc
MINI, BIG = "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# -- time filters ------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-03", datetime(2026, 11, 3, tzinfo=UTC)),
        ("2026-11-03T09:30", datetime(2026, 11, 3, 9, 30, tzinfo=UTC)),
        ("2026-11-03 09:30:15", datetime(2026, 11, 3, 9, 30, 15, tzinfo=UTC)),
        ("2026-11-03T09:30:00Z", datetime(2026, 11, 3, 9, 30, tzinfo=UTC)),
        ("2026-11-03T09:30:00.250+01:00", datetime(2026, 11, 3, 8, 30, 0, 250000, tzinfo=UTC)),
        ("2026-11-03T09:30-0500", datetime(2026, 11, 3, 14, 30, tzinfo=UTC)),
        ("2026-11-03T09:30+02", datetime(2026, 11, 3, 7, 30, tzinfo=UTC)),
        ("90m", NOW - timedelta(minutes=90)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
    ],
)
def test_accepted_time_forms(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


def test_until_a_date_means_the_end_of_that_day() -> None:
    assert parse_time("2026-11-30", end=True) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time("2026-11-30T10:00", end=True) == datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["garbage", "2026-13-45", "12/01/2026", "", "7", "7 days", "-7d", "2026-11-31", "1y"]
)
def test_anything_else_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(FilterError, match=r"ISO 8601 .* 7d"):
        parse_time(text)


_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1900, 1, 1), timezones=_OFFSETS))
@example(datetime(2012, 3, 11, 2, 0, tzinfo=timezone(timedelta(hours=-5))))
def test_any_isoformat_time_parses_to_the_same_instant(when: datetime) -> None:
    assert parse_time(when.isoformat()) == when


@pytest.mark.parametrize(
    ("since", "until", "count"),
    [
        ("2026-11-03", None, 4),
        ("2026-11-03T00:00:00Z", None, 4),
        ("2026-11-03T09:00:00+00:00", None, 4),  # inclusive
        ("2026-11-03T10:00:00+01:00", None, 4),  # that is 09:00Z: the 09:00 stream is in
        ("2026-11-03T09:00:00.000001Z", None, 3),
        (None, "2026-11-02", 20),
        (None, "2026-11-02T10:10", 10),
        ("2026-11-02T10:05", "2026-11-02T10:15", 10),
        ("2026-11-03", "2026-11-03", 2),
        ("2026-12-02", None, 0),
    ],
)
def test_time_filters_compare_real_timestamps(
    history: Store, since: str | None, until: str | None, count: int
) -> None:
    assert len(history.streams(since=since, until=until)) == count
    assert sum(r["streams"] for r in history.stats("status", since=since, until=until)) == count


def test_relative_span_counts_back_from_now(history: Store) -> None:
    days = (datetime.now(UTC) - datetime(2026, 11, 10, 11, tzinfo=UTC)).days + 1
    assert len(history.streams(since=f"{days}d")) == 2  # 2026-11-10 12:00 and 2026-12-01


# -- stats -------------------------------------------------------------------------------


def test_stats_by_model_every_figure(history: Store) -> None:
    big, mini = stats(history, "model")
    assert mini == {
        "model": MINI,
        "group": MINI,
        "streams": 20,
        "completed": 20,
        "failures": 0,
        "interrupted": 0,
        "recording": 0,
        "failure_rate": 0.0,
        "chunks": 100,
        "input_tokens": 20000,
        "cached_tokens": 4000,
        "cache_write_tokens": None,
        "output_tokens": 2000,
        "reasoning_tokens": 0,
        "cost": Decimal("0.0039"),
        "cost_nanousd": 3_900_000,
        "priced": 20,
        "unpriced": 0,
        "cache_hit_ratio": 0.2,
        "cache_savings": Decimal("0.0003"),
        "cache_savings_nanousd": 300_000,
        "ttft_ms_p50": 100.0,
        "ttft_ms_p95": 190.0,
        "ttft_ms_p99": 200.0,
        "mean_ttft_ms": 105.0,
        "duration_ms_p50": 150.0,
        "duration_ms_p95": 240.0,
        "output_tokens_per_s": 2000.0,
        "ms_per_output_chunk": 12.5,
    }
    assert list(mini)[2:] == list(STAT_FIELDS)
    assert isinstance(mini["cost"], Decimal)
    assert (big["streams"], big["completed"], big["failures"], big["interrupted"]) == (4, 2, 1, 1)
    assert big["failure_rate"] == 0.25
    assert (big["cost_nanousd"], big["priced"], big["unpriced"]) == (12_750_000, 2, 2)
    assert big["cache_savings_nanousd"] == 1_250_000
    assert (big["ttft_ms_p50"], big["ttft_ms_p95"], big["ttft_ms_p99"]) == (600.0, 800.0, 800.0)
    assert (big["duration_ms_p50"], big["duration_ms_p95"]) == (610.0, 820.0)
    assert (big["output_tokens_per_s"], big["ms_per_output_chunk"]) == (1500.0, 13.333)


def _brief(rows: list[dict[str, object]], *keys: str) -> list[tuple[object, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


@pytest.mark.parametrize(
    ("by", "keys", "expected"),
    [
        (
            "day,model",
            ("day", "model", "streams", "cost_nanousd", "ttft_ms_p50"),
            [
                ("2026-11-02", MINI, 20, 3_900_000, 100.0),
                ("2026-11-03", BIG, 2, 5_500_000, 500.0),
                ("2026-11-10", BIG, 1, 7_250_000, 700.0),
                ("2026-12-01", BIG, 1, None, 800.0),
            ],
        ),
        (
            "week",
            ("week", "streams", "cost_nanousd"),
            [("2026-11-02", 22, 9_400_000), ("2026-11-09", 1, 7_250_000), ("2026-11-30", 1, None)],
        ),
        ("month", ("month", "streams", "failures"), [("2026-11", 23, 1), ("2026-12", 1, 0)]),
        (
            "tag",
            ("tag", "streams", "cost_nanousd", "ttft_ms_p50"),
            [(None, 4, 12_750_000, 600.0), ("a", 10, 1_950_000, 50.0), ("b", 10, 1_950_000, 150.0)],
        ),
        (
            "user",
            ("user", "streams", "cost_nanousd", "cached_tokens"),
            [
                ("alice", 10, 2_100_000, 0),
                ("bob", 10, 1_800_000, 4000),
                ("carol", 4, 12_750_000, 1000),
            ],
        ),
        (
            "meta.user,status",
            ("meta.user", "status", "streams"),
            [
                ("alice", "completed", 10),
                ("bob", "completed", 10),
                ("carol", "completed", 2),
                ("carol", "failed", 1),
                ("carol", "interrupted", 1),
            ],
        ),
        ("provider", ("provider", "streams"), [("openai", 24)]),
        ("api", ("api", "streams"), [("openai.chat.completions", 24)]),
        ("name", ("name", "streams", "output_tokens"), [("agent", 4, 150), ("chat", 20, 2000)]),
        ("team", ("team", "streams"), [(None, 24)]),
    ],
)
def test_every_grouping(
    history: Store, by: str, keys: tuple[str, ...], expected: list[tuple[object, ...]]
) -> None:
    assert _brief(history.stats(by), *keys) == expected


def test_stats_filters(history: Store) -> None:
    [row] = history.stats("model", model="gpt-4o", status="completed")
    assert (row["streams"], row["cost_nanousd"]) == (2, 12_750_000)
    [row] = history.stats("name", meta={"user": "alice"}, tag="b")
    assert (row["name"], row["streams"]) == ("chat", 5)
    window = Filters.of(since="2026-11-04", until="2026-11-30")
    [row] = history.stats("model", filters=window)
    assert (row["model"], row["streams"], row["cost_nanousd"]) == (BIG, 1, 7_250_000)
    assert history.stats("model", provider="anthropic") == []


def test_percentiles_nearest_rank_on_small_groups(url: str) -> None:
    from .history_data import write_stream

    with Store(url) as store:
        for n, ttft in enumerate([40, 10, 30, 20]):
            write_stream(
                store,
                started_at=datetime(2026, 11, 5, 8, n, tzinfo=UTC),
                model=MINI,
                ttft_ms=ttft,
            )
        [row] = store.stats("model")
    # ranks ceil(0.5·4)=2, ceil(0.95·4)=4, ceil(0.99·4)=4 of 10, 20, 30, 40
    assert (row["ttft_ms_p50"], row["ttft_ms_p95"], row["ttft_ms_p99"]) == (20.0, 40.0, 40.0)


def test_bad_grouping_is_refused(history: Store) -> None:
    with pytest.raises(FilterError, match="twice"):
        history.stats("day,day")
    with pytest.raises(FilterError, match="at least one"):
        history.stats(" , ")


# -- CLI ---------------------------------------------------------------------------------


def test_cli_stats_json_csv_and_table(history: Store) -> None:
    result = run("--db", history.url, "stats", "--by", "day,model", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert (rows[0]["day"], rows[0]["model"], rows[0]["cost_nanousd"]) == (
        "2026-11-02",
        MINI,
        3_900_000,
    )
    assert rows[0]["cost"] == 0.0039 and rows[0]["ttft_ms_p99"] == 200.0
    result = run("--db", history.url, "stats", "--by", "week", "--csv")
    assert result.exit_code == 0, result.output
    parsed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["week"], r["streams"], r["cost"]) for r in parsed] == [
        ("2026-11-02", "22", "0.0094"),
        ("2026-11-09", "1", "0.00725"),
        ("2026-11-30", "1", ""),
    ]
    result = run("stats", "--db", history.url, "--by", "model", "--since", "2026-11-03Z")
    assert result.exit_code == 2  # a zone needs a time
    result = run("stats", "--db", history.url, "--by", "model", "--since", "2026-11-03")
    assert result.exit_code == 0, result.output
    assert BIG in result.stdout and MINI not in result.stdout
    assert "TTFT_P95" in result.stdout and "$0.012750" in result.stdout


@pytest.mark.parametrize("value", ["garbage", "2026-13-45", "12/01/2026"])
@pytest.mark.parametrize("command", ["stats", "ls", "export"])
def test_cli_bad_time_is_a_usage_error(command: str, value: str, tmp_path: object) -> None:
    result = run(command, "--db", f"{tmp_path}/x.db", "--since", value)
    assert result.exit_code == 2
    assert "ISO 8601" in result.stderr and "7d" in result.stderr
    assert result.stdout == ""


def test_cli_ls_filters_cut_and_empty(history: Store) -> None:
    db = history.url
    result = run("--db", db, "ls", "--json", "--meta", "user=carol", "--status", "failed")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["status"] == "failed" and row["name"] == "agent"
    result = run("--db", db, "ls", "-n", "3", "--name", "chat")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 4  # header + 3
    assert "more match" in result.stderr
    assert "openai.chat.completions" in result.stdout and "TAGS" in result.stdout
    result = run("--db", db, "ls", "--provider", "anthropic")
    assert result.exit_code == 0
    assert result.stdout == "" and "no streams match these filters" in result.stderr
    assert "recorded yet" not in result.stderr
    for args, n in (
        (["--api", "openai.chat.completions"], 24),
        (["--model", "gpt-4o"], 4),
        (["--tag", "a"], 10),
        (["--since", "2026-11-03", "--until", "2026-11-10"], 3),
    ):
        result = run("--db", db, "ls", "--json", *args)
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)) == n, args


def test_cli_export_filters(history: Store) -> None:
    result = run("--db", history.url, "export", "--meta", "user=carol", "--status", "completed")
    assert result.exit_code == 0, result.output
    streams = {json.loads(line)["stream_id"] for line in result.stdout.splitlines()}
    assert len(streams) == 2


def test_upgrade_from_0001_keeps_rows_and_adds_metadata(url: str) -> None:
    from streamrec import migrations
    from streamrec.store._engine import make_engine

    engine = make_engine(url, writer=True)
    migrations.upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO streams (stream_id, tags, status, chunk_count, malformed_chunks,"
            " usage_reported, tool_call_count, last_seq) VALUES"
            " ('s-old', '[]', 'completed', 3, 0, false, 0, 2)"
        )
    engine.dispose()
    with Store(url, migrate=True) as store:
        assert store.revision() == migrations.HEAD_REVISION
        row = store.stream("s-old")
        assert (row["chunk_count"], row["meta"], row["cache_savings_nanousd"]) == (3, "{}", None)
