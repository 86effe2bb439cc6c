"""Replay to an unmodified openai SDK client: streamrec against vcrpy and cassetter.

One 500-chunk Chat Completions stream is recorded once from the local upstream
(``tests/upstream.py``) by each tool; then the same client code consumes it,
timed to its first chunk and to its last, through:
- ``streamrec replay --serve`` (a server process of its own, as in CI),
- the pytest plugin's in-thread server (``BackgroundServer(replay_app(store))``),
- a vcrpy cassette and a cassetter cassette (both patch httpx in process);
and, in process without HTTP, ``streamrec.replay(id, format="sdk")`` against
the SDK parsing the same SSE bytes from memory (an ``httpx.MockTransport``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._harness import Row, Scale, interleave

__all__ = ["rows"]

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "bench"}],
    "stream": True,
}


def _scenario(n: int) -> Any:
    from tests.upstream import Frame, Scenario, sse_data

    def frames(req: dict[str, Any]) -> list[Frame]:
        base = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1}
        base["model"] = "gpt-4o-mini"
        out = [
            sse_data({**base, "choices": [{"index": 0, "delta": {"content": f"w{i} "}}]})
            for i in range(n)
        ]
        out.append(
            sse_data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        )
        out.append(Frame(b"data: [DONE]\n\n"))
        return out

    return Scenario(name="bench.long", api="openai.chat.completions", frames=frames)


def _consume(client: Any) -> tuple[float, float, int]:
    """(ms to first chunk, ms to last chunk, chunks) of one streamed call."""
    from tests.upstream import SCENARIO_HEADER

    start = time.perf_counter()
    first = None
    count = 0
    for _ in client.chat.completions.create(
        **REQUEST, extra_headers={SCENARIO_HEADER: "bench.long"}
    ):
        if first is None:
            first = time.perf_counter()
        count += 1
    end = time.perf_counter()
    assert first is not None
    return (first - start) * 1e3, (end - start) * 1e3, count


@contextlib.contextmanager
def _serve_process(db: Path) -> Iterator[str]:
    child = subprocess.Popen(
        [sys.executable, "-m", "streamrec", "--db", str(db), "replay", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert child.stdout is not None
    banner = child.stdout.readline()
    url = banner.split(" on ", 1)[1].split(",", 1)[0]
    try:
        yield url
    finally:
        child.send_signal(2)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def rows(size: Scale) -> list[Row]:
    """First and last chunk through each path, and in-process replay against the SDK's parse."""
    import httpx
    import openai
    import vcr

    import streamrec
    from streamrec._serving import BackgroundServer
    from streamrec.replay import replay_app
    from tests.upstream import SCENARIO_HEADER, Upstream

    try:
        import cassetter
    except ImportError:  # the bench extra brings it; without it its rows say so
        cassetter = None

    n = size.pick(20, 500, 500)
    repeats = size.pick(1, 5, 21)
    tmp = Path(tempfile.mkdtemp())
    vcr_cassette = str(tmp / "vcr.yaml")
    cas_cassette = str(tmp / "cassetter.yaml")
    db = tmp / "s.db"
    up = Upstream()
    with up:
        up.register(_scenario(n))
        base_url = up.openai_base_url
        with (
            vcr.use_cassette(vcr_cassette, record_mode="once"),
            openai.OpenAI(base_url=base_url, api_key="sk", http_client=httpx.Client()) as c,
        ):
            expected = _consume(c)[2]
        if cassetter is not None:
            with (
                cassetter.use_cassette(cas_cassette, record_mode="once"),
                openai.OpenAI(base_url=base_url, api_key="sk", http_client=httpx.Client()) as c,
            ):
                assert _consume(c)[2] == expected
        store = streamrec.Store(db)
        with openai.OpenAI(base_url=base_url, api_key="sk") as c:
            recorded = streamrec.record(
                c.chat.completions.create(**REQUEST, extra_headers={SCENARIO_HEADER: "bench.long"}),
                api="openai.chat.completions",
                request=REQUEST,
                store=store,
            )
            assert sum(1 for _ in recorded) == expected
        with httpx.Client() as raw:  # the bytes the SDK parses, for the in-memory floor
            body = raw.post(
                f"{base_url}/chat/completions",
                json=REQUEST,
                headers={SCENARIO_HEADER: "bench.long"},
            ).content
    # the upstream is stopped now: only the recordings can answer

    def through(client_for: Callable[[], Any], wrap: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> tuple[float, float]:
            with wrap(), client_for() as client:
                first, last, count = _consume(client)
            assert count == expected
            return first, last

        return run

    def plain_client(url: str) -> Callable[[], Any]:
        return lambda: openai.OpenAI(base_url=url, api_key="sk", http_client=httpx.Client())

    nothing = contextlib.nullcontext
    runners: dict[str, Callable[[], tuple[float, float]]] = {
        "vcrpy": through(
            plain_client(base_url), lambda: vcr.use_cassette(vcr_cassette, record_mode="none")
        ),
    }
    if cassetter is not None:
        runners["cassetter"] = through(
            plain_client(base_url),
            lambda: cassetter.use_cassette(cas_cassette, record_mode="none"),
        )
    out: list[Row] = []
    with (
        _serve_process(db) as serve_url,
        BackgroundServer(replay_app(store)) as server,
    ):
        runners["replay --serve"] = through(plain_client(f"{serve_url}/v1"), nothing)
        runners["in-thread server"] = through(plain_client(f"{server.url}/v1"), nothing)
        figures: dict[str, list[tuple[float, float]]] = {k: [] for k in runners}
        for fn in runners.values():
            fn()  # warm up
        for _ in range(repeats):  # interleaved: every path once per round
            for name, fn in runners.items():
                figures[name].append(fn())
    for ours in ("replay --serve", "in-thread server"):
        for peer in ("vcrpy", "cassetter"):
            for which, label in ((1, "last"), (0, "first")):
                name = f"{n}-chunk stream to the openai SDK via {ours}, to {label} chunk"
                if peer not in figures:
                    out.append(Row(name, "ms", [f[which] for f in figures[ours]],
                                   note=f"{peer} not installed: pip install -e '.[bench]'"))  # fmt: skip
                    continue
                out.append(
                    Row(
                        name,
                        "ms",
                        [f[which] for f in figures[ours]],
                        f"{peer} cassette",
                        [f[which] for f in figures[peer]],
                        higher_is_better=False,
                        target="ratio > 1",
                        check=lambda r: (r.ratio or 0) > 1,
                    )
                )

    def in_memory() -> float:
        transport = httpx.MockTransport(
            lambda request: httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=body
            )
        )
        with openai.OpenAI(
            base_url="http://memory/v1", api_key="sk", http_client=httpx.Client(transport=transport)
        ) as client:
            return _consume(client)[1]

    def in_process() -> float:
        start = time.perf_counter()
        count = sum(1 for _ in streamrec.replay(recorded.stream_id, store=store, format="sdk"))
        assert count == expected
        return (time.perf_counter() - start) * 1e3

    a, b = interleave(in_process, in_memory, repeats)
    out.append(
        Row(
            f"in-process `replay(id, format='sdk')`, {n} chunks",
            "ms",
            a,
            "the SDK parsing the same bytes from memory",
            b,
            higher_is_better=False,
            target="ratio ≥ 0.83 (within 1.2x)",
            check=lambda r: (r.ratio or 0) >= 1 / 1.2,
        )
    )
    store.close()
    return out
