"""OpenAI Chat Completions: the projection against openai's ``chat.completions.stream`` helper.

Each stream is served to ``client.chat.completions.stream(...).get_final_completion()``
while streamrec records the same bytes; ``check`` compares every choice. Where the
SDK is wrong (a chunk without usage wipes the usage it had), the test says so.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from hypothesis import example, given
from hypothesis import strategies as st

from streamrec.errors import ProjectionError
from tests.oracle import TOOL_ARGS, Oracle, Run, drop_none, dump, oracle_settings, split, wire_text

MODEL = "gpt-4o-mini-2024-07-18"
ID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"


def chunk(
    *choices: dict[str, Any], usage: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` as OpenAI streams it."""
    return {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": MODEL,
        "system_fingerprint": "fp_06737a9306",
        "service_tier": "default",
        "choices": list(choices),
        **({"usage": usage} if usage is not None else {}),
        **extra,
    }


def choice(
    delta: dict[str, Any], finish: str | None = None, index: int = 0, **extra: Any
) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}


def role(index: int = 0) -> dict[str, Any]:
    return choice({"role": "assistant", "content": "", "refusal": None}, index=index)


def call(
    position: int, ident: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name is not None:
        function["name"] = name
    out: dict[str, Any] = {"index": position, "function": function}
    if ident is not None:
        out |= {"id": ident, "type": "function"}
    return out


USAGE = {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def usage_chunk(usage: dict[str, Any] = USAGE) -> dict[str, Any]:
    return chunk(usage=usage)


def check(run: Run, *, sdk_usage_wiped: bool = False) -> None:
    sdk, state = run.sdk, run.state
    assert state.malformed_chunks == 0, state.problems
    response = state.construct_call_response().response
    assert (state.id, state.model) == (sdk.id, sdk.model)
    assert response.get("system_fingerprint") == sdk.system_fingerprint
    assert len(response["choices"]) == len(sdk.choices)
    for ours, theirs in zip(response["choices"], sdk.choices, strict=True):
        message, expected = ours["message"], theirs.message
        assert ours["index"] == theirs.index
        assert ours["finish_reason"] == theirs.finish_reason
        # "" and null both mean "no text" (streamrec sends null back, as the API returns it)
        assert (message.get("content") or None) == (expected.content or None)
        assert (message.get("refusal") or None) == (expected.refusal or None)
        assert [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in message.get("tool_calls") or ()
        ] == [(c.id, c.function.name, c.function.arguments) for c in expected.tool_calls or ()]
        for key in ("reasoning_content", "reasoning", "reasoning_details", "audio"):
            value = getattr(expected, key, None)
            if value is not None:
                assert message[key] == (dump(value) if hasattr(value, "model_dump") else value)
        if theirs.logprobs is not None:
            assert drop_none(ours["logprobs"]) == dump(theirs.logprobs)
    first = sdk.choices[0].message if sdk.choices else None
    assert state.content == ((first.content or "") if first else "")
    calls = (first.tool_calls or []) if first else []
    assert [(t.id, t.name, t.arguments) for t in state.tool_calls] == [
        (c.id, c.function.name, c.function.arguments) for c in calls
    ]
    for tool in state.tool_calls:
        if tool.valid:
            assert tool.args == json.loads(tool.arguments)
    reasons = [c.finish_reason for c in sdk.choices if c.finish_reason]
    assert state.finish_reasons == (reasons or None)
    if sdk_usage_wiped:
        # openai's accumulator sets ``usage = chunk.usage`` on every chunk, so a chunk sent
        # after the usage chunk (a moderation chunk) leaves the final completion without
        # usage; the API documents usage on the usage chunk, and streamrec keeps it
        assert sdk.usage is None and state.usage.reported
    elif sdk.usage is not None:
        assert state.input_tokens == sdk.usage.prompt_tokens
        assert state.output_tokens == sdk.usage.completion_tokens
        details = sdk.usage.prompt_tokens_details
        assert state.cached_tokens == (details.cached_tokens if details else None)
    else:
        assert not state.usage.reported
    assert state.status == "completed"


def test_text(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(role()),
            chunk(choice({"content": "Hel"})),
            chunk(choice({"content": "lo"})),
            chunk(choice({}, "stop")),
            usage_chunk(),
            "[DONE]",
        ],
        stream_options={"include_usage": True},
    )
    check(run)


def test_parallel_tool_calls(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(choice({"role": "assistant", "content": None})),
            chunk(choice({"tool_calls": [call(0, "call_a", "get_weather")]})),
            chunk(choice({"tool_calls": [call(0, args='{"city": "Pa')]})),
            chunk(choice({"tool_calls": [call(0, args='ris"}')]})),
            chunk(choice({"tool_calls": [call(1, "call_b", "get_time", '{"tz": "CET"}')]})),
            chunk(choice({}, "tool_calls")),
            "[DONE]",
        ]
    )
    check(run)
    assert [t.args for t in run.state.tool_calls] == [{"city": "Paris"}, {"tz": "CET"}]


