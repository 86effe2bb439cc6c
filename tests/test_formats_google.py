"""Gemini ``streamGenerateContent``: the real ``google-genai`` SDK against the local upstream,
recorded, then checked attribute by attribute live and rebuilt from the store."""

# ruff: noqa: F811  (pytest fixtures imported from tests.upstream are parameters here)

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import types
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
    stored,
    usage_of,
    words,
)
from tests.upstream import (  # noqa: F401  (fixtures are used by name)
    API_GOOGLE,
    GEMINI_THOUGHT_SIGNATURE,
    SCENARIO_HEADER,
    THINKING_TEXT,
    TOOL_CALLS,
    Scenario,
    Upstream,
    gemini_data,
    upstream,
    upstream_session,
)

API = API_GOOGLE
MODEL = "gemini-2.5-flash"
ECHO = "Echo: hi there"
DECLARATIONS = [
    {"name": n, "description": n, "parameters": {"type": "OBJECT"}} for n, _ in TOOL_CALLS
]


@pytest.fixture
def fstore(tmp_path: Path) -> Any:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def _request(**config: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "contents": [{"role": "user", "parts": [{"text": "hi there"}]}],
        "config": {"system_instruction": "Be brief.", "temperature": 0.2, **config},
    }


def _client(up: Upstream, scenario: str) -> genai.Client:
    options = types.HttpOptions(base_url=up.google_base_url, headers={SCENARIO_HEADER: scenario})
    return genai.Client(api_key="g-test", http_options=options)


def _run(mode: str, up: Upstream, store: Store, scenario: str, request: dict[str, Any]) -> Any:
    if mode == "sync":
        with _client(up, scenario) as c:
            stream = record(
                c.models.generate_content_stream(**request), api=API, request=request, store=store
            )
            return (stream, *drain(stream))

    async def go() -> Any:
        with _client(up, scenario) as c:
            try:
                source = await c.aio.models.generate_content_stream(**request)
                stream = record(source, api=API, request=request, store=store)
                return (stream, *(await adrain(stream)))
            finally:
                await c.aio.aclose()

    return asyncio.run(go())


def _last_usage(chunks: list[Any]) -> Any:
    return chunks[-1].usage_metadata


def _both(stream: Any, store: Store) -> list[Any]:
    live, rebuilt = stream.state, store.state(stream.stream_id)
    assert rebuilt == live
    return [live, rebuilt]


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
def test_text(mode: str, upstream: Upstream, fstore: Store) -> None:
    request = _request()
    stream, chunks, error = _run(mode, upstream, fstore, "gemini.text", request)
    assert error is None and len(chunks) > 1
    out = _last_usage(chunks).candidates_token_count
    for state in _both(stream, fstore):
        assert state.status == "completed"
        assert state.content == ECHO and state.thinking == ""
        assert state.finish_reasons == ["STOP"]
        assert state.id == chunks[0].response_id and state.model == MODEL
        assert usage_of(state) == (8, 0, None, out, 0, True)
        assert state.cost == expected_cost(
            MODEL, "google", input_tokens=8, output_tokens=out, cached=0
        )
        assert state.cost_metadata["priced_provider"] == "google"
        system = {"role": "system", "parts": [{"text": "Be brief."}]}
        assert state.messages == [system, *request["contents"]]
        assert state.user_message_param == request["contents"][0]
        assert state.call_params == {"config": request["config"]}
        assert state.message_param == {"role": "model", "parts": [{"text": ECHO}]}
        response = state.construct_call_response().response
        assert response["candidates"][0]["content"] == state.message_param
        assert response["candidates"][0]["finishReason"] == "STOP"
        assert response["usageMetadata"]["promptTokenCount"] == 8


@MODES
def test_function_calls_are_whole_with_stable_ids(
    mode: str, upstream: Upstream, fstore: Store
) -> None:
    request = _request(tools=[{"function_declarations": DECLARATIONS}])
    stream, _, error = _run(mode, upstream, fstore, "gemini.tools", request)
    assert error is None
    for state in _both(stream, fstore):
        assert state.content == ""
        assert [(t.id, t.name, t.args, t.complete) for t in state.tool_calls] == [
            ("get_weather_0", "get_weather", TOOL_CALLS[0][1], True),
            ("get_time_1", "get_time", TOOL_CALLS[1][1], True),
        ]
        assert state.tool_types == DECLARATIONS
        assert usage_of(state) == (64, 0, None, 20, 0, True)
        # the signature goes back exactly as Gemini sent it (standard base64)
        assert state.message_param == {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": TOOL_CALLS[0][1]},
                    "thoughtSignature": GEMINI_THOUGHT_SIGNATURE,
                },
                {"functionCall": {"name": "get_time", "args": TOOL_CALLS[1][1]}},
            ],
        }
        outputs = [(t, {"temp": 21}) for t in state.tool_calls]
        assert state.tool_message_params(outputs) == [
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": t.name, "response": {"result": {"temp": 21}}}}
                    for t in state.tool_calls
                ],
            }
        ]


