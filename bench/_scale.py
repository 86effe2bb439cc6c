"""Several recording proxies into one PostgreSQL: 1, 2 and 4 proxy processes, as on several hosts.

Each proxy process records into the same database (one schema); the client
spreads the same total of concurrent streams over them. Printed per process
count: the events per second the client received through the proxies (all of
them recorded and committed by the end: the count in the database is checked),
the per-event delay p99 above the direct path, and the database's commit rate
(PostgreSQL's ``xact_commit`` over the run). Where the rate stops growing with
processes while the delay grows, the database (or, here, the two shared cores)
is the bound: see docs/performance.md.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._harness import Row, Scale

__all__ = ["rows"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _drive(urls: list[str], streams: int) -> tuple[float, list[float], int]:
    """(seconds, per-event delays in ms, events) for ``streams`` concurrent streams over ``urls``."""
    import httpx

    from .bench_proxy import one_stream

    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(one_stream(client, u) for u in urls))  # warm each proxy
        start = time.perf_counter()
        done = await asyncio.gather(
            *(one_stream(client, urls[i % len(urls)]) for i in range(streams))
        )
        seconds = time.perf_counter() - start
    delays = [d / 1e3 for _, ds in done for d in ds]
    return seconds, delays, len(delays)


def _commits(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def _events_in(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'chunk'").fetchone()
    return int(row[0]) if row else 0


def rows(size: Scale) -> list[Row]:
    """Throughput and delay with 1, 2 and 4 recording proxies into one database."""
    from . import bench_proxy
    from ._store import PG_URL, pg_available, pg_schema

    if not pg_available():
        return [Row("proxies into one PostgreSQL", "events/s", [0], note="PostgreSQL unreachable")]
    from streamrec import Store

    events, gap_ms = size.pick(5, 50, 100), 2.0
    streams = size.pick(4, 40, 80)
    counts = size.pick((1,), (1, 2, 4), (1, 2, 4))
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root, "PYTHONWARNINGS": "ignore"}
    upstream, (up_url,) = bench_proxy._start(
        [sys.executable, bench_proxy.__file__, "--serve-upstream", "--events", str(events),
         "--gap-ms", str(gap_ms)],
        env,
    )  # fmt: skip
    out: list[Row] = []
    try:
        for n in counts:
            # the floor beside each count, so load on the machine hits both
            direct = [up_url + "/v1/chat/completions"]
            direct_s, direct_delays, _ = asyncio.run(_drive(direct, streams))
            direct_p99 = _pct(direct_delays, 0.99)
            with pg_schema() as url:
                Store(url).close()  # the schema, before the proxies race to create it
                proxies: list[Any] = []
                urls = []
                try:
                    for _ in range(n):
                        proxy, (banner,) = bench_proxy._start(
                            [sys.executable, "-m", "streamrec", "--db", url, "proxy",
                             f"--upstream=openai={up_url}"],
                            env,
                        )  # fmt: skip
                        proxies.append(proxy)
                        urls.append(banner.split()[3].rstrip(",") + "/openai/v1/chat/completions")
                    commits0 = _commits(PG_URL)
                    seconds, delays, received = asyncio.run(_drive(urls, streams))
                finally:
                    for proxy in proxies:
                        proxy.send_signal(2)
                    for proxy in proxies:
                        proxy.communicate(timeout=60)
                commits = _commits(PG_URL) - commits0
                stored = _events_in(url)
            out.append(
                Row(
                    f"{n} recording prox{'y' if n == 1 else 'ies'} into one PostgreSQL, "
                    f"{streams} concurrent streams",
                    "events/s",
                    [received / seconds],
                    "direct to the upstream",
                    [received / direct_s],
                    note=(
                        f"p99 delay {_pct(delays, 0.99):.2f} ms vs direct {direct_p99:.2f} ms; "
                        f"{stored} of {(streams + n) * (events + 1)} chunks stored; "
                        f"{commits / seconds:.0f} commits/s"
                    ),
                )
            )
    finally:
        assert upstream.stdin is not None
        upstream.stdin.close()
        upstream.wait(timeout=30)
    return out
