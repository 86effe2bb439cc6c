"""OpenAI Responses: the real ``openai`` SDK (``client.responses``) against the local
upstream, recorded, then checked attribute by attribute live and rebuilt from the store."""

# ruff: noqa: F811  (pytest fixtures imported from tests.upstream are parameters here)

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
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
    API_OPENAI_RESPONSES,
    REASONING_SUMMARY,
    REFUSAL_TEXT,
    SCENARIO_HEADER,
    TOOL_CALLS,
    Upstream,
    upstream,
    upstream_session,
)

API = API_OPENAI_RESPONSES
MODEL = "gpt-4o-mini-2024-07-18"
ECHO = "Echo: hi there"


@pytest.fixture
def fstore(tmp_path: Path) -> Any:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def _request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "instructions": "Be brief.",
        "input": [{"role": "user", "content": "hi there"}],
        "temperature": 0.2,
        "stream": True,
        **extra,
    }


def _run(mode: str, up: Upstream, store: Store, scenario: str, request: dict[str, Any]) -> Any:
    headers = {SCENARIO_HEADER: scenario}
    if mode == "sync":
        with openai.OpenAI(base_url=up.openai_base_url, api_key="sk-test", max_retries=0) as c:
            source = c.responses.create(**request, extra_headers=headers)
            stream = record(source, api=API, request=request, store=store)
            return (stream, *drain(stream))

    async def go() -> Any:
        async with openai.AsyncOpenAI(
            base_url=up.openai_base_url, api_key="sk-test", max_retries=0
        ) as c:
            source = await c.responses.create(**request, extra_headers=headers)
            stream = record(source, api=API, request=request, store=store)
            return (stream, *(await adrain(stream)))

    return asyncio.run(go())


def _both(stream: Any, store: Store) -> list[Any]:
    live, rebuilt = stream.state, store.state(stream.stream_id)
    assert rebuilt == live
    return [live, rebuilt]


def _cost(inp: int, out: int, cached: int = 0) -> Any:
    return expected_cost(MODEL, "openai", input_tokens=inp, output_tokens=out, cached=cached)


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
def test_text(mode: str, upstream: Upstream, fstore: Store) -> None:
    request = _request()
    stream, chunks, error = _run(mode, upstream, fstore, "responses.text", request)
    assert error is None and chunks
    for state in _both(stream, fstore):
        assert state.status == "completed"
        assert state.content == ECHO
        assert state.finish_reasons == ["completed"]
        assert state.id.startswith("resp_") and state.model == MODEL
        assert usage_of(state) == (12, 0, None, 6, 0, True)
        assert state.cost == _cost(12, 6)
        assert state.messages == request["input"]
        assert state.user_message_param == request["input"][0]
        assert state.call_params == {"temperature": 0.2}
        assert state.call_kwargs["instructions"] == "Be brief."
        [item] = state.message_param
        assert item["type"] == "message" and item["role"] == "assistant"
        assert item["content"][0]["type"] == "output_text" and item["content"][0]["text"] == ECHO
        response = state.construct_call_response().response
        assert response["object"] == "response" and response["status"] == "completed"
        assert response["output"] == state.message_param
        assert response["usage"]["input_tokens"] == 12


@MODES
def test_parallel_function_calls(mode: str, upstream: Upstream, fstore: Store) -> None:
    tools = [
        {"type": "function", "name": n, "parameters": {"type": "object"}} for n, _ in TOOL_CALLS
    ]
    stream, _, error = _run(mode, upstream, fstore, "responses.tools", _request(tools=tools))
    assert error is None
    for state in _both(stream, fstore):
        assert state.content == ""
        assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
            (n, a, True) for n, a in TOOL_CALLS
        ]
        assert all(t.id.startswith("call_") for t in state.tool_calls)  # the call_id
        assert state.tool_types == tools
        assert usage_of(state) == (75, 0, None, 38, 0, True)
        assert state.cost == _cost(75, 38)
        assert [(i["type"], i["call_id"], i["name"]) for i in state.message_param] == [
            ("function_call", t.id, t.name) for t in state.tool_calls
        ]
        outputs = [(t, {"ok": i}) for i, t in enumerate(state.tool_calls)]
        assert state.tool_message_params(outputs) == [
            {
                "type": "function_call_output",
                "call_id": t.id,
                "output": json.dumps({"ok": i}, separators=(",", ":")),
            }
            for i, (t, _) in enumerate(outputs)
        ]


