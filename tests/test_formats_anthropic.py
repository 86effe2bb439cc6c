"""Anthropic Messages: the real ``anthropic`` SDK against the local upstream, recorded,
then checked attribute by attribute live and rebuilt from the store."""

# ruff: noqa: F811  (pytest fixtures imported from tests.upstream are parameters here)

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamrec import SSEEvent, Store, record, replay
from streamrec.events import EventKind
from streamrec.recorder import to_wire
from streamrec.replay._sdk import to_sdk
from tests.formats_support import (
    adrain,
    check_prefix_then_rest,
    drain,
    dumps,
    expected_cost,
    fold,
    garbage_text,
    maybe_int,
    record_sse,
    small_index,
    stored,
    usage_of,
    words,
)
from tests.upstream import (  # noqa: F401  (fixtures are used by name)
    API_ANTHROPIC,
    REDACTED_THINKING,
    SCENARIO_HEADER,
    THINKING_SIGNATURE,
    THINKING_TEXT,
    TOOL_CALLS,
    TOOL_PREAMBLE,
    Scenario,
    Upstream,
    sse_event,
    upstream,
    upstream_session,
)

API = API_ANTHROPIC
MODEL = "claude-haiku-4-5-20251001"  # what the upstream reports for "claude-haiku-4-5"
PROMPT = "hi there"
ECHO = "Echo: hi there"


@pytest.fixture
def fstore(tmp_path: Path) -> Any:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def _request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        **extra,
    }


def _run(mode: str, up: Upstream, store: Store, scenario: str, request: dict[str, Any]) -> Any:
    """Stream ``scenario`` through the SDK (sync or async), recorded; (stream, chunks, error)."""
    headers = {SCENARIO_HEADER: scenario}
    if mode == "sync":
        with anthropic.Anthropic(
            base_url=up.anthropic_base_url, api_key="sk-ant-test", max_retries=0
        ) as c:
            stream = record(
                c.messages.create(**request, extra_headers=headers),
                api=API,
                request=request,
                store=store,
            )
            return (stream, *drain(stream))

    async def go() -> Any:
        async with anthropic.AsyncAnthropic(
            base_url=up.anthropic_base_url, api_key="sk-ant-test", max_retries=0
        ) as c:
            source = await c.messages.create(**request, extra_headers=headers)
            stream = record(source, api=API, request=request, store=store)
            return (stream, *(await adrain(stream)))

    return asyncio.run(go())


def _both(stream: Any, store: Store) -> list[Any]:
    """The live state and the state rebuilt from the log; they must be equal."""
    live, rebuilt = stream.state, store.state(stream.stream_id)
    assert rebuilt == live
    return [live, rebuilt]


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
def test_text(mode: str, upstream: Upstream, fstore: Store) -> None:
    request = _request()
    stream, chunks, error = _run(mode, upstream, fstore, "anthropic.text", request)
    assert error is None and chunks
    for state in _both(stream, fstore):
        assert state.status == "completed"
        assert state.content == ECHO and state.thinking == ""
        assert state.finish_reasons == ["end_turn"]
        assert state.id.startswith("msg_01") and state.model == MODEL
        # message_start's output_tokens (1) is replaced by message_delta's 9, not added
        assert usage_of(state) == (21, 0, 0, 9, None, True)
        assert (state.input_tokens, state.cached_tokens, state.output_tokens) == (21, 0, 9)
        assert state.cost == expected_cost(
            MODEL, "anthropic", input_tokens=21, output_tokens=9, cached=0, cache_write=0
        )
        assert state.cost_metadata["priced_provider"] == "anthropic"
        assert state.messages == request["messages"]
        assert state.call_kwargs["system"] == "Be brief."
        assert state.call_params == {"max_tokens": 256}
        assert state.message_param == {
            "role": "assistant",
            "content": [{"type": "text", "text": ECHO}],
        }
        response = state.construct_call_response().response
        assert response["type"] == "message" and response["stop_reason"] == "end_turn"
        assert response["content"] == [{"type": "text", "text": ECHO}]
        assert response["usage"]["input_tokens"] == 21 and response["usage"]["output_tokens"] == 9
    row = fstore.stream(stream.stream_id)
    assert (row["input_tokens"], row["output_tokens"], row["status"]) == (21, 9, "completed")
    assert Decimal(row["cost_nanousd"]) / 10**9 == stream.state.cost


