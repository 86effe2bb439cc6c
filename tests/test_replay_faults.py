"""Replay as the SDKs meet it when things go wrong: recorded response headers, recorded drops,
and faults injected over real recordings (dropped or errored streams, re-cut bytes, timed
disconnects, one-shot 429/500/529) with the SDKs' own error handling and retries engaging."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from streamrec import Store
from streamrec._serving import BackgroundServer
from streamrec.events import EventKind
from streamrec.recorder import ProxyServer, Recording, RecordingProxy
from streamrec.replay import Faults, Matcher, replay_app
from streamrec.replay._faults import rechunked
from tests.upstream import SCENARIO_HEADER, Scenario, Upstream, _chat_text

CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "faults please"}],
    "stream": True,
}
MESSAGES = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "faults please"}],
}
HEADERS = (
    ("openai-processing-ms", "123"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-reset-tokens", "6ms"),
    ("set-cookie", "__cf_bm=SECRETCOOKIE; path=/"),
)


@pytest.fixture
def recorded(upstream: Upstream, store: Store) -> Store:
    """A chat stream (with rate-limit headers and a cookie), an Anthropic message stream
    and a Gemini call, recorded through the proxy as a program would record them."""
    upstream.register(
        Scenario("chat_headers", "openai.chat.completions", _chat_text, headers=HEADERS)
    )
    upstream.use("chat_headers")
    proxy = RecordingProxy(
        store=store,
        upstreams={
            "openai": upstream.openai_base_url,
            "anthropic": upstream.anthropic_base_url,
            "google": upstream.google_base_url,
        },
    )
    with ProxyServer(proxy) as server:
        env = server.env
        with openai.OpenAI(base_url=env["OPENAI_BASE_URL"], api_key="sk", max_retries=0) as c:
            list(c.chat.completions.create(**CHAT))
        with (
            anthropic.Anthropic(
                base_url=env["ANTHROPIC_BASE_URL"], api_key="sk-ant", max_retries=0
            ) as a,
            a.messages.stream(**MESSAGES) as stream,
        ):
            list(stream.text_stream)
        gemini = genai.Client(api_key="x", http_options={"base_url": env["GOOGLE_GEMINI_BASE_URL"]})
        gemini.models.generate_content(model="gemini-2.5-flash", contents="faults please")
        server.stop()
    store.writer.flush()
    return store


@pytest.fixture
def serve(recorded: Store) -> Iterator[Any]:
    servers: list[BackgroundServer] = []

    def start(faults: Faults | None = None, speed: float = 0.0) -> tuple[str, Matcher]:
        matcher = Matcher(recorded)
        server = BackgroundServer(
            replay_app(recorded, matcher=matcher, faults=faults, speed=speed)
        ).start()
        servers.append(server)
        return server.url, matcher

    yield start
    for server in servers:
        server.stop()


def _openai(url: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=retries)


def _chunks(client: openai.OpenAI) -> list[Any]:
    got: list[Any] = []
    for chunk in client.chat.completions.create(**CHAT):
        got.append(chunk)
    return got


def test_response_headers_are_recorded_without_cookies_and_replayed(
    recorded: Store, serve: Any, upstream: Upstream
) -> None:
    chat = next(r for r in recorded.streams() if r["api"] == "openai.chat.completions")
    last = recorded.events(chat["stream_id"])[-1]
    assert last.kind is EventKind.COMPLETED
    assert "SECRETCOOKIE" not in last.payload
    url, _ = serve()
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=CHAT) as response:
        response.read()
    live = upstream.requests[0]  # what the upstream sent is in its scenario: compare to it
    assert live.path == "/v1/chat/completions"
    for name, value in HEADERS:
        if name == "set-cookie":
            assert name not in response.headers
        else:
            assert response.headers[name] == value
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-request-id"].startswith("req_")
    # the SDK reads them as it reads a live response's
    with _openai(url) as client:
        raw = client.chat.completions.with_raw_response.create(**CHAT)
        list(raw.parse())
    assert raw.headers["x-request-id"] == response.headers["x-request-id"]
    assert raw.headers["openai-processing-ms"] == "123"


def test_a_recorded_drop_replays_without_a_traceback(
    upstream: Upstream, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = RecordingProxy(store=store, upstreams={"openai": upstream.openai_base_url})
    with (
        ProxyServer(proxy) as server,
        openai.OpenAI(base_url=server.env["OPENAI_BASE_URL"], api_key="sk", max_retries=0) as live,
        pytest.raises(openai.APIConnectionError),
    ):
        list(
            live.chat.completions.create(
                **CHAT, extra_headers={SCENARIO_HEADER: "openai_chat.drop"}
            )
        )
    store.writer.flush()
    caplog.set_level(logging.INFO)
    with BackgroundServer(replay_app(store)) as replay, _openai(replay.url) as client:
        with pytest.raises(openai.APIConnectionError):
            _chunks(client)
        time.sleep(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_time_to_first_chunk_counts_from_when_the_request_left(store: Store) -> None:
    recording = Recording(api="openai.chat.completions", request=CHAT, store=store)
    time.sleep(0.2)  # the client starting up, connecting, …
    recording.sent()
    recording.chunk('{"id":"c","object":"chat.completion.chunk","choices":[]}')
    recording.complete()
    store.writer.flush()
    first = store.events(recording.stream_id)[1]
    assert first.t_ns < 100_000_000


def test_a_one_shot_429_engages_the_openai_sdks_retry(serve: Any) -> None:
    url, matcher = serve(Faults(status=429, retry_after=0.01))
    with _openai(url, retries=2) as client:
        chunks = _chunks(client)
    assert chunks and len(matcher.served) == 2  # the 429, then the recording
    url, _ = serve(Faults(status=429))
    with _openai(url) as client, pytest.raises(openai.RateLimitError) as error:
        _chunks(client)
    assert error.value.response.headers["retry-after-ms"] == "10"


def test_a_one_shot_529_engages_the_anthropic_sdks_retry(serve: Any) -> None:
    url, matcher = serve(Faults(status=529))
    with (
        anthropic.Anthropic(base_url=url, api_key="x", max_retries=2) as client,
        client.messages.stream(**MESSAGES) as stream,
    ):
        text = "".join(stream.text_stream)
    assert "faults please" in text and len(matcher.served) == 2
    url, _ = serve(Faults(status=529))
    with (
        anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client,
        pytest.raises(anthropic.APIStatusError) as error,
        client.messages.stream(**MESSAGES) as stream,
    ):
        list(stream.text_stream)
    assert error.value.status_code == 529
    assert error.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_a_500_reaches_google_genai_in_googles_error_shape(serve: Any) -> None:
    url, _ = serve(Faults(status=500))
    client = genai.Client(api_key="x", http_options={"base_url": url})
    with pytest.raises(genai_errors.ServerError) as error:
        client.models.generate_content(model="gemini-2.5-flash", contents="faults please")
    assert error.value.code == 500 and error.value.status == "INTERNAL"


def test_fail_at_chunk_drops_the_connection_or_sends_the_providers_error_event(
    serve: Any,
) -> None:
    url, _ = serve(Faults(fail_at_chunk=2))
    got: list[Any] = []
    with _openai(url) as client, pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(**CHAT):
            got.append(chunk)
    assert len(got) == 2
    url, _ = serve(Faults(fail_at_chunk=2, fail_as="error"))
    with _openai(url) as client, pytest.raises(openai.APIError, match="injected by streamrec"):
        _chunks(client)
    url, _ = serve(Faults(fail_at_chunk=3, fail_as="error"))
    with (
        anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client,
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        client.messages.stream(**MESSAGES) as stream,
    ):
        list(stream.text_stream)


def test_rechunk_sends_the_same_bytes_cut_elsewhere(serve: Any) -> None:
    plain, _ = serve()
    with httpx.stream("POST", f"{plain}/v1/chat/completions", json=CHAT) as response:
        expected = response.read()
    with _openai(plain) as client:
        content = "".join(c.choices[0].delta.content or "" for c in _chunks(client) if c.choices)
    for seed in (1, 2, 3):
        url, _ = serve(Faults(rechunk=seed))
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=CHAT) as response:
            assert response.read() == expected
        with _openai(url) as client:
            got = "".join(c.choices[0].delta.content or "" for c in _chunks(client) if c.choices)
        assert got == content
    pieces = [(0.0, b"data: {}\n\n"), (0.0, b"data: [DONE]\n\n")]
    cuts = [[p for _, p in rechunked(iter(pieces), seed)] for seed in (7, 7, 8)]
    assert cuts[0] == cuts[1] != cuts[2]
    assert b"".join(cuts[2]) == b"".join(p for _, p in pieces)


def test_disconnect_after_ms_cuts_a_timed_replay(upstream: Upstream, store: Store) -> None:
    proxy = RecordingProxy(store=store, upstreams={"openai": upstream.openai_base_url})
    with (
        ProxyServer(proxy) as server,
        openai.OpenAI(base_url=server.env["OPENAI_BASE_URL"], api_key="sk", max_retries=0) as live,
    ):
        total = len(
            list(
                live.chat.completions.create(
                    **CHAT, extra_headers={SCENARIO_HEADER: "openai_chat.slow"}
                )
            )
        )
    store.writer.flush()
    faults = Faults(disconnect_after_ms=50)
    with BackgroundServer(replay_app(store, speed=1.0, faults=faults)) as replay:
        got: list[Any] = []
        with _openai(replay.url) as client, pytest.raises(openai.APIConnectionError):
            for chunk in client.chat.completions.create(**CHAT):
                got.append(chunk)
    assert 0 < len(got) < total
