"""History at scale: `stats`, `stats --by day,model`, the views and `ls` over N recorded streams.

    python bench/bench_history.py                 # 1,000,000 streams on SQLite
    python bench/bench_history.py --streams 100000 --db postgresql://…

Generates a realistic read model (90 days, 8 models of 3 providers, 97 %
completed, 2 % failed, 1 % interrupted, log-normal tokens and latencies, 200
users in metadata, tags) straight into ``streams`` (bulk inserts, not the
recorder: generation is not what is measured), plus the event log of a sample
of streams, from which the bytes on disk per chunk are reported beside the
raw chunk size. Then times each query (median of ``--repeat`` runs) through
the library calls the CLI makes. Figures are printed, not asserted;
``measure()`` returns them for the perf harness (``python -m bench``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from streamrec import Store  # noqa: E402
from streamrec.store._schema import events, streams  # noqa: E402

MODELS = [
    ("openai", "openai.chat.completions", "gpt-4o-mini-2024-07-18", 150, 600, 0.30),
    ("openai", "openai.chat.completions", "gpt-4o-2024-08-06", 2500, 10000, 0.12),
    ("openai", "openai.responses", "gpt-4.1-2025-04-14", 2000, 8000, 0.10),
    ("openai", "openai.responses", "o4-mini-2025-04-16", 1100, 4400, 0.08),
    ("anthropic", "anthropic.messages", "claude-sonnet-4-5-20250929", 3000, 15000, 0.15),
    ("anthropic", "anthropic.messages", "claude-haiku-4-5-20251001", 1000, 5000, 0.10),
    ("google", "google.generate_content", "gemini-2.5-flash", 300, 2500, 0.10),
    ("google", "google.generate_content", "gemini-2.5-pro", 1250, 10000, 0.05),
]
START = datetime(2026, 9, 1, tzinfo=timezone.utc)
DAYS = 90
SAMPLE_STREAMS = 2000  # streams whose event log is written, for bytes per chunk


def _stream_rows(n: int, seed: int = 7) -> Any:
    rng = random.Random(seed)
    weights = [m[5] for m in MODELS]
    users = [f"user{i:03d}" for i in range(200)]
    base = START.timestamp()
    for i in range(n):
        provider, api, model, in_price, out_price, _ = rng.choices(MODELS, weights)[0]
        started = datetime.fromtimestamp(base + rng.random() * DAYS * 86400, timezone.utc)
        roll = rng.random()
        status = "completed" if roll < 0.97 else "failed" if roll < 0.99 else "interrupted"
        chunks = max(1, int(rng.lognormvariate(3.5, 0.8)))
        ttft = int(rng.lognormvariate(math.log(400e6), 0.5))
        duration = ttft + chunks * int(rng.lognormvariate(math.log(15e6), 0.4))
        priced = status == "completed"
        inp = int(rng.lognormvariate(7, 1.2)) if priced else None
        cached = int(inp * rng.random() * 0.8) if inp and rng.random() < 0.4 else 0
        out = max(1, chunks + int(rng.random() * chunks)) if priced else None
        cost = (
            ((inp - cached) * in_price + cached * in_price // 10 + out * out_price)
            if priced and inp is not None and out is not None
            else None
        )
        yield {
            "stream_id": str(uuid.UUID(int=(int(started.timestamp() * 1000) << 80) | i)),
            "name": rng.choice(["chat", "agent", "search", "summarise"]),
            "tags": json.dumps(rng.sample(["prod", "beta", "eval", "ci"], rng.randint(0, 2))),
            "provider": provider,
            "api": api,
            "requested_model": model.rsplit("-20", 1)[0],
            "model": model,
            "status": status,
            "started_at": started,
            "day": started.strftime("%Y-%m-%d"),
            "ended_at": started + timedelta(microseconds=duration // 1000),
            "ttft_ns": ttft,
            "duration_ns": duration,
            "chunk_count": chunks,
            "malformed_chunks": 0,
            "input_tokens": inp,
            "cached_tokens": cached if priced else None,
            "cache_write_tokens": None,
            "output_tokens": out,
            "reasoning_tokens": 0 if priced else None,
            "usage_reported": priced,
            "cost_nanousd": cost,
            "cost_reason": None if priced else "usage not reported by the provider",
            "cache_savings_nanousd": cached * (in_price - in_price // 10) if priced else None,
            "finish_reasons": '["stop"]' if priced else None,
            "response_id": f"resp_{i}",
            "tool_call_count": 0,
            "error": '{"type": "RateLimitError", "message": "slow down"}'
            if status == "failed"
            else None,
            "last_seq": chunks + 1,
            "meta": json.dumps({"user": rng.choice(users), "project": f"p{i % 7}"}),
            "conversation_id": None,
        }


def _chunk_text(n: int) -> str:
    body = {
        "id": "chatcmpl-AbCdEf0123456789",
        "object": "chat.completion.chunk",
        "created": 1763900000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_0123456789",
        "choices": [{"index": 0, "delta": {"content": f" word{n}"}, "finish_reason": None}],
    }
    return json.dumps(body, separators=(",", ":"))


def populate(store: Store, n: int, batch: int = 20_000) -> dict[str, float]:
    """Write ``n`` stream rows and a sampled event log; returns generation figures."""
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with store._write_engine().begin() as conn:
        for row in _stream_rows(n):
            rows.append(row)
            if len(rows) == batch:
                conn.execute(insert(streams), rows)
                rows = []
        if rows:
            conn.execute(insert(streams), rows)
    generated = time.perf_counter() - t0
    # the sampled log: real chunk texts, to measure what a chunk costs on disk
    raw = 0
    chunks = 0
    sample: list[dict[str, Any]] = []
    when = START
    for s in range(SAMPLE_STREAMS):
        sid = f"sample-{s:08d}"
        for seq in range(40):
            text = _chunk_text(seq)
            raw += len(text.encode())
            chunks += 1
            sample.append(
                {
                    "stream_id": sid,
                    "seq": seq,
                    "kind": "chunk",
                    "t_ns": seq * 15_000_000,
                    "recorded_at": when,
                    "event": None,
                    "payload": text,
                }
            )
    before = _log_bytes(store)
    with store._write_engine().begin() as conn:
        for start in range(0, len(sample), batch):
            conn.execute(insert(events), sample[start : start + batch])
    after = _log_bytes(store)
    return {
        "generate_s": generated,
        "raw_bytes_per_chunk": raw / chunks,
        "disk_bytes_per_chunk": (after - before) / chunks if after > before else float("nan"),
    }


def _log_bytes(store: Store) -> int:
    """Bytes the ``events`` table and its indexes take."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            try:
                return int(
                    conn.exec_driver_sql(
                        "SELECT sum(pgsize) FROM dbstat WHERE name = 'events' "
                        "OR name IN (SELECT name FROM sqlite_master "
                        "WHERE type = 'index' AND tbl_name = 'events')"
                    ).scalar()
                    or 0
                )
            except Exception:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                path = store.engine.url.database or ""
                return os.path.getsize(path)
        return int(conn.exec_driver_sql("SELECT pg_total_relation_size('events')").scalar() or 0)


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def _view(store: Store, name: str) -> list[Any]:
    # straight on the engine: `streamrec sql` would stop a query at its 30 s timeout
    with store.engine.connect() as conn:
        return list(conn.exec_driver_sql(f"SELECT * FROM {name}").all())


