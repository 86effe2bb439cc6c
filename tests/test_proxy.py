"""The recording proxy, driven by the real SDKs and curl against the local provider upstream."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import text

from streamrec import SSEEvent, Store, StreamState
from streamrec.recorder import STREAM_ID_HEADER, ProxyServer, RecordingProxy, SSESplitter
from tests.sdk_clients import API_OF, KINDS, SECRETS, call
from tests.upstream import SCENARIO_HEADER, TOOL_CALLS, Upstream, echo_text

PROVIDERS = ("openai", "anthropic", "google")


def _upstreams(upstream: Upstream) -> dict[str, str]:
    """Each provider's base URL as its SDK takes it (openai's ends in /v1)."""
    return {**dict.fromkeys(PROVIDERS, upstream.base_url), "openai": upstream.openai_base_url}


@pytest.fixture
def server(store: Store, upstream: Upstream) -> Iterator[ProxyServer]:
    proxy = RecordingProxy(store=store, upstreams=_upstreams(upstream))
    with ProxyServer(proxy) as running:
        yield running


@pytest.fixture
def sdk_env(server: ProxyServer, monkeypatch: pytest.MonkeyPatch) -> ProxyServer:
    """The SDKs' base-URL variables pointing at the proxy, as ``streamrec record`` sets them."""
    for var, value in server.env.items():
        monkeypatch.setenv(var, value)
    return server


def _recorded(server: ProxyServer, store: Store) -> list[StreamState]:
    store.writer.flush()
    return [store.state(i) for i in server.proxy.stream_ids]


def _settled(server: ProxyServer, store: Store, timeout: float = 5.0) -> list[StreamState]:
    """The recorded states once none is still recording (the proxy ends them asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        states = _recorded(server, store)
        if all(s.status != "recording" for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.02)


def _events(body: bytes) -> list[SSEEvent]:
    splitter = SSESplitter()
    return splitter.feed(body) + splitter.close()


def _unprefixed(path: str) -> str:
    """``/openai/v1/...`` -> ``/v1/...``: the provider's own path."""
    return "/" + path.split("/", 2)[2]


def _chunks(store: Store, stream_id: str) -> list[SSEEvent]:
    return [
        SSEEvent(e.payload, e.event) for e in store.events(stream_id) if e.kind.value == "chunk"
    ]


_BODIES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai_chat": (
        "/openai/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ),
    "openai_responses": (
        "/openai/v1/responses",
        {"model": "gpt-4o-mini", "input": "hi", "stream": True},
    ),
    "anthropic": (
        "/anthropic/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    "google": (
        "/google/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
}


_SHORT = {
    "openai_chat": "openai_chat",
    "openai_responses": "responses",
    "anthropic": "anthropic",
    "google": "gemini",
}


# -- the SDKs, unmodified, through the base-URL variables -----------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_sdk_streams_through_the_proxy_and_is_recorded(
    kind: str, mode: str, sdk_env: ProxyServer, store: Store, upstream: Upstream
) -> None:
    prompt = f"streamrec proxy {kind} {mode}"
    text_seen = call(kind, mode, prompt)

    api = API_OF[kind]
    [request] = upstream.requests
    expected = echo_text(api, {**request.body, "model": "m"})
    assert prompt in expected
    assert text_seen == expected
    [state] = _settled(sdk_env, store)
    assert state.api == api
    assert state.status == "completed", state.error
    assert state.content == expected
    assert state.malformed_chunks == 0, state.problems
    assert state.usage.reported and state.input_tokens and state.output_tokens
    assert state.model and state.id
    # the request is stored as sent, keys removed; the upstream still got the key
    started = store.events(state.stream_id or "")[0].payload
    assert prompt in started
    assert not any(secret in started for secret in SECRETS)
    assert any(secret in str(request.headers) for secret in SECRETS)


