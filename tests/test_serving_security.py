"""The proxy and the replay server are not an open door (issue 7 point 5; issue 9 point 4).

Hostile request-targets and Host headers go over raw sockets, as an attacker
would send them; a second server stands for "another host" and must never be
reached. Base URLs with any path prefix are preserved exactly, driven by the
real openai SDK pointed at the proxy as ``streamrec record`` points it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from click.testing import CliRunner

from streamrec import Store
from streamrec._serving import BackgroundServer, HostGuard, is_loopback
from streamrec.cli import main
from streamrec.errors import ServerError
from streamrec.recorder import ProxyServer, RecordingProxy
from streamrec.replay import replay_app

_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


class Echo:
    """An upstream that answers every request with a chat completion and keeps what it was asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []  # (raw path, query, host header)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        host = dict(scope["headers"]).get(b"host", b"").decode() or None
        self.seen.append(
            (scope["raw_path"].decode("latin-1"), scope["query_string"].decode(), host)
        )
        body = json.dumps(_COMPLETION).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def echo() -> Iterator[tuple[Echo, BackgroundServer]]:
    app = Echo()
    with BackgroundServer(app) as server:
        yield app, server


@pytest.fixture
def other_host() -> Iterator[tuple[Echo, BackgroundServer]]:
    """The host a hostile request tries to reach instead of the upstream."""
    app = Echo()
    with BackgroundServer(app) as server:
        yield app, server


def _raw(server: Any, target: str, host: str | None = None, body: bytes = b"{}") -> int:
    """Send one request as raw bytes (no client normalises the target); the status code."""
    port = int(server.url.rsplit(":", 1)[1])
    host = host if host is not None else f"127.0.0.1:{port}"
    head = f"POST {target} HTTP/1.1\r\nHost: {host}\r\n" if host else f"POST {target} HTTP/1.1\r\n"
    request = (
        head + "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]) if data else 0


def test_hostile_request_targets_never_reach_another_host(
    store: Store, echo: tuple[Echo, BackgroundServer], other_host: tuple[Echo, BackgroundServer]
) -> None:
    upstream, up = echo
    elsewhere, other = other_host
    there = f"127.0.0.1:{other.port}"
    proxy = RecordingProxy(
        store=store, upstreams=dict.fromkeys(("openai", "anthropic", "google"), up.url)
    )
    targets = [
        f"@{there}/v1/chat/completions",
        f"http://{there}/v1/chat/completions",
        f"https://{there}/v1/chat/completions",
        f"//{there}/v1/chat/completions",
        f"/openai/..//{there}/v1/chat/completions",
        "/openai/../../v1/chat/completions",
        "/openai/%2e%2e/%2e%2e/v1/chat/completions",
        "/openai/%2E%2E/v1/chat/completions",
        "/openai/%252e%252e/v1/chat/completions",
        "/openai/..%2f..%2fv1/chat/completions",
        "/openai/..\\..\\v1/chat/completions",
        "/openai/./chat/completions",
        there,
        "*",
    ]
    with ProxyServer(proxy, allowed_hosts=["*"]) as server:
        statuses = {target: _raw(server, target) for target in targets}
        # a Host (or forwarding header) naming the other host changes nothing either
        assert _raw(server, "/openai/chat/completions", host=there) == 200
        with httpx.Client() as client:
            sent = client.post(
                f"{server.url}/openai/chat/completions",
                json={},
                headers={"x-forwarded-host": there, "forwarded": f"host={there}"},
            )
        assert sent.status_code == 200
        # encoded forms that are not dot segments stay paths on the upstream
        assert _raw(server, f"/openai/%40{there}/chat/completions") == 200
        assert _raw(server, f"/openai@{there}/v1/chat/completions") == 200
    assert all(status in (400, 404) for status in statuses.values()), statuses
    assert elsewhere.seen == []
    assert all(host == f"127.0.0.1:{up.port}" for _, _, host in upstream.seen)
    assert ("/%40" + there + "/chat/completions", "", f"127.0.0.1:{up.port}") in upstream.seen


@pytest.mark.parametrize(
    ("prefix", "query"),
    [
        ("/v1beta/openai", ""),  # Gemini's OpenAI-compatible endpoint
        ("/openai/deployments/gpt-4o", "api-version=2024-10-21"),  # Azure OpenAI
        ("/v1", ""),  # vLLM, Ollama, LM Studio
        ("", ""),  # a bare host
        ("/api/v1/", ""),  # a trailing slash
    ],
)
def test_base_url_paths_are_preserved_exactly(
    store: Store, echo: tuple[Echo, BackgroundServer], prefix: str, query: str
) -> None:
    upstream, up = echo
    base = up.url + prefix
    proxy = RecordingProxy(store=store, upstreams={"openai": base})
    with ProxyServer(proxy) as server:
        direct = openai.OpenAI(
            base_url=base,
            api_key="sk-x",
            max_retries=0,
            default_query=dict([query.split("=")]) if query else None,
        )
        via = openai.OpenAI(
            base_url=server.env["OPENAI_BASE_URL"],
            api_key="sk-x",
            max_retries=0,
            default_query=dict([query.split("=")]) if query else None,
        )
        with direct, via:
            for client in (direct, via):
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}]
                )
    (direct_path, direct_query, _), (proxied_path, proxied_query, _) = upstream.seen
    assert proxied_path == direct_path == prefix.rstrip("/") + "/chat/completions"
    assert proxied_query == direct_query == query


