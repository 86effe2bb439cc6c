"""How much recording costs the live stream, and how fast the log is written and read back.

Each figure is printed next to its floor from the same run, with the ratio:
- live path: iterating ``record(source)`` vs iterating the bare source (the generator floor);
- write: chunks committed per second through the group-commit writer vs raw ``sqlite3``
  ``executemany`` of the same rows in one transaction (the sqlite3 floor);
- replay: ``streamrec.replay`` of a stored stream vs raw ``sqlite3`` SELECT of its payloads;
- rebuild: projecting a stored stream vs ``json.loads`` of every payload (the parse floor).

Run: ``python bench/bench_record.py [--chunks N]``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamrec import SSEEvent, Store, record, replay
from streamrec.projection import project
from tests.chunks import chunk, usage_body


def chunks(n: int) -> list[SSEEvent]:
    body = [SSEEvent(chunk({"content": f"tok{i} "})) for i in range(n)]
    body.append(SSEEvent(chunk({}, "stop")))
    body.append(SSEEvent(chunk(choices=[], usage=usage_body(100, n))))
    body.append(SSEEvent("[DONE]"))
    return body


def best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=5000)
    n = parser.parse_args().chunks
    data = chunks(n)
    tmp = Path(tempfile.mkdtemp())
    store = Store(tmp / "bench.db")

    floor_iter = best(lambda: [c for c in iter(data)])
    live = {}

    def recorded_iteration() -> None:
        stream = record(data, api="openai.chat.completions", store=store)
        it = iter(stream)
        t = time.perf_counter()
        for _ in range(len(data)):
            next(it)
        live["t"] = time.perf_counter() - t
        for _ in it:  # completes and flushes
            pass
        live["id"] = stream.stream_id

    recorded_iteration()
    live_times = []
    for _ in range(3):
        recorded_iteration()
        live_times.append(live["t"])
    live_t = min(live_times)
    per_chunk_us = live_t / len(data) * 1e6
    print(
        f"live path     {per_chunk_us:8.2f} µs/chunk recorded   vs {floor_iter / len(data) * 1e6:8.3f} µs/chunk bare generator   ratio {live_t / floor_iter:8.1f}x"
    )

    def write_through_writer() -> None:
        stream = record(data, api="openai.chat.completions", store=store)
        for _ in stream:
            pass

    write_t = best(write_through_writer, 3)
    raw_db = tmp / "raw.db"
    conn = sqlite3.connect(raw_db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, seq INT, kind TEXT, t_ns INT, recorded_at TEXT, event TEXT, payload TEXT, UNIQUE(stream_id, seq))"
    )

    counter = iter(range(10**9))

    def raw_write() -> None:
        sid = f"s{next(counter)}"
        with conn:
            conn.executemany(
                "INSERT INTO events (stream_id, seq, kind, t_ns, recorded_at, event, payload) VALUES (?,?,?,?,?,?,?)",
                [(sid, i, "chunk", i, "2026-01-01", None, c.data) for i, c in enumerate(data)],
            )

    raw_t = best(raw_write, 3)
    print(
        f"write         {len(data) / write_t:10.0f} chunks/s (record+commit) vs {len(data) / raw_t:10.0f} chunks/s raw sqlite3     ratio {write_t / raw_t:8.1f}x"
    )

    sid = live["id"]
    replay_t = best(lambda: list(replay(sid, store=store)))
    raw_read_t = best(
        lambda: [
            r[0]
            for r in conn.execute("SELECT payload FROM events WHERE stream_id = 's0' ORDER BY seq")
        ]
    )
    print(
        f"replay        {len(data) / replay_t:10.0f} chunks/s                 vs {len(data) / raw_read_t:10.0f} chunks/s raw sqlite3     ratio {replay_t / raw_read_t:8.1f}x"
    )

    events = store.events(sid)
    fold_t = best(lambda: project(events))
    parse_t = best(
        lambda: [
            json.loads(e.payload)
            for e in events
            if e.payload != "[DONE]" and e.kind.value == "chunk"
        ]
    )
    print(
        f"rebuild       {len(data) / fold_t:10.0f} chunks/s projected         vs {len(data) / parse_t:10.0f} chunks/s json.loads      ratio {fold_t / parse_t:8.1f}x"
    )
    store.close()


if __name__ == "__main__":
    main()