def measure(store: Store, repeat: int = 3) -> dict[str, float]:
    """Seconds per query over what the store holds (median of ``repeat``)."""
    cases: dict[str, Callable[[], Any]] = {
        "stats (by model)": lambda: store.stats("model"),
        "stats --by day,model": lambda: store.stats("day,model"),
        "stats --by day --since 30d": lambda: store.stats("day", since="2026-11-01"),
        "view usage_daily": lambda: _view(store, "usage_daily"),
        "view usage_daily_model": lambda: _view(store, "usage_daily_model"),
        "view latency_by_model": lambda: _view(store, "latency_by_model"),
        "ls (newest 50)": lambda: store.streams(limit=51),
        "ls --model gpt-4o -n 50": lambda: store.streams(limit=51, model="gpt-4o"),
    }
    return {name: _timed(fn, repeat)[0] for name, fn in cases.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    tmp = None
    url = args.db
    if url is None:
        tmp = tempfile.mkdtemp(prefix="bench-history-")
        url = f"sqlite:///{tmp}/history.db"
    store = Store(url)
    store.grant_reader()
    try:
        built = populate(store, args.streams)
        if store.engine.dialect.name == "sqlite":
            with store.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            # what autovacuum does to a table this size within minutes: statistics, and the
            # visibility map that lets an index walk skip the heap
            with store._write_engine().connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE streams, stream_rollup"
                )
        timings = measure(store, args.repeat)
        sample = store.stats("day,model", since="2026-11-29")
    finally:
        store.close()
    if args.json:
        print(json.dumps({"streams": args.streams, **built, "seconds": timings}, indent=2))
        return 0
    print(f"{args.streams:,} streams on {url.split(':', 1)[0]}")
    print(f"  generated in {built['generate_s']:.1f} s (bulk insert, not measured below)")
    print(
        f"  bytes per chunk: {built['raw_bytes_per_chunk']:.0f} raw, "
        f"{built['disk_bytes_per_chunk']:.0f} on disk (events table and its indexes)"
    )
    for name, seconds in timings.items():
        print(f"  {name:32} {seconds * 1000:8.0f} ms")
    print("  stats --by day,model --since 2026-11-29 (first rows):")
    for r in sample[:6]:
        print(
            f"    {r['day']}  {r['model']:28} {r['streams']:6} streams  "
            f"${r['cost']:.2f}  ttft p50/p95 {r['ttft_ms_p50']:.0f}/{r['ttft_ms_p95']:.0f} ms"
        )
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
