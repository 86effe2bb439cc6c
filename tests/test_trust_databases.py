"""Databases are left as found (issue 7, point 7).

A file streamrec cannot use is refused with one line and exit 1, byte-identical
afterwards (no switch to WAL, no table, no side file); read commands create
nothing; bad paths and URLs get one line naming what is supported.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, inspect

from streamrec import Store, record
from streamrec.cli import main
from streamrec.errors import NotAStreamrecDatabase

from .chunks import text_stream

# every read command, with the arguments it needs to get as far as opening the store
READS = [
    ["ls"],
    ["show", "0000"],
    ["stats"],
    ["sql", "SELECT 1"],
    ["replay", "0000"],
    ["export"],
    ["verify"],
]
WRITES = [["rebuild"], ["recover"], ["db", "upgrade"]]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamrec: error: "), result.stderr


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.close()


def _corrupt(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)


def _newer(path: Path) -> None:
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'zz_from_the_future'")
    conn.close()


def _broken_alembic(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT, other TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('a', 'x'), ('b', 'y')")
        conn.execute("CREATE TABLE events (x)")
    conn.close()


def _rollback_journal_streamrec(path: Path) -> None:
    """A streamrec file switched back to a rollback journal (so a WAL switch would show)."""
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("UPDATE alembic_version SET version_num = 'zz_from_the_future'")
    conn.close()


KINDS: dict[str, Callable[[Path], None]] = {
    "foreign": _foreign,
    "corrupt": _corrupt,
    "newer revision": _newer,
    "broken alembic_version": _broken_alembic,
    "newer, rollback journal": _rollback_journal_streamrec,
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("command", READS + WRITES + [["import", "-"]], ids=" ".join)
def test_a_file_streamrec_cannot_use_is_refused_and_left_byte_identical(
    kind: str, command: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "other.db"
    KINDS[kind](path)
    before, files = _digest(path), sorted(os.listdir(tmp_path))
    result = CliRunner().invoke(main, ["--db", str(path), *command], input="")
    _one_line_error(result)
    assert _digest(path) == before
    assert sorted(os.listdir(tmp_path)) == files  # no -wal, -shm or journal left beside it


@pytest.mark.parametrize("kind", list(KINDS))
def test_record_into_a_file_it_cannot_use_is_refused(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    KINDS[kind](path)
    before = _digest(path)
    result = run("--db", str(path), "record", "--", sys.executable, "-c", "pass")
    _one_line_error(result)
    assert _digest(path) == before


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_read_commands_create_nothing(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "streamrec.db"
    result = run("--db", str(missing), *command)
    _one_line_error(result)
    assert "does not exist" in result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.postgres
@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_read_commands_create_no_schema(command: list[str], pg_url: str) -> None:
    result = run("--db", pg_url, *command)
    _one_line_error(result)
    engine = create_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["ls"], ["import", "-"]], ids=" ".join)
def test_a_parent_that_is_a_file(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(
        main, ["--db", str(tmp_path / "afile" / "s.db"), *command], input=""
    )
    _one_line_error(result)


def test_a_parent_that_is_not_permitted() -> None:
    result = CliRunner().invoke(main, ["--db", "/sys/streamrec-test/s.db", "import", "-"], input="")
    _one_line_error(result)
    assert "cannot create" in result.stderr


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/db", "http://example.com/x.db", "mongodb://h/db"]
)
def test_unsupported_url_schemes_name_what_is_supported(url: str) -> None:
    result = run("--db", url, "ls")
    _one_line_error(result)
    assert "sqlite:///PATH or postgresql://" in result.stderr


def _immutable(path: Path, on: bool) -> bool:
    """chattr +i: read-only even for root (the suite runs as root in CI)."""
    done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("command", [["import", "-"], ["recover"], ["rebuild"]], ids=" ".join)
def test_a_read_only_file_is_refused_for_writing_and_left_alone(
    command: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "ro.db"
    with Store(path) as store:
        list(record(iter(text_stream(["x"])), api="openai", store=store))
    os.chmod(path, 0o444)
    if not _immutable(path, True):
        pytest.skip("chattr +i is not available here")
    try:
        before = _digest(path)
        lines = '{"stream_id": "s", "seq": 0, "kind": "stream.started", "t_ns": 0, '
        lines += '"recorded_at": "2026-01-01T00:00:00+00:00", "event": null, '
        lines += (
            '"payload": "{\\"provider\\":\\"openai\\",\\"api\\":\\"openai.chat.completions\\"}"}\n'
        )
        result = CliRunner().invoke(main, ["--db", str(path), *command], input=lines)
        if command == ["recover"]:
            assert result.exit_code == 0  # nothing to recover: nothing to write
        else:
            _one_line_error(result)
        assert _digest(path) == before
    finally:
        _immutable(path, False)


def _dead_recording(path: Path) -> str:
    """A stream left `recording` by a process on this host that is gone."""
    import socket

    from streamrec.events import EventKind, StoredEvent, StreamStarted, utcnow

    gone = subprocess.Popen(["true"])
    gone.wait()
    started = StreamStarted(
        provider="openai", api="openai.chat.completions", host=socket.gethostname(), pid=gone.pid
    )
    with Store(path) as store:
        event = StoredEvent(
            "dead-stream", 0, EventKind.STARTED, 0, utcnow(), started.model_dump_json()
        )
        store.append([event])
    return "dead-stream"


def test_recover_on_a_store_it_cannot_write_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    _dead_recording(path)
    if not _immutable(path, True):
        pytest.skip("chattr +i is not available here")
    try:
        result = run("--db", str(path), "recover")
        _one_line_error(result)
        assert "readonly" in result.stderr
    finally:
        _immutable(path, False)
    result = run("--db", str(path), "recover", "--json")
    assert result.exit_code == 0 and "dead-stream" in result.stdout


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_verify_during_live_recordings_reports_nothing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import threading
    import time

    from .chunks import chunk

    url = str(tmp_path / "live.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    done = threading.Event()

    def recorder() -> None:
        for _ in range(3):

            def slow() -> Any:
                for i in range(100):
                    yield chunk({"content": f"{i}"})
                    time.sleep(0.003)
                yield chunk({}, "stop")

            list(record(slow(), api="openai", store=store))
        done.set()

    thread = threading.Thread(target=recorder)
    thread.start()
    checks = 0
    while not done.is_set():
        assert store.verify() == []
        checks += 1
    thread.join()
    assert checks > 3 and store.verify() == []
    store.close()


def _torn_events(path: Path) -> str:
    """A streamrec file that opens (schema and revision intact) but whose events table's
    root page is garbage: what a bad disk or a torn copy leaves. Returns the stream's id."""
    with Store(path) as store:
        list(record(iter(text_stream(["word"] * 2000)), api="openai", store=store))
        (stream_id,) = store.stream_ids()
    tear_events(path)
    return stream_id