@MODES
def test_parallel_tools_and_tool_message_params(
    mode: str, upstream: Upstream, fstore: Store
) -> None:
    tools = [
        {"name": n, "description": n, "input_schema": {"type": "object"}} for n, _ in TOOL_CALLS
    ]
    request = _request(tools=tools)
    stream, _, error = _run(mode, upstream, fstore, "anthropic.tools", request)
    assert error is None
    for state in _both(stream, fstore):
        assert state.content == TOOL_PREAMBLE
        assert state.finish_reasons == ["tool_use"]
        assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
            (name, args, True) for name, args in TOOL_CALLS
        ]
        assert all(t.id and t.id.startswith("toolu_01") for t in state.tool_calls)
        assert state.tool_types == tools
        assert usage_of(state) == (412, 0, 0, 96, None, True)
        assert state.cost == expected_cost(
            MODEL, "anthropic", input_tokens=412, output_tokens=96, cached=0, cache_write=0
        )
        blocks = state.message_param["content"]
        assert blocks[0] == {"type": "text", "text": TOOL_PREAMBLE}
        assert blocks[1:] == [
            {"type": "tool_use", "id": t.id, "name": t.name, "input": t.args}
            for t in state.tool_calls
        ]
        outputs = [(t, f"result {i}") for i, t in enumerate(state.tool_calls)]
        assert state.tool_message_params(outputs) == [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": t.id,
                        "content": [{"type": "text", "text": out}],
                    }
                    for t, out in outputs
                ],
            }
        ]
        assert state.construct_call_response().response["stop_reason"] == "tool_use"


@MODES
def test_thinking_keeps_signature_and_redacted_blocks(
    mode: str, upstream: Upstream, fstore: Store
) -> None:
    request = _request(thinking={"type": "enabled", "budget_tokens": 1024})
    stream, _, error = _run(mode, upstream, fstore, "anthropic.thinking", request)
    assert error is None
    for state in _both(stream, fstore):
        assert state.thinking == THINKING_TEXT
        assert state.content == ECHO
        assert usage_of(state) == (46, 0, 0, 187, None, True)
        assert state.message_param["content"] == [
            {"type": "thinking", "thinking": THINKING_TEXT, "signature": THINKING_SIGNATURE},
            {"type": "redacted_thinking", "data": REDACTED_THINKING},
            {"type": "text", "text": ECHO},
        ]
        assert state.cost == expected_cost(
            MODEL, "anthropic", input_tokens=46, output_tokens=187, cached=0, cache_write=0
        )


@MODES
def test_cache_reads_and_writes_are_inclusive_and_priced(
    mode: str, upstream: Upstream, fstore: Store
) -> None:
    stream, _, error = _run(mode, upstream, fstore, "anthropic.cached", _request())
    assert error is None
    for state in _both(stream, fstore):
        # input = 13 fresh + 1536 written + 4096 read
        assert usage_of(state) == (5645, 4096, 1536, 9, None, True)
        assert state.cache_write_tokens == 1536
        cost = expected_cost(
            MODEL, "anthropic", input_tokens=5645, output_tokens=9, cached=4096, cache_write=1536
        )
        assert state.cost == cost
        # by hand from the model's prices: fresh, cache read, cache write (5 minutes), output
        price = state.cost_metadata
        assert price["priced_model"] == "claude-haiku-4-5"
        assert (
            cost
            == (
                Decimal(13) * 1
                + Decimal(4096) * Decimal("0.1")
                + Decimal(1536) * Decimal("1.25")
                + 9 * 5
            )
            / 10**6
        )


def _refusal_frames(req: dict[str, Any]) -> list[Any]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_01Refusal",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 1},
        },
    }
    delta = {
        "type": "message_delta",
        "delta": {
            "stop_reason": "refusal",
            "stop_sequence": None,
            "stop_details": {
                "type": "refusal",
                "category": "cyber",
                "explanation": "Declined: malware.",
            },
        },
        "usage": {"output_tokens": 4},
    }
    return [
        sse_event("message_start", start),
        sse_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        sse_event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "I can't"},
            },
        ),
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse_event("message_delta", delta),
        sse_event("message_stop", {"type": "message_stop"}),
    ]


