"""Gemini's ``streamGenerateContent`` without ``?alt=sse``: the stream is one JSON array,
growing element by element (what llm-gemini and other REST clients read with ijson).

Recorded through the proxy element by element, each element a chunk with its own
timestamp; replayed framed as the *request* asks (the array without ``alt``, SSE with
it), so a recording made either way serves both. The real stream is llm-gemini's
recorded cassette (simonw/llm-gemini@2a8c855, tests/cassettes/test_gemini/test_prompt.yaml,
Apache-2.0), its gzip body decoded: ``tests/recorded/gemini_json_array_llm_gemini.json``.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.upstream are parameters here)

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streamrec import Store, StreamState
from streamrec._serving import BackgroundServer
from streamrec.recorder import ProxyServer, RecordingProxy, SSESplitter
from streamrec.recorder._json_array import JSONArraySplitter
from streamrec.replay import replay_app
from tests.formats_support import fold
from tests.upstream import (  # noqa: F401  (fixtures are used by name)
    API_GOOGLE,
    DROP,
    SCENARIO_HEADER,
    TOOL_CALLS,
    Frame,
    Scenario,
    Upstream,
    upstream,
    upstream_session,
)

REAL = (Path(__file__).parent / "recorded" / "gemini_json_array_llm_gemini.json").read_bytes()
PATH = "/v1beta/models/gemini-flash-latest:streamGenerateContent"
BODY = {
    "contents": [{"role": "user", "parts": [{"text": "Name for a pet pelican, just the name"}]}]
}
SEPARATOR = b"\n,\r\n"


def _framed(elements: list[str], separator: bytes = SEPARATOR) -> bytes:
    inner = separator.join(e.encode("utf-8", "surrogateescape") for e in elements)
    return b"[" + inner + b"\n]"


def _split(body: bytes, cuts: list[int]) -> tuple[list[str], JSONArraySplitter]:
    splitter, out, prev = JSONArraySplitter(), [], 0
    for cut in [*sorted(set(cuts)), len(body)]:
        out += splitter.feed(body[prev:cut])
        prev = cut
    return out, splitter


# -- the splitter -----------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.sampled_from('ab"\\[]{},:\n\té💥\x00')),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='k"\\[}', max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    elements=st.lists(st.dictionaries(st.text(max_size=4), _json, max_size=4), max_size=5),
    indent=st.sampled_from([None, 2]),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
@example(elements=[{"a": "\\"}], indent=None, cuts=[8])  # the cut right after a backslash
@example(elements=[{"a": "\\\\"}, {}], indent=None, cuts=[8, 9])
@example(elements=[{"a": "é"}], indent=None, cuts=[7])  # the cut inside a UTF-8 sequence
def test_elements_come_out_exactly_wherever_the_bytes_are_cut(
    elements: list[dict[str, Any]], indent: int | None, cuts: list[int]
) -> None:
    texts = [json.dumps(e, indent=indent, ensure_ascii=False) for e in elements]
    body = _framed(texts) if texts else b"[]"
    out, splitter = _split(body, [c for c in cuts if c < len(body)])
    assert out == texts
    assert splitter.closed and not splitter.pending


def test_the_real_stream_splits_into_its_three_responses_and_frames_back_byte_exact() -> None:
    for cuts in ([], list(range(1, len(REAL))), [1, 794, 797, 2000]):
        out, splitter = _split(REAL, cuts)
        assert [json.loads(t) for t in out] == json.loads(REAL)
        assert _framed(out) == REAL and splitter.closed


def test_an_unclosed_array_is_pending() -> None:
    splitter = JSONArraySplitter()
    assert splitter.feed(b'[{"a": [1, "]"]}\n,\r\n{"b": ') == ['{"a": [1, "]"]}']
    assert splitter.pending and not splitter.closed
    assert splitter.feed(b'"}"}') == ['{"b": "}"}']
    assert not splitter.pending and not splitter.closed
    assert splitter.feed(b"\n]") == [] and splitter.closed
    assert splitter.feed(b"trailing") == []


# -- recorded through the proxy ---------------------------------------------------------------


@pytest.fixture
def server(store: Store, upstream: Upstream) -> Iterator[ProxyServer]:
    proxy = RecordingProxy(store=store, upstreams={"google": upstream.base_url})
    with ProxyServer(proxy) as running:
        yield running


def _settled(server: ProxyServer, store: Store) -> StreamState:
    deadline = time.monotonic() + 5
    while True:
        store.writer.flush()
        [stream_id] = server.proxy.stream_ids
        state = store.state(stream_id)
        if state.status != "recording" or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def _post(url: str, scenario: str, body: dict[str, Any] = BODY) -> tuple[bytes, str]:
    """The raw response bytes (as received, however they were cut) and its content type."""
    with httpx.stream("POST", url, json=body, headers={SCENARIO_HEADER: scenario}) as response:
        assert response.status_code == 200, response.read()
        return b"".join(response.iter_raw()), response.headers["content-type"]


def _real_scenario(upstream: Upstream, frames: list[Any]) -> str:
    upstream.register(Scenario("gemini.real_array", API_GOOGLE, frames=lambda _req: frames))
    return "gemini.real_array"


def _in_pieces(body: bytes, *cuts: int) -> list[Any]:
    edges = [0, *cuts, len(body)]
    return [Frame(body[a:b], 0.002) for a, b in itertools.pairwise(edges)]


def _chunks(store: Store, stream_id: str) -> list[str]:
    return [e.payload for e in store.events(stream_id) if e.kind.value == "chunk"]


def test_the_real_stream_is_recorded_element_by_element(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    # cut inside the first element, in the middle of a separator and inside the signature
    scenario = _real_scenario(upstream, _in_pieces(REAL, 300, 795, 1500))
    received, media = _post(f"{server.url}/google{PATH}", scenario)
    assert received == REAL and media == "application/json; charset=UTF-8"
    state = _settled(server, store)
    assert state.status == "completed" and state.malformed_chunks == 0, state.problems
    assert _chunks(store, state.stream_id or "") == [
        json.dumps(e, indent=2, ensure_ascii=False) for e in json.loads(REAL)
    ]
    assert state.chunk_count == 3
    assert state.content == "Scoop"
    assert state.thinking.startswith("**Considering the Constraint**")
    assert (state.input_tokens, state.output_tokens) == (11, 2 + 291)
    assert state.usage.reasoning_tokens == 291
    assert state.finish_reasons == ["STOP"]
    assert (state.model, state.id) == ("gemini-3.6-flash", "IopyaseNCL-s-8YP7urOoAY")
    # the signed empty part stays a part of its own, its signature as sent
    last = json.loads(REAL)[-1]["candidates"][0]["content"]["parts"][0]
    assert last["thoughtSignature"] in [
        p.get("thoughtSignature") for p in state.provider_data["parts"]
    ]
    events = store.events(state.stream_id or "")
    chunk_times = [e.t_ns for e in events if e.kind.value == "chunk"]
    assert chunk_times == sorted(chunk_times) and chunk_times[0] < chunk_times[-1]
    assert state.time_to_first_chunk_ns == chunk_times[0]


def test_the_upstream_scenarios_record_the_same_state_either_way(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    states = {}
    for query in ("", "?alt=sse"):
        _, media = _post(f"{server.url}/google{PATH}{query}", "gemini.tools")
        assert media.startswith("application/json" if not query else "text/event-stream")
        store.writer.flush()
        stream_id = server.proxy.stream_ids[-1]
        deadline = time.monotonic() + 5
        while store.state(stream_id).status == "recording" and time.monotonic() < deadline:
            time.sleep(0.02)
        states[query] = store.state(stream_id)
    array, sse = states[""], states["?alt=sse"]
    assert array.status == sse.status == "completed"
    assert [(t.name, t.args) for t in array.tool_calls] == list(TOOL_CALLS)
    assert [(t.name, t.args) for t in array.tool_calls] == [
        (t.name, t.args) for t in sse.tool_calls
    ]
    assert (array.content, array.finish_reasons, array.chunk_count) == (
        sse.content,
        sse.finish_reasons,
        sse.chunk_count,
    )
    assert (array.input_tokens, array.output_tokens, array.cost) == (
        sse.input_tokens,
        sse.output_tokens,
        sse.cost,
    )


def test_a_dropped_array_fails_with_the_elements_before_it(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    cut = REAL.index(SEPARATOR, 800) + 10  # inside the third element
    scenario = _real_scenario(upstream, [*_in_pieces(REAL[:cut], 795), DROP])
    with pytest.raises(httpx.HTTPError):
        _post(f"{server.url}/google{PATH}", scenario)
    state = _settled(server, store)
    assert state.status == "failed" and state.chunk_count == 2
    assert state.content == "Scoop"


def test_a_body_that_ends_inside_the_array_fails_and_says_why(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    unclosed = REAL[: REAL.rindex(b"}") + 1]  # the last element whole, no closing ]
    received, _ = _post(f"{server.url}/google{PATH}", _real_scenario(upstream, [Frame(unclosed)]))
    assert received == unclosed  # forwarded as it came: recording never changes the bytes
    state = _settled(server, store)
    assert state.status == "failed" and state.chunk_count == 3
    assert "ended inside its JSON array" in (state.error or {}).get("message", "")


# -- replayed as the request asks -------------------------------------------------------------


def _sse_json(raw: bytes) -> list[Any]:
    splitter = SSESplitter()
    return [json.loads(e.data) for e in splitter.feed(raw) + splitter.close()]


@pytest.mark.parametrize("speed", [0.0, 50.0])
def test_replay_frames_the_recording_as_the_request_asks(
    speed: float, server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    _post(f"{server.url}/google{PATH}", _real_scenario(upstream, _in_pieces(REAL, 795)))
    _settled(server, store)
    with BackgroundServer(replay_app(store, speed=speed)) as replaying:
        again, media = _post(f"{replaying.url}{PATH}", "unused")
        assert again == REAL and media == "application/json; charset=UTF-8"
        as_sse, media = _post(f"{replaying.url}{PATH}?alt=sse", "unused")
        assert media.startswith("text/event-stream")
        assert _sse_json(as_sse) == json.loads(REAL)


def test_an_sse_recording_replays_as_an_array_to_a_client_without_alt(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    sse, _ = _post(f"{server.url}/google{PATH}?alt=sse", "gemini.tools")
    _settled(server, store)
    with BackgroundServer(replay_app(store)) as replaying:
        array, media = _post(f"{replaying.url}{PATH}", "unused")
    assert media == "application/json; charset=UTF-8"
    assert json.loads(array) == _sse_json(sse)
    out, splitter = _split(array, [])
    assert splitter.closed and [json.loads(t) for t in out] == _sse_json(sse)
    assert (
        array.startswith(b"[{")
        and array.endswith(b"}\n]")
        and array.count(SEPARATOR) == len(out) - 1
    )


def test_an_injected_failure_cuts_the_array_after_the_elements_before_it(
    server: ProxyServer, store: Store, upstream: Upstream
) -> None:
    from streamrec.replay import Faults

    _post(f"{server.url}/google{PATH}", _real_scenario(upstream, [Frame(REAL)]))
    _settled(server, store)
    faults = Faults.of({"fail_at_chunk": 1, "fail_as": "error"})  # Gemini has no error event
    received = b""
    with (
        BackgroundServer(replay_app(store, faults=faults)) as replaying,
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{replaying.url}{PATH}", json=BODY) as response,
    ):
        for piece in response.iter_raw():
            received += piece
    assert received == b"[" + json.dumps(json.loads(REAL)[0], indent=2, ensure_ascii=False).encode()


# -- folded from one chunk --------------------------------------------------------------------


def test_a_whole_array_in_one_chunk_folds_as_its_elements() -> None:
    """A recording from before the proxy split arrays stored the body as one chunk."""
    elements, _ = _split(REAL, [])
    whole, _ = fold(API_GOOGLE, [REAL.decode()])
    split, _ = fold(API_GOOGLE, elements)
    assert whole.malformed_chunks == 0, whole.problems
    assert (whole.content, whole.thinking, whole.finish_reasons, whole.usage) == (
        split.content,
        split.thinking,
        split.finish_reasons,
        split.usage,
    )
    assert whole.provider_data == split.provider_data and whole.content == "Scoop"
    bad, _ = fold(API_GOOGLE, ['[{"candidates": []}, 3]'])
    assert bad.malformed_chunks == 1
    assert "a JSON array of something other than objects" in bad.problems[0]
