"""Nothing secret is stored or printed (issue 7 point 4), on every recording path.

Known secrets (each contains the marker ``S3CRET``) are sent the ways programs
send them: API keys given to the SDKs (headers), keys in query parameters,
cookies, keys nested anywhere in request bodies and ``fn_args``, a JWT as a
user id, an upstream that echoes the caller's key in its 401 body and in a
``set-cookie``, and exceptions whose message carries a key. They go through
``record()``, the httpx and httpx2 recording transports, the proxy and the
pytest plugin; then the SQLite file and its WAL, JSONL exports, the CLI's
``ls``/``show``/``sql``/``stats``/``export`` output, logs and stderr are
scanned: the marker must appear nowhere. PostgreSQL: every stored column.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from click.testing import CliRunner
from google import genai
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

from streamrec import SSEEvent, Store, record
from streamrec._serving import BackgroundServer
from streamrec.cli import main
from streamrec.recorder import ProxyServer, RecordingProxy, RecordingTransport
from streamrec.store import export_lines
from tests.upstream import Upstream

MARK = "S3CRET"
OPENAI_KEY = "sk-proj-S3CRETopenai0123456789abcdefghijklmn"
ANTHROPIC_KEY = "sk-ant-api03-S3CRETanthropic0123456789abcdefgh"
GOOGLE_KEY = "AIzaSyS3CRETgoogle0123456789abcdefghijk"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJTM0NSRVQifQ.S3CRETjwtSignature0123456789"
COOKIE = "session=S3CRETcookie0123456789"
PASSWORD = "hunter2-S3CRET"
TOKEN = "tok_S3CRETbearer0123456789abcdef"
ECHO = "x-echo-auth"  # header asking the upstream to echo the caller's key in a 401

MESSAGES = [{"role": "user", "content": "hello"}]


class _EchoingUpstream:
    """tests/upstream.Upstream, plus a 401 that echoes the key it was sent (as some servers do)."""

    def __init__(self) -> None:
        self.upstream = Upstream()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", ())}
        if scope["type"] != "http" or ECHO not in headers:
            await self.upstream._app(scope, receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        key = (
            headers.get("authorization")
            or headers.get("x-api-key")
            or headers.get("x-goog-api-key")
            or scope["query_string"].decode()
        )
        body = json.dumps(
            {"error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_api_key"}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"set-cookie", COOKIE.encode()),
                    (b"x-echo-key", key.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with BackgroundServer(_EchoingUpstream()) as server:
        yield server.url


def _openai_calls(client: openai.OpenAI) -> None:
    """A streamed call with secrets in the body, then one the upstream answers 401 to."""
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        metadata={"api_key": OPENAI_KEY, "note": f"Bearer {TOKEN}"},
        user=JWT,
        extra_query={"api_key": OPENAI_KEY, "key": GOOGLE_KEY},
        extra_body={
            "nested": [{"credentials": {"password": PASSWORD}}, {"access_token": TOKEN}],
            "provider": {"api_key": ANTHROPIC_KEY},
        },
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers={ECHO: "1"}
        )


def _anthropic_calls(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=32,
        messages=MESSAGES,
        metadata={"user_id": JWT},
    ) as stream:
        assert stream.get_final_text()
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=32,
            messages=MESSAGES,
            stream=True,
            extra_headers={ECHO: "1"},
        )


def _google_calls(base_url: str) -> None:
    client = genai.Client(api_key=GOOGLE_KEY, http_options=types.HttpOptions(base_url=base_url))
    text = "".join(
        c.text or ""
        for c in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
    )
    assert text
    # a key in the query string, as curl users and older clients send it
    httpx.post(
        f"{base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        params={"alt": "sse", "key": GOOGLE_KEY},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={ECHO: "1"},
    )


def record_everything(store: Store, upstream_url: str) -> None:
    """Every recording path, each fed the secrets."""
    openai_base = upstream_url + "/v1"
    # 1. record() around an SDK stream, with secrets in the request and fn_args
    with openai.OpenAI(api_key=OPENAI_KEY, base_url=openai_base, max_retries=0) as client:
        sdk_stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        request = {
            "model": "gpt-4o-mini",
            "messages": MESSAGES,
            "stream": True,
            "api_key": OPENAI_KEY,
            "extra_headers": {"authorization": f"Bearer {TOKEN}", "cookie": COOKIE},
            "metadata": {"api_key": OPENAI_KEY, "session": {"secret": PASSWORD}},
            "user": JWT,
        }
        fn_args = {"api_key": ANTHROPIC_KEY, "city": "Paris", "auth": {"password": PASSWORD}}
        list(record(sdk_stream, api="openai", request=request, fn_args=fn_args, store=store))

    def failing() -> Iterator[SSEEvent]:
        yield SSEEvent('{"id":"x","object":"chat.completion.chunk","choices":[]}')
        raise RuntimeError(f"upstream said: bad key {OPENAI_KEY} (Bearer {TOKEN})")

    with pytest.raises(RuntimeError):
        list(record(failing(), api="openai", request={"model": "m"}, store=store))

    # 2. the httpx transport, inside the openai SDK
    with (
        httpx.Client(transport=RecordingTransport(httpx.HTTPTransport(), store=store)) as http,
        openai.OpenAI(
            api_key=OPENAI_KEY,
            base_url=openai_base,
            max_retries=0,
            http_client=http,
            default_headers={"cookie": COOKIE, "x-api-key": OPENAI_KEY},
        ) as client,
    ):
        _openai_calls(client)

    # 3. the httpx2 transport, inside the anthropic SDK
    with (
        httpx2.Client(transport=RecordingTransport(httpx2.HTTPTransport(), store=store)) as http2,
        anthropic.Anthropic(
            api_key=ANTHROPIC_KEY, base_url=upstream_url, max_retries=0, http_client=http2
        ) as client,
    ):
        _anthropic_calls(client)

    # 4. the proxy, for all three SDKs
    upstreams = {"openai": openai_base, "anthropic": upstream_url, "google": upstream_url}
    with ProxyServer(RecordingProxy(store=store, upstreams=upstreams)) as proxy:
        env = proxy.env
        with openai.OpenAI(
            api_key=OPENAI_KEY, base_url=env["OPENAI_BASE_URL"], max_retries=0
        ) as client:
            _openai_calls(client)
        with anthropic.Anthropic(
            api_key=ANTHROPIC_KEY, base_url=env["ANTHROPIC_BASE_URL"], max_retries=0
        ) as client:
            _anthropic_calls(client)
        _google_calls(env["GOOGLE_GEMINI_BASE_URL"])
    store.writer.flush()


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout + result.stderr


def test_no_secret_is_stored_or_printed_sqlite(
    tmp_path: Path,
    upstream_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "secrets.db"
    store = Store(path)
    with caplog.at_level(logging.DEBUG):
        record_everything(store, upstream_url)
    assert len(store.stream_ids()) >= 12
    # the file and its write-ahead log while the store is open (nothing checkpointed yet)
    scanned = {
        name: p.read_bytes() for name in ("", "-wal") if (p := Path(f"{path}{name}")).exists()
    }
    assert "-wal" in scanned
    exported = "".join(export_lines(store))
    ids = store.stream_ids()
    store.close()
    db = str(path)
    outputs = [
        _cli("--db", db, "ls", "--json", "--limit", "100"),
        _cli("--db", db, "ls", "--limit", "100"),
        _cli("--db", db, "stats", "--json"),
        _cli("--db", db, "sql", "SELECT * FROM events"),
        _cli("--db", db, "sql", "SELECT * FROM streams", "--json"),
        _cli("--db", db, "export"),
        *(_cli("--db", db, "show", i, "--json") for i in ids),
        *(_cli("--db", db, "show", i) for i in ids),
    ]
    scanned["file after close"] = path.read_bytes()
    captured = capfd.readouterr()
    texts = {
        "export": exported,
        "cli": "\n".join(outputs),
        # streamrec's own logs and the servers' (the SDKs' and httpx's are the program's own)
        "logs": "\n".join(
            r.getMessage() for r in caplog.records if r.name.startswith(("streamrec", "uvicorn"))
        ),
        "stdout": captured.out,
        "stderr": captured.err,
    }
    hits = {k: v.count(MARK.encode()) for k, v in scanned.items()}
    hits |= {k: v.count(MARK) for k, v in texts.items()}
    assert hits == dict.fromkeys(hits, 0), hits
    # the recordings are still there and useful: the 401s were recorded as failures
    assert "Incorrect API key provided" in exported


@pytest.mark.postgres
def test_no_secret_is_stored_postgres(pg_url: str, upstream_url: str) -> None:
    store = Store(pg_url)
    record_everything(store, upstream_url)
    with store.engine.connect() as conn:
        rows = [
            json.dumps([str(v) for v in row])
            for table in ("events", "streams")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table}")
        ]
    exported = "".join(export_lines(store))
    store.close()
    assert len(rows) > 40
    assert sum(r.count(MARK) for r in rows) == 0
    assert exported.count(MARK) == 0


PLUGIN_TEST = f"""
import openai, pytest