@MODES
def test_refusal(mode: str, upstream: Upstream, fstore: Store) -> None:
    upstream.register(Scenario(name="anthropic.refusal_test", api=API, frames=_refusal_frames))
    stream, _, error = _run(mode, upstream, fstore, "anthropic.refusal_test", _request())
    assert error is None
    for state in _both(stream, fstore):
        assert state.finish_reasons == ["refusal"]
        assert state.refusal == "Declined: malware."
        assert state.content == "I can't"
        assert state.status == "completed"
        assert state.construct_call_response().response["stop_details"]["category"] == "cyber"


@MODES
def test_error_midstream_fails_with_what_arrived(
    mode: str, upstream: Upstream, fstore: Store
) -> None:
    stream, _, error = _run(mode, upstream, fstore, "anthropic.error_midstream", _request())
    assert isinstance(error, anthropic.APIStatusError)  # the SDK raises on `event: error`
    for state in _both(stream, fstore):
        assert state.status == "failed"
        # the provider's own error type, not the SDK's exception class
        assert state.error["type"] == "overloaded_error"
        assert state.error["message"] == "Overloaded"
        assert state.content == "Echo: hi"
        assert state.finish_reasons is None
        # message_start gave the input; the output count never came: no cost, and why
        assert usage_of(state) == (21, 0, 0, None, None, True)
        assert state.cost is None and "usage incomplete" in state.cost_metadata["reason"]


def test_error_event_recorded_raw_fails_the_stream(upstream: Upstream, fstore: Store) -> None:
    url = upstream.base_url + "/v1/messages"
    stream, chunks, error = record_sse(
        url,
        _request(),
        api=API,
        store=fstore,
        headers={SCENARIO_HEADER: "anthropic.error_midstream"},
    )
    assert error is None and chunks[-1].event == "error"
    for state in _both(stream, fstore):
        assert state.status == "failed"
        assert state.error == {"type": "overloaded_error", "message": "Overloaded"}
        assert state.content == "Echo: hi"
    # raw chunks come back byte for byte, ping included
    assert list(replay(stream.stream_id, store=fstore)) == [c.data for c in chunks]
    assert [e.event for e in fstore.events(stream.stream_id) if e.kind is EventKind.CHUNK] == [
        c.event for c in chunks
    ]


@MODES
def test_dropped_connection(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, chunks, error = _run(mode, upstream, fstore, "anthropic.drop", _request())
    assert error is not None
    for state in _both(stream, fstore):
        assert state.status == "failed"
        assert state.content == "Echo: hi"
        assert state.chunk_count == len(chunks)
        assert state.usage.output_tokens is None and state.cost is None


def test_raw_sse_stream_is_byte_exact_and_folds_like_the_sdk(
    upstream: Upstream, fstore: Store
) -> None:
    url = upstream.base_url + "/v1/messages"
    stream, chunks, error = record_sse(
        url, _request(), api=API, store=fstore, headers={SCENARIO_HEADER: "anthropic.cached"}
    )
    assert error is None and "ping" in [c.event for c in chunks]
    assert list(replay(stream.stream_id, store=fstore)) == [c.data for c in chunks]
    state = stream.state
    assert state.content == ECHO and usage_of(state) == (5645, 4096, 1536, 9, None, True)
    assert state.unknown_events == 0 and state.malformed_chunks == 0


def test_non_streaming_body_recorded_as_one_chunk(upstream: Upstream, fstore: Store) -> None:
    url = upstream.base_url + "/v1/messages"
    body = _request(stream=False)
    stream, chunks, _ = record_sse(
        url, body, api=API, store=fstore, headers={SCENARIO_HEADER: "anthropic.tools"}
    )
    assert len(chunks) == 1
    for state in _both(stream, fstore):
        assert state.content == TOOL_PREAMBLE
        assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
            (n, a, True) for n, a in TOOL_CALLS
        ]
        assert state.finish_reasons == ["tool_use"]
        assert usage_of(state) == (412, 0, 0, 96, None, True)
        assert (
            state.construct_call_response().response["content"]
            == json.loads(chunks[0].data)["content"]
        )


