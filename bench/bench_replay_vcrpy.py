"""Replaying a recorded stream to an unmodified openai SDK client: streamrec against vcrpy.

Both record the same 500-chunk Chat Completions stream from the local upstream
(``tests/upstream.py``) once; then the same client code consumes it N times:
- vcrpy: cassette playback (it patches httpx; the SDK is given an ``httpx.Client``);
- streamrec, over HTTP: the replay server on loopback (``streamrec replay --serve``);
- streamrec, in process: ``streamrec.replay(id, format="sdk")`` (no HTTP at all).
Printed: milliseconds per replayed stream for each, and streamrec's ratio to vcrpy.

Run: ``python bench/bench_replay_vcrpy.py [--chunks N] [--runs N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import openai
import vcr

import streamrec
from streamrec._serving import BackgroundServer
from streamrec.replay import replay_app
from tests.upstream import SCENARIO_HEADER, Frame, Scenario, Upstream, sse_data


def _long(n: int) -> Scenario:
    def frames(req: dict[str, Any]) -> list[Frame]:
        base = {
            "id": "chatcmpl-b",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
        }
        out = [
            sse_data(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}
                    ],
                }
            )
            for i in range(n)
        ]
        out.append(
            sse_data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
        out.append(Frame(b"data: [DONE]\n\n"))
        return out

    return Scenario(name="bench.long", api="openai.chat.completions", frames=frames)


REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "bench"}],
    "stream": True,
}


def consume(client: openai.OpenAI) -> int:
    return sum(
        1
        for _ in client.chat.completions.create(
            **REQUEST, extra_headers={SCENARIO_HEADER: "bench.long"}
        )
    )


def timed(fn: Any, runs: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(runs):
        fn()
    return (time.perf_counter() - start) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    cassette = str(tmp / "cassette.yaml")
    up = Upstream()
    with up:
        up.register(_long(args.chunks))
        with (
            vcr.use_cassette(cassette, record_mode="once"),
            openai.OpenAI(
                base_url=up.openai_base_url, api_key="sk", http_client=httpx.Client()
            ) as client,
        ):
            vcr_chunks = consume(client)
        store = streamrec.Store(tmp / "s.db")
        with openai.OpenAI(base_url=up.openai_base_url, api_key="sk") as client:
            recorded = streamrec.record(
                client.chat.completions.create(
                    **REQUEST, extra_headers={SCENARIO_HEADER: "bench.long"}
                ),
                api="openai.chat.completions",
                request=REQUEST,
                store=store,
            )
            sr_chunks = sum(1 for _ in recorded)
    assert vcr_chunks == sr_chunks, (vcr_chunks, sr_chunks)
    base_url = up.openai_base_url  # the upstream is stopped now: only the cassette can answer

    def with_vcr() -> None:
        with (
            vcr.use_cassette(cassette, record_mode="none"),
            openai.OpenAI(base_url=base_url, api_key="sk", http_client=httpx.Client()) as client,
        ):
            assert consume(client) == vcr_chunks

    vcr_ms = timed(with_vcr, args.runs)
    with (
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk") as client,
    ):
        server_ms = timed(lambda: consume(client), args.runs)
    inproc_ms = timed(
        lambda: sum(1 for _ in streamrec.replay(recorded.stream_id, store=store, format="sdk")),
        args.runs,
    )
    print(
        f"replay of a {vcr_chunks}-chunk stream to the openai SDK, ms per stream (mean of {args.runs})"
    )
    print(f"  vcrpy cassette             {vcr_ms:8.2f} ms   (baseline)")
    print(f"  streamrec replay server    {server_ms:8.2f} ms   ratio {server_ms / vcr_ms:5.2f}x")
    print(f"  streamrec.replay(sdk)      {inproc_ms:8.2f} ms   ratio {inproc_ms / vcr_ms:5.2f}x")
    store.close()


if __name__ == "__main__":
    main()
