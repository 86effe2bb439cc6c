"""Fifty streams at once through one proxy: none lost, none mixed up, each in order."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai

from streamrec import SSEEvent, Store
from streamrec.recorder import STREAM_ID_HEADER, ProxyServer, RecordingProxy, SSESplitter
from tests.upstream import SCENARIO_HEADER, Upstream

N = 50


async def _one(client: httpx.AsyncClient, i: int) -> tuple[str, str, list[SSEEvent]]:
    prompt = f"stream number {i} of {N}: {'x' * i}"
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    splitter = SSESplitter()
    events: list[SSEEvent] = []
    async with client.stream(
        "POST",
        "/openai/v1/chat/completions",
        json=body,
        headers={SCENARIO_HEADER: "openai_chat.slow"},
    ) as response:
        assert response.status_code == 200
        stream_id = response.headers[STREAM_ID_HEADER]
        async for part in response.aiter_raw():
            events += splitter.feed(part)
    return prompt, stream_id, events + splitter.close()


def _content(events: list[SSEEvent]) -> str:
    text = ""
    for event in events:
        if event.data != "[DONE]":
            for choice in json.loads(event.data)["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def test_fifty_concurrent_streams_keep_to_themselves(store: Store, upstream: Upstream) -> None:
    proxy = RecordingProxy(store=store, upstreams={"openai": upstream.openai_base_url})

    async def main() -> list[tuple[str, str, list[SSEEvent]]]:
        limits = httpx.Limits(max_connections=N)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
            return await asyncio.gather(*(_one(client, i) for i in range(N)))

    with ProxyServer(proxy) as server:
        results = asyncio.run(main())
    store.writer.flush()

    # they overlapped: the upstream (20 ms between frames) took far less than N streams in a row
    starts = sorted(r.received_at for r in upstream.requests)
    assert starts[-1] - starts[0] < 1.0

    assert len(proxy.stream_ids) == N
    assert sorted(sid for _, sid, _ in results) == sorted(proxy.stream_ids)
    for prompt, stream_id, received in results:
        # what the client got is its own answer, and the store holds exactly that, in order
        assert _content(received) == f"Echo: {prompt}"
        stored = [
            SSEEvent(e.payload, e.event) for e in store.events(stream_id) if e.kind.value == "chunk"
        ]
        assert stored == received
        state = store.state(stream_id)
        assert state.status == "completed"
        assert state.content == f"Echo: {prompt}"
        assert prompt in json.dumps(state.messages)
    assert {r["status"] for r in store.streams()} == {"completed"}
    assert store.verify() == []


def test_fifty_concurrent_sdk_streams(store: Store, upstream: Upstream) -> None:
    proxy = RecordingProxy(store=store, upstreams={"openai": upstream.openai_base_url})

    async def one(client: openai.AsyncOpenAI, i: int) -> tuple[str, str]:
        prompt = f"sdk stream {i}"
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return prompt, text

    async def main() -> list[tuple[str, str]]:
        async with openai.AsyncOpenAI(
            base_url=server.env["OPENAI_BASE_URL"], api_key="sk-x", max_retries=0
        ) as client:
            return await asyncio.gather(*(one(client, i) for i in range(N)))

    with ProxyServer(proxy) as server:
        results = asyncio.run(main())
    store.writer.flush()
    assert all(text == f"Echo: {prompt}" for prompt, text in results)
    contents = sorted(store.state(i).content for i in proxy.stream_ids)
    assert contents == sorted(f"Echo: {prompt}" for prompt, _ in results)
    assert {store.state(i).status for i in proxy.stream_ids} == {"completed"}