def test_message_stream_helper_records_only_wire_events(upstream: Upstream, fstore: Store) -> None:
    request = _request()
    body = {k: v for k, v in request.items() if k != "stream"}
    headers = {SCENARIO_HEADER: "anthropic.thinking"}
    with (
        anthropic.Anthropic(base_url=upstream.anthropic_base_url, api_key="k", max_retries=0) as c,
        c.messages.stream(**body, extra_headers=headers) as helper,
    ):
        stream = record(helper, api=API, request=request, store=fstore)
        yielded, error = drain(stream)
    assert error is None
    kinds = [
        json.loads(e.payload)["type"]
        for e in fstore.events(stream.stream_id)
        if e.kind is EventKind.CHUNK
    ]
    assert {"text", "thinking", "signature"}.isdisjoint(kinds) and len(kinds) < len(yielded)
    stop = next(e for e in fstore.events(stream.stream_id) if e.event == "message_stop")
    assert json.loads(stop.payload) == {"type": "message_stop"}  # no snapshot of the message
    assert stream.state.thinking == THINKING_TEXT and stream.state.content == ECHO


def test_sdk_objects_round_trip(upstream: Upstream, fstore: Store) -> None:
    stream, chunks, _ = _run("sync", upstream, fstore, "anthropic.tools", _request())
    for chunk in chunks:
        data, name = to_wire(chunk, API)
        back = to_sdk(API, json.loads(data))
        assert type(back) is type(chunk) and back.model_dump() == chunk.model_dump()
        assert name == chunk.type
    replayed = list(replay(stream.stream_id, store=fstore, format="sdk"))
    assert [c.model_dump() for c in replayed] == [c.model_dump() for c in chunks]


# -- chunk-level rules -----------------------------------------------------------------------


def _ev(obj: dict[str, Any]) -> SSEEvent:
    return SSEEvent(dumps(obj), obj.get("type"))


def _start(usage: dict[str, Any] | None = None) -> SSEEvent:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": []}
    return _ev(
        {
            "type": "message_start",
            "message": {**message, "usage": usage or {"input_tokens": 5, "output_tokens": 1}},
        }
    )


