"""What the recording proxy adds to a live stream: per-event forwarding delay and time to first byte.

One run, three processes, as under ``streamrec record``: a streaming upstream,
``streamrec proxy`` (recording into a fresh SQLite file) in front of it, and
this client. The upstream stamps every event with the monotonic clock when it
writes it (``CLOCK_MONOTONIC`` is shared by the processes of one machine); the
client notes when each event arrives. Streams rotate between going straight
to the upstream (the floor), through the proxy on a path it only forwards
(the cost of the hop alone), and through the proxy recording; each figure is
printed for the three, with the recording proxy's ratio to the floor and the
absolute difference.

Run: ``python bench/bench_proxy.py [--streams N] [--events N] [--gap-ms MS]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

_CHUNK = {
    "id": "chatcmpl-bench",
    "object": "chat.completion.chunk",
    "created": 1763900000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_bench",
}


_STAMP = re.compile(rb'"t_sent_ns":(\d+)')


def upstream_app(events: int, gap: float) -> Any:
    """An OpenAI-style SSE upstream whose every event carries the time it was written."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        # a client may ask for its own pace (the 50-stream rows use a token-like one)
        asked = dict(scope["headers"]).get(b"x-bench-gap-ms")
        pause = float(asked) / 1000 if asked else gap
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(events):
            delta = {"content": f"token{i} "}
            body = {**_CHUNK, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            body["t_sent_ns"] = time.monotonic_ns()
            frame = f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            await asyncio.sleep(pause)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def serve_upstream(events: int, gap: float) -> None:
    """Child process: serve the upstream on a free port and print its URL."""
    from streamrec._serving import BackgroundServer

    with BackgroundServer(upstream_app(events, gap)) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


def _start(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    return child, [child.stdout.readline().strip()]


async def one_stream(
    client: httpx.AsyncClient, url: str, gap_ms: float | None = None
) -> tuple[float, list[float]]:
    """(time to first byte, per-event delays), in microseconds."""
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "bench"}],
        "stream": True,
    }
    delays: list[float] = []
    start = time.monotonic_ns()
    ttfb = None
    tail = b""
    headers = {"x-bench-gap-ms": str(gap_ms)} if gap_ms is not None else {}
    async with client.stream("POST", url, json=body, headers=headers) as response:
        async for part in response.aiter_raw():
            now = time.monotonic_ns()
            if ttfb is None:
                ttfb = (now - start) / 1e3
            # the stamp is all the client reads (a regex, not an SSE parse and a JSON decode
            # per event): at 50 streams the client must not be what saturates
            text = tail + part
            cut = text.rfind(b"\n\n") + 2
            tail = text[cut:] if cut > 1 else text
            delays += [(now - int(m)) / 1e3 for m in _STAMP.findall(text, 0, cut if cut > 1 else 0)]
    assert ttfb is not None
    return ttfb, delays


async def measure(urls: dict[str, str], streams: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {name: {"ttfb": [], "delay": []} for name in urls}
    async with httpx.AsyncClient(timeout=60) as client:
        for url in urls.values():  # warm the connections and the proxy's code paths
            await one_stream(client, url)
        for _ in range(streams):
            for name, url in urls.items():
                ttfb, delays = await one_stream(client, url)
                out[name]["ttfb"].append(ttfb)
                out[name]["delay"] += delays
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(figures: dict[str, dict[str, list[float]]]) -> None:
    for metric, label in (("delay", "per-event delay"), ("ttfb", "time to first byte")):
        d, f, p = (figures[n][metric] for n in ("direct", "forward", "proxy"))
        for stat, fn in (
            ("median", statistics.median),
            ("p90", lambda v: _pct(v, 0.90)),
            ("p99", lambda v: _pct(v, 0.99)),
        ):
            a, h, b = fn(d), fn(f), fn(p)
            print(
                f"{label:19} {stat:6}  direct {a:8.1f} µs  proxy forwarding only {h:8.1f} µs  "
                f"proxy recording {b:8.1f} µs  ratio {b / a:5.2f}x  added {b - a:7.1f} µs"
            )
    events, streams = len(figures["proxy"]["delay"]), len(figures["proxy"]["ttfb"])
    print(f"(samples: {events} events, {streams} streams each way)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=2.0)
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.events, args.gap_ms / 1000)
        return

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    upstream, (up_url,) = _start(
        [sys.executable, __file__, "--serve-upstream", "--events", str(args.events),
         "--gap-ms", str(args.gap_ms)],
        env,
    )  # fmt: skip
    db = Path(tempfile.mkdtemp()) / "bench.db"
    proxy, (banner,) = _start(
        [sys.executable, "-c", "from streamrec.cli import main; main()", "--db", str(db),
         "proxy", f"--upstream=openai={up_url}"],
        {**env, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    proxy_url = banner.split()[3].rstrip(",")
    try:
        urls = {
            "direct": up_url + "/v1/chat/completions",
            "forward": proxy_url + "/openai/v1/bench/not-an-llm-endpoint",
            "proxy": proxy_url + "/openai/v1/chat/completions",
        }
        figures = asyncio.run(measure(urls, args.streams))
    finally:
        proxy.send_signal(2)
        proxy.communicate(timeout=30)
        assert upstream.stdin is not None
        upstream.stdin.close()
        upstream.wait(timeout=30)
    print(
        f"{args.streams} streams x {args.events} events, {args.gap_ms} ms apart; proxy records into {db}"
    )
    report(figures)


if __name__ == "__main__":
    main()
