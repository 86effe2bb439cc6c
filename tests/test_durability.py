"""Durability you can choose (issue 7, point 3): a recording process killed with SIGKILL loses
no chunk it handed over with ``durability="chunk"``, and at most the last commit interval's with
``"group"``; ``recover`` then marks the stream interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamrec import Store, record
from streamrec.cli import main
from streamrec.errors import RecorderError
from streamrec.events import EventKind

from .chunks import text_stream

# the child records a chunk every millisecond and prints each one's index and the
# moment it reached the consumer, so the parent knows what was handed over when
_CHILD = """
import sys, time
import streamrec
from tests.chunks import chunk

def source():
    yield chunk({"role": "assistant", "content": ""})
    i = 0
    while True:
        yield chunk({"content": f"{i} "})
        i += 1
        time.sleep(0.001)

stream = streamrec.record(source(), api="openai", store=sys.argv[1], durability=sys.argv[2])
for n, _ in enumerate(stream):
    print(n, time.monotonic(), flush=True)
"""
# group commit gathers for 20 ms; a commit in flight and a loaded machine add to it
_GROUP_WINDOW_S = 0.5


def _killed_recording(db: Path, durability: str) -> tuple[list[float], float]:
    """Run the child until it handed over 300 chunks, SIGKILL it; (hand-over times, kill time)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db), durability],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert child.stdout is not None
    handed: list[float] = []
    for line in child.stdout:
        handed.append(float(line.split()[1]))
        if len(handed) >= 300:
            break
    killed_at = time.monotonic()
    os.kill(child.pid, signal.SIGKILL)
    handed += [float(line.split()[1]) for line in child.stdout]  # what was in the pipe
    child.stdout.close()
    assert child.wait(timeout=30) == -signal.SIGKILL
    return handed, killed_at


@pytest.mark.parametrize("durability", ["chunk", "group"])
def test_sigkill_loses_no_more_than_promised(durability: str, tmp_path: Path) -> None:
    db = tmp_path / "killed.db"
    Store(db).close()
    handed, killed_at = _killed_recording(db, durability)
    with Store(db, recover=False) as store:
        [row] = store.streams()
        assert row["status"] == "recording"  # its recorder died mid-stream
        stored = store.events(row["stream_id"])
        chunks = sum(e.kind is EventKind.CHUNK for e in stored)
        assert [e.seq for e in stored] == list(range(len(stored)))  # a gapless prefix
    lost = handed[chunks:]
    if durability == "chunk":
        assert lost == [], f"{len(lost)} chunk(s) handed over were lost"
    else:
        assert all(t >= killed_at - _GROUP_WINDOW_S for t in lost), (
            f"lost chunks handed over {killed_at - min(lost):.3f}s before the kill"
        )
    result = CliRunner().invoke(main, ["--db", str(db), "recover", "--json"])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        assert store.stream(row["stream_id"])["status"] == "interrupted"
        assert store.verify() == []


def test_chunk_durability_commits_before_the_consumer_gets_the_chunk(store: Store) -> None:
    stream = record(
        iter(text_stream(["a", "b", "c"])), api="openai", store=store, durability="chunk"
    )
    for n, _ in enumerate(stream):
        stored = store.events(stream.stream_id)
        assert sum(e.kind is EventKind.CHUNK for e in stored) == n + 1


def test_an_unknown_durability_is_a_usage_error(store: Store) -> None:
    with pytest.raises(RecorderError, match="durability must be one of group, chunk"):
        record(iter([]), api="openai", store=store, durability="fsync")  # type: ignore[arg-type]


def test_the_cli_takes_durability() -> None:
    for command in ("record", "proxy"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "--durability [group|chunk]" in result.stdout