@pytest.mark.parametrize(
    ("provider", "prefix", "path"),
    [
        ("anthropic", "", "/v1/messages"),
        ("anthropic", "/gateway/anthropic", "/v1/messages"),
        ("google", "", "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("google", "/gemini-proxy", "/v1beta/models/gemini-2.5-flash:generateContent"),
    ],
)
def test_other_providers_keep_their_base_paths(
    store: Store, echo: tuple[Echo, BackgroundServer], provider: str, prefix: str, path: str
) -> None:
    upstream, up = echo
    proxy = RecordingProxy(store=store, upstreams={provider: up.url + prefix})
    with ProxyServer(proxy) as server:
        base = server.env[
            {"anthropic": "ANTHROPIC_BASE_URL", "google": "GOOGLE_GEMINI_BASE_URL"}[provider]
        ]
        httpx.post(base + path, json={"model": "m", "messages": []}).raise_for_status()
    assert upstream.seen[0][0] == prefix + path


def test_servers_bind_loopback_unless_remote_is_allowed(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")
    with pytest.raises(ServerError, match="--allow-remote"):
        BackgroundServer(replay_app(store), host="0.0.0.0")
    with pytest.raises(ServerError, match="--allow-remote"):
        ProxyServer(RecordingProxy(store=store), host="0.0.0.0")
    with caplog.at_level(logging.WARNING, "streamrec.serving"):
        server = BackgroundServer(replay_app(store), host="0.0.0.0", allow_remote=True)
    assert "beyond loopback" in caplog.text
    server._sock.close()


@pytest.mark.parametrize("command", [["proxy"], ["replay", "--serve"]])
def test_the_cli_refuses_a_remote_bind_in_one_line(tmp_path: Any, command: list[str]) -> None:
    Store(tmp_path / "s.db").close()  # read commands open only an existing store
    result = CliRunner().invoke(
        main, ["--db", str(tmp_path / "s.db"), *command, "--host", "0.0.0.0"]
    )
    assert result.exit_code == 1
    assert "--allow-remote" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("kind", ["proxy", "replay"])
def test_a_foreign_host_header_is_refused(
    kind: str, store: Store, echo: tuple[Echo, BackgroundServer]
) -> None:
    """DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1."""
    _, up = echo
    if kind == "proxy":
        server: Any = ProxyServer(RecordingProxy(store=store, upstreams={"openai": up.url}))
    else:
        server = BackgroundServer(replay_app(store))
    with server:
        port = server.url.rsplit(":", 1)[1]
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1", f"127.0.0.2:{port}"):
            assert _raw(server, "/openai/chat/completions", host=host) == 421, host
        assert _raw(server, "/openai/chat/completions", host="") in (400, 421)  # no Host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            assert _raw(server, "/openai/chat/completions", host=host) != 421, host


def test_the_guard_closes_a_foreign_websocket() -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        raise AssertionError("must not be reached")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:  # pragma: no cover
        return {"type": "websocket.connect"}

    guard = HostGuard(app, {"127.0.0.1:9"})
    scope = {"type": "websocket", "headers": [(b"host", b"evil.example:9")]}
    asyncio.run(guard(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]