def _block(index: int, block: dict[str, Any]) -> SSEEvent:
    return _ev({"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: int, delta: dict[str, Any]) -> SSEEvent:
    return _ev({"type": "content_block_delta", "index": index, "delta": delta})


def _stop(index: int) -> SSEEvent:
    return _ev({"type": "content_block_stop", "index": index})


def _end(reason: str = "end_turn", usage: dict[str, Any] | None = None) -> SSEEvent:
    return _ev(
        {
            "type": "message_delta",
            "delta": {"stop_reason": reason},
            "usage": usage or {"output_tokens": 3},
        }
    )


def test_tool_calls_complete_at_their_block_stop_and_empty_input_is_empty_object() -> None:
    chunks = [
        _start(),
        _block(0, {"type": "tool_use", "id": "toolu_a", "name": "now", "input": {}}),
        _block(1, {"type": "tool_use", "id": "toolu_b", "name": "add", "input": {}}),
        _delta(1, {"type": "input_json_delta", "partial_json": '{"a": 1,'}),
        _delta(0, {"type": "input_json_delta", "partial_json": ""}),
        _stop(0),
        _delta(1, {"type": "input_json_delta", "partial_json": ' "b": 2}'}),
        _stop(1),
        _end("tool_use"),
    ]
    state, completed = fold(API, chunks)
    assert completed == [[], [], [], [], [], ["toolu_a"], [], ["toolu_b"], [], []]
    assert [(t.name, t.arguments, t.args) for t in state.tool_calls] == [
        ("now", "{}", {}),
        ("add", '{"a": 1, "b": 2}', {"a": 1, "b": 2}),
    ]
    assert [b["input"] for b in state.message_param["content"]] == [{}, {"a": 1, "b": 2}]


def test_a_tool_call_cut_off_is_never_handed_out() -> None:
    chunks = [
        _start(),
        _block(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
        _delta(0, {"type": "input_json_delta", "partial_json": '{"x"'}),
    ]
    state, completed = fold(API, chunks, end=EventKind.FAILED)
    assert completed == [[], [], [], []] and not state.tool_calls[0].complete
    assert state.status == "failed" and state.usage.output_tokens is None


def test_usage_latest_value_per_field_wins() -> None:
    start = _start({"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 1})
    chunks = [
        start,
        _end(usage={"output_tokens": 7}),
        _end(
            usage={
                "input_tokens": 12,
                "output_tokens": 9,
                "output_tokens_details": {"thinking_tokens": 5},
            }
        ),
    ]
    state, _ = fold(API, chunks)
    assert usage_of(state) == (16, 4, None, 9, 5, True)


def test_unknown_events_are_counted_and_malformed_chunks_never_raise() -> None:
    chunks = [
        _start(),
        _ev({"type": "message_frobnicated"}),
        _block(0, {"type": "text", "text": ""}),
        _delta(0, {"type": "brand_new_delta", "x": 1}),
        SSEEvent("{not json", "content_block_delta"),
        _delta(9, {"type": "text_delta", "text": "x"}),  # a block that never started
        _delta(0, {"type": "text_delta", "text": "ok"}),
        _ev({"type": "ping"}),
        _stop(0),
        _end(),
        _ev({"type": "message_stop"}),
    ]
    state, _ = fold(API, chunks)
    assert state.unknown_events == 2
    assert state.malformed_chunks == 2 and len(state.problems) == 2
    assert state.content == "ok" and state.status == "completed"


def test_signature_deltas_are_kept_per_block() -> None:
    chunks = [
        _start(),
        _block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        _delta(0, {"type": "thinking_delta", "thinking": "a"}),
        _delta(0, {"type": "signature_delta", "signature": "SIG1"}),
        _stop(0),
        _block(1, {"type": "thinking", "thinking": "", "signature": ""}),
        _delta(1, {"type": "thinking_delta", "thinking": "b"}),
        _delta(1, {"type": "signature_delta", "signature": "SIG2"}),
        _stop(1),
        _end(),
    ]
    state, _ = fold(API, chunks)
    assert state.thinking == "ab"
    assert [b["signature"] for b in state.message_param["content"]] == ["SIG1", "SIG2"]


# -- property ------------------------------------------------------------------------------

_blocks = st.sampled_from(
    [
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "toolu_x", "name": "f", "input": {}},
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "redacted_thinking", "data": "abc"},
        {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
        {"type": "mystery"},
    ]
)
_deltas = st.one_of(
    st.builds(lambda t: {"type": "text_delta", "text": t}, words),
    st.builds(
        lambda t: {"type": "input_json_delta", "partial_json": t},
        st.sampled_from(["", "{", '"a"', ":1", "}", "[", "x"]),
    ),
    st.builds(lambda t: {"type": "thinking_delta", "thinking": t}, words),
    st.builds(lambda t: {"type": "signature_delta", "signature": t}, words),
    st.builds(
        lambda v: {"type": "citations_delta", "citation": v},
        st.none() | st.just({"cited_text": "c"}),
    ),
    st.builds(lambda v: {"type": "text_delta", "text": v}, maybe_int),
    st.just({"type": "unknown_delta"}),
)
_usage = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": maybe_int,
        "output_tokens": maybe_int,
        "cache_read_input_tokens": maybe_int,
        "cache_creation_input_tokens": maybe_int,
        "cache_creation": st.just({"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 1}),
    },
)
anthropic_event = st.one_of(
    st.builds(_start, _usage),
    st.builds(_block, small_index, _blocks),
    st.builds(_delta, small_index, _deltas),
    st.builds(_stop, small_index),
    st.builds(
        lambda r, u: _ev({"type": "message_delta", "delta": {"stop_reason": r}, "usage": u}),
        st.sampled_from(["end_turn", "tool_use", "refusal", None, 3]),
        _usage,
    ),
    st.just(_ev({"type": "message_stop"})),
    st.just(_ev({"type": "ping"})),
    st.just(_ev({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
    st.builds(lambda t: SSEEvent(t, "content_block_delta"), garbage_text),
    st.builds(lambda t: _ev({"type": t}), st.text(max_size=10)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(anthropic_event, max_size=25),
    st.data(),
    st.sampled_from([EventKind.COMPLETED, EventKind.FAILED, EventKind.INTERRUPTED, None]),
)
def test_any_event_sequence_projects_and_prefix_then_rest_equals_whole(
    chunks: list[SSEEvent], data: st.DataObject, end: EventKind | None
) -> None:
    events = stored(API, chunks, _request(), end)
    split = data.draw(st.integers(0, len(events)))
    state = check_prefix_then_rest(events, split)
    assert state.chunk_count == len(chunks)
