"""The replay server: unmodified SDK clients get recorded streams back, offline, byte for byte."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_PATHS = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/messages",
    "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
)


def test_a_hostile_body_is_a_404_in_the_error_shape_never_a_500(
    upstream: Upstream, store: Store
) -> None:
    """Whatever JSON a request holds (a list for its model, an object for its messages), it
    is matched like any other: no recording, the 404 in the provider's error shape."""
    request = _request("recorded")
    _, events = _wire(f"{upstream.openai_base_url}/chat/completions", request)
    list(record(events, api=API, request=request, store=store))

    with BackgroundServer(replay_app(store)) as server, httpx.Client() as client:

        @settings(max_examples=60)
        @given(path=st.sampled_from(_PATHS), model=_JSON, body=_JSON)
        @example(path="/v1/messages", model=["x"], body={})  # a list bound as a SQL parameter
        @example(path="/v1/chat/completions", model={"a": 1}, body={})
        @example(path="/v1/chat/completions", model="gpt-4o-mini", body=[])
        def asked(path: str, model: Any, body: Any) -> None:
            sent = {**body, "model": model} if isinstance(body, dict) else body
            response = client.post(f"{server.url}{path}", json=sent)
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "no_recording"

        asked()
