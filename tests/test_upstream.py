"""The local upstream is faithful: the real SDKs parse what it streams into the right objects.

Each scenario is driven through the unmodified ``openai``, ``anthropic`` and
``google-genai`` clients (sync and async); if the wire format were off by a byte
where it matters, these parsers would fail or assemble something else.  A few tests
read the raw bytes to pin the framing itself and that frames are flushed one by one.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.upstream are parameters here)

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx
import httpx2  # the transport under openai 3.x, anthropic 2.x and google-genai 3.x
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.upstream import (  # noqa: F401  (fixtures are used by name)
    API_ANTHROPIC,
    API_GOOGLE,
    API_OPENAI_CHAT,
    API_OPENAI_RESPONSES,
    DROP,
    REASONING_SUMMARY,
    REDACTED_THINKING,
    REFUSAL_TEXT,
    SCENARIO_HEADER,
    SCENARIOS,
    THINKING_SIGNATURE,
    THINKING_TEXT,
    TOOL_CALLS,
    TOOL_PREAMBLE,
    Frame,
    Scenario,
    Upstream,
    upstream,
    upstream_session,
)

PROMPT = "Hello there, upstream!"
ECHO = "Echo: " + PROMPT
H = SCENARIO_HEADER
GPT = "gpt-4o-mini"
GPT_SNAPSHOT = "gpt-4o-mini-2024-07-18"
# claude-sonnet-4-5 is deprecated in anthropic 2.x (a DeprecationWarning, an error here).
CLAUDE = "claude-sonnet-4-6"
GEMINI = "gemini-2.5-flash"
MESSAGES: Any = [{"role": "user", "content": PROMPT}]
TOOL_ARGS = {name: args for name, args in TOOL_CALLS}


def _sc(name: str) -> dict[str, str]:
    return {H: name}


# --------------------------------------------------------------------------------------
# clients (no retries: error scenarios must fail at once, not back off)
# --------------------------------------------------------------------------------------


@contextmanager
def oai(up: Upstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=up.openai_base_url, api_key="sk-test", max_retries=0) as client:
        yield client


@contextmanager
def claude(up: Upstream) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=up.anthropic_base_url, api_key="sk-ant-test", max_retries=0
    ) as client:
        yield client


@contextmanager
def gemini(
    up: Upstream, scenario: str | None = None, api_version: str | None = None
) -> Iterator[genai.Client]:
    options = genai_types.HttpOptions(
        base_url=up.google_base_url,
        api_version=api_version,
        headers={H: scenario} if scenario else None,
    )
    with genai.Client(api_key="g-test", http_options=options) as client:
        yield client


def _chat_stream(up: Upstream, scenario: str, **kw: Any) -> list[Any]:
    with oai(up) as client:
        stream = client.chat.completions.create(
            model=GPT, messages=MESSAGES, stream=True, extra_headers=_sc(scenario), **kw
        )
        return list(stream)


# ======================================================================================
# OpenAI Chat Completions
# ======================================================================================


def test_chat_text_stream_sync(upstream: Upstream) -> None:
    chunks = _chat_stream(upstream, "openai_chat.text", stream_options={"include_usage": True})

    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(deltas) == ECHO
    assert len(deltas) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {GPT_SNAPSHOT}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        14,
        6,
        20,
    )
    assert all(c.usage is None for c in chunks[:-1])

    [req] = upstream.requests
    assert (req.method, req.path, req.api, req.scenario, req.stream) == (
        "POST",
        "/v1/chat/completions",
        API_OPENAI_CHAT,
        "openai_chat.text",
        True,
    )
    assert req.body["stream_options"] == {"include_usage": True}
    assert req.body["messages"] == MESSAGES
    assert req.header("Authorization") == "Bearer sk-test"


def test_chat_text_stream_async(upstream: Upstream) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(
            base_url=upstream.openai_base_url, api_key="sk-test", max_retries=0
        ) as client:
            stream = await client.chat.completions.create(model=GPT, messages=MESSAGES, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == ECHO  # no header, no use(): the built-in text default


def test_chat_without_include_usage_sends_no_usage_chunk(upstream: Upstream) -> None:
    chunks = _chat_stream(upstream, "openai_chat.usage")
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize(
    ("scenario", "prompt", "cached", "completion", "reasoning"),
    [("openai_chat.usage", 1200, 1024, 90, 64), ("openai_chat.cached", 2006, 1920, 6, 0)],
)
def test_chat_usage_details(
    upstream: Upstream, scenario: str, prompt: int, cached: int, completion: int, reasoning: int
) -> None:
    chunks = _chat_stream(upstream, scenario, stream_options={"include_usage": True})
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage.prompt_tokens == prompt and usage.completion_tokens == completion
    assert usage.total_tokens == prompt + completion
    assert usage.prompt_tokens_details.cached_tokens == cached
    assert usage.completion_tokens_details.reasoning_tokens == reasoning


def test_chat_parallel_tool_calls_assembled_by_sdk_helper(upstream: Upstream) -> None:
    with (
        oai(upstream) as client,
        client.chat.completions.stream(
            model=GPT, messages=MESSAGES, extra_headers=_sc("openai_chat.tools")
        ) as stream,
    ):
        arg_deltas = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()

    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == [name for name, _ in TOOL_CALLS]
    assert [json.loads(c.function.arguments) for c in calls] == [args for _, args in TOOL_CALLS]
    assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
    assert len(arg_deltas) >= 6  # arguments arrive as several partial-JSON pieces per call


def test_chat_tool_call_whole_in_one_chunk(upstream: Upstream) -> None:
    chunks = _chat_stream(upstream, "openai_chat.tool_whole")
    [call] = chunks[0].choices[0].delta.tool_calls
    name, args = TOOL_CALLS[0]
    assert call.function.name == name and json.loads(call.function.arguments) == args
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_refusal(upstream: Upstream) -> None:
    with (
        oai(upstream) as client,
        client.chat.completions.stream(
            model=GPT, messages=MESSAGES, extra_headers=_sc("openai_chat.refusal")
        ) as stream,
    ):
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.refusal == REFUSAL_TEXT and message.content is None


def test_chat_error_midstream_raises_after_text(upstream: Upstream) -> None:
    seen: list[str] = []
    with oai(upstream) as client:
        stream = client.chat.completions.create(
            model=GPT,
            messages=MESSAGES,
            stream=True,
            extra_headers=_sc("openai_chat.error_midstream"),
        )
        with pytest.raises(openai.APIError, match="server had an error"):
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Echo: Hello"


def test_chat_non_streaming(upstream: Upstream) -> None:
    with oai(upstream) as client:
        completion = client.chat.completions.create(model=GPT, messages=MESSAGES)
    assert completion.choices[0].message.content == ECHO
    assert completion.model == GPT_SNAPSHOT and completion.usage.total_tokens == 20
    assert upstream.requests[0].stream is False


# ======================================================================================
# OpenAI Responses
# ======================================================================================

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 4,  # "Echo:", " Hello", " there,", " upstream!"
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_responses_text_events_sync(upstream: Upstream) -> None:
    with oai(upstream) as client:
        events = list(client.responses.create(model=GPT, input=PROMPT, stream=True))

    assert [e.type for e in events] == TEXT_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == ECHO
    done = events[-1].response
    assert done.id.startswith("resp_") and done.status == "completed" and done.model == GPT_SNAPSHOT
    assert done.output_text == ECHO
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.total_tokens) == (
        12,
        6,
        18,
    )
    assert upstream.requests[0].body["input"] == PROMPT


def test_responses_stream_helper_async_final_response(upstream: Upstream) -> None:
    async def run() -> Any:
        async with (
            openai.AsyncOpenAI(
                base_url=upstream.openai_base_url, api_key="sk-test", max_retries=0
            ) as client,
            client.responses.stream(
                model=GPT, input=[{"role": "user", "content": PROMPT}]
            ) as stream,
        ):
            snapshots = [e.snapshot async for e in stream if e.type == "response.output_text.delta"]
            return snapshots, await stream.get_final_response()

    snapshots, final = asyncio.run(run())
    assert snapshots[-1] == ECHO and final.output_text == ECHO


def _responses_final(up: Upstream, scenario: str) -> tuple[list[Any], Any]:
    with (
        oai(up) as client,
        client.responses.stream(model=GPT, input=PROMPT, extra_headers=_sc(scenario)) as s,
    ):
        events = list(s)
        return events, s.get_final_response()


def test_responses_parallel_function_calls(upstream: Upstream) -> None:
    events, final = _responses_final(upstream, "responses.tools")
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == [name for name, _ in TOOL_CALLS]
    assert [json.loads(c.arguments) for c in calls] == [args for _, args in TOOL_CALLS]
    assert all(c.call_id.startswith("call_") and c.id.startswith("fc_") for c in calls)
    deltas = [e for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(deltas) >= 6 and {e.output_index for e in deltas} == {0, 1}


def test_responses_reasoning_summary(upstream: Upstream) -> None:
    events, final = _responses_final(upstream, "responses.thinking")
    reasoning, _message = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == REASONING_SUMMARY
    summary = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert summary == REASONING_SUMMARY
    assert final.output_text == ECHO
    assert final.usage.output_tokens_details.reasoning_tokens == 192


def test_responses_refusal(upstream: Upstream) -> None:
    events, final = _responses_final(upstream, "responses.refusal")
    assert "".join(e.delta for e in events if e.type == "response.refusal.delta") == REFUSAL_TEXT
    [part] = final.output[0].content
    assert part.type == "refusal" and part.refusal == REFUSAL_TEXT


@pytest.mark.parametrize(
    ("scenario", "inp", "cached", "reasoning"),
    [("responses.usage", 1200, 1024, 64), ("responses.cached", 2006, 1920, 0)],
)
def test_responses_usage_details(
    upstream: Upstream, scenario: str, inp: int, cached: int, reasoning: int
) -> None:
    _, final = _responses_final(upstream, scenario)
    assert final.usage.input_tokens == inp
    assert final.usage.input_tokens_details.cached_tokens == cached
    assert final.usage.output_tokens_details.reasoning_tokens == reasoning


@pytest.mark.parametrize(
    ("scenario", "status"),
    [("responses.error_midstream", "failed"), ("responses.incomplete", "incomplete")],
)
def test_responses_failed_and_incomplete(upstream: Upstream, scenario: str, status: str) -> None:
    with oai(upstream) as client:
        events = list(
            client.responses.create(
                model=GPT, input=PROMPT, stream=True, extra_headers=_sc(scenario)
            )
        )
    last = events[-1]
    assert last.type == f"response.{status}" and last.response.status == status
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Echo: Hello"
    )
    if status == "failed":
        assert last.response.error.code == "server_error"
    else:
        assert last.response.incomplete_details.reason == "max_output_tokens"
    # the SDK's accumulator refuses to produce a final response without response.completed
    with (
        oai(upstream) as client,
        client.responses.stream(model=GPT, input=PROMPT, extra_headers=_sc(scenario)) as stream,
        pytest.raises(RuntimeError, match=r"response\.completed"),
    ):
        stream.get_final_response()


def test_responses_non_streaming(upstream: Upstream) -> None:
    with oai(upstream) as client:
        response = client.responses.create(
            model=GPT, input=PROMPT, extra_headers=_sc("responses.tools")
        )
    assert [item.name for item in response.output] == [name for name, _ in TOOL_CALLS]


# ======================================================================================
# Anthropic Messages
# ======================================================================================


def test_anthropic_raw_events_sync(upstream: Upstream) -> None:
    with claude(upstream) as client:
        events = list(
            client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True)
        )

    types = [e.type for e in events]  # ping is on the wire, but the SDK skips it
    assert types == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == ECHO
    start = events[0].message
    assert (
        start.id.startswith("msg_01") and start.model == CLAUDE and start.usage.input_tokens == 21
    )
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 9

    [req] = upstream.requests
    assert (req.path, req.api, req.body["model"], req.body["max_tokens"]) == (
        "/v1/messages",
        API_ANTHROPIC,
        CLAUDE,
        64,
    )
    # anthropic 2.x authenticates with "authorization: Bearer", older SDKs with x-api-key
    assert "sk-ant-test" in (req.header("x-api-key") or req.header("authorization") or "")
    assert req.header("anthropic-version")


def test_anthropic_message_stream_final_message_sync_and_async(upstream: Upstream) -> None:
    with (
        claude(upstream) as client,
        client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream,
    ):
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == ECHO
    assert message.content[0].type == "text" and message.content[0].text == ECHO
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 9)

    async def run() -> Any:
        async with (
            anthropic.AsyncAnthropic(
                base_url=upstream.anthropic_base_url, api_key="sk-ant-test", max_retries=0
            ) as aclient,
            aclient.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as astream,
        ):
            return await astream.get_final_message()

    assert asyncio.run(run()).content[0].text == ECHO


def _claude_final(up: Upstream, scenario: str) -> Any:
    with (
        claude(up) as client,
        client.messages.stream(
            model=CLAUDE, max_tokens=2048, messages=MESSAGES, extra_headers=_sc(scenario)
        ) as stream,
    ):
        return stream.get_final_message()


def test_anthropic_parallel_tool_use(upstream: Upstream) -> None:
    message = _claude_final(upstream, "anthropic.tools")
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == TOOL_PREAMBLE
    tools = message.content[1:]
    assert [(t.name, t.input) for t in tools] == [(name, args) for name, args in TOOL_CALLS]
    assert all(t.id.startswith("toolu_01") for t in tools)
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 96


def test_anthropic_thinking_signature_and_redacted(upstream: Upstream) -> None:
    message = _claude_final(upstream, "anthropic.thinking")
    thinking, redacted, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == THINKING_TEXT
    assert thinking.signature == THINKING_SIGNATURE
    assert redacted.type == "redacted_thinking" and redacted.data == REDACTED_THINKING
    assert text.type == "text" and text.text == ECHO
    assert message.usage.output_tokens == 187


def test_anthropic_cache_usage(upstream: Upstream) -> None:
    usage = _claude_final(upstream, "anthropic.cached").usage
    assert (
        usage.input_tokens,
        usage.cache_creation_input_tokens,
        usage.cache_read_input_tokens,
    ) == (13, 1536, 4096)
    assert usage.output_tokens == 9


def test_anthropic_error_event_midstream(upstream: Upstream) -> None:
    seen: list[str] = []
    with claude(upstream) as client:
        stream = client.messages.create(
            model=CLAUDE,
            max_tokens=64,
            messages=MESSAGES,
            stream=True,
            extra_headers=_sc("anthropic.error_midstream"),
        )
        with pytest.raises(anthropic.APIStatusError) as info:
            for event in stream:
                if event.type == "content_block_delta":
                    seen.append(event.delta.text)
    assert "".join(seen) == "Echo: Hello"
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


@pytest.mark.parametrize(
    ("scenario", "error", "status"),
    [
        ("anthropic.http_500", anthropic.InternalServerError, 500),
        ("anthropic.http_429", anthropic.RateLimitError, 429),
        ("anthropic.http_529", anthropic.OverloadedError, 529),
    ],
)
def test_anthropic_http_errors(
    upstream: Upstream, scenario: str, error: type[Exception], status: int
) -> None:
    with claude(upstream) as client, pytest.raises(error) as info:
        client.messages.create(
            model=CLAUDE, max_tokens=64, messages=MESSAGES, stream=True, extra_headers=_sc(scenario)
        )
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.body["type"] == "error"  # type: ignore[attr-defined]


def test_anthropic_non_streaming(upstream: Upstream) -> None:
    with claude(upstream) as client:
        message = client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == ECHO and message.usage.output_tokens == 9


# ======================================================================================
# Google Gemini
# ======================================================================================


# google-genai 3.x calls /v1/ by default, 2.x (the last for Python 3.10) /v1beta/
@pytest.mark.parametrize(
    ("api_version", "prefix"), [(None, ("/v1/", "/v1beta/")), ("v1beta", ("/v1beta/",))]
)
def test_gemini_text_stream_sync(
    upstream: Upstream, api_version: str | None, prefix: tuple[str, ...]
) -> None:
    with gemini(upstream, api_version=api_version) as client:
        chunks = list(client.models.generate_content_stream(model=GEMINI, contents=PROMPT))

    assert len(chunks) >= 2
    assert "".join(c.text or "" for c in chunks) == ECHO
    last = chunks[-1]
    assert last.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert last.usage_metadata.prompt_token_count == 8
    assert last.usage_metadata.total_token_count == 8 + last.usage_metadata.candidates_token_count
    assert {c.response_id for c in chunks} == {chunks[0].response_id}
    assert last.model_version == GEMINI

    [req] = upstream.requests
    assert req.path in {f"{p}models/{GEMINI}:streamGenerateContent" for p in prefix}
    assert req.query_params == {"alt": ["sse"]}
    assert req.header("x-goog-api-key") == "g-test"
    assert req.body["contents"][0]["parts"][0]["text"] == PROMPT


def test_gemini_text_stream_async(upstream: Upstream) -> None:
    async def run() -> str:
        with gemini(upstream) as client:
            try:
                stream = await client.aio.models.generate_content_stream(
                    model=GEMINI, contents=PROMPT
                )
                return "".join([c.text or "" async for c in stream])
            finally:
                await client.aio.aclose()

    assert asyncio.run(run()) == ECHO


def _gemini_chunks(up: Upstream, scenario: str) -> list[Any]:
    with gemini(up, scenario) as client:
        return list(client.models.generate_content_stream(model=GEMINI, contents=PROMPT))


def test_gemini_function_calls(upstream: Upstream) -> None:
    chunks = _gemini_chunks(upstream, "gemini.tools")
    calls = [call for c in chunks for call in (c.function_calls or [])]
    assert [(call.name, call.args) for call in calls] == [(name, args) for name, args in TOOL_CALLS]
    assert chunks[0].candidates[0].content.parts[0].thought_signature  # bytes, base64-decoded


def test_gemini_thought_parts(upstream: Upstream) -> None:
    chunks = _gemini_chunks(upstream, "gemini.thinking")
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    thoughts = "".join(p.text for p in parts if p.thought)
    assert thoughts == "**Echoing the user**\n\n" + THINKING_TEXT
    assert "".join(p.text for p in parts if not p.thought) == ECHO
    usage = chunks[-1].usage_metadata
    assert usage.thoughts_token_count == 120
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count + 120


def test_gemini_cached_tokens(upstream: Upstream) -> None:
    usage = _gemini_chunks(upstream, "gemini.cached")[-1].usage_metadata
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (2060, 2048)


@pytest.mark.parametrize(
    ("scenario", "error", "code", "status"),
    [
        ("gemini.http_500", genai_errors.ServerError, 500, "INTERNAL"),
        ("gemini.http_429", genai_errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
    ],
)
def test_gemini_http_errors(
    upstream: Upstream, scenario: str, error: type[genai_errors.APIError], code: int, status: str
) -> None:
    with pytest.raises(error) as info:
        _gemini_chunks(upstream, scenario)
    assert info.value.code == code and info.value.status == status


def test_gemini_non_streaming(upstream: Upstream) -> None:
    with gemini(upstream, "gemini.tools", api_version="v1beta") as client:
        response = client.models.generate_content(model=GEMINI, contents=PROMPT)
    assert [c.name for c in response.function_calls or []] == [name for name, _ in TOOL_CALLS]
    assert upstream.requests[0].path == f"/v1beta/models/{GEMINI}:generateContent"


# ======================================================================================
# Across providers
# ======================================================================================


def _drop_openai_chat(up: Upstream) -> None:
    _chat_stream(up, "openai_chat.drop")


def _drop_responses(up: Upstream) -> None:
    with oai(up) as client:
        list(
            client.responses.create(
                model=GPT, input=PROMPT, stream=True, extra_headers=_sc("responses.drop")
            )
        )


def _drop_anthropic(up: Upstream) -> None:
    with claude(up) as client:
        list(
            client.messages.create(
                model=CLAUDE,
                max_tokens=9,
                messages=MESSAGES,
                stream=True,
                extra_headers=_sc("anthropic.drop"),
            )
        )


def _drop_gemini(up: Upstream) -> None:
    _gemini_chunks(up, "gemini.drop")


@pytest.mark.parametrize(
    ("drop", "error"),
    [
        (_drop_openai_chat, openai.APIConnectionError),
        (_drop_responses, openai.APIConnectionError),
        (_drop_anthropic, httpx2.RemoteProtocolError),  # not wrapped by the SDK
        (
            _drop_gemini,
            (httpx2.RemoteProtocolError, httpx.RemoteProtocolError),
        ),  # google-genai 2.x: httpx
    ],
    ids=["openai_chat", "responses", "anthropic", "gemini"],
)
def test_drop_raises_connection_error(
    upstream: Upstream, drop: Any, error: type[Exception] | tuple[type[Exception], ...]
) -> None:
    with pytest.raises(error):
        drop(upstream)


@pytest.mark.parametrize("api", ["openai_chat", "responses"])
@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [("http_500", openai.InternalServerError, 500), ("http_429", openai.RateLimitError, 429)],
)
def test_openai_http_errors(
    upstream: Upstream, api: str, kind: str, error: type[Exception], status: int
) -> None:
    with oai(upstream) as client, pytest.raises(error) as info:
        if api == "openai_chat":
            client.chat.completions.create(
                model=GPT, messages=MESSAGES, stream=True, extra_headers=_sc(f"{api}.{kind}")
            )
        else:
            client.responses.create(
                model=GPT, input=PROMPT, stream=True, extra_headers=_sc(f"{api}.{kind}")
            )
    assert info.value.status_code == status  # type: ignore[attr-defined]
    assert info.value.body["message"]  # type: ignore[attr-defined]  # the SDK unwraps {"error": {...}}


WIRE = {
    API_OPENAI_CHAT: ("/v1/chat/completions", b"\n\n"),
    API_OPENAI_RESPONSES: ("/v1/responses", b"\n\n"),
    API_ANTHROPIC: ("/v1/messages", b"\n\n"),
    API_GOOGLE: (f"/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse", b"\r\n\r\n"),
}
REQUEST = {
    "model": GPT,
    "stream": True,
    "messages": MESSAGES,
    "input": PROMPT,
    "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
}


def _raw_frames(up: Upstream, api: str, scenario: str) -> tuple[list[tuple[float, bytes]], str]:
    path, _ = WIRE[api]
    reads: list[tuple[float, bytes]] = []
    with (
        httpx.Client() as client,
        client.stream("POST", up.base_url + path, json=REQUEST, headers=_sc(scenario)) as response,
    ):
        assert response.status_code == 200
        for raw in response.iter_raw():
            reads.append((time.monotonic(), raw))
        return reads, response.headers["content-type"]


@pytest.mark.parametrize("api", list(WIRE))
def test_wire_framing_is_byte_exact(upstream: Upstream, api: str) -> None:
    short = {
        API_OPENAI_CHAT: "openai_chat",
        API_OPENAI_RESPONSES: "responses",
        API_ANTHROPIC: "anthropic",
        API_GOOGLE: "gemini",
    }[api]
    reads, content_type = _raw_frames(upstream, api, f"{short}.text")
    assert content_type.startswith("text/event-stream")
    body = b"".join(raw for _, raw in reads)
    _, sep = WIRE[api]
    assert body.endswith(sep)
    events = body[: -len(sep)].split(sep)
    if api == API_GOOGLE:
        assert b"\n\n" not in body.replace(b"\r\n", b"")
        for event in events:
            assert event.startswith(b'data: {"candidates": [')
            assert b"\n" not in event and b"\r" not in event
            json.loads(event[len(b"data: ") :])
    elif api == API_OPENAI_CHAT:
        assert events[-1] == b"data: [DONE]"
        for event in events[:-1]:
            assert event.startswith(b'data: {"id":"chatcmpl-') and b"\n" not in event
            assert json.loads(event[len(b"data: ") :])["object"] == "chat.completion.chunk"
    else:
        names = []
        for event in events:
            head, data = event.split(b"\n")
            assert head.startswith(b"event: ") and data.startswith(b"data: ")
            name = head[len(b"event: ") :].decode()
            assert json.loads(data[len(b"data: ") :])["type"] == name  # event name == JSON type
            names.append(name)
        if api == API_ANTHROPIC:
            assert names[:3] == ["message_start", "content_block_start", "ping"]
            assert names[-1] == "message_stop"
        else:
            assert names[0] == "response.created" and names[-1] == "response.completed"


@pytest.mark.parametrize("api", list(WIRE))
def test_frames_are_flushed_one_by_one(upstream: Upstream, api: str) -> None:
    short = {
        API_OPENAI_CHAT: "openai_chat",
        API_OPENAI_RESPONSES: "responses",
        API_ANTHROPIC: "anthropic",
        API_GOOGLE: "gemini",
    }[api]
    reads, _ = _raw_frames(upstream, api, f"{short}.slow")
    _, sep = WIRE[api]
    assert len(reads) >= 3
    # every read is exactly one frame (never two coalesced, never a partial one) ...
    assert all(raw.endswith(sep) and raw.count(sep) == 1 for _, raw in reads)
    # ... and frames arrive spread out by the scenario's delay, not in one burst at the end
    # (the span, not each gap: one read delayed by a busy machine shortens the gap after it)
    times = [t for t, _ in reads]
    assert times[-1] - times[0] >= 0.6 * 0.020 * (len(reads) - 1)
    assert sum(b - a >= 0.010 for a, b in itertools.pairwise(times)) >= (len(reads) - 1) // 2


def test_scenario_selection_header_then_use_then_builtin(upstream: Upstream) -> None:
    assert (
        "".join(
            c.choices[0].delta.content or ""
            for c in _chat_stream(upstream, "openai_chat.text")
            if c.choices
        )
        == ECHO
    )

    upstream.use("openai_chat.refusal")
    with oai(upstream) as client:
        chunks = list(client.chat.completions.create(model=GPT, messages=MESSAGES, stream=True))
        assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == REFUSAL_TEXT
        # a header still wins over the default set by use()
        chunks = list(
            client.chat.completions.create(
                model=GPT, messages=MESSAGES, stream=True, extra_headers=_sc("openai_chat.text")
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == ECHO
    # use() is per api: the other apis keep their built-in text default
    with claude(upstream) as client:
        assert (
            client.messages.create(model=CLAUDE, max_tokens=9, messages=MESSAGES).content[0].text
            == ECHO
        )
    assert [r.scenario for r in upstream.requests] == [
        "openai_chat.text",
        "openai_chat.refusal",
        "openai_chat.text",
        "anthropic.text",
    ]


def test_custom_scenario_frames_and_bad_selections(upstream: Upstream) -> None:
    custom = Scenario(
        name="openai_chat.custom",
        api=API_OPENAI_CHAT,
        frames=lambda req: [
            Frame(
                b'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","created":1,'
                b'"model":"m","choices":[{"index":0,"delta":{"content":"custom"},'
                b'"finish_reason":null}]}\n\n'
            ),
            DROP,
        ],
    )
    upstream.register(custom)
    with oai(upstream) as client:
        stream = client.chat.completions.create(
            model=GPT, messages=MESSAGES, stream=True, extra_headers=_sc("openai_chat.custom")
        )
        assert next(stream).choices[0].delta.content == "custom"
        with pytest.raises(openai.APIConnectionError):
            next(stream)
        with pytest.raises(openai.BadRequestError, match="unknown upstream scenario"):
            client.chat.completions.create(
                model=GPT, messages=MESSAGES, stream=True, extra_headers=_sc("nope")
            )
        with pytest.raises(openai.BadRequestError, match=r"is for anthropic\.messages"):
            client.chat.completions.create(
                model=GPT, messages=MESSAGES, stream=True, extra_headers=_sc("anthropic.text")
            )
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(upstream.requests) == 4


def test_concurrent_streams_do_not_cross_talk(upstream: Upstream) -> None:
    upstream.use(SCENARIOS["openai_chat.slow"])

    def call(n: int) -> str:
        with oai(upstream) as client:
            stream = client.chat.completions.create(
                model=GPT,
                messages=[{"role": "user", "content": f"caller {n} says hi"}],
                stream=True,
            )
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(8)))
    assert answers == [f"Echo: caller {n} says hi" for n in range(8)]
    assert time.monotonic() - started < 2  # served concurrently, not one after another
    bodies = sorted(r.body["messages"][0]["content"] for r in upstream.requests)
    assert bodies == sorted(f"caller {n} says hi" for n in range(8))


def test_every_scenario_is_named_for_its_api() -> None:
    short = {
        API_OPENAI_CHAT: "openai_chat",
        API_OPENAI_RESPONSES: "responses",
        API_ANTHROPIC: "anthropic",
        API_GOOGLE: "gemini",
    }
    for name, scenario in SCENARIOS.items():
        assert name == scenario.name and name.split(".")[0] == short[scenario.api]
    for kind in ("text", "tools", "cached", "drop", "slow", "http_500", "http_429"):
        for api_short in short.values():
            assert f"{api_short}.{kind}" in SCENARIOS