def test_calls(streamrec):
    client = openai.OpenAI(api_key={OPENAI_KEY!r}, max_retries=0)  # base URL from the plugin
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{{"role": "user", "content": "hello"}}], stream=True,
        metadata={{"api_key": {OPENAI_KEY!r}}}, user={JWT!r},
        extra_body={{"nested": {{"password": {PASSWORD!r}}}}},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{{"role": "user", "content": "hello"}}], stream=True,
            extra_headers={{{ECHO!r}: "1"}},
        )
"""


def test_no_secret_is_stored_by_the_pytest_plugin(
    upstream_url: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream_url + "/v1")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makepyfile(test_app=PLUGIN_TEST)
    db = pytester.path / "recorded.db"
    result = pytester.runpytest_subprocess(
        "--streamrec-db", str(db), "--streamrec-mode", "record", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    with Store(db, create=False) as store:
        exported = "".join(export_lines(store))
        assert len(store.stream_ids()) == 2
    assert "Incorrect API key provided" in exported
    output = "\n".join(result.outlines + result.errlines)
    files = b"".join(p.read_bytes() for p in pytester.path.glob("recorded.db*"))
    assert (exported.count(MARK), output.count(MARK), files.count(MARK.encode())) == (0, 0, 0)


def test_scrub_keeps_data_and_removes_credentials() -> None:
    from streamrec.recorder import scrub

    schema = {
        "type": "function",
        "function": {
            "name": "login",
            "parameters": {"properties": {"password": {"type": "string"}, "key": {}}},
        },
    }
    request = {
        "model": "m",
        "api_key": OPENAI_KEY,
        "tools": [schema],
        "metadata": {"api_key": OPENAI_KEY, "key": "colour", "client": "web"},
        "messages": [{"role": "user", "content": f"my key is {ANTHROPIC_KEY}, ok?"}],
        "extra_headers": {"Authorization": f"Bearer {TOKEN}", "x-trace": "1"},
        "extra_query": {"key": "short", "alt": "sse"},
    }
    assert scrub(request) == {
        "model": "m",
        "tools": [schema],
        "metadata": {"key": "colour", "client": "web"},
        "messages": [{"role": "user", "content": "my key is [redacted], ok?"}],
        "extra_headers": {"x-trace": "1"},
        "extra_query": {"alt": "sse"},
    }


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.sampled_from([OPENAI_KEY, f"Bearer {TOKEN}", JWT, f"x?key={GOOGLE_KEY}"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["api_key", "password", "key", "content", "headers", "x"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(_json)
def test_scrub_is_idempotent_and_leaves_no_known_secret(value: Any) -> None:
    from streamrec.recorder import scrub

    once = scrub({"request": value})
    assert scrub(once) == once
    assert MARK not in json.dumps(once)