def test_n_greater_than_one_keeps_every_choice(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(role(0), role(1)),
            chunk(choice({"content": "Red"}, index=0), choice({"content": "Blue"}, index=1)),
            chunk(choice({"tool_calls": [call(0, "call_1", "paint", '{"c": "blue"}')]}, index=1)),
            chunk(choice({}, "stop", index=0)),
            chunk(choice({}, "tool_calls", index=1)),
            usage_chunk(),
            "[DONE]",
        ],
        n=2,
        stream_options={"include_usage": True},
    )
    check(run)
    state = run.state
    assert state.content == "Red" and state.finish_reasons == ["stop", "tool_calls"]
    second = state.provider_data["choices"][1]["message"]
    assert second["content"] == "Blue" and second["tool_calls"][0]["id"] == "call_1"


def test_content_and_refusal_logprobs(oracle: Oracle) -> None:
    def lp(token: str) -> dict[str, Any]:
        return {"token": token, "logprob": -0.1, "bytes": list(token.encode()), "top_logprobs": []}

    run = oracle.chat(
        [
            chunk(role()),
            chunk(choice({"content": "Hi"}, logprobs={"content": [lp("Hi")], "refusal": None})),
            chunk(choice({"content": "!"}, logprobs={"content": [lp("!")], "refusal": None})),
            chunk(choice({"refusal": "No"}, logprobs={"content": None, "refusal": [lp("No")]})),
            chunk(choice({}, "stop")),
            "[DONE]",
        ],
        logprobs=True,
    )
    check(run)
    logprobs = run.state.construct_call_response().response["choices"][0]["logprobs"]
    assert [t["token"] for t in logprobs["content"]] == ["Hi", "!"]


def test_refusal(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(role()),
            chunk(choice({"refusal": "I can't "})),
            chunk(choice({"refusal": "help with that."})),
            chunk(choice({}, "stop")),
            "[DONE]",
        ]
    )
    check(run)
    assert run.state.refusal == "I can't help with that."


def test_obfuscation_is_kept_in_the_log_and_ignored_in_the_state(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(role(), obfuscation="h3V"),
            chunk(choice({"content": "Hi"}), obfuscation="Zq0aB"),
            chunk(choice({}, "stop"), obfuscation="k"),
            "[DONE]",
        ]
    )
    check(run)
    payloads = [e.payload for e in oracle.store.events(run.state.stream_id or "")]
    assert sum('"obfuscation":"Zq0aB"' in p for p in payloads) == 1
    assert "obfuscation" not in json.dumps(run.state.construct_call_response().response)


def test_a_moderation_chunk_after_the_usage_chunk_does_not_wipe_usage(oracle: Oracle) -> None:
    moderation = {
        "input": {"type": "moderation_results", "model": "omni-moderation-latest", "results": []},
        "output": {"type": "error", "code": "timeout", "message": "moderation timed out"},
    }
    run = oracle.chat(
        [
            chunk(role()),
            chunk(choice({"content": "Hi"})),
            chunk(choice({}, "stop")),
            usage_chunk(),
            chunk(moderation=moderation),
            "[DONE]",
        ],
        stream_options={"include_usage": True},
    )
    check(run, sdk_usage_wiped=True)
    assert run.state.input_tokens == 19
    assert run.state.construct_call_response().response["moderation"] == moderation


def test_reasoning_fields_of_the_compatible_servers(oracle: Oracle) -> None:
    details = {"type": "reasoning.text", "text": "Think", "format": "unknown", "index": 0}
    run = oracle.chat(
        [
            chunk(choice({"role": "assistant", "content": "", "reasoning_content": "Let me "})),
            chunk(choice({"reasoning_content": "think.", "reasoning": "Let me think."})),
            chunk(choice({"reasoning_details": [details]})),
            chunk(choice({"reasoning_details": [{"index": 0, "text": "ing."}]})),
            chunk(choice({"content": "42"})),
            chunk(choice({}, "stop")),
            "[DONE]",
        ]
    )
    check(run)
    message = run.state.construct_call_response().response["choices"][0]["message"]
    assert message["reasoning_details"][0]["text"] == "Thinking."
    # OpenRouter: reasoning_details go back unchanged; DeepSeek rejects reasoning_content
    param = run.state.message_param
    assert param["reasoning_details"] == message["reasoning_details"]
    assert "reasoning_content" not in param