@MODES
def test_reasoning_summary_is_thinking(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, _, error = _run(mode, upstream, fstore, "responses.thinking", _request(model="o4-mini"))
    assert error is None
    for state in _both(stream, fstore):
        assert state.thinking == REASONING_SUMMARY
        assert state.content == ECHO
        assert usage_of(state) == (18, 0, None, 202, 192, True)
        assert state.model == "o4-mini-2025-04-16"
        assert state.cost == expected_cost(
            state.model, "openai", input_tokens=18, output_tokens=202, cached=0
        )
        assert [i["type"] for i in state.message_param] == ["reasoning", "message"]
        assert state.message_param[0]["summary"] == [
            {"type": "summary_text", "text": REASONING_SUMMARY}
        ]


@MODES
def test_cached_and_reasoning_tokens(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, _, _ = _run(mode, upstream, fstore, "responses.usage", _request())
    for state in _both(stream, fstore):
        assert usage_of(state) == (1200, 1024, None, 90, 64, True)
        assert state.cost == _cost(1200, 90, cached=1024)


@MODES
def test_refusal(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, _, _ = _run(mode, upstream, fstore, "responses.refusal", _request())
    for state in _both(stream, fstore):
        assert state.refusal == REFUSAL_TEXT and state.content == ""
        assert state.message_param[0]["content"] == [{"type": "refusal", "refusal": REFUSAL_TEXT}]
        assert state.finish_reasons == ["completed"]


@MODES
def test_response_failed_midstream(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, _, error = _run(mode, upstream, fstore, "responses.error_midstream", _request())
    assert error is None  # the SDK yields response.failed as an event
    for state in _both(stream, fstore):
        assert state.status == "failed"
        assert state.error["type"] == "server_error"
        assert state.finish_reasons == ["failed"]
        assert state.content == "Echo: hi"
        assert usage_of(state) == (None, None, None, None, None, False)
        assert (
            state.cost is None
            and state.cost_metadata["reason"] == "usage not reported by the provider"
        )


@MODES
def test_incomplete(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, _, _ = _run(mode, upstream, fstore, "responses.incomplete", _request())
    for state in _both(stream, fstore):
        assert state.status == "completed"
        assert state.finish_reasons == ["incomplete"]
        assert state.provider_data["incomplete_details"] == {"reason": "max_output_tokens"}
        assert state.content == "Echo: hi"
        assert usage_of(state) == (12, 0, None, 2, 0, True)


@MODES
def test_dropped_connection(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, chunks, error = _run(mode, upstream, fstore, "responses.drop", _request())
    assert error is not None
    for state in _both(stream, fstore):
        assert state.status == "failed" and state.finish_reasons is None
        assert state.content == "Echo: hi" and state.chunk_count == len(chunks)
        assert state.usage.reported is False and state.cost is None


def test_raw_sse_is_byte_exact(upstream: Upstream, fstore: Store) -> None:
    url = upstream.openai_base_url + "/responses"
    stream, chunks, error = record_sse(
        url, _request(), api=API, store=fstore, headers={SCENARIO_HEADER: "responses.thinking"}
    )
    assert error is None
    assert list(replay(stream.stream_id, store=fstore)) == [c.data for c in chunks]
    state = stream.state
    assert state.thinking == REASONING_SUMMARY and state.content == ECHO
    assert state.unknown_events == 0 and state.malformed_chunks == 0


def test_non_streaming_body_recorded_as_one_chunk(upstream: Upstream, fstore: Store) -> None:
    url = upstream.openai_base_url + "/responses"
    stream, chunks, _ = record_sse(
        url,
        _request(stream=False),
        api=API,
        store=fstore,
        headers={SCENARIO_HEADER: "responses.tools"},
    )
    assert len(chunks) == 1
    for state in _both(stream, fstore):
        assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
            (n, a, True) for n, a in TOOL_CALLS
        ]
        assert state.finish_reasons == ["completed"] and usage_of(state)[0] == 75
        assert (
            state.construct_call_response().response["output"]
            == json.loads(chunks[0].data)["output"]
        )


def test_responses_stream_helper_records_the_same(upstream: Upstream, fstore: Store) -> None:
    request = _request()
    body = {k: v for k, v in request.items() if k != "stream"}
    headers = {SCENARIO_HEADER: "responses.tools"}
    with (
        openai.OpenAI(base_url=upstream.openai_base_url, api_key="k", max_retries=0) as c,
        c.responses.stream(**body, extra_headers=headers) as helper,
    ):
        stream = record(helper, api=API, request=request, store=fstore)
        _, error = drain(stream)
    assert error is None
    state = stream.state
    assert [(t.name, t.args) for t in state.tool_calls] == list(TOOL_CALLS)
    assert state.malformed_chunks == 0 and state.unknown_events == 0
    assert usage_of(state) == (75, 0, None, 38, 0, True)


def test_sdk_objects_round_trip(upstream: Upstream, fstore: Store) -> None:
    stream, chunks, _ = _run("sync", upstream, fstore, "responses.tools", _request())
    for chunk in chunks:
        data, name = to_wire(chunk, API)
        back = to_sdk(API, json.loads(data))
        assert type(back) is type(chunk) and back.model_dump() == chunk.model_dump()
        assert name == chunk.type
    replayed = list(replay(stream.stream_id, store=fstore, format="sdk"))
    assert [c.model_dump() for c in replayed] == [c.model_dump() for c in chunks]


# -- chunk-level rules -------------------------------------------------------------------------


def _ev(obj: dict[str, Any]) -> SSEEvent:
    return SSEEvent(dumps(obj), obj.get("type"))


def _response(status: str = "in_progress", **fields: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "model": MODEL,
        "status": status,
        "output": [],
        **fields,
    }


def _added(index: int, item: dict[str, Any]) -> SSEEvent:
    return _ev({"type": "response.output_item.added", "output_index": index, "item": item})


def _fc(index: int) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{index}",
        "call_id": f"call_{index}",
        "name": f"f{index}",
        "arguments": "",
    }


def test_function_calls_complete_at_arguments_done_and_only_once() -> None:
    chunks = [
        _ev({"type": "response.created", "response": _response()}),
        _added(0, _fc(0)),
        _ev(
            {
                "type": "response.function_call_arguments.delta",
                "output_index": 0,
                "item_id": "fc_0",
                "delta": '{"a":',
            }
        ),
        _ev(
            {
                "type": "response.function_call_arguments.delta",
                "output_index": 0,
                "item_id": "fc_0",
                "delta": "1}",
            }
        ),
        _ev(
            {
                "type": "response.function_call_arguments.done",
                "output_index": 0,
                "item_id": "fc_0",
                "arguments": '{"a":1}',
            }
        ),
        _ev(
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {**_fc(0), "arguments": '{"a":1}', "status": "completed"},
            }
        ),
        _ev(
            {
                "type": "response.completed",
                "response": _response("completed", usage={"input_tokens": 5, "output_tokens": 2}),
            }
        ),
    ]
    state, completed = fold(API, chunks)
    assert completed == [[], [], [], [], ["call_0"], [], [], []]
    assert state.tool_calls[0].args == {"a": 1}
    assert usage_of(state) == (5, None, None, 2, None, True)


def test_a_function_call_cut_off_is_never_handed_out() -> None:
    chunks = [
        _ev({"type": "response.created", "response": _response()}),
        _added(0, _fc(0)),
        _ev(
            {
                "type": "response.function_call_arguments.delta",
                "output_index": 0,
                "item_id": "fc_0",
                "delta": '{"a"',
            }
        ),
    ]
    state, completed = fold(API, chunks, end=EventKind.FAILED)
    assert not any(completed) and state.tool_calls[0].arguments == '{"a"'
    assert state.status == "failed"


def test_error_event_unknown_and_malformed() -> None:
    chunks = [
        _ev({"type": "response.created", "response": _response()}),
        _ev(
            {"type": "response.web_search_call.searching", "output_index": 0}
        ),  # documented: ignored
        _ev({"type": "response.brand_new_thing"}),  # unknown: counted
        _ev(
            {
                "type": "response.output_text.delta",
                "output_index": 5,
                "content_index": 0,
                "delta": "x",
            }
        ),
        SSEEvent("[1, 2]", "response.output_text.delta"),
        _ev(
            {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}
        ),
    ]
    state, _ = fold(API, chunks)
    assert state.unknown_events == 1 and state.malformed_chunks == 2
    assert state.error == {"type": "rate_limit_exceeded", "message": "slow down"}
    assert state.status == "failed"


def test_the_final_response_output_is_the_truth() -> None:
    message = {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "final"}],
    }
    chunks = [
        _ev({"type": "response.created", "response": _response()}),
        _added(0, {**message, "content": [], "status": "in_progress"}),
        _ev(
            {
                "type": "response.output_text.delta",
                "output_index": 0,
                "content_index": 0,
                "delta": "draft",
            }
        ),
        _ev({"type": "response.completed", "response": _response("completed", output=[message])}),
    ]
    state, _ = fold(API, chunks)
    assert state.content == "final" and state.message_param == [message]


# -- property -------------------------------------------------------------------------------

_items = st.sampled_from(
    [
        {"type": "message", "id": "msg_x", "role": "assistant", "content": []},
        {"type": "function_call", "id": "fc_x", "call_id": "call_x", "name": "f", "arguments": ""},
        {"type": "reasoning", "id": "rs_x", "summary": []},
        {"type": "web_search_call", "id": "ws_x"},
        {"no": "type"},
    ]
)
_usage = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": maybe_int,
        "output_tokens": maybe_int,
        "input_tokens_details": st.fixed_dictionaries({"cached_tokens": maybe_int}),
        "output_tokens_details": st.fixed_dictionaries({"reasoning_tokens": maybe_int}),
    },
)
_terminal = st.builds(
    lambda kind, status, usage, output: _ev(
        {"type": kind, "response": _response(status, usage=usage, output=output)}
    ),
    st.sampled_from(["response.completed", "response.incomplete", "response.failed"]),
    st.sampled_from(["completed", "incomplete", "failed", None]),
    st.none() | _usage,
    st.lists(_items, max_size=2),
)
responses_event = st.one_of(
    st.builds(
        lambda k: _ev({"type": k, "response": _response()}),
        st.sampled_from(["response.created", "response.in_progress"]),
    ),
    st.builds(_added, small_index, _items),
    st.builds(
        lambda i, item: _ev({"type": "response.output_item.done", "output_index": i, "item": item}),
        small_index,
        _items,
    ),
    st.builds(
        lambda kind, i, c, d: _ev(
            {
                "type": kind,
                "output_index": i,
                "content_index": c,
                "summary_index": c,
                "item_id": "x",
                "delta": d,
            }
        ),
        st.sampled_from(
            [
                "response.output_text.delta",
                "response.refusal.delta",
                "response.function_call_arguments.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_text.delta",
            ]
        ),
        small_index,
        small_index,
        words | maybe_int,
    ),
    st.builds(
        lambda kind, i, v: _ev(
            {
                "type": kind,
                "output_index": i,
                "content_index": 0,
                "summary_index": 0,
                "text": v,
                "refusal": v,
                "arguments": v,
            }
        ),
        st.sampled_from(
            [
                "response.output_text.done",
                "response.refusal.done",
                "response.function_call_arguments.done",
                "response.reasoning_summary_text.done",
            ]
        ),
        small_index,
        words,
    ),
    st.builds(
        lambda i, part: _ev(
            {
                "type": "response.content_part.added",
                "output_index": i,
                "content_index": 0,
                "part": part,
            }
        ),
        small_index,
        st.sampled_from(
            [{"type": "output_text", "text": ""}, {"type": "refusal", "refusal": ""}, {}]
        ),
    ),
    _terminal,
    st.just(_ev({"type": "error", "code": "server_error", "message": "boom"})),
    st.builds(lambda t: SSEEvent(t, "response.output_text.delta"), garbage_text),
    st.builds(lambda t: _ev({"type": t}), st.text(max_size=12)),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(responses_event, max_size=25),
    st.data(),
    st.sampled_from([EventKind.COMPLETED, EventKind.FAILED, EventKind.INTERRUPTED, None]),
)
def test_any_event_sequence_projects_and_prefix_then_rest_equals_whole(
    chunks: list[SSEEvent], data: st.DataObject, end: EventKind | None
) -> None:
    events = stored(API, chunks, _request(), end)
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))
