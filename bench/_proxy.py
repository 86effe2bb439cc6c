"""The recording proxy under load: per-event delay and time to first byte, 1 and 50 streams.

Three processes, as under ``streamrec record``: the streaming upstream of
``bench/bench_proxy.py`` (it stamps each event with the shared monotonic
clock), ``streamrec proxy`` recording into a fresh SQLite file, and this
client. Each round sends the same number of concurrent streams straight to
the upstream (the floor) and through the recording proxy, back to back.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._harness import Row, Scale

__all__ = ["rows"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _round(
    client: Any, url: str, concurrency: int, gap_ms: float
) -> tuple[list[float], list[float]]:
    from .bench_proxy import one_stream

    done = await asyncio.gather(*(one_stream(client, url, gap_ms) for _ in range(concurrency)))
    return [t for t, _ in done], [d for _, ds in done for d in ds]


async def _measure(
    urls: dict[str, str], concurrency: int, rounds: int, gap_ms: float
) -> dict[str, list[dict[str, float]]]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency)
    out: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for url in urls.values():
            await _round(client, url, concurrency, gap_ms)  # warm connections and code paths
        for _ in range(rounds):
            for name, url in urls.items():
                ttfb, delays = await _round(client, url, concurrency, gap_ms)
                out[name].append(
                    {
                        "p50": _pct(delays, 0.50) / 1e3,
                        "p99": _pct(delays, 0.99) / 1e3,
                        "ttfb": _pct(ttfb, 0.50) / 1e3,
                    }
                )
    return out


def rows(size: Scale) -> list[Row]:
    """p50 and p99 per-event delay and median time to first byte, at 1 and 50 streams."""
    from . import bench_proxy

    events, gap_ms = size.pick(5, 50, 200), 2.0
    rounds = size.pick(1, 3, 7)
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root, "PYTHONWARNINGS": "ignore"}
    upstream, (up_url,) = bench_proxy._start(
        [sys.executable, bench_proxy.__file__, "--serve-upstream", "--events", str(events),
         "--gap-ms", str(gap_ms)],
        env,
    )  # fmt: skip
    db = Path(tempfile.mkdtemp()) / "proxy.db"
    proxy, (banner,) = bench_proxy._start(
        [
            sys.executable,
            "-m",
            "streamrec",
            "--db",
            str(db),
            "proxy",
            f"--upstream=openai={up_url}",
        ],
        env,
    )
    proxy_url = banner.split()[3].rstrip(",")
    urls = {
        "direct": up_url + "/v1/chat/completions",
        "proxy": proxy_url + "/openai/v1/chat/completions",
    }
    out: list[Row] = []
    try:
        # one stream at a fast pace; 50 at a token-like one (20 ms: 50 tokens/s each, 2,500
        # events/s in all), which the upstream and the client here can still serve on time
        for concurrency, pace in ((1, gap_ms), (size.pick(5, 50, 50), 20.0)):
            figures = asyncio.run(_measure(urls, concurrency, rounds, pace))
            for metric, label, bound in (
                ("p50", "per-event delay p50", 0.3),
                ("p99", "per-event delay p99", 2.0),
                ("ttfb", "time to first byte", 2.0),
            ):
                ours = [f[metric] for f in figures["proxy"]]
                floor = [f[metric] for f in figures["direct"]]
                out.append(
                    Row(
                        f"recording proxy, {concurrency} concurrent stream(s), {label}",
                        "ms",
                        ours,
                        "direct to the upstream",
                        floor,
                        higher_is_better=False,
                        target=f"≤ {bound} ms above direct",
                        check=lambda r, bound=bound: r.figure - (r.floor_figure or 0) <= bound,
                        note=f"{events} events {pace:g} ms apart",
                    )
                )
    finally:
        proxy.send_signal(2)
        proxy.communicate(timeout=30)
        assert upstream.stdin is not None
        upstream.stdin.close()
        upstream.wait(timeout=30)
    return out