def test_audio_deltas_are_kept(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(choice({"role": "assistant", "audio": {"id": "audio_abc", "transcript": "Hel"}})),
            chunk(choice({"audio": {"data": "UklGR", "transcript": "lo"}})),
            chunk(choice({"audio": {"data": "iQAAA", "expires_at": 1741573553}})),
            chunk(choice({}, "stop")),
            "[DONE]",
        ],
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
    )
    check(run)
    audio = run.state.provider_data["choices"][0]["message"]["audio"]
    assert audio == {
        "id": "audio_abc",
        "transcript": "Hello",
        "data": "UklGRiQAAA",
        "expires_at": 1741573553,
    }
    # the next turn refers to the model's audio by its id (OpenAI: "audio": {"id": ...})
    assert run.state.message_param["audio"] == {"id": "audio_abc"}


def test_arguments_cut_off_by_max_tokens_are_not_a_valid_call(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(choice({"tool_calls": [call(0, "call_a", "get_weather", '{"city": "Pa')]})),
            chunk(choice({}, "length")),
            "[DONE]",
        ],
        max_completion_tokens=5,
        expect_error=True,
    )
    # the SDK's helper raises at the finish reason; the error carries its snapshot
    assert isinstance(run.error, openai.LengthFinishReasonError)
    assert run.error.completion.choices[0].message.tool_calls[0].function.arguments == (
        '{"city": "Pa'
    )
    [tool] = run.state.tool_calls
    assert not tool.valid and tool.arguments == '{"city": "Pa'
    assert tool.problem == "arguments cut off by max_tokens (finish_reason length)"
    # message_param carries the raw arguments, as the SDK's message does
    assert run.state.message_param["tool_calls"][0]["function"]["arguments"] == '{"city": "Pa'
    try:
        run.state.tool_message_params([(tool, "sunny")])
    except ProjectionError as exc:
        assert "cut off by max_tokens" in str(exc)
    else:
        raise AssertionError("a cut-off call must not be answered")


def test_arguments_that_are_not_json_are_flagged(oracle: Oracle) -> None:
    run = oracle.chat(
        [
            chunk(choice({"tool_calls": [call(0, "call_a", "f", "{'a': 1}")]})),
            chunk(choice({}, "tool_calls")),
            "[DONE]",
        ]
    )
    check(run)
    [tool] = run.state.tool_calls
    assert (tool.valid, tool.problem) == (False, "arguments are not valid JSON")
    assert run.state.tool_problems


# -- generated streams ---------------------------------------------------------------------

_text = wire_text(5)


@st.composite
def _stream(draw: st.DrawFn) -> tuple[list[dict[str, Any] | str], int]:
    n = draw(st.integers(1, 2))
    chunks: list[dict[str, Any] | str] = [chunk(*(role(i) for i in range(n)))]
    for i in range(n):
        for piece in draw(st.lists(_text, max_size=3)):
            chunks.append(chunk(choice({"content": piece}, index=i)))
        for position in range(draw(st.integers(0, 2))):
            pieces = draw(split(json.dumps(draw(TOOL_ARGS))))
            first, *rest = pieces
            chunks.append(
                chunk(
                    choice(
                        {"tool_calls": [call(position, f"call_{i}{position}", "f", first)]}, index=i
                    )
                )
            )
            chunks += [
                chunk(choice({"tool_calls": [call(position, args=p)]}, index=i)) for p in rest
            ]
    for i in range(n):
        chunks.append(chunk(choice({}, draw(st.sampled_from(["stop", "tool_calls"])), index=i)))
    if draw(st.booleans()):
        chunks.append(usage_chunk())
    chunks.append("[DONE]")
    return chunks, n


@oracle_settings(25)
@given(stream=_stream())
@example(stream=([chunk(role()), chunk(choice({}, "stop")), "[DONE]"], 1))
def test_generated_streams_agree_with_the_sdk(
    oracle: Oracle, stream: tuple[list[dict[str, Any] | str], int]
) -> None:
    chunks, n = stream
    check(oracle.chat(chunks, n=n))


def test_azure_content_filter_chunks_change_nothing(oracle: Oracle) -> None:
    # Azure OpenAI sends its filter results as chunks with an empty ``object`` (the SDK
    # skips them: ``_is_valid_chat_completion_chunk_weak``); they carry no delta
    prompt_filter = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    offsets = {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [
            {
                "index": 0,
                "finish_reason": None,
                "content_filter_offsets": {"check_offset": 0, "start_offset": 0, "end_offset": 2},
                "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
            }
        ],
    }
    run = oracle.chat(
        [
            prompt_filter,
            chunk(role()),
            chunk(choice({"content": "Hi"})),
            offsets,
            chunk(choice({}, "stop")),
            "[DONE]",
        ]
    )
    check(run)
