"""The OpenAI Chat Completions reducer, read by the documented meaning of each chunk."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from streamrec.events import EventKind, StoredEvent, StreamStarted
from streamrec.projection import Projector, StreamState

from .chunks import REQUEST, chunk, text_stream, tool_delta, usage_body

_T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def fold(
    chunks: list[str], request: dict | None = None, end: EventKind | None = EventKind.COMPLETED
) -> tuple[StreamState, list[list[str]]]:
    """Project ``chunks`` as one stream; also return the tool names completed by each event."""
    p = Projector("s1")
    started = StreamStarted(
        provider="openai",
        api="openai.chat.completions",
        model="gpt-4o-mini",
        request=request or REQUEST,
    )
    p.apply(StoredEvent("s1", 0, EventKind.STARTED, 0, _T, started.model_dump_json()))
    completed = []
    for i, c in enumerate(chunks, 1):
        completed.append(
            [t.name for t in p.apply(StoredEvent("s1", i, EventKind.CHUNK, i * 1000, _T, c))]
        )
    if end is not None:
        payload = '{"reason": "consumer stopped"}' if end is EventKind.INTERRUPTED else "{}"
        completed.append(
            [t.name for t in p.apply(StoredEvent("s1", len(chunks) + 1, end, 99_000, _T, payload))]
        )
    return p.state, completed


def test_text_usage_and_the_usage_chunk_keeps_finish_reasons() -> None:
    state, _ = fold(text_stream(["Hel", "lo"]))
    assert state.content == "Hello"
    assert state.finish_reasons == ["stop"]  # the empty-choices usage chunk must not wipe them
    assert (state.input_tokens, state.output_tokens, state.cached_tokens) == (12, 2, 0)
    assert state.usage.reported
    assert state.id == "chatcmpl-test123"
    assert state.model == "gpt-4o-mini-2024-07-18"
    assert state.requested_model == "gpt-4o-mini"
    assert state.message_param == {"role": "assistant", "content": "Hello"}
    assert state.messages == REQUEST["messages"]
    assert state.user_message_param == {"role": "user", "content": "Hello"}
    assert state.call_params == {"temperature": 0.2}
    assert state.status == "completed"
    assert state.time_to_first_chunk_ns == 1000 and state.duration_ns == 99_000


def test_parallel_tool_calls_complete_when_the_next_starts_and_at_finish() -> None:
    chunks = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [tool_delta(0, id="call_a", name="get_weather", args="")]}),
        chunk({"tool_calls": [tool_delta(0, args='{"city"')]}),
        chunk({"tool_calls": [tool_delta(0, args=': "Paris"}')]}),
        chunk({"tool_calls": [tool_delta(1, id="call_b", name="get_time", args='{"tz": "CET"}')]}),
        chunk({}, "tool_calls"),
        chunk(choices=[], usage=usage_body(30, 20)),
    ]
    state, completed = fold(chunks)
    assert completed == [[], [], [], [], ["get_weather"], ["get_time"], [], []]
    assert [(t.id, t.name, t.args, t.complete) for t in state.tool_calls] == [
        ("call_a", "get_weather", {"city": "Paris"}, True),
        ("call_b", "get_time", {"tz": "CET"}, True),
    ]
    assert state.finish_reasons == ["tool_calls"]
    assert state.message_param["tool_calls"][1] == {
        "id": "call_b",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
    }
    assert state.message_param["content"] is None


def test_a_tool_call_followed_directly_by_done_is_still_a_tool_call() -> None:
    chunks = [
        chunk({"tool_calls": [tool_delta(0, id="call_x", name="f", args='{"a": 1}')]}),
        "[DONE]",
    ]
    state, completed = fold(chunks, end=None)
    assert completed == [[], ["f"]]
    assert state.tool_calls[0].complete and state.tool_calls[0].args == {"a": 1}


def test_tool_results_and_tool_message_params() -> None:
    chunks = [
        chunk({"tool_calls": [tool_delta(0, id="call_x", name="f", args="{}")]}),
        chunk({}, "tool_calls"),
    ]
    state, _ = fold(chunks)
    assert state.tool_message_params([(state.tool_calls[0], {"temp": 21})]) == [
        {"role": "tool", "content": '{"temp":21}', "tool_call_id": "call_x", "name": "f"}
    ]


def test_construct_call_response_is_the_non_streaming_body() -> None:
    state, _ = fold(text_stream(["Hi"]))
    response = state.construct_call_response()
    assert response.content == "Hi"
    assert response.finish_reasons == ["stop"]
    assert response.response == {
        "id": "chatcmpl-test123",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "system_fingerprint": "fp_test",
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 1,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    assert response.cost == state.cost


def test_no_usage_means_unknown_cost_not_zero() -> None:
    state, _ = fold(text_stream(["a"], usage=False))
    assert state.usage.reported is False
    assert state.input_tokens is None and state.cost is None
    assert state.cost_metadata["reason"] == "usage not reported by the provider"


def test_cost_is_exact_and_prices_cached_tokens_at_the_cache_rate() -> None:
    from decimal import Decimal

    chunks = [
        chunk({"content": "x"}, "stop"),
        chunk(choices=[], usage=usage_body(1000, 100, cached=400)),
    ]
    state, _ = fold(chunks)
    # gpt-4o-mini: input $0.15/MTok, cached input $0.075/MTok, output $0.60/MTok
    assert state.cost == Decimal("0.00009") + Decimal("0.00003") + Decimal("0.00006")
    assert state.cost_metadata["cost_nanousd"] == 180_000
    assert state.cost_metadata["prices_version"]


def test_malformed_and_error_chunks_never_raise() -> None:
    state, _ = fold(
        [chunk({"content": "a"}), "{oops", "[1, 2]", '{"choices": "nope"}', chunk({"content": "b"})]
    )
    assert state.content == "ab"
    assert state.malformed_chunks == 3
    assert len(state.problems) == 3


def test_usage_null_on_every_chunk_and_usage_repeated_cumulatively() -> None:
    plain = chunk({"content": "a"}).replace(
        '"system_fingerprint"', '"usage":null,"system_fingerprint"'
    )
    chunks = [
        plain,
        chunk({"content": "b"}, usage=usage_body(5, 1)),
        chunk({}, "stop", usage=usage_body(5, 2)),
    ]
    state, _ = fold(chunks)
    assert (state.input_tokens, state.output_tokens) == (5, 2)
    assert state.finish_reasons == ["stop"]


def test_groq_usage_is_read() -> None:
    body = chunk({}, "stop").replace(
        '"system_fingerprint"',
        '"x_groq":{"id":"req_1","usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}},"system_fingerprint"',
    )
    state, _ = fold([chunk({"content": "a"}), body])
    assert (state.input_tokens, state.output_tokens) == (7, 3)


def test_interrupted_stream_keeps_what_arrived() -> None:
    state, _ = fold(text_stream(["a", "b"])[:2], end=EventKind.INTERRUPTED)
    assert state.status == "interrupted"
    assert state.content == "a"
    assert state.usage.reported is False


@pytest.mark.parametrize("end", [EventKind.INTERRUPTED, EventKind.FAILED])
def test_a_tool_call_cut_off_by_a_failure_or_interruption_is_not_complete(end: EventKind) -> None:
    chunks = [
        chunk({"tool_calls": [tool_delta(0, id="call_x", name="rm", args='{"path": "/tmp/x')]})
    ]
    p = Projector("s1")
    started = StreamStarted(provider="openai", api="openai.chat.completions", model="m")
    p.apply(StoredEvent("s1", 0, EventKind.STARTED, 0, _T, started.model_dump_json()))
    p.apply(StoredEvent("s1", 1, EventKind.CHUNK, 1, _T, chunks[0]))
    payload = (
        '{"reason": "x"}' if end is EventKind.INTERRUPTED else '{"error_type": "E", "message": "m"}'
    )
    assert p.apply(StoredEvent("s1", 2, end, 2, _T, payload)) == []
    [tool] = p.state.tool_calls
    assert tool.complete is False and tool.arguments == '{"path": "/tmp/x'


def test_price_is_recomputed_only_when_its_inputs_change() -> None:
    from unittest import mock

    from streamrec.projection import _projector

    p = Projector("s1")
    started = StreamStarted(provider="openai", api="openai.chat.completions", model="gpt-4o-mini")
    p.apply(StoredEvent("s1", 0, EventKind.STARTED, 0, _T, started.model_dump_json()))
    with mock.patch.object(_projector, "price", wraps=_projector.price) as priced:
        for i, c in enumerate(text_stream(["a", "b", "c"]), 1):
            p.apply(StoredEvent("s1", i, EventKind.CHUNK, i, _T, c))
            _ = p.state  # a reader looking after every chunk
    # once for the first chunk's new model, once for the usage chunk; not once per read
    assert priced.call_count == 2
    assert p.state.cost is not None
