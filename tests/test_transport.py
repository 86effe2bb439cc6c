"""The recording httpx transports: handed to the SDKs' ``http_client=``, sync and async alike."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

from streamrec import SSEEvent, Store
from streamrec.recorder import (
    STREAM_ID_EXTENSION,
    AsyncRecordingTransport,
    RecordingTransport,
    SSESplitter,
)
from tests.sdk_clients import API_OF, KINDS, SECRETS, acall, call
from tests.upstream import SCENARIO_HEADER, Upstream, echo_text

# anthropic takes only httpx2 clients; openai and google-genai take either
_PACKAGE = {"openai_chat": httpx, "openai_responses": httpx2, "anthropic": httpx2, "google": httpx}


def _base_url(kind: str, upstream: Upstream) -> str:
    return upstream.openai_base_url if kind.startswith("openai") else upstream.base_url


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_sdk_records_through_its_http_client(
    kind: str, mode: str, store: Store, upstream: Upstream
) -> None:
    pkg: Any = _PACKAGE[kind]
    prompt = f"transport {kind} {mode}"
    base_url = _base_url(kind, upstream)
    transport: Any
    if mode == "sync":
        transport = RecordingTransport(pkg.HTTPTransport(), store=store, name="t", tags=["x"])
        with pkg.Client(transport=transport) as http:
            text = call(kind, mode, prompt, base_url=base_url, http_client=http)
    else:
        transport = AsyncRecordingTransport(pkg.AsyncHTTPTransport(), store=store, name="t")

        async def run() -> str:
            async with pkg.AsyncClient(transport=transport) as http:
                return await acall(kind, prompt, base_url=base_url, http_client=http)

        text = asyncio.run(run())

    [request] = upstream.requests
    expected = echo_text(API_OF[kind], request.body)
    assert text == expected
    [stream_id] = transport.stream_ids
    state = store.state(stream_id)  # closing the client waited for the commit
    assert (state.status, state.api, state.content) == ("completed", API_OF[kind], expected)
    assert (state.name, state.malformed_chunks) == ("t", 0)
    assert state.usage.reported
    stored = "".join(e.payload for e in store.events(stream_id))
    assert not any(secret in stored for secret in SECRETS)


def test_other_requests_pass_through_untouched(store: Store, upstream: Upstream) -> None:
    transport = RecordingTransport(httpx.HTTPTransport(), store=store)
    with httpx.Client(transport=transport, base_url=upstream.base_url) as client:
        response = client.get("/v1/models", headers={"accept-encoding": "gzip"})
    assert response.status_code == 404
    assert upstream.requests[-1].header("accept-encoding") == "gzip"
    assert transport.stream_ids == []


def test_an_unreachable_upstream_raises_as_usual_and_is_recorded(store: Store) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    transport = RecordingTransport(httpx.HTTPTransport(), store=store)
    with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError):
        client.post(dead + "/v1/chat/completions", json={"model": "m", "messages": []})
    [stream_id] = transport.stream_ids
    state = store.state(stream_id)
    assert state.status == "failed"
    assert state.error and state.error["type"] == "ConnectError"


# -- parity: the same cases through both twins give the same recordings ----------------------


@dataclass(frozen=True)
class Case:
    path: str
    body: dict[str, Any]
    scenario: str
    early: bool = False


_CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "parity"}],
    "stream": True,
}
CASES = {
    "chat": Case("/v1/chat/completions", _CHAT, "openai_chat.text"),
    "tools": Case("/v1/chat/completions", _CHAT, "openai_chat.tools"),
    "whole": Case("/v1/chat/completions", {**_CHAT, "stream": False}, "openai_chat.text"),
    "drop": Case("/v1/chat/completions", _CHAT, "openai_chat.drop"),
    "http_500": Case("/v1/chat/completions", _CHAT, "openai_chat.http_500"),
    "early": Case("/v1/chat/completions", _CHAT, "openai_chat.slow", early=True),
    "responses": Case(
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "parity", "stream": True},
        "responses.text",
    ),
    "anthropic": Case(
        "/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 9,
            "stream": True,
            "messages": _CHAT["messages"],
        },
        "anthropic.tools",
    ),
    "google": Case(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"parts": [{"text": "parity"}]}]},
        "gemini.text",
    ),
}


def _outcome(
    store: Store, transport: Any, received: bytes, error: str | None, status: int
) -> dict[str, Any]:
    [stream_id] = transport.stream_ids
    store.writer.flush()
    events = store.events(stream_id)
    state = store.state(stream_id)
    splitter = SSESplitter()
    chunks = [SSEEvent(e.payload, e.event) for e in events if e.kind.value == "chunk"]
    if received.startswith(b"{"):  # a JSON body: one chunk
        assert chunks == [SSEEvent(received.decode())]
    else:  # every event the client got is stored, verbatim, in order
        assert chunks == splitter.feed(received) + splitter.close()
    return {
        "client": (status, error),
        "events": [(e.kind.value, e.event) for e in events],
        "state": (state.status, state.content, state.finish_reasons, state.chunk_count),
        "tools": [(t.name, t.arguments) for t in state.tool_calls],
        "error": state.error and (state.error["type"], state.error.get("status_code")),
    }


def _sync(case: Case, store: Store, base_url: str) -> dict[str, Any]:
    transport = RecordingTransport(httpx.HTTPTransport(), store=store)
    received, error, status = b"", None, 0
    with httpx.Client(transport=transport, base_url=base_url) as client:
        try:
            with client.stream(
                "POST", case.path, json=case.body, headers={SCENARIO_HEADER: case.scenario}
            ) as response:
                status = response.status_code
                assert response.extensions[STREAM_ID_EXTENSION] == transport.stream_ids[0]
                for part in response.iter_raw():
                    received += part
                    if case.early:
                        break
        except httpx.HTTPError as exc:
            error = type(exc).__name__
    return _outcome(store, transport, received, error, status)


def _async(case: Case, store: Store, base_url: str) -> dict[str, Any]:
    transport = AsyncRecordingTransport(httpx.AsyncHTTPTransport(), store=store)

    async def run() -> tuple[bytes, str | None, int]:
        received, error, status = b"", None, 0
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            try:
                async with client.stream(
                    "POST", case.path, json=case.body, headers={SCENARIO_HEADER: case.scenario}
                ) as response:
                    status = response.status_code
                    assert response.extensions[STREAM_ID_EXTENSION] == transport.stream_ids[0]
                    async for part in response.aiter_raw():
                        received += part
                        if case.early:
                            break
            except httpx.HTTPError as exc:
                error = type(exc).__name__
        return received, error, status

    return _outcome(store, transport, *asyncio.run(run()))


@pytest.mark.parametrize("name", list(CASES))
def test_sync_and_async_transports_record_the_same(
    name: str, store: Store, upstream: Upstream
) -> None:
    case = CASES[name]
    sync = _sync(case, store, upstream.base_url)
    assert sync == _async(case, store, upstream.base_url)
    expected_status = {"drop": "failed", "http_500": "failed", "early": "interrupted"}.get(
        name, "completed"
    )
    assert sync["state"][0] == expected_status
    if name == "drop":
        assert sync["client"] == (200, "RemoteProtocolError")
    if name == "http_500":
        assert sync["client"] == (500, None)
        assert sync["error"] == ("UpstreamStatusError", 500)


def test_redaction_hooks_apply_to_the_transport(upstream: Upstream, tmp_path: Path) -> None:
    import openai

    from streamrec import RecordingTransport, Redact, Store

    store = Store(tmp_path / "redact.db")
    transport = RecordingTransport(
        httpx.HTTPTransport(), store=store, redact=Redact(chunk=lambda t: t.replace("Echo", "E***"))
    )
    with openai.OpenAI(
        base_url=upstream.openai_base_url,
        api_key="sk",
        http_client=httpx.Client(transport=transport),
    ) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        live = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert live.startswith("Echo")
    [sid] = transport.stream_ids
    assert store.state(sid).content.startswith("E***")
    store.close()