def tear_events(path: Path) -> None:
    """Overwrite the events table's root page: the file opens, its events cannot be read."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'events'"
        ).fetchone()
    conn.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)


@pytest.mark.parametrize("read", ["events", "timeline", "timeline untimed", "state"])
def test_a_torn_events_table_is_a_store_error_on_every_read_path(read: str, tmp_path: Path) -> None:
    """The quick reads go to the sqlite3 driver without SQLAlchemy around it: its own
    ``DatabaseError`` must come out as streamrec's, like SQLAlchemy's does."""
    path = tmp_path / "torn.db"
    stream_id = _torn_events(path)
    reads: dict[str, Callable[[Store], Any]] = {
        "events": lambda store: store.events(stream_id),
        "timeline": lambda store: store.timeline(stream_id),
        "timeline untimed": lambda store: store.timeline(stream_id, timed=False),
        "state": lambda store: store.state(stream_id),
    }
    with Store(path, create=False) as store, pytest.raises(NotAStreamrecDatabase) as caught:
        reads[read](store)
    assert "is not a readable database: database disk image is malformed" in str(caught.value)


@pytest.mark.parametrize(
    "command", [["replay"], ["replay", "--format", "raw", "--speed", "1"], ["show"], ["export"]]
)
def test_a_torn_events_table_is_one_line_from_the_cli(command: list[str], tmp_path: Path) -> None:
    path = tmp_path / "torn.db"
    stream_id = _torn_events(path)
    result = run("--db", str(path), *command, stream_id)
    _one_line_error(result)
    assert "malformed" in result.stderr