def test_tool_calls_are_assembled_from_the_stream(sdk_env: ProxyServer, store: Store) -> None:
    call("openai_chat", "sync", "weather?", scenario="openai_chat.tools")
    [state] = _settled(sdk_env, store)
    assert [(t.name, t.args) for t in state.tool_calls] == [(n, a) for n, a in TOOL_CALLS]
    assert state.finish_reasons == ["tool_calls"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
@pytest.mark.parametrize("kind", KINDS)
def test_curl_gets_the_upstream_bytes_and_they_are_stored_verbatim(
    kind: str, server: ProxyServer, store: Store
) -> None:
    path, body = _BODIES[kind]
    result = subprocess.run(
        [
            "curl",
            "-sSN",
            "--fail-with-body",
            "-H",
            "content-type: application/json",
            "-H",
            "authorization: Bearer sk-curl-SECRET",
            "-d",
            json.dumps(body),
            server.url + path,
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    [state] = _settled(server, store)
    assert state.status == "completed"
    # every event curl received is a stored chunk, same text, same name, same order
    assert _events(result.stdout) == _chunks(store, state.stream_id or "")
    if kind == "openai_chat":
        framed = "".join(f"data: {c.data}\n\n" for c in _chunks(store, state.stream_id or ""))
        assert result.stdout.decode() == framed


def test_unprefixed_paths_reach_the_right_upstream(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    """curl and the pytest plugin use the providers' own paths on the bare proxy URL."""
    with httpx.Client(base_url=server.url) as client:
        for kind in KINDS:
            path, body = _BODIES[kind]
            response = client.post(_unprefixed(path), json=body)
            assert response.status_code == 200, response.text
    assert [r.api for r in upstream.requests] == [API_OF[k] for k in KINDS]
    assert [s.status for s in _settled(server, store)] == ["completed"] * 4


def test_non_streaming_json_is_recorded_as_one_chunk(server: ProxyServer, store: Store) -> None:
    with openai.OpenAI(
        base_url=server.env["OPENAI_BASE_URL"], api_key="sk-x", max_retries=0
    ) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "whole"}]
        )
        body = raw.http_response.text
        assert raw.parse().choices[0].message.content == "Echo: whole"
        stream_id = raw.headers[STREAM_ID_HEADER]
    [state] = _settled(server, store)
    assert state.stream_id == stream_id
    assert state.status == "completed"
    assert _chunks(store, stream_id) == [SSEEvent(body)]


def test_other_requests_pass_through_unrecorded(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = client.get("/openai/v1/models", headers={"authorization": "Bearer sk-x"})
    assert response.status_code == 404  # what the upstream answers, unchanged
    assert response.json()["error"]["message"] == "no such endpoint: GET /v1/models"
    assert STREAM_ID_HEADER not in response.headers
    assert upstream.requests[-1].header("authorization") == "Bearer sk-x"
    assert server.proxy.stream_ids == []


# -- faults pass through --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_drop_mid_stream_drops_the_client_and_keeps_what_arrived(
    kind: str, server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    path, body = _BODIES[kind]
    scenario = _SHORT[kind]
    received = bytearray()
    with (
        httpx.Client(base_url=server.url) as client,
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST", path, json=body, headers={SCENARIO_HEADER: f"{scenario}.drop"}
        ) as response,
    ):
        assert response.status_code == 200
        for part in response.iter_raw():
            received += part
    [state] = _settled(server, store)
    assert state.status == "failed"
    assert state.error and state.error["type"] == "RemoteProtocolError"
    chunks = _chunks(store, state.stream_id or "")
    assert chunks and chunks == _events(bytes(received))


def test_a_drop_reaches_the_sdk_as_a_connection_error(sdk_env: ProxyServer, store: Store) -> None:
    with pytest.raises(openai.APIConnectionError):
        call("openai_chat", "sync", "drop me", scenario="openai_chat.drop")
    [state] = _settled(sdk_env, store)
    assert state.status == "failed"
    assert state.content  # the text that arrived before the drop


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [500, 429])
def test_error_statuses_pass_through_unchanged_and_are_recorded(
    kind: str, status: int, server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    path, body = _BODIES[kind]
    scenario = _SHORT[kind]
    headers = {SCENARIO_HEADER: f"{scenario}.http_{status}"}
    with httpx.Client() as client:
        direct = client.post(upstream.base_url + _unprefixed(path), json=body, headers=headers)
        proxied = client.post(server.url + path, json=body, headers=headers)
    assert proxied.status_code == direct.status_code == status
    assert proxied.content == direct.content
    assert proxied.headers.get("retry-after") == direct.headers.get("retry-after")
    assert proxied.headers["content-type"] == direct.headers["content-type"]
    [state] = _settled(server, store)
    assert state.status == "failed"
    assert state.error and state.error["status_code"] == status
    assert _chunks(store, state.stream_id or "") == [SSEEvent(proxied.text)]


def test_sdk_sees_the_upstream_error(sdk_env: ProxyServer, store: Store) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        call("openai_chat", "sync", "too many", scenario="openai_chat.http_429")
    assert caught.value.response.headers["retry-after"] == "20"
    [state] = _settled(sdk_env, store)
    assert (state.status, state.error and state.error["status_code"]) == ("failed", 429)


def test_unreachable_upstream_is_a_502_that_says_which(store: Store) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with ProxyServer(RecordingProxy(store=store, upstreams={"openai": dead})) as server:
        path, body = _BODIES["openai_chat"]
        response = httpx.post(server.url + path, json=body)
        assert response.status_code == 502
        error = response.json()["error"]
        assert error["type"] == "upstream_unreachable"
        assert "openai" in error["message"] and dead in error["message"]
        with pytest.raises(openai.InternalServerError):
            call("openai_chat", "sync", "anyone?", base_url=server.env["OPENAI_BASE_URL"])
        [state, _] = _settled(server, store)
    assert state.status == "failed"
    assert state.error and state.error["type"] == "ConnectError"


def test_a_client_that_leaves_early_leaves_an_interrupted_recording(
    server: ProxyServer, store: Store
) -> None:
    path, body = _BODIES["anthropic"]
    with (
        httpx.Client(base_url=server.url) as client,
        client.stream(
            "POST", path, json=body, headers={SCENARIO_HEADER: "anthropic.slow"}
        ) as response,
    ):
        next(response.iter_raw())
    [state] = _settled(server, store)
    assert state.status == "interrupted"
    assert state.chunk_count > 0


def test_an_in_band_error_ends_the_recording_as_failed(sdk_env: ProxyServer, store: Store) -> None:
    with pytest.raises(openai.APIError):
        call("openai_chat", "sync", "oops", scenario="openai_chat.error_midstream")
    [state] = _settled(sdk_env, store)
    assert state.status == "failed"
    assert state.content


# -- secrets ----------------------------------------------------------------------------------


def test_secrets_are_forwarded_but_never_stored(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    secrets = {
        "authorization": "Bearer sk-HEADER-SECRET-1",
        "x-api-key": "sk-HEADER-SECRET-2",
        "api-key": "HEADER-SECRET-3",
        "x-goog-api-key": "HEADER-SECRET-4",
        "cookie": "session=COOKIE-SECRET-5",
    }
    path, body = _BODIES["google"]
    response = httpx.post(server.url + path + "&key=QUERY-SECRET-6", json=body, headers=secrets)
    assert response.status_code == 200
    received = upstream.requests[-1]
    for name, value in secrets.items():
        assert received.header(name) == value
    assert received.query_params["key"] == ["QUERY-SECRET-6"]
    [state] = _settled(server, store)
    assert state.status == "completed"
    with store.engine.connect() as conn:
        dump = "\n".join(
            str(row)
            for table in ("events", "streams")
            for row in conn.execute(text(f"SELECT * FROM {table}")).all()
        )
    assert state.stream_id and state.stream_id in dump
    assert "SECRET" not in dump


@pytest.mark.parametrize("kind", KINDS)
def test_the_replay_server_gives_back_the_bytes_the_proxy_forwarded(
    kind: str, server: ProxyServer, store: Store
) -> None:
    from streamrec._serving import BackgroundServer
    from streamrec.replay import replay_app

    path, body = _BODIES[kind]
    live = httpx.post(server.url + path, json=body)
    assert live.status_code == 200
    _settled(server, store)
    with BackgroundServer(replay_app(store)) as replaying:
        again = httpx.post(replaying.url + _unprefixed(path), json=body)
    assert again.status_code == 200
    assert again.content == live.content


def test_an_upstream_killed_mid_stream(store: Store) -> None:
    """Not a scripted drop: the upstream's process is killed while it streams."""
    code = (
        "import sys, time; from tests.upstream import Upstream; "
        "u = Upstream().start(); print(u.base_url, flush=True); time.sleep(120)"
    )
    root = str(Path(__file__).resolve().parent.parent)
    with subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, text=True
    ) as dying:
        assert dying.stdout is not None
        base = dying.stdout.readline().strip()
        proxy = RecordingProxy(store=store, upstreams={"anthropic": base})
        path, body = _BODIES["anthropic"]
        received = bytearray()
        with ProxyServer(proxy) as server, httpx.Client(base_url=server.url) as client:
            with (
                pytest.raises(httpx.RemoteProtocolError),
                client.stream(
                    "POST", path, json=body, headers={SCENARIO_HEADER: "anthropic.slow"}
                ) as response,
            ):
                for part in response.iter_raw():
                    received += part
                    dying.kill()
            [state] = _settled(server, store)
    assert state.status == "failed"
    chunks = _chunks(store, state.stream_id or "")
    assert chunks and chunks == _events(bytes(received))
    assert chunks[-1].event != "message_stop"


def test_the_app_runs_a_lifespan_and_closes_its_connections_at_shutdown(
    store: Store, upstream: Upstream
) -> None:
    """Served by a server that runs lifespans (``uvicorn module:app``), shutdown closes the pool."""
    import asyncio

    proxy = RecordingProxy(store=store, upstreams={"openai": upstream.openai_base_url})

    async def main() -> list[str]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[str] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])

        await inbox.put({"type": "lifespan.startup"})
        life = asyncio.create_task(proxy({"type": "lifespan"}, inbox.get, send))
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            path, body = _BODIES["openai_chat"]
            assert (await client.post(path, json=body)).status_code == 200
        assert proxy._clients  # an upstream connection pool is open
        await inbox.put({"type": "lifespan.shutdown"})
        await life
        assert not proxy._clients
        return sent

    assert asyncio.run(main()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    store.writer.flush()
    assert store.state(proxy.stream_ids[0]).status == "completed"


def test_the_upstreams_date_and_server_headers_pass_through(
    upstream: Upstream, tmp_path: Path
) -> None:
    import dataclasses

    from streamrec import Store
    from streamrec.recorder import ProxyServer, RecordingProxy
    from tests.upstream import SCENARIOS

    stamped = dataclasses.replace(
        SCENARIOS["openai_chat.text"],
        name="openai_chat.stamped",
        headers=(("server", "upstream-test/1.0"), ("date", "Mon, 01 Jan 2024 00:00:00 GMT")),
    )
    upstream.use(stamped)
    store = Store(tmp_path / "headers.db")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    direct = httpx.post(f"{upstream.openai_base_url}/chat/completions", json=body)
    with ProxyServer(
        RecordingProxy(store=store, upstreams={"openai": upstream.openai_base_url})
    ) as proxy:
        proxied = httpx.post(f"{proxy.url}/openai/v1/chat/completions", json=body)
    assert proxied.status_code == 200
    assert proxied.headers.get_list("server") == ["upstream-test/1.0"]
    # exactly the upstream's Date headers, none added by the proxy's own server
    assert "Mon, 01 Jan 2024 00:00:00 GMT" in proxied.headers.get_list("date")
    assert len(proxied.headers.get_list("date")) == len(direct.headers.get_list("date"))
    store.close()
