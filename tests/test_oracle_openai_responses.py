"""OpenAI Responses: the projection against openai's ``responses.stream`` accumulator.

Each stream is served to ``client.responses.stream(...).get_final_response()`` (or,
for a stream that ends incomplete or failed, which has no final response, the
helper's last snapshot) while streamrec records the same bytes.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streamrec import SSEEvent
from streamrec.projection import price
from tests.formats_support import fold
from tests.oracle import TOOL_ARGS, Oracle, Run, drop_none, dump, oracle_settings, split, wire_text
from tests.upstream import API_OPENAI_RESPONSES

MODEL = "gpt-5-2025-08-07"
RESP_ID = "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b"


class Wire:
    """Builds a Responses stream: every event typed, with a gapless ``sequence_number``."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []

    def ev(self, kind: str, **fields: Any) -> None:
        self.events.append({"type": kind, "sequence_number": len(self.events), **fields})

    def response(
        self, status: str, output: list[dict[str, Any]] | None = None, **extra: Any
    ) -> dict[str, Any]:
        return {
            "id": RESP_ID,
            "object": "response",
            "created_at": 1756315696,
            "status": status,
            "model": MODEL,
            "output": output if output is not None else [],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": None,
            "error": None,
            "incomplete_details": None,
            **extra,
        }

    def start(self) -> Wire:
        self.ev("response.created", response=self.response("in_progress"))
        self.ev("response.in_progress", response=self.response("in_progress"))
        return self

    def item(self, done: dict[str, Any], added: dict[str, Any] | None = None) -> int:
        index = len(self.output)
        self.ev("response.output_item.added", output_index=index, item=added or done)
        return index

    def item_done(self, index: int, item: dict[str, Any]) -> None:
        self.ev("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def message(
        self,
        *pieces: str,
        annotations: list[dict[str, Any]] = (),
        refusal: str | None = None,
        ident: str = "msg_1",
    ) -> Wire:  # type: ignore[assignment]
        item = {
            "id": ident,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        index = self.item(item)
        if refusal is not None:
            self.ev(
                "response.content_part.added",
                item_id=ident,
                output_index=index,
                content_index=0,
                part={"type": "refusal", "refusal": ""},
            )
            self.ev(
                "response.refusal.delta",
                item_id=ident,
                output_index=index,
                content_index=0,
                delta=refusal,
            )
            self.ev(
                "response.refusal.done",
                item_id=ident,
                output_index=index,
                content_index=0,
                refusal=refusal,
            )
            part: dict[str, Any] = {"type": "refusal", "refusal": refusal}
        else:
            text = "".join(pieces)
            self.ev(
                "response.content_part.added",
                item_id=ident,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
            for piece in pieces:
                self.ev(
                    "response.output_text.delta",
                    item_id=ident,
                    output_index=index,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            for n, annotation in enumerate(annotations):
                self.ev(
                    "response.output_text.annotation.added",
                    item_id=ident,
                    output_index=index,
                    content_index=0,
                    annotation_index=n,
                    annotation=annotation,
                )
            self.ev(
                "response.output_text.done",
                item_id=ident,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            part = {
                "type": "output_text",
                "text": text,
                "annotations": list(annotations),
                "logprobs": [],
            }
        self.ev(
            "response.content_part.done",
            item_id=ident,
            output_index=index,
            content_index=0,
            part=part,
        )
        self.item_done(index, {**item, "status": "completed", "content": [part]})
        return self

    def reasoning(
        self,
        summary: str,
        *,
        text: str | None = None,
        encrypted: str | None = None,
        final_encrypted: str | None = None,
    ) -> Wire:
        ident = "rs_1"
        item: dict[str, Any] = {"id": ident, "type": "reasoning", "summary": []}
        if encrypted is not None:
            item["encrypted_content"] = encrypted
        index = self.item(item)
        self.ev(
            "response.reasoning_summary_part.added",
            item_id=ident,
            output_index=index,
            summary_index=0,
            part={"type": "summary_text", "text": ""},
        )
        half = len(summary) // 2
        for piece in (summary[:half], summary[half:]):
            self.ev(
                "response.reasoning_summary_text.delta",
                item_id=ident,
                output_index=index,
                summary_index=0,
                delta=piece,
            )
        self.ev(
            "response.reasoning_summary_text.done",
            item_id=ident,
            output_index=index,
            summary_index=0,
            text=summary,
        )
        self.ev(
            "response.reasoning_summary_part.done",
            item_id=ident,
            output_index=index,
            summary_index=0,
            part={"type": "summary_text", "text": summary},
        )
        done: dict[str, Any] = {**item, "summary": [{"type": "summary_text", "text": summary}]}
        if text is not None:
            self.ev(
                "response.reasoning_text.delta",
                item_id=ident,
                output_index=index,
                content_index=0,
                delta=text,
            )
            self.ev(
                "response.reasoning_text.done",
                item_id=ident,
                output_index=index,
                content_index=0,
                text=text,
            )
            done["content"] = [{"type": "reasoning_text", "text": text}]
        self.item_done(index, done)
        if final_encrypted is not None:  # what response.completed will carry
            self.output[-1] = {**done, "encrypted_content": final_encrypted}
        return self

    def function_call(self, call_id: str, name: str, *pieces: str, ident: str = "fc_1") -> Wire:
        item = {
            "id": ident,
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        }
        index = self.item(item)
        for piece in pieces:
            self.ev(
                "response.function_call_arguments.delta",
                item_id=ident,
                output_index=index,
                delta=piece,
            )
        arguments = "".join(pieces)
        self.ev(
            "response.function_call_arguments.done",
            item_id=ident,
            output_index=index,
            arguments=arguments,
        )
        self.item_done(index, {**item, "status": "completed", "arguments": arguments})
        return self

    def custom_call(self, call_id: str, name: str, *pieces: str) -> Wire:
        ident = "ctc_1"
        item = {
            "id": ident,
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": name,
            "input": "",
        }
        index = self.item(item)
        for piece in pieces:
            self.ev(
                "response.custom_tool_call_input.delta",
                item_id=ident,
                output_index=index,
                delta=piece,
            )
        self.ev(
            "response.custom_tool_call_input.done",
            item_id=ident,
            output_index=index,
            input="".join(pieces),
        )
        self.item_done(index, {**item, "input": "".join(pieces)})
        return self

    def builtin(self, done: dict[str, Any], *events: tuple[str, dict[str, Any]]) -> Wire:
        """A built-in tool's item: added in progress, its own progress events, done."""
        index = self.item({**done, "status": "in_progress"} if "status" in done else done)
        for kind, fields in events:
            self.ev(kind, item_id=done["id"], output_index=index, **fields)
        self.item_done(index, done)
        return self

    def completed(
        self,
        usage: dict[str, Any] | None = None,
        kind: str = "response.completed",
        status: str = "completed",
        **extra: Any,
    ) -> list[dict[str, Any]]:
        self.ev(
            kind, response=self.response(status, list(self.output), usage=usage or USAGE, **extra)
        )
        return self.events


USAGE = {
    "input_tokens": 328,
    "input_tokens_details": {"cached_tokens": 128},
    "output_tokens": 52,
    "output_tokens_details": {"reasoning_tokens": 20},
    "total_tokens": 380,
}


def _clean(value: Any) -> Any:
    """An output item without the SDK's own ``parsed`` fields, nulls left out at each level."""
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if v is not None and k not in ("parsed", "parsed_arguments")
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def check(run: Run) -> None:
    sdk, state = run.sdk, run.state
    assert state.malformed_chunks == 0, state.problems
    assert state.unknown_events == 0
    assert _clean(state.message_param) == _clean([dump(item) for item in sdk.output])
    assert (state.id, state.model) == (sdk.id, sdk.model)
    assert state.content == sdk.output_text
    assert state.finish_reasons == [sdk.status]
    calls = [i for i in sdk.output if i.type in ("function_call", "custom_tool_call")]
    assert [(t.id, t.name, t.type) for t in state.tool_calls] == [
        (c.call_id, c.name, "function" if c.type == "function_call" else "custom") for c in calls
    ]
    for tool, item in zip(state.tool_calls, calls, strict=True):
        assert tool.arguments == (item.arguments if item.type == "function_call" else item.input)
        if tool.valid and tool.type == "function":
            assert tool.args == json.loads(item.arguments)
    thoughts = [
        part.text
        for item in sdk.output
        if item.type == "reasoning"
        for key in ("summary", "content")
        for part in getattr(item, key) or ()
    ]
    assert state.thinking == "".join(thoughts)
    refusals = [
        part.refusal
        for item in sdk.output
        if item.type == "message"
        for part in item.content
        if part.type == "refusal"
    ]
    assert state.refusal == ("".join(refusals) if refusals else None)
    usage = sdk.usage
    if usage is not None:
        assert state.input_tokens == usage.input_tokens
        assert state.output_tokens == usage.output_tokens
        assert state.cached_tokens == usage.input_tokens_details.cached_tokens
        assert state.reasoning_tokens == usage.output_tokens_details.reasoning_tokens
    body = state.construct_call_response().response
    assert drop_none({k: v for k, v in body.items() if k != "output"}) == {
        k: v for k, v in dump(sdk).items() if k not in ("output", "output_text")
    }


def test_text_with_annotations(oracle: Oracle) -> None:
    citation = {
        "type": "url_citation",
        "start_index": 0,
        "end_index": 5,
        "url": "https://example.com",
        "title": "Example",
    }
    events = Wire().start().message("Hello", " there", annotations=[citation]).completed()
    run = oracle.responses(events)
    check(run)
    assert run.state.message_param[0]["content"][0]["annotations"] == [citation]


def test_refusal(oracle: Oracle) -> None:
    check(oracle.responses(Wire().start().message(refusal="I can't help with that.").completed()))


def test_reasoning_summary_text_and_encrypted_content_from_completed(oracle: Oracle) -> None:
    events = (
        Wire()
        .start()
        .reasoning(
            "Thinking about it.",
            text="raw chain",
            encrypted="gAAAA-early",
            final_encrypted="gAAAA-final",
        )
        .message("4")
        .completed()
    )
    run = oracle.responses(events, include=["reasoning.encrypted_content"])
    check(run)
    # the final value, from response.completed, is what goes back
    assert run.state.message_param[0]["encrypted_content"] == "gAAAA-final"


def test_function_calls(oracle: Oracle) -> None:
    events = (
        Wire()
        .start()
        .function_call("call_a", "get_weather", '{"city":', ' "Paris"}')
        .function_call("call_b", "get_time", "{}", ident="fc_2")
        .completed()
    )
    run = oracle.responses(events)
    check(run)
    assert run.state.tool_message_params([(run.state.tool_calls[0], "sunny")]) == [
        {"type": "function_call_output", "call_id": "call_a", "output": "sunny"}
    ]


def test_custom_tool_call(oracle: Oracle) -> None:
    events = Wire().start().custom_call("call_c", "code_exec", "print(", "'hi')").completed()
    run = oracle.responses(events)
    check(run)
    [tool] = run.state.tool_calls
    assert (tool.type, tool.arguments, tool.valid) == ("custom", "print('hi')", True)
    assert run.state.tool_message_params([(tool, "hi")])[0]["type"] == "custom_tool_call_output"


_BUILTINS: dict[str, tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]] = {
    "web_search": (
        {
            "id": "ws_1",
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search", "query": "weather paris"},
        },
        [
            ("response.web_search_call.in_progress", {}),
            ("response.web_search_call.searching", {}),
            ("response.web_search_call.completed", {}),
        ],
    ),
    "file_search": (
        {
            "id": "fs_1",
            "type": "file_search_call",
            "status": "completed",
            "queries": ["q"],
            "results": None,
        },
        [
            ("response.file_search_call.in_progress", {}),
            ("response.file_search_call.searching", {}),
            ("response.file_search_call.completed", {}),
        ],
    ),
    "code_interpreter": (
        {
            "id": "ci_1",
            "type": "code_interpreter_call",
            "status": "completed",
            "container_id": "cntr_1",
            "code": "print(1)",
            "outputs": [{"type": "logs", "logs": "1\n"}],
        },
        [
            ("response.code_interpreter_call.in_progress", {}),
            ("response.code_interpreter_call_code.delta", {"delta": "print(1)"}),
            ("response.code_interpreter_call_code.done", {"code": "print(1)"}),
            ("response.code_interpreter_call.interpreting", {}),
            ("response.code_interpreter_call.completed", {}),
        ],
    ),
    "image_generation": (
        {
            "id": "ig_1",
            "type": "image_generation_call",
            "status": "completed",
            "result": "iVBORw0KGgo=",
        },
        [
            ("response.image_generation_call.in_progress", {}),
            ("response.image_generation_call.generating", {}),
            (
                "response.image_generation_call.partial_image",
                {"partial_image_index": 0, "partial_image_b64": "iVBO"},
            ),
            ("response.image_generation_call.completed", {}),
        ],
    ),
    "mcp_list_tools": (
        {
            "id": "mcpl_1",
            "type": "mcp_list_tools",
            "server_label": "deepwiki",
            "tools": [{"name": "ask", "input_schema": {"type": "object"}}],
        },
        [("response.mcp_list_tools.in_progress", {}), ("response.mcp_list_tools.completed", {})],
    ),
    "mcp_call": (
        {
            "id": "mcp_1",
            "type": "mcp_call",
            "server_label": "deepwiki",
            "name": "ask",
            "arguments": '{"q": "x"}',
            "output": "answer",
            "status": "completed",
        },
        [
            ("response.mcp_call.in_progress", {}),
            ("response.mcp_call_arguments.delta", {"delta": '{"q": "x"}'}),
            ("response.mcp_call_arguments.done", {"arguments": '{"q": "x"}'}),
            ("response.mcp_call.completed", {}),
        ],
    ),
    "mcp_approval_request": (
        {
            "id": "mcpr_1",
            "type": "mcp_approval_request",
            "server_label": "deepwiki",
            "name": "ask",
            "arguments": '{"q": "x"}',
        },
        [],
    ),
    "computer_call": (
        {
            "id": "cu_1",
            "type": "computer_call",
            "call_id": "call_cu",
            "status": "completed",
            "pending_safety_checks": [],
            "action": {"type": "click", "button": "left", "x": 10, "y": 20},
        },
        [],
    ),
    "local_shell_call": (
        {
            "id": "lsh_1",
            "type": "local_shell_call",
            "call_id": "call_sh",
            "status": "completed",
            "action": {"type": "exec", "command": ["ls"], "env": {}},
        },
        [],
    ),
    "shell_call": (
        {
            "id": "sh_1",
            "type": "shell_call",
            "call_id": "call_shell",
            "status": "completed",
            "action": {"commands": ["ls -l", "pwd"], "timeout_ms": 1000},
        },
        [
            ("response.shell_call_command.added", {"command_index": 0, "command": ""}),
            ("response.shell_call_command.delta", {"command_index": 0, "delta": "ls -l"}),
            ("response.shell_call_command.done", {"command_index": 0, "command": "ls -l"}),
            ("response.shell_call_command.added", {"command_index": 1, "command": "pwd"}),
            ("response.shell_call_command.done", {"command_index": 1, "command": "pwd"}),
        ],
    ),
    "shell_call_output": (
        {
            "id": "sho_1",
            "type": "shell_call_output",
            "call_id": "call_shell",
            "status": "completed",
            "output": [
                {"stdout": "a\nb\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
            ],
        },
        [
            (
                "response.shell_call_output_content.delta",
                {"command_index": 0, "delta": {"stdout": "a\n"}},
            ),
            (
                "response.shell_call_output_content.delta",
                {"command_index": 0, "delta": {"stdout": "b\n", "stderr": ""}},
            ),
            (
                "response.shell_call_output_content.done",
                {
                    "command_index": 0,
                    "output": [
                        {
                            "stdout": "a\nb\n",
                            "stderr": "",
                            "outcome": {"type": "exit", "exit_code": 0},
                        }
                    ],
                },
            ),
        ],
    ),
    "compaction": (
        {"id": "cmp_1", "type": "compaction", "encrypted_content": "gAAAA-compacted"},
        [("response.compaction.compacting", {})],
    ),
}


@pytest.mark.parametrize("name", sorted(_BUILTINS))
def test_built_in_tool_items_are_kept_as_they_came(oracle: Oracle, name: str) -> None:
    item, events = _BUILTINS[name]
    run = oracle.responses(
        Wire().start().builtin(item, *events).message("Done.", ident="msg_2").completed()
    )
    check(run)
    assert _clean(run.state.message_param[0]) == _clean(item)
    if name == "web_search":  # billed per call: $10 per 1000 on top of the tokens
        parts = run.state.cost_metadata
        tokens_only = run.state.model_copy(deep=True)
        tokens_only.provider_data.pop("web_searches")
        assert run.state.cost == price(tokens_only)[0] + Decimal("0.01")
        assert parts["reason"] is None


def test_incomplete_response_keeps_its_reason(oracle: Oracle) -> None:
    wire = Wire().start()
    wire.function_call("call_a", "f", '{"a": ')
    wire.output[-1]["status"] = "incomplete"
    events = wire.completed(
        kind="response.incomplete",
        status="incomplete",
        incomplete_details={"reason": "max_output_tokens"},
    )
    run = oracle.responses(events, final=False)
    state = run.state
    assert state.finish_reasons == ["incomplete"]
    assert state.provider_data["incomplete_details"] == {"reason": "max_output_tokens"}
    [tool] = state.tool_calls
    assert not tool.valid and tool.problem == "cut off: the call is incomplete"
    # the helper has no final response then (get_final_response() raises): compare with
    # the response the SDK typed from the terminal event
    check(run)


def test_failed_response(oracle: Oracle) -> None:
    events = (
        Wire()
        .start()
        .completed(
            kind="response.failed",
            status="failed",
            error={"code": "server_error", "message": "The server had an error."},
        )
    )
    run = oracle.responses(events, final=False)
    check(run)
    assert run.state.status == "failed"
    assert run.state.error == {"type": "server_error", "message": "The server had an error."}


def test_done_sentinel_from_a_gateway_is_tolerated(oracle: Oracle) -> None:
    events: list[Any] = [*Wire().start().message("Hi").completed(), "[DONE]"]
    run = oracle.responses(events)
    check(run)
    assert run.state.malformed_chunks == 0


def test_background_stream_resumed_with_starting_after_is_one_stream(oracle: Oracle) -> None:
    events = Wire().start().message("Hel", "lo").completed()
    # a resumed connection replays from ``starting_after``: here events 3.. come twice
    resumed = [*events[:6], *events[3:]]
    run = oracle.responses(resumed, background=True)
    assert run.state.content == "Hello"
    assert run.state.provider_data["repeated_events"] == 3


def test_an_empty_output_item_added_event_is_skipped(oracle: Oracle) -> None:
    wire = Wire().start()
    wire.ev("response.output_item.added", output_index=0, item=None)
    wire.output.append({})  # the gap: the message below is output item 1
    wire.message("Hi")
    wire.output.pop(0)
    run = oracle.responses(wire.completed())
    check(run)
    assert run.state.content == "Hi"


# -- generated streams ---------------------------------------------------------------------

_text = wire_text(5)


@st.composite
def _stream(draw: st.DrawFn) -> list[dict[str, Any]]:
    wire = Wire().start()
    for n in range(draw(st.integers(0, 3))):
        kind = draw(
            st.sampled_from(["message", "function", "reasoning", "custom", "builtin", "audio"])
        )
        if kind == "audio":  # no output index: beside the output items
            wire.ev("response.audio.transcript.delta", delta=draw(_text))
            wire.ev("response.audio.delta", delta="UklG")
            wire.ev("response.audio.done")
            wire.ev("response.audio.transcript.done")
        elif kind == "message":
            wire.message(*draw(st.lists(_text, min_size=1, max_size=3)), ident=f"msg_{n}")
        elif kind == "function":
            wire.function_call(
                f"call_{n}", "f", *draw(split(json.dumps(draw(TOOL_ARGS)))), ident=f"fc_{n}"
            )
        elif kind == "custom":
            if not any(e.get("item", {}).get("id") == "ctc_1" for e in wire.events):
                wire.custom_call(f"cc_{n}", "exec", *draw(st.lists(_text, min_size=1, max_size=2)))
        elif kind == "builtin":
            item, events = _BUILTINS[draw(st.sampled_from(sorted(_BUILTINS)))]
            wire.builtin({**item, "id": f"{item['id']}_{n}"}, *events)
        elif not any(e.get("item", {}).get("id") == "rs_1" for e in wire.events):
            wire.reasoning(draw(_text) or "x")
    return wire.completed()


@oracle_settings(20)
@given(events=_stream())
@example(events=Wire().start().completed())
def test_generated_streams_agree_with_the_sdk(oracle: Oracle, events: list[dict[str, Any]]) -> None:
    check(oracle.responses(events))


# -- audio, shell calls and compaction -----------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(
            ("response.audio.delta", "response.audio.done", "response.audio.transcript"),
            id="sdk-names",
        ),
        pytest.param(
            (
                "response.output_audio.delta",
                "response.output_audio.done",
                "response.output_audio_transcript",
            ),
            id="realtime-names",
        ),
    ],
)
def test_audio_events_are_kept_beside_the_output(oracle: Oracle, names: tuple[str, ...]) -> None:
    data, data_done, transcript = names
    wire = Wire().start()
    wire.ev(f"{transcript}.delta", delta="Hel")
    wire.ev(data, delta="UklGRiQAAABX")
    wire.ev(f"{transcript}.delta", delta="lo")
    wire.ev(data, delta="QVZFZm10")
    wire.ev(data_done)
    wire.ev(f"{transcript}.done")
    run = oracle.responses(wire.message("Hello").completed())
    # the SDK's accumulator passes the audio events through and builds nothing from them:
    # output and output_text are the response's; streamrec agrees there and keeps the audio
    check(run)
    assert run.state.content == run.sdk.output_text == "Hello"
    assert run.state.provider_data["audio"] == {
        "transcript": "Hello",
        "data": "UklGRiQAAABXQVZFZm10",
    }


def _fold(events: list[dict[str, Any]]) -> Any:
    """The state a prefix of a stream folds to (a stream cut off there)."""
    return fold(API_OPENAI_RESPONSES, [SSEEvent(json.dumps(e), e["type"]) for e in events])[0]


def test_shell_call_streamed_command_by_command(oracle: Oracle) -> None:
    """The ``shell_call`` is added with no commands; each command grows with its events,
    and the output item with stdout/stderr deltas, so a prefix already holds them."""
    call, call_events = _BUILTINS["shell_call"]
    out, out_events = _BUILTINS["shell_call_output"]
    wire = Wire().start()
    index = wire.item({**call, "status": "in_progress", "action": {"commands": []}})
    for kind, fields in call_events:
        wire.ev(kind, output_index=index, **fields)
    cut = len(wire.events)
    wire.item_done(index, call)
    index = wire.item({**out, "status": "in_progress", "output": []})
    for kind, fields in out_events:
        wire.ev(kind, item_id=out["id"], output_index=index, **fields)
    wire.item_done(index, out)
    events = wire.message("Listed.", ident="msg_2").completed()
    run = oracle.responses(events)
    check(run)
    assert [i["type"] for i in run.state.message_param] == [
        "shell_call",
        "shell_call_output",
        "message",
    ]
    assert run.state.tool_calls == []  # a built-in tool's item, not a function call

    prefix = _fold(events[:cut])
    assert prefix.provider_data["output"][0]["action"]["commands"] == ["ls -l", "pwd"]
    deltas = [e for e in events if e["type"] == "response.shell_call_output_content.delta"]
    upto = events.index(deltas[-1]) + 1
    partial = _fold(events[:upto])
    assert partial.provider_data["output"][1]["output"][0]["stdout"] == "a\nb\n"