@MODES
def test_thought_parts_are_thinking(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, chunks, _ = _run(mode, upstream, fstore, "gemini.thinking", _request())
    thoughts = "**Echoing the user**\n\n" + THINKING_TEXT
    usage = _last_usage(chunks)
    assert usage.thoughts_token_count == 120
    out = usage.candidates_token_count + 120  # thoughts are not part of candidates
    for state in _both(stream, fstore):
        assert state.thinking == thoughts and state.content == ECHO
        assert usage_of(state) == (8, 0, None, out, 120, True)
        assert state.cost == expected_cost(
            MODEL, "google", input_tokens=8, output_tokens=out, cached=0
        )
        assert state.message_param["parts"] == [{"text": thoughts, "thought": True}, {"text": ECHO}]


@MODES
def test_cached_content_is_part_of_the_prompt(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, chunks, _ = _run(mode, upstream, fstore, "gemini.cached", _request())
    out = _last_usage(chunks).candidates_token_count
    for state in _both(stream, fstore):
        assert usage_of(state) == (2060, 2048, None, out, 0, True)
        cost = expected_cost(MODEL, "google", input_tokens=2060, output_tokens=out, cached=2048)
        assert state.cost == cost


@MODES
def test_dropped_connection(mode: str, upstream: Upstream, fstore: Store) -> None:
    stream, chunks, error = _run(mode, upstream, fstore, "gemini.drop", _request())
    assert error is not None and chunks
    for state in _both(stream, fstore):
        assert state.status == "failed" and state.finish_reasons is None
        assert state.content == "".join(c.text for c in chunks)
        assert state.chunk_count == len(chunks)
        # Gemini repeats the running usage on every chunk: what arrived is what was reported
        assert state.usage.output_tokens == _last_usage(chunks).candidates_token_count


def _calls_with_ids(req: dict[str, Any]) -> list[Any]:
    parts = [
        {"functionCall": {"id": f"fc-{n}", "name": name, "args": args}}
        for n, (name, args) in enumerate(TOOL_CALLS)
    ]
    usage = {"promptTokenCount": 10, "candidatesTokenCount": 6, "totalTokenCount": 16}
    body = {
        "candidates": [
            {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": usage,
        "modelVersion": MODEL,
        "responseId": "r1",
    }
    return [gemini_data(body)]


@MODES
def test_function_call_ids_from_gemini_are_kept_and_echoed(
    mode: str, upstream: Upstream, fstore: Store
) -> None:
    upstream.register(Scenario(name="gemini.call_ids_test", api=API, frames=_calls_with_ids))
    stream, _, _ = _run(mode, upstream, fstore, "gemini.call_ids_test", _request())
    for state in _both(stream, fstore):
        assert [t.id for t in state.tool_calls] == ["fc-0", "fc-1"]
        [message] = state.tool_message_params([(state.tool_calls[0], "sunny")])
        assert message["parts"] == [
            {
                "functionResponse": {
                    "id": "fc-0",
                    "name": "get_weather",
                    "response": {"result": "sunny"},
                }
            }
        ]


def test_raw_sse_is_byte_exact(upstream: Upstream, fstore: Store) -> None:
    url = f"{upstream.google_base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi there"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
    stream, chunks, error = record_sse(
        url, body, api=API, store=fstore, headers={SCENARIO_HEADER: "gemini.tools"}
    )
    assert error is None and '"thoughtSignature": "' + GEMINI_THOUGHT_SIGNATURE in chunks[0].data
    assert list(replay(stream.stream_id, store=fstore)) == [c.data for c in chunks]
    state = stream.state
    assert [t.name for t in state.tool_calls] == [n for n, _ in TOOL_CALLS]
    assert state.messages == [
        {"role": "system", "parts": [{"text": "Be brief."}]},
        *body["contents"],
    ]
    assert "systemInstruction" not in state.call_params
    assert state.call_kwargs["systemInstruction"] == body["systemInstruction"]


def test_non_streaming_body_recorded_as_one_chunk(upstream: Upstream, fstore: Store) -> None:
    url = f"{upstream.google_base_url}/v1beta/models/{MODEL}:generateContent"
    stream, chunks, _ = record_sse(
        url,
        {"contents": _request()["contents"]},
        api=API,
        store=fstore,
        headers={SCENARIO_HEADER: "gemini.tools"},
    )
    assert len(chunks) == 1
    for state in _both(stream, fstore):
        assert [(t.name, t.args) for t in state.tool_calls] == list(TOOL_CALLS)
        assert state.finish_reasons == ["STOP"] and usage_of(state)[:4] == (64, 0, None, 20)
        assert (
            state.construct_call_response().response["candidates"][0]["content"]
            == json.loads(chunks[0].data)["candidates"][0]["content"]
        )


def test_sdk_objects_round_trip(upstream: Upstream, fstore: Store) -> None:
    stream, chunks, _ = _run("sync", upstream, fstore, "gemini.tools", _request())
    for chunk in chunks:
        data, name = to_wire(chunk, API)
        assert name is None
        back = to_sdk(API, json.loads(data))
        assert back.model_dump(exclude={"sdk_http_response"}) == chunk.model_dump(
            exclude={"sdk_http_response"}
        )
    replayed = list(replay(stream.stream_id, store=fstore, format="sdk"))
    assert [c.model_dump(exclude={"sdk_http_response"}) for c in replayed] == [
        c.model_dump(exclude={"sdk_http_response"}) for c in chunks
    ]
    # a field this SDK does not know is dropped, as the SDK itself does
    assert to_sdk(API, {"candidates": [], "brandNewField": 1}).candidates == []


# -- chunk-level rules -------------------------------------------------------------------------


def _chunk(
    parts: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts or []}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": MODEL,
        "responseId": "r1",
        **extra,
    }
    if usage is not None:
        body["usageMetadata"] = usage
    return dumps(body)


def test_unsigned_text_parts_merge_and_a_signed_part_stays_alone() -> None:
    chunks = [
        _chunk([{"text": "Let me ", "thought": True}]),
        _chunk([{"text": "think.", "thought": True}]),
        _chunk([{"text": "", "thought": True, "thoughtSignature": "c2ln"}]),
        _chunk([{"text": "Hel"}]),
        _chunk(
            [{"text": "lo"}],
            "STOP",
            {
                "promptTokenCount": 3,
                "toolUsePromptTokenCount": 2,
                "candidatesTokenCount": 2,
                "thoughtsTokenCount": 5,
            },
        ),
    ]
    state, _ = fold(API, chunks)
    # Gemini: "don't merge a part with a signature with another part", even an empty one
    assert state.message_param["parts"] == [
        {"text": "Let me think.", "thought": True},
        {"text": "", "thought": True, "thoughtSignature": "c2ln"},
        {"text": "Hello"},
    ]
    assert usage_of(state) == (5, 0, None, 7, 5, True)


def test_blocked_prompt_and_error_chunk() -> None:
    blocked = dumps(
        {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 4},
            "modelVersion": MODEL,
        }
    )
    state, _ = fold(API, [blocked])
    assert state.refusal == "SAFETY" and state.content == "" and state.finish_reasons is None
    error = dumps(
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    )
    state, _ = fold(API, [_chunk([{"text": "a"}]), error])
    assert state.status == "failed" and state.error == {
        "type": "UNAVAILABLE",
        "message": "The model is overloaded.",
        "code": 503,
    }


def test_unknown_and_malformed_chunks() -> None:
    chunks = [
        _chunk([{"text": "a"}]),
        dumps({"somethingElse": 1}),
        "data",
        dumps({"candidates": "x"}),
        _chunk([{"text": "b"}], "STOP"),
    ]
    state, _ = fold(API, chunks)
    assert (state.unknown_events, state.malformed_chunks) == (1, 2)
    assert state.content == "ab" and state.status == "completed"
    assert state.usage.reported is False and state.cost is None


# -- property -------------------------------------------------------------------------------

_parts = st.lists(
    st.one_of(
        st.builds(lambda t, th: {"text": t, "thought": th}, words, st.booleans()),
        st.builds(lambda t: {"text": t}, words | maybe_int),
        st.builds(lambda t: {"text": "", "thoughtSignature": t}, words),
        st.builds(
            lambda n, a: {"functionCall": {"name": n, "args": a}},
            st.sampled_from(["f", "g", ""]),
            st.none() | st.just({"x": 1}) | st.just([1]),
        ),
        st.just({"functionCall": {"id": "c1", "name": "f", "args": {}}}),
        st.just({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}),
        st.just("not a part"),
    ),
    max_size=3,
)
_usage = st.fixed_dictionaries(
    {},
    optional={
        "promptTokenCount": maybe_int,
        "candidatesTokenCount": maybe_int,
        "thoughtsTokenCount": maybe_int,
        "cachedContentTokenCount": maybe_int,
        "toolUsePromptTokenCount": maybe_int,
    },
)
google_event = st.one_of(
    st.builds(
        _chunk,
        _parts,
        st.none() | st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"]),
        st.none() | _usage,
    ),
    st.builds(lambda u: dumps({"usageMetadata": u, "modelVersion": MODEL}), _usage),
    st.just(dumps({"promptFeedback": {"blockReason": "OTHER"}})),
    st.just(dumps({"error": {"code": 500, "message": "x", "status": "INTERNAL"}})),
    st.builds(
        lambda c: dumps({"candidates": c}),
        st.lists(
            st.dictionaries(
                st.sampled_from(["index", "content", "finishReason"]), maybe_int | words
            ),
            max_size=2,
        ),
    ),
    garbage_text,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(google_event, max_size=20),
    st.data(),
    st.sampled_from([EventKind.COMPLETED, EventKind.FAILED, EventKind.INTERRUPTED, None]),
)
def test_any_chunk_sequence_projects_and_prefix_then_rest_equals_whole(
    chunks: list[str], data: st.DataObject, end: EventKind | None
) -> None:
    events = stored(API, [SSEEvent(c) for c in chunks], _request(), end)
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))
