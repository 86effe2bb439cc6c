"""The foundation end to end: the real openai SDK against a local server speaking OpenAI's SSE,
its stream wrapped by ``streamrec.record``, then rebuilt and replayed from the store."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from streamrec import SSEEvent, Store, record, replay, replay_async, replay_stream
from streamrec.errors import RecordedStreamError
from tests.upstream import SCENARIO_HEADER, TOOL_CALLS, Upstream, echo_text

API = "openai.chat.completions"


def _request(prompt: str = "Say hello to streamrec") -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def _client(up: Upstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=up.openai_base_url, api_key="sk-test-secret", max_retries=0)


def _dump(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c.model_dump(exclude_unset=True) for c in chunks]


def test_sync_sdk_stream_is_recorded_rebuilt_and_replayed(
    upstream: Upstream, any_store: Store
) -> None:
    store = any_store
    request = _request()
    with _client(upstream) as client:
        sdk_stream = client.chat.completions.create(**request)
        stream = record(sdk_stream, api=API, request=request, store=store)
        chunks = list(stream)
    assert all(type(c).__name__ == "ChatCompletionChunk" for c in chunks)
    live = stream.state
    expected = echo_text(API, request)
    assert live.content == expected
    assert live.finish_reasons == ["stop"]
    assert live.usage.reported and live.input_tokens and live.output_tokens
    assert live.id and live.id.startswith("chatcmpl-")
    assert live.cost is not None and live.cost > 0
    assert live.status == "completed"
    # rebuilt from the log alone equals what the live projection held
    assert store.state(stream.stream_id) == live
    # replay as SDK objects gives back equal chunks, in order
    assert _dump(list(replay(stream.stream_id, store=store, format="sdk"))) == _dump(chunks)
    # the stored request has no key, and the secret went to the upstream only
    assert "sk-test-secret" not in store.events(stream.stream_id)[0].payload
    assert upstream.requests[-1].header("authorization") == "Bearer sk-test-secret"


def test_async_sdk_stream(upstream: Upstream, any_store: Store) -> None:
    store = any_store
    request = _request("async please")

    async def main() -> tuple[list[Any], Any]:
        async with openai.AsyncOpenAI(
            base_url=upstream.openai_base_url, api_key="sk-test", max_retries=0
        ) as client:
            sdk_stream = await client.chat.completions.create(**request)
            stream = record(sdk_stream, api=API, request=request, store=store)
            chunks = [c async for c in stream]
            replayed = [c async for c in replay_async(stream.stream_id, store=store, format="sdk")]
            return chunks, (stream, replayed)

    chunks, (stream, replayed) = asyncio.run(main())
    assert stream.state.content == echo_text(API, request)
    assert store.state(stream.stream_id) == stream.state
    assert _dump(replayed) == _dump(chunks)


def test_parallel_tool_calls_through_the_sdk(upstream: Upstream, store: Store) -> None:
    request = _request("weather and time?")
    with _client(upstream) as client:
        sdk_stream = client.chat.completions.create(
            **request, extra_headers={SCENARIO_HEADER: "openai_chat.tools"}
        )
        stream = record(sdk_stream, api=API, request=request, store=store)
        list(stream)
    state = store.state(stream.stream_id)
    assert [(t.name, t.args) for t in state.tool_calls] == [(n, a) for n, a in TOOL_CALLS]
    assert all(t.complete and t.id and t.id.startswith("call_") for t in state.tool_calls)
    assert state.finish_reasons == ["tool_calls"]
    assert [c["function"]["name"] for c in state.message_param["tool_calls"]] == [
        n for n, _ in TOOL_CALLS
    ]


def test_tool_call_arriving_whole(upstream: Upstream, store: Store) -> None:
    request = _request()
    with _client(upstream) as client:
        sdk_stream = client.chat.completions.create(
            **request, extra_headers={SCENARIO_HEADER: "openai_chat.tool_whole"}
        )
        stream = record(sdk_stream, api=API, request=request, store=store)
        list(stream)
    assert [(t.name, t.args) for t in stream.state.tool_calls] == [TOOL_CALLS[0]]


def test_replay_stream_yields_chunk_tool_pairs_and_fills_attributes(
    upstream: Upstream, store: Store
) -> None:
    request = _request()
    with _client(upstream) as client:
        sdk_stream = client.chat.completions.create(
            **request, extra_headers={SCENARIO_HEADER: "openai_chat.tools"}
        )
        recorded = record(sdk_stream, api=API, request=request, store=store)
        list(recorded)
    replayed = replay_stream(recorded.stream_id, store=store, chunks="sdk")
    tools = []
    seen_chunks = 0
    for _chunk, tool in replayed:
        if tool is None:
            seen_chunks += 1
            assert replayed.chunk_count == seen_chunks
        else:
            tools.append(tool.name)
            assert tool.complete
    assert tools == [n for n, _ in TOOL_CALLS]
    assert replayed.state == store.state(recorded.stream_id)
    assert replayed.construct_call_response().tools[0].name == TOOL_CALLS[0][0]


def test_a_dropped_connection_is_recorded_as_failed_with_what_arrived(
    upstream: Upstream, store: Store
) -> None:
    request = _request("drop me")
    with _client(upstream) as client:
        sdk_stream = client.chat.completions.create(
            **request, extra_headers={SCENARIO_HEADER: "openai_chat.drop"}
        )
        stream = record(sdk_stream, api=API, request=request, store=store)
        got = []
        with pytest.raises(openai.APIConnectionError):
            for c in stream:
                got.append(c)
    state = store.state(stream.stream_id)
    assert state.status == "failed"
    assert state.chunk_count == len(got) > 0
    assert state.content == "".join(c.choices[0].delta.content or "" for c in got)
    with pytest.raises(RecordedStreamError):
        list(replay(stream.stream_id, store=store))


def _wire_events(up: Upstream, request: dict[str, Any]) -> list[SSEEvent]:
    """The SSE events exactly as the server sent them, read with httpx, not an SDK."""
    out = []
    with httpx.stream("POST", f"{up.openai_base_url}/chat/completions", json=request) as response:
        data: list[str] = []
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line == "" and data:
                out.append(SSEEvent("\n".join(data)))
                data = []
    return out


def test_wire_text_replays_byte_for_byte_instantly_and_on_the_clock(
    upstream: Upstream, any_store: Store
) -> None:
    store = any_store
    request = _request("bytes please")
    events = _wire_events(upstream, request)
    assert events[-1].data == "[DONE]"
    stream = record(events, api=API, request=request, store=store)
    assert list(stream) == events
    assert list(replay(stream.stream_id, store=store)) == [e.data for e in events]
    assert list(replay(stream.stream_id, store=store, format="sse")) == events
    assert list(replay(stream.stream_id, store=store, speed=1.0)) == [e.data for e in events]
    decoded = list(replay(stream.stream_id, store=store, format="json"))
    assert decoded == [json.loads(e.data) for e in events[:-1]]  # [DONE] has no decoded form
    assert store.state(stream.stream_id).content == echo_text(API, request)


def test_the_chat_helper_streams_events_are_stored_as_their_wire_chunks(
    upstream: Upstream, store: Store
) -> None:
    request = _request("helper stream")
    kwargs = {k: v for k, v in request.items() if k != "stream"}
    with _client(upstream) as client, client.chat.completions.stream(**kwargs) as helper:
        stream = record(helper, api=API, request=request, store=store)
        events = list(stream)
    assert {e.type for e in events} > {"chunk"}  # the helper adds events of its own
    stored = [json.loads(p) for p in replay(stream.stream_id, store=store)]
    assert all(d["object"] == "chat.completion.chunk" for d in stored)
    assert len(stored) == sum(1 for e in events if e.type == "chunk")
    assert store.state(stream.stream_id).content == echo_text(API, request)
