"""The replay server: unmodified SDK clients get recorded streams back, offline, byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from streamrec import SSEEvent, Store, record
from streamrec._serving import BackgroundServer
from streamrec.replay import replay_app
from tests.upstream import SCENARIO_HEADER, Upstream, echo_text

API = "openai.chat.completions"


def _request(prompt: str) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def _wire(
    url: str, request: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[bytes, list[SSEEvent]]:
    """The raw response bytes and the SSE events in them."""
    with httpx.stream("POST", url, json=request, headers=headers or {}) as response:
        raw = b"".join(response.iter_raw())
    events = []
    for block in raw.decode().split("\n\n"):
        lines = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            events.append(SSEEvent("\n".join(lines)))
    return raw, events


def test_replays_the_wire_bytes_exactly(upstream: Upstream, store: Store) -> None:
    request = _request("byte exact")
    raw, events = _wire(f"{upstream.openai_base_url}/chat/completions", request)
    list(record(events, api=API, request=request, store=store))
    with BackgroundServer(replay_app(store)) as server:
        replayed, _ = _wire(f"{server.url}/v1/chat/completions", request)
    assert replayed == raw


def test_an_unmodified_sdk_client_replays_offline(upstream: Upstream, store: Store) -> None:
    request = _request("hello offline")
    with openai.OpenAI(base_url=upstream.openai_base_url, api_key="sk-live", max_retries=0) as live:
        recorded = record(
            live.chat.completions.create(**request), api=API, request=request, store=store
        )
        live_chunks = [c.model_dump() for c in recorded]
    with (
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client,
    ):
        replayed = [c.model_dump() for c in client.chat.completions.create(**request)]
        assert replayed == live_chunks
        with pytest.raises(openai.NotFoundError) as info:
            list(client.chat.completions.create(**_request("never recorded")))
    message = str(info.value)
    assert "no recording matches POST /v1/chat/completions" in message
    assert (
        recorded.stream_id in message and "messages" in message
    )  # the closest one, and how it differs
    assert "streamrec record" in message


def test_non_streaming_request_gets_the_response_body(upstream: Upstream, store: Store) -> None:
    request = _request("whole please")
    with openai.OpenAI(base_url=upstream.openai_base_url, api_key="sk", max_retries=0) as live:
        recorded = record(
            live.chat.completions.create(**request), api=API, request=request, store=store
        )
        list(recorded)
    body = {k: v for k, v in request.items() if k not in {"stream", "stream_options"}}
    with (
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client,
    ):
        completion = client.chat.completions.create(**body)
    assert completion.choices[0].message.content == echo_text(API, request)
    assert (
        completion.usage is not None
        and completion.usage.prompt_tokens == recorded.state.input_tokens
    )


def test_a_recorded_drop_drops_again(upstream: Upstream, store: Store) -> None:
    request = _request("drop")
    with openai.OpenAI(base_url=upstream.openai_base_url, api_key="sk", max_retries=0) as live:
        recorded = record(
            live.chat.completions.create(
                **request, extra_headers={SCENARIO_HEADER: "openai_chat.drop"}
            ),
            api=API,
            request=request,
            store=store,
        )
        with pytest.raises(openai.APIConnectionError):
            list(recorded)
    with (
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client,
    ):
        got = []
        with pytest.raises(openai.APIConnectionError):
            for c in client.chat.completions.create(**request):
                got.append(c)
    assert len(got) == recorded.state.chunk_count
