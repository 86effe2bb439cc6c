"""`streamrec tail`: chunks printed while another process records them, on SQLite (polling)
and PostgreSQL (LISTEN/NOTIFY), ending when the stream ends."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamrec import Store
from streamrec.cli import main
from streamrec.events import EventKind
from streamrec.store._tail import follow

ROOT = Path(__file__).parent.parent

# a recorder in another process: one word every 150 ms, after a "go" file appears
RECORDER = """
import sys, time
from pathlib import Path
from streamrec import SSEEvent, Store, record
from tests.chunks import REQUEST, text_stream
store = Store(sys.argv[1])
def slow():
    for n, c in enumerate(text_stream([f"w{i} " for i in range(8)])):
        if n:
            time.sleep(0.15)
        yield SSEEvent(c)
stream = record(slow(), api="openai.chat.completions", request=REQUEST, store=store, name="live")
it = iter(stream)
next(it)
store.writer.flush()
print(stream.stream_id, flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.02)
for _ in it:
    pass
store.close()
"""


@pytest.fixture
def recorder(url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    Store(url).close()  # the schema exists before either side opens it
    go = tmp_path / "go"
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER, url, str(go)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    stream_id = proc.stdout.readline().strip()
    yield proc, stream_id, go
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_follow_sees_chunks_before_the_stream_ends(
    url: str, recorder: tuple[subprocess.Popen[str], str, Path]
) -> None:
    proc, stream_id, go = recorder
    with Store(url) as store:
        got = []
        go.touch()
        for event in follow(store, stream_id, poll_s=0.05):
            got.append((event.seq, event.kind, proc.poll() is None))
        assert proc.wait(timeout=30) == 0
    assert [seq for seq, _, _ in got] == list(range(len(got)))
    assert got[0][1] is EventKind.STARTED and got[-1][1] is EventKind.COMPLETED
    chunks = [alive for _, kind, alive in got if kind is EventKind.CHUNK]
    assert len(chunks) == 12 and sum(chunks) >= 3  # they arrived while it was still recording


def test_cli_tail_prints_the_text_and_ends(
    url: str, recorder: tuple[subprocess.Popen[str], str, Path]
) -> None:
    proc, stream_id, go = recorder
    go.touch()
    start = time.monotonic()
    result = CliRunner().invoke(main, ["--db", url, "tail", stream_id[:12], "--interval", "0.05"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "w0 w1 w2 w3 w4 w5 w6 w7 \n"
    assert "— completed" in result.stderr
    assert time.monotonic() - start < 20
    proc.wait(timeout=30)
    raw = CliRunner().invoke(main, ["--db", url, "tail", "latest", "--show", "raw"])
    assert raw.exit_code == 0 and raw.stdout.splitlines()[-1] == "[DONE]"


def test_follow_every_new_stream(
    url: str, recorder: tuple[subprocess.Popen[str], str, Path]
) -> None:
    _, stream_id, go = recorder
    go.touch()
    result = CliRunner().invoke(
        main, ["--db", url, "tail", "--follow", "--idle-timeout", "2", "--interval", "0.05"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(line.startswith(stream_id[:8]) for line in lines)
    assert lines[-1] == f"{stream_id[:8]} — completed", lines
    text = "".join(line.split(" ", 1)[1] for line in lines if "—" not in line)
    assert text and "w0w1w2w3w4w5w6w7".endswith(text.replace(" ", "")), lines  # after it began
    assert "w0 w1 w2 w3 w4 w5 w6 w7 ".endswith(text)  # what came after it began


def test_ls_watch_shows_streams_in_flight(
    url: str, recorder: tuple[subprocess.Popen[str], str, Path]
) -> None:
    proc, stream_id, go = recorder
    watcher = subprocess.Popen(
        [sys.executable, "-m", "streamrec", "--db", url, "ls", "--watch", "--interval", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert watcher.stdout is not None
    seen: list[str] = []
    try:
        # the recorder waits for "go": its stream stays in flight until then
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(stream_id in line for line in seen):
            seen.append(watcher.stdout.readline())
    finally:
        watcher.terminate()
        watcher.communicate(timeout=10)
    go.touch()
    assert any("1 stream(s) in flight" in line for line in seen)
    assert any(stream_id in line and "recording" not in line for line in seen)
    assert proc.wait(timeout=30) == 0
