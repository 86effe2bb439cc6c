"""The CLI through click's CliRunner: exit code first, then stdout and stderr separately."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from streamrec import Store
from streamrec.cli import _commands, main
from streamrec.migrations import HEAD_REVISION

from .chunks import chunk, record_texts, text_stream, tool_delta, tool_stream


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


@pytest.fixture
def db(tmp_path: Path) -> str:
    """An empty store (read commands refuse a path where there is none)."""
    url = f"sqlite:///{tmp_path}/cli.db"
    Store(url).close()
    return url


@pytest.fixture
def recorded(db: str) -> str:
    with Store(db) as store:
        return record_texts(store, tool_stream(["Hel", "lo"]), name="greet", tags=["t1"])


def test_demo_records_replays_and_rebuilds(db: str) -> None:
    result = run("--db", db, "demo")
    assert result.exit_code == 0, result.output
    assert "live text: 'Let me check the weather in Paris.'" in result.stdout
    assert "rebuilt state equals live state: True" in result.stdout
    assert "tool_calls      [('get_weather', {'city': 'Paris'})]" in result.stdout
    listed = json.loads(run("--db", db, "ls", "--json").stdout)
    assert [r["name"] for r in listed] == ["demo"]
    assert listed[0]["status"] == "completed"


def test_ls_json_newest_first(db: str, recorded: str) -> None:
    result = run("ls", "--db", db, "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["stream_id"] for r in rows] == [recorded]
    assert rows[0]["tags"] == ["t1"] and rows[0]["finish_reasons"] == ["stop"]
    assert isinstance(rows[0]["cost"], float) and rows[0]["cost_nanousd"] == 1800 + 2 * 600
    stats = json.loads(run("--db", db, "stats", "--json").stdout)
    assert (
        stats[0]["cost"] == rows[0]["cost"] and stats[0]["cost_nanousd"] == rows[0]["cost_nanousd"]
    )


def test_ls_text(db: str, recorded: str) -> None:
    result = run("--db", db, "ls")
    assert result.exit_code == 0
    assert recorded in result.stdout and "greet" in result.stdout and "completed" in result.stdout


def test_show_json_has_basestream_attributes_at_top_level(db: str, recorded: str) -> None:
    result = run("--db", db, "show", recorded, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    for key in (
        "content",
        "model",
        "id",
        "finish_reasons",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "start_time",
        "end_time",
        "provider",
        "messages",
        "call_params",
        "call_kwargs",
        "prompt_template",
        "fn_args",
        "dynamic_config",
        "user_message_param",
        "message_param",
        "cost_metadata",
        "cost",
        "stream_id",
        "status",
        "chunk_count",
        "tool_calls",
    ):
        assert key in data, key
    assert data["content"] == "Hello"
    assert data["stream_id"] == recorded and data["status"] == "completed"
    assert data["chunk_count"] == len(text_stream(["Hel", "lo"])) + 1
    assert data["tool_calls"][0]["args"] == {"a": 1}
    assert isinstance(data["cost"], float)


def test_show_text_and_prefix(db: str, recorded: str) -> None:
    result = run("--db", db, "show", recorded[:18])
    assert result.exit_code == 0
    assert "content          'Hello'" in result.stdout
    assert "timeline:" in result.stdout and "stream.started" in result.stdout


def test_replay_formats(db: str, recorded: str) -> None:
    raw = text_stream(["Hel", "lo"])
    raw.insert(-2, chunk({"tool_calls": [tool_delta(0, id="call_1", name="f", args='{"a": 1}')]}))
    result = run("--db", db, "replay", recorded, "--format", "raw")
    assert result.exit_code == 0
    assert result.stdout == "".join(r + "\n" for r in raw)
    result = run("--db", db, "replay", recorded, "--format", "sse")
    assert result.stdout == "".join(f"data: {r}\n\n" for r in raw)
    result = run("--db", db, "replay", recorded, "--format", "jsonl")
    assert [json.loads(line)["data"] for line in result.stdout.splitlines()] == raw
    result = run("--db", db, "replay", recorded)
    assert (result.exit_code, result.stdout) == (0, "Hello\n")


def test_unknown_id_is_one_line_and_exit_1(db: str, recorded: str) -> None:
    result = run("--db", db, "show", "does-not-exist")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "no stream with id 'does-not-exist'" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(db: str) -> None:
    from streamrec.errors import UnknownStream

    result = run("--db", db, "--debug", "show", "nope")
    assert result.exit_code == 1
    assert isinstance(result.exception, UnknownStream)  # raised, not mapped to a one-liner
    quiet = run("--db", db, "show", "nope")
    assert isinstance(quiet.exception, SystemExit)


@pytest.mark.parametrize(
    "url, message",
    [
        ("nosuchdriver://x/y", "unsupported database URL scheme 'nosuchdriver://'"),
        ("mysql://root@localhost/db", "use an SQLite path, sqlite:///PATH or postgresql://"),
        ("http://example.com/db", "unsupported database URL scheme 'http://'"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "could not open the database"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    result = run("--db", url, "ls")
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_not_a_streamrec_database(tmp_path: Path) -> None:
    corrupt = tmp_path / "junk.db"
    corrupt.write_bytes(b"garbage" * 1000)
    result = run("--db", str(corrupt), "ls")
    assert result.exit_code == 1
    assert "not a readable database" in result.stderr
    assert corrupt.read_bytes() == b"garbage" * 1000


def test_usage_errors_exit_2(db: str) -> None:
    assert run("--db", db, "replay").exit_code == 2
    assert run("--db", db, "replay", "x", "--format", "nope").exit_code == 2
    assert run("nosuchcommand").exit_code == 2


def test_db_upgrade_and_current(db: str) -> None:
    result = run("--db", db, "db", "upgrade")
    assert result.exit_code == 0
    assert f"is at revision {HEAD_REVISION}" in result.stdout
    result = run("--db", db, "db", "current", "--json")
    assert json.loads(result.stdout) | {"url": None} == {
        "url": None,
        "revision": HEAD_REVISION,
        "head": HEAD_REVISION,
        "up_to_date": True,
    }


def test_sql_and_read_only(db: str, recorded: str) -> None:
    result = run("--db", db, "sql", "SELECT stream_id, output_tokens FROM streams", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"stream_id": recorded, "output_tokens": 2}]
    result = run("--db", db, "sql", "DELETE FROM streams")
    assert result.exit_code == 1 and "readonly" in result.stderr.lower().replace("-", "")
    assert json.loads(run("--db", db, "ls", "--json").stdout)[0]["stream_id"] == recorded


def test_stats(db: str, recorded: str) -> None:
    result = run("--db", db, "stats", "--json")
    assert result.exit_code == 0
    [row] = json.loads(result.stdout)
    assert (
        row["group"] == "gpt-4o-mini-2024-07-18"
        and row["streams"] == 1
        and row["output_tokens"] == 2
    )
    assert run("--db", db, "stats", "--by", "provider").exit_code == 0


def test_export_import_rebuild_verify(db: str, recorded: str, tmp_path: Path) -> None:
    exported = run("--db", db, "export")
    assert exported.exit_code == 0
    other = f"sqlite:///{tmp_path}/other.db"
    result = run("--db", other, "import", "--json", input=exported.stdout)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"imported": [recorded], "skipped": []}
    assert (
        run("--db", other, "replay", recorded, "--format", "raw").stdout
        == run("--db", db, "replay", recorded, "--format", "raw").stdout
    )
    assert json.loads(run("--db", other, "rebuild", "--json").stdout) == {"rebuilt": 1}
    assert json.loads(run("--db", other, "verify", "--json").stdout) == {"ok": True, "problems": []}
    bad = run("--db", other, "import", input='{"not": "an event"}\n')
    assert bad.exit_code == 1 and "line 1" in bad.stderr


def test_verify_fails_with_exit_1_on_a_tampered_read_model(db: str, recorded: str) -> None:
    with Store(db) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE streams SET chunk_count = 0")
    result = run("--db", db, "verify")
    assert result.exit_code == 1
    assert "chunk_count" in result.stdout


_DYING_RECORDER = """
import os, sys, time
from streamrec import SSEEvent, Store, record
from tests.chunks import text_stream
store = Store(sys.argv[1])
stream = record([SSEEvent(c) for c in text_stream(["a", "b"])], api="openai", store=store)
it = iter(stream)
next(it); next(it)
time.sleep(0.3)  # longer than the writer's group-commit interval
print(stream.stream_id, flush=True)
os._exit(0)  # die without any clean-up: no atexit, no flush
"""


def test_a_crashed_recorder_keeps_what_was_committed_and_recover_marks_it(db: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _DYING_RECORDER, db],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    sid = done.stdout.strip()
    with Store(db, recover=False) as store:
        assert store.stream(sid)["status"] == "recording"
    result = run("--db", db, "recover", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"interrupted": [sid]}
    with Store(db) as store:
        state = store.state(sid)
        assert state.status == "interrupted" and state.content == "a" and state.chunk_count == 2
        assert store.verify() == []
    assert json.loads(run("--db", db, "recover", "--json").stdout) == {"interrupted": []}
    assert run("--db", db, "replay", sid, "--format", "raw").stdout.count("\n") == 2


def test_the_next_open_marks_a_dead_local_recorder_interrupted(db: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _DYING_RECORDER, db],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    sid = done.stdout.strip()
    listed = json.loads(run("--db", db, "ls", "--json").stdout)
    assert [(r["stream_id"], r["status"]) for r in listed] == [(sid, "interrupted")]


def test_every_command_has_help_and_a_place_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for name, command in _commands(main):
        assert command.help, name
        result = run(*name.split(), "--help")
        assert result.exit_code == 0, name
        if not isinstance(command, click.Group):
            assert re.search(rf"streamrec {re.escape(name)}\b", readme), (
                f"README does not mention `streamrec {name}`"
            )


@pytest.mark.postgres
def test_the_cli_on_postgresql(pg_url: str) -> None:
    with Store(pg_url) as store:
        stream_id = record_texts(store, text_stream(["pg"]), api="openai")
    listed = json.loads(run("--db", pg_url, "ls", "--json").stdout)
    assert [r["stream_id"] for r in listed] == [stream_id]
    shown = json.loads(run("--db", pg_url, "show", stream_id, "--json").stdout)
    assert shown["content"] == "pg" and shown["status"] == "completed"
    assert run("--db", pg_url, "replay", stream_id, "--format", "raw").stdout == "".join(
        c + "\n" for c in text_stream(["pg"])
    )
    assert json.loads(run("--db", pg_url, "verify", "--json").stdout) == {
        "ok": True,
        "problems": [],
    }
    # `sql` runs as the role `db upgrade` creates (without it, it refuses and says so)
    assert run("--db", pg_url, "db", "upgrade").exit_code == 0
    result = run("--db", pg_url, "sql", "DELETE FROM events")
    assert result.exit_code == 1 and "read-only" in result.stderr.lower()
