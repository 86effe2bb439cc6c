"""OpenAI Chat Completions as OpenAI-compatible servers speak it (vLLM, llama.cpp, Ollama,
Groq, OpenRouter): each quirk read for what the server documents, nothing guessed."""

# ruff: noqa: F811  (pytest fixtures imported from tests.upstream are parameters here)

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamrec import Store, record
from streamrec.events import EventKind
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
    API_OPENAI_CHAT,
    DONE_FRAME,
    SCENARIO_HEADER,
    TOOL_CALLS,
    Scenario,
    Upstream,
    sse_data,
    upstream,
    upstream_session,
)

API = API_OPENAI_CHAT


@pytest.fixture
def fstore(tmp_path: Path) -> Any:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A chunk as vLLM / llama.cpp write it: the usual fields, and whatever ``extra`` adds."""
    body: dict[str, Any] = {
        "id": "chatcmpl-local",
        "object": "chat.completion.chunk",
        "created": 1763900000,
        "model": "Qwen/Qwen3-8B",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
        if delta is not None or finish
        else [],
    }
    body.update(extra)
    return body


def _usage(prompt: Any, completion: Any, **details: Any) -> dict[str, Any]:
    total = prompt + completion if isinstance(prompt, int) and isinstance(completion, int) else None
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        **details,
    }


def _vllm_frames(req: dict[str, Any]) -> list[Any]:
    """Tool calls without ``index``, reasoning_content, running usage on every chunk."""
    (n1, a1), (n2, a2) = TOOL_CALLS
    chunks = [
        chunk({"role": "assistant", "reasoning_content": "Two lookups."}, usage=_usage(30, 3)),
        chunk(
            {
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": n1, "arguments": ""}}
                ]
            },
            usage=_usage(30, 5),
        ),
        chunk({"tool_calls": [{"function": {"arguments": dumps(a1)}}]}, usage=_usage(30, 12)),
        chunk(
            {
                "tool_calls": [
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": n2, "arguments": dumps(a2)},
                    }
                ]
            },
            usage=_usage(30, 20),
        ),
        chunk({}, "tool_calls", usage=_usage(30, 21)),
    ]
    return [*(sse_data(c) for c in chunks), DONE_FRAME]


def _run(mode: str, up: Upstream, store: Store, scenario: str, request: dict[str, Any]) -> Any:
    headers = {SCENARIO_HEADER: scenario}
    if mode == "sync":
        with openai.OpenAI(base_url=up.openai_base_url, api_key="local", max_retries=0) as c:
            source = c.chat.completions.create(**request, extra_headers=headers)
            stream = record(source, api=API, request=request, store=store)
            return (stream, *drain(stream))

    async def go() -> Any:
        async with openai.AsyncOpenAI(
            base_url=up.openai_base_url, api_key="local", max_retries=0
        ) as c:
            source = await c.chat.completions.create(**request, extra_headers=headers)
            stream = record(source, api=API, request=request, store=store)
            return (stream, *(await adrain(stream)))

    return asyncio.run(go())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vllm_style_stream_through_the_sdk(mode: str, upstream: Upstream, fstore: Store) -> None:
    upstream.register(Scenario(name="openai_chat.vllm_test", api=API, frames=_vllm_frames))
    request = {
        "model": "Qwen/Qwen3-8B",
        "messages": [{"role": "user", "content": "weather and time?"}],
        "stream": True,
    }
    stream, _, error = _run(mode, upstream, fstore, "openai_chat.vllm_test", request)
    assert error is None
    for state in (stream.state, fstore.state(stream.stream_id)):
        assert state == stream.state
        assert [(t.id, t.name, t.args, t.complete) for t in state.tool_calls] == [
            ("call_a", TOOL_CALLS[0][0], TOOL_CALLS[0][1], True),
            ("call_b", TOOL_CALLS[1][0], TOOL_CALLS[1][1], True),
        ]
        assert state.thinking == "Two lookups."
        assert state.finish_reasons == ["tool_calls"]
        assert usage_of(state) == (30, None, None, 21, None, True)  # the last running total
        # a local model has no price: no cost, and the reason names the model
        assert state.cost is None and "Qwen/Qwen3-8B" in state.cost_metadata["reason"]


def test_tool_calls_without_index() -> None:
    chunks = [
        dumps(
            chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": '{"x":'}}]})
        ),
        dumps(chunk({"tool_calls": [{"id": "a", "function": {"arguments": "1}"}}]})),  # id repeated
        dumps(
            chunk(
                {
                    "tool_calls": [
                        {"id": "b", "function": {"name": "g", "arguments": "{}"}},
                        {"id": "c", "function": {"name": "h"}},
                    ]
                }
            )
        ),
        dumps(
            chunk({"tool_calls": [{"function": {"arguments": '{"y":2}'}}]})
        ),  # no id: the last call
        dumps(chunk({}, "tool_calls")),
    ]
    state, completed = fold(API, chunks)
    assert [(t.id, t.name, t.args) for t in state.tool_calls] == [
        ("a", "f", {"x": 1}),
        ("b", "g", {}),
        ("c", "h", {"y": 2}),
    ]
    assert completed == [[], [], ["a", "b"], [], ["c"], []]


def test_usage_null_on_every_chunk_and_no_usage_at_all() -> None:
    chunks = [
        dumps(chunk({"content": "hi"}, usage=None)),
        dumps(chunk({}, "stop", usage=None)),
        "[DONE]",
    ]
    state, _ = fold(API, chunks)
    assert state.content == "hi" and state.finish_reasons == ["stop"]
    assert usage_of(state) == (None, None, None, None, None, False)
    assert (
        state.cost is None and state.cost_metadata["reason"] == "usage not reported by the provider"
    )


def test_ollama_and_llama_cpp_reasoning_and_string_errors() -> None:
    state, _ = fold(
        API,
        [
            dumps(chunk({"reasoning": "hmm "})),
            dumps(chunk({"reasoning_content": "ok"})),
            dumps({"error": "model not found"}),
        ],
    )
    assert state.thinking == "hmm ok"
    assert state.status == "failed" and state.error == {
        "type": "error",
        "message": "model not found",
    }


def test_groq_usage_under_x_groq_is_priced_as_groq() -> None:
    model = "llama-3.3-70b-versatile"
    x_groq = {
        "id": "req_01",
        "usage": {
            "queue_time": 0.01,
            "prompt_tokens": 40,
            "prompt_time": 0.002,
            "completion_tokens": 12,
            "completion_time": 0.03,
            "total_tokens": 52,
            "total_time": 0.032,
        },
    }
    chunks = [
        dumps({**chunk({"content": "Hi"}), "model": model}),
        dumps({**chunk({}, "stop"), "model": model, "x_groq": x_groq}),
        "[DONE]",
    ]
    state, _ = fold(API, chunks, {"model": model, "messages": []})
    assert usage_of(state) == (40, None, None, 12, None, True)
    assert state.cost == expected_cost(model, "groq", input_tokens=40, output_tokens=12)
    assert state.cost_metadata["priced_provider"] == "groq"


def test_openrouter_reported_cost_is_kept_beside_genai_prices() -> None:
    model = "openai/gpt-4o-mini"
    usage = _usage(
        194,
        2,
        prompt_tokens_details={"cached_tokens": 64, "cache_write_tokens": 100},
        completion_tokens_details={"reasoning_tokens": 0},
        cost=0.95,
        cost_details={"upstream_inference_cost": 19},
    )
    chunks = [
        dumps({**chunk({"content": "Hi"}), "model": model}),
        dumps({**chunk(), "model": model, "usage": usage}),
        "[DONE]",
    ]
    state, _ = fold(API, chunks, {"model": model, "messages": []})
    assert usage_of(state) == (194, 64, 100, 2, 0, True)
    assert state.cost == expected_cost(
        model, "openrouter", input_tokens=194, output_tokens=2, cached=64, cache_write=100
    )
    assert state.cost != Decimal("0.95")  # never replaced by the provider's figure
    assert state.cost_metadata["provider_reported_cost"] == "0.95"
    assert state.provider_data["reported_cost_details"] == {"upstream_inference_cost": 19}


@pytest.mark.parametrize("scenario", ["openai_chat.tools", "openai_chat.text"])
def test_non_streaming_completion_recorded_as_one_chunk(
    scenario: str, upstream: Upstream, fstore: Store
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi there"}]}
    stream, chunks, _ = record_sse(
        upstream.openai_base_url + "/chat/completions",
        body,
        api=API,
        store=fstore,
        headers={SCENARIO_HEADER: scenario},
    )
    assert len(chunks) == 1
    state = stream.state
    assert state == fstore.state(stream.stream_id)
    if scenario.endswith("tools"):
        assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
            (n, a, True) for n, a in TOOL_CALLS
        ]
        assert state.finish_reasons == ["tool_calls"] and usage_of(state)[:4] == (82, 0, None, 41)
    else:
        assert state.content == "Echo: hi there" and state.finish_reasons == ["stop"]
    assert state.cost == expected_cost(
        "gpt-4o-mini-2024-07-18",
        "openai",
        input_tokens=state.usage.input_tokens,
        output_tokens=state.usage.output_tokens,
        cached=state.usage.cached_tokens,
    )


# -- property ---------------------------------------------------------------------------

_tool = st.fixed_dictionaries(
    {},
    optional={
        "index": maybe_int,
        "id": st.sampled_from(["a", "b", ""]) | st.none(),
        "function": st.fixed_dictionaries({}, optional={"name": words, "arguments": words}),
    },
)
_usage_obj = st.builds(
    lambda p, c, cached, cost: _usage(
        p, c, prompt_tokens_details={"cached_tokens": cached}, cost=cost
    ),
    maybe_int,
    maybe_int,
    maybe_int,
    st.none() | st.floats(0, 5, allow_nan=False),
)
compat_chunk = st.one_of(
    st.builds(
        lambda d: dumps(chunk(d)),
        st.fixed_dictionaries(
            {},
            optional={
                "content": words,
                "reasoning_content": words,
                "reasoning": words,
                "refusal": words,
            },
        ),
    ),
    st.builds(lambda calls: dumps(chunk({"tool_calls": calls})), st.lists(_tool, max_size=2)),
    st.builds(
        lambda r, u: dumps(chunk({}, r, usage=u)),
        st.sampled_from(["stop", "tool_calls", "length"]),
        st.none() | _usage_obj,
    ),
    st.builds(lambda u: dumps({**chunk(), "x_groq": {"usage": u}}), _usage_obj),
    st.builds(
        lambda m: dumps(
            {
                "object": "chat.completion",
                "choices": [{"index": 0, "message": m, "finish_reason": "stop"}],
            }
        ),
        st.fixed_dictionaries(
            {}, optional={"content": words, "tool_calls": st.lists(_tool, max_size=2)}
        ),
    ),
    st.sampled_from(
        [
            dumps({"error": "boom"}),
            dumps({"error": {"message": "x", "type": "server_error"}}),
            "[DONE]",
        ]
    ),
    garbage_text,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(compat_chunk, max_size=20),
    st.data(),
    st.sampled_from([EventKind.COMPLETED, EventKind.FAILED, None]),
)
def test_any_compatible_stream_projects_and_prefix_then_rest_equals_whole(
    chunks: list[str], data: st.DataObject, end: EventKind | None
) -> None:
    events = stored(API, chunks, {"model": "gpt-4o-mini", "messages": []}, end)
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))
