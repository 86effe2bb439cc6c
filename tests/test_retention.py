"""Retention and the finished inspection CLI: rm, prune, show latest/-N, timelines, --debug anywhere, JSONL as --db."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from streamrec import SSEEvent, Store, record
from streamrec.cli import main
from streamrec.errors import StoreError
from streamrec.events import EventKind, StoredEvent, StreamStarted
from streamrec.store import Filters
from streamrec.store._schema import events, streams

from .chunks import REQUEST, record_texts, text_stream, tool_stream
from .history_data import write_stream

UTC = timezone.utc


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _counts(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(streams)).scalar_one(),
            conn.execute(select(func.count(func.distinct(events.c.stream_id)))).scalar_one(),
        )


def test_remove_deletes_events_and_row_together(history: Store) -> None:
    ids = [r["stream_id"] for r in history.streams(name="agent")]
    removed = history.remove(ids[:2])
    assert [r["stream_id"] for r in removed] == ids[:2]
    assert _counts(history) == (22, 22)
    assert history.remove(ids[:2]) == []


def test_prune_by_age_status_and_name_in_batches(history: Store) -> None:
    now = datetime(2026, 11, 5, tzinfo=UTC)
    # --older-than as a time: everything before 2026-11-03 09:15 and failed: nothing
    assert history.prune(older_than="2026-11-03T09:15", filters=Filters.of(status="failed")) == []
    planned = history.prune(older_than="2026-11-04", filters=Filters.of(name="agent"), dry_run=True)
    assert len(planned) == 2 and _counts(history) == (24, 24)
    from streamrec.store._retention import prune

    gone = prune(history, older_than=now, batch=7)  # 22 streams in 4 transactions
    assert len(gone) == 22
    assert _counts(history) == (2, 2)
    assert {r["status"] for r in history.streams()} == {"completed", "interrupted"}


def test_prune_keeps_streams_still_recording(url: str) -> None:
    started = StreamStarted(provider="openai", api="openai.chat.completions", model="gpt-4o-mini")
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with Store(url) as store:
        store.append(
            [StoredEvent("live-1", 0, EventKind.STARTED, 0, when, started.model_dump_json())]
        )
        assert store.stream("live-1")["status"] == "recording"
        assert store.prune(older_than="0s") == []
        asked = store.prune(older_than="0s", filters=Filters.of(status="recording"), dry_run=True)
        assert [r["stream_id"] for r in asked] == ["live-1"]


def test_cli_rm_and_prune(history: Store) -> None:
    db = history.url
    agent = [r["stream_id"] for r in history.streams(name="agent")]
    result = run("--db", db, "rm", agent[0], agent[1])
    assert result.exit_code == 0, result.output
    assert agent[0] in result.stdout and agent[1] in result.stdout
    assert "removed 2 stream(s)" in result.stderr
    result = run("--db", db, "rm", "no-such-stream")
    assert result.exit_code == 1 and "no stream with id" in result.stderr
    assert run("--db", db, "prune").exit_code == 2  # refuses to delete everything
    assert run("--db", db, "prune", "--older-than", "soon").exit_code == 2
    result = run(
        "--db",
        db,
        "prune",
        "--older-than",
        "2026-11-03",
        "--meta",
        "user=alice",
        "--dry-run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and len(data["removed"]) == 10
    assert _counts(history) == (22, 22)
    result = run("prune", "--db", db, "--older-than", "1d", "--name", "chat", "--vacuum")
    assert result.exit_code == 0, result.output
    assert "removed 20 stream(s)" in result.stderr
    assert _counts(history) == (2, 2)


def test_vacuum_gives_space_back_on_sqlite(sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with Store(sqlite_url) as store:
        for n in range(40):
            write_stream(
                store,
                started_at=datetime(2026, 1, 1, 0, n, tzinfo=UTC),
                model="gpt-4o-mini",
                ttft_ms=5,
                chunks=5,
            )
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        before = os.path.getsize(path)
        store.prune(older_than="2026-02-01")
        store.vacuum()
        assert os.path.getsize(path) < before


# -- show, --debug, JSONL ----------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> str:
    """An empty store (read commands refuse a path where there is none)."""
    url = f"sqlite:///{tmp_path}/cli.db"
    Store(url).close()
    return url


def _two(db: str) -> list[str]:
    ids = []
    with Store(db) as store:
        for words in (["Hel", "lo"], ["Bye"]):
            ids.append(record_texts(store, tool_stream(words)))
    return ids


def test_show_latest_and_back(db: str) -> None:
    first, second = _two(db)
    for ref, expected in (("latest", second), ("-1", second), ("-2", first)):
        result = run("--db", db, "show", ref, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["stream_id"] == expected
    result = run("--db", db, "show", "-3")
    assert result.exit_code == 1 and "no stream with id '-3'" in result.stderr
    assert run("--db", db, "show", "-x").exit_code == 2


def test_every_command_taking_stream_ids_takes_latest_and_back(db: str) -> None:
    """`-N` reads as an unknown option to click: each command that resolves ids must take it
    as the Nth newest, and still refuse an option it does not know."""
    first, second = _two(db)
    result = run("--db", db, "diff", "-2", "-1", "--json")
    assert result.exit_code == 1, result.output  # the two answers differ
    compared = json.loads(result.stdout)
    assert (compared["a"]["stream_id"], compared["b"]["stream_id"]) == (first, second)
    assert run("--db", db, "replay", "-1").stdout == "Bye\n"
    assert run("--db", db, "replay", "--format", "raw", "-2").stdout.count("Hel") == 1
    exported = run("--db", db, "export", "-2").stdout.splitlines()
    assert {json.loads(line)["stream_id"] for line in exported} == {first}
    assert run("--db", db, "verify", "-1", "-2").exit_code == 0
    assert json.loads(run("--db", db, "rebuild", "-1", "--json").stdout) == {"rebuilt": 1}
    for command in (
        ["diff", "-1", "--typo"],
        ["replay", "--sped", "1", "-1"],
        ["rm", "--nope", "-1"],
        ["tail", "--typo"],
        ["export", "-1", "--typo"],
        ["replay", "--serve", "--x", "--", "true"],
    ):
        result = run("--db", db, *command)
        assert result.exit_code == 2 and "No such option" in result.output, (command, result.output)
    result = run("--db", db, "rm", "-2", "--json")
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        assert store.stream_ids() == [second]


def test_timeline_shows_what_each_chunk_adds(db: str) -> None:
    first, _ = _two(db)
    result = run("--db", db, "show", first, "--events", "all")
    assert result.exit_code == 0, result.output
    timeline = result.stdout.split("timeline:\n")[1].splitlines()
    assert len(timeline) == len(text_stream(["Hel", "lo"])) + 3  # + tool chunk, start, end
    assert timeline[2].endswith('choices.0.delta: content="Hel"')
    assert '"chatcmpl' not in timeline[2]  # the shared prefix is not repeated
    assert any('tool_calls.0: index=0 id="call_1"' in row for row in timeline)
    assert any('function.arguments="{\\"a\\": 1}"' in row for row in timeline)
    assert any("usage.prompt_tokens=12 usage.completion_tokens=2" in row for row in timeline)
    assert timeline[-2].endswith("[DONE]")
    short = run("--db", db, "show", first).stdout
    assert "more events" not in short  # 10 events: short shows them all
    assert "timeline:" not in run("--db", db, "show", first, "--no-events").stdout
    assert "timeline:" not in run("--db", db, "show", first, "--events", "none").stdout


def test_ambiguous_prefix_lists_the_matches(db: str) -> None:
    when = datetime(2026, 11, 2, tzinfo=UTC)
    with Store(db) as store:
        for sid in ("abcd1234-0000-0000-0000-000000000001", "abcd1234-0000-0000-0000-000000000002"):
            write_stream(
                store, started_at=when, model="gpt-4o-mini", ttft_ms=5, stream_id=sid, name="x"
            )
        with pytest.raises(StoreError, match="ambiguous: it matches") as info:
            store.resolve("abcd12")
        assert "abcd1234-0000-0000-0000-000000000001 2026-11-02 00:00:00" in str(info.value)
        assert "abcd1234-0000-0000-0000-000000000002" in str(info.value)


def test_debug_after_the_subcommand(db: str) -> None:
    result = run("--db", db, "show", "nope", "--debug")
    assert result.exit_code != 0
    assert result.exception is not None and type(result.exception).__name__ == "UnknownStream"
    result = run("--db", db, "show", "nope")
    assert result.exit_code == 1 and "no stream with id" in result.stderr


def test_db_accepts_a_jsonl_export(db: str, tmp_path: Path) -> None:
    first, second = _two(db)
    export = tmp_path / "recordings.jsonl"
    result = run("--db", db, "export", "-o", str(export))
    assert result.exit_code == 0
    for args in (
        ["ls", "--json"],
        ["stats", "--json"],
        ["show", "latest", "--json"],
        ["sql", "SELECT count(*) AS n FROM streams", "--json"],
    ):
        result = run("--db", str(export), *args)
        assert result.exit_code == 0, (args, result.output)
    assert json.loads(run("--db", str(export), "ls", "--json").stdout)[0]["stream_id"] == second
    assert json.loads(
        run("--db", str(export), "sql", "SELECT count(*) AS n FROM streams", "--json").stdout
    ) == [{"n": 2}]
    assert run("--db", str(export), "rm", first).exit_code == 2
    assert run("--db", str(tmp_path / "missing.jsonl"), "ls").exit_code == 1


def test_short_timeline_elides_the_middle_and_still_shows_deltas(db: str) -> None:
    with Store(db) as store:
        stream = record(
            [SSEEvent(c) for c in text_stream([f"w{i}" for i in range(20)])],
            api="openai.chat.completions",
            request=REQUEST,
            store=store,
        )
        list(stream)
    short = run("--db", db, "show", "latest").stdout.split("timeline:\n")[1].splitlines()
    assert len(short) == 12 and "more events (--events all)" in short[6]
    assert short[7].endswith('choices.0.delta: content="w19"')  # a diff, even after the gap
    full = run("--db", db, "show", "latest", "--events", "all").stdout
    assert len(full.split("timeline:\n")[1].splitlines()) == 26
