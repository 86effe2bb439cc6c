"""Printing recordings whose chunks held bytes that are not UTF-8.

Such bytes are stored as surrogate escapes (``encoding='json'`` in the log, see
tests/test_trust_payloads.py). The raw formats give the very bytes received
back; the text formats print them as ``\\udcXX`` escapes (in JSON output: JSON
escapes of the same code points) and never fail to print.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner, Result

from streamrec import Store, record
from streamrec.cli import main
from streamrec.providers import frame_sse

from .chunks import REQUEST

# a Latin-1 "é" and a stray 0xff where UTF-8 was due, in the content and the model
CHUNKS = [
    b'{"id":"c1","model":"gpt-4o-\xff","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":"caf\xe9"}}]}',
    b'{"id":"c1","model":"gpt-4o-\xff","choices":[{"index":0,"delta":{"content":" ok"},'
    b'"finish_reason":"stop"}]}',
    b"[DONE]",
]
CONTENT = "caf\udce9 ok"  # what the projection folds: the bad byte as its surrogate escape


@pytest.fixture
def recorded(url: str) -> tuple[str, str]:
    with Store(url) as store:
        stream = record(iter(CHUNKS), api="openai", request=REQUEST, store=store)
        list(stream)
        assert store.events(stream.stream_id)[1].payload == CHUNKS[0].decode(
            "utf-8", "surrogateescape"
        )
    return url, stream.stream_id


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_replay_raw_and_sse_write_the_bytes_received(recorded: tuple[str, str]) -> None:
    url, stream_id = recorded
    raw = run("--db", url, "replay", stream_id, "--format", "raw")
    assert raw.exit_code == 0, raw.output
    assert raw.stdout_bytes == b"".join(c + b"\n" for c in CHUNKS)
    sse = run("--db", url, "replay", stream_id, "--format", "sse")
    assert sse.exit_code == 0, sse.output
    texts = [c.decode("utf-8", "surrogateescape") for c in CHUNKS]
    assert sse.stdout_bytes == b"".join(frame_sse("openai", t, None) for t in texts)
    assert b"caf\xe9" in sse.stdout_bytes


def test_replay_text_and_jsonl_print_escapes(recorded: tuple[str, str]) -> None:
    url, stream_id = recorded
    text = run("--db", url, "replay", stream_id)
    assert text.exit_code == 0, text.output
    assert text.stdout == "caf\\udce9 ok\n"
    jsonl = run("--db", url, "replay", stream_id, "--format", "jsonl")
    assert jsonl.exit_code == 0, jsonl.output
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    # valid JSON whose strings are the stored text, code point for code point
    assert [line["data"] for line in lines] == [
        c.decode("utf-8", "surrogateescape") for c in CHUNKS
    ]


def test_show_ls_and_tail_print(recorded: tuple[str, str]) -> None:
    url, stream_id = recorded
    shown = run("--db", url, "show", stream_id, "--events", "all")
    assert shown.exit_code == 0, shown.output
    assert "model            gpt-4o-\\udcff\n" in shown.stdout
    assert "content          'caf\\udce9 ok'\n" in shown.stdout
    assert 'content="caf\\udce9"' in shown.stdout  # the timeline's delta
    as_json = run("--db", url, "show", stream_id, "--json")
    assert as_json.exit_code == 0, as_json.output
    state = json.loads(as_json.stdout)
    assert (state["content"], state["model"]) == (CONTENT, "gpt-4o-\udcff")
    listed = run("--db", url, "ls", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    with Store(url) as store:  # as the read model holds it
        assert row["model"] == store.stream(stream_id)["model"]
    table = run("--db", url, "ls")
    assert table.exit_code == 0, table.output
    assert stream_id in table.stdout
    tail = run("--db", url, "tail", stream_id)
    assert tail.exit_code == 0, tail.output
    assert tail.stdout == "caf\\udce9 ok\n"
    tail_raw = run("--db", url, "tail", stream_id, "--show", "raw")
    assert tail_raw.exit_code == 0, tail_raw.output
    assert tail_raw.stdout_bytes == b"".join(c + b"\n" for c in CHUNKS)


def test_a_real_stdout(recorded: tuple[str, str]) -> None:
    # a process of its own: Python's own stdout (UTF-8, strict), not CliRunner's
    url, stream_id = recorded
    for fmt, expected in [
        ("raw", b"".join(c + b"\n" for c in CHUNKS)),
        ("text", b"caf\\udce9 ok\n"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "streamrec", "--db", url, "replay", stream_id, "--format", fmt],
            capture_output=True,
            timeout=60,
            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert done.stdout == expected
