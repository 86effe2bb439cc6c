"""The proxy's pure parts: SSE splitting at any byte boundary, routing, and the sans-I/O exchange."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamrec import SSEEvent, Store
from streamrec.errors import RecorderError
from streamrec.providers import endpoint_for
from streamrec.recorder import (
    SSESplitter,
    client_env,
    open_exchange,
    parse_upstreams,
    resolve_upstreams,
)
from streamrec.recorder._routes import split_provider, upstream_url


def _split(wire: bytes, cuts: list[int]) -> list[SSEEvent]:
    splitter = SSESplitter()
    events: list[SSEEvent] = []
    start = 0
    for cut in sorted(set(cuts)):
        events += splitter.feed(wire[start:cut])
        start = cut
    events += splitter.feed(wire[start:])
    return events + splitter.close()


def test_fields_as_the_spec_reads_them() -> None:
    wire = (
        b"\xef\xbb\xbf: a comment\n"
        b'event: content_block_delta\r\ndata: {"a":\r\ndata:  1}\r\n\r\n'  # CRLF, two data lines
        b"data:no-space\n\n"
        b"id: 7\nretry: 100\n\n"  # no data: dispatches nothing
        b"event: ping\n\n"  # a name without data: nothing either
        b"data\n\n"  # a field with no colon: empty data
        b"data: \xc3\xa9t\xc3\xa9\rdata: [DONE]\r\r"  # lone CR line ends
        b"data: never finished\n"
    )
    assert _split(wire, []) == [
        SSEEvent('{"a":\n 1}', "content_block_delta"),
        SSEEvent("no-space"),
        SSEEvent(""),
        SSEEvent("été\n[DONE]"),
    ]


def test_a_trailing_cr_at_the_end_of_the_stream_ends_the_event() -> None:
    assert _split(b"data: x\r\r", [8]) == [SSEEvent("x")]


_LINE = st.sampled_from(
    [
        'data: é {"x": 1}',
        "data:",
        "event: message_start",
        ": keep-alive",
        "id: 1",
        "data: [DONE]",
        "",
    ]
)


@given(
    lines=st.lists(_LINE, max_size=30),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
def test_any_split_of_the_bytes_gives_the_same_events(
    lines: list[str], newline: str, cuts: list[int]
) -> None:
    wire = "".join(line + newline for line in lines).encode()
    assert _split(wire, cuts) == _split(wire, [])


@pytest.mark.parametrize(
    ("path", "headers", "query", "expected"),
    [
        ("/openai/v1/chat/completions", {}, "", ("openai", "/v1/chat/completions")),
        ("/anthropic/v1/models", {}, "", ("anthropic", "/v1/models")),
        ("/google/v1/models", {}, "", ("google", "/v1/models")),
        ("/v1/chat/completions", {}, "", ("openai", "/v1/chat/completions")),
        ("/v1/messages", {}, "", ("anthropic", "/v1/messages")),
        ("/v1/models", {"anthropic-version": "2023-06-01"}, "", ("anthropic", "/v1/models")),
        ("/v1/models", {"x-goog-api-key": "k"}, "", ("google", "/v1/models")),
        ("/v1/models", {}, "key=abc", ("google", "/v1/models")),
        ("/v1/models", {}, "", ("openai", "/v1/models")),
        (
            "/v1/models/gemini-2.5-flash:streamGenerateContent",
            {},
            "alt=sse",
            ("google", "/v1/models/gemini-2.5-flash:streamGenerateContent"),
        ),
        ("/v1beta/files", {}, "", ("google", "/v1beta/files")),
    ],
)
def test_requests_go_to_their_provider(
    path: str, headers: dict[str, str], query: str, expected: tuple[str, str]
) -> None:
    assert split_provider(path, headers, query) == expected


def test_upstream_urls_join_without_doubling_the_version() -> None:
    assert (
        str(upstream_url("https://api.openai.com", "/v1/chat/completions"))
        == "https://api.openai.com/v1/chat/completions"
    )
    assert (
        str(upstream_url("https://openrouter.ai/api/v1/", "/v1/chat/completions"))
        == "https://openrouter.ai/api/v1/chat/completions"
    )
    assert (
        str(upstream_url("http://h:1/base", "/v1beta/models/m:streamGenerateContent", "alt=sse"))
        == "http://h:1/base/v1beta/models/m:streamGenerateContent?alt=sse"
    )


def test_upstreams_resolve_flag_then_program_base_url_then_env_then_default() -> None:
    env = {
        "STREAMREC_UPSTREAM_ANTHROPIC": "http://env-anthropic",
        "STREAMREC_UPSTREAM_OPENAI": "http://env-openai",
        "OPENAI_BASE_URL": "http://program/v1",
        "GOOGLE_GEMINI_BASE_URL": "http://program-google",
    }
    flags = parse_upstreams(["google=http://flag-google"])
    assert resolve_upstreams(flags, env, inherit_client_env=True) == {
        "openai": "http://program/v1",
        "anthropic": "http://env-anthropic",
        "google": "http://flag-google",
    }
    # without inheriting (the standalone proxy): the environment's upstream, then the default
    assert resolve_upstreams(None, env)["openai"] == "http://env-openai"
    assert resolve_upstreams(None, {})["openai"] == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    "value", ["openai", "mistral=http://x", "openai=ftp://x", "google=not a url"]
)
def test_bad_upstreams_are_one_clear_error(value: str) -> None:
    with pytest.raises(RecorderError, match=r"PROVIDER=URL|not an http"):
        parse_upstreams([value])


def test_client_env_matches_what_each_sdk_expects() -> None:
    assert client_env("http://127.0.0.1:9/") == {
        "OPENAI_BASE_URL": "http://127.0.0.1:9/openai",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/anthropic",
        "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9/google",
    }


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compressed_body_is_recorded_decoded(encoding: str, store: Store) -> None:
    """We ask upstreams for identity, but one may compress anyway; the bytes pass as they are."""
    wire = b'data: {"a":1}\n\ndata: [DONE]\n\n'
    packed = gzip.compress(wire) if encoding == "gzip" else zlib.compress(wire)
    exchange = open_exchange(endpoint_for("POST", "/v1/chat/completions"), b"{}", store=store)
    assert exchange is not None
    headers = httpx.Headers({"content-type": "text/event-stream", "content-encoding": encoding})
    exchange.response(200, headers)
    for i in range(0, len(packed), 7):
        exchange.feed(packed[i : i + 7])
    exchange.end()
    store.writer.flush()
    events = store.events(exchange.stream_id)
    assert [e.payload for e in events if e.kind.value == "chunk"] == ['{"a":1}', "[DONE]"]
    assert events[-1].kind.value == "stream.completed"


def test_a_body_we_cannot_decode_is_a_failed_recording_not_a_broken_stream(store: Store) -> None:
    exchange = open_exchange(endpoint_for("POST", "/v1/messages"), b"{}", store=store)
    assert exchange is not None
    exchange.response(
        200, httpx.Headers({"content-type": "text/event-stream", "content-encoding": "br"})
    )
    exchange.feed(b"\x8b\x00\x80garbage")
    exchange.end()
    store.writer.flush()
    state = store.state(exchange.stream_id)
    assert state.status == "failed"
    assert state.error and "content-encoding 'br'" in state.error["message"]


def test_a_body_that_will_not_decompress_fails_the_recording_not_the_caller(store: Store) -> None:
    finished = []
    exchange = open_exchange(
        endpoint_for("POST", "/v1/chat/completions"), b"{}", store=store, on_finish=finished.append
    )
    assert exchange is not None
    exchange.response(
        200, httpx.Headers({"content-type": "text/event-stream", "content-encoding": "deflate"})
    )
    raw_deflate = zlib.compressobj(wbits=-15)  # no zlib header, as some servers send it
    exchange.feed(raw_deflate.compress(b"data: {}\n\n") + raw_deflate.flush())  # must not raise
    exchange.end()
    store.writer.flush()
    state = store.state(exchange.stream_id)
    assert state.status == "failed"
    assert "cannot decompress" in state.error["message"]
    assert len(finished) == 1  # the proxy's summary line is printed for it too


def test_an_unsupported_encoding_is_reported_when_it_ends(store: Store) -> None:
    finished = []
    exchange = open_exchange(
        endpoint_for("POST", "/v1/messages"), b"{}", store=store, on_finish=finished.append
    )
    assert exchange is not None
    exchange.response(
        200, httpx.Headers({"content-type": "text/event-stream", "content-encoding": "br"})
    )
    assert len(finished) == 1 and finished[0].state.error["type"] == "RecorderError"
