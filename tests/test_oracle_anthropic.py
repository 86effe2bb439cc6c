"""Anthropic Messages: the projection against anthropic's own ``messages.stream`` accumulator.

Every stream is served over HTTP to ``client.messages.stream(...).get_final_message()``
(``client.beta.messages`` for the beta-only blocks) while streamrec records the same
bytes; ``check`` compares what both built, field by field. Where they differ on
purpose, the test says why (docs/sdk-divergences.md).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from streamrec.errors import ProjectionError
from tests.oracle import Oracle, Run, drop_none, dump, oracle_settings, split, wire_text

Block = tuple[dict[str, Any], list[dict[str, Any]]]
MODEL = "claude-sonnet-4-5"


def message(
    *blocks: Block,
    stop: str | None = "end_turn",
    start_usage: dict[str, Any] | None = None,
    end_usage: dict[str, Any] | None = None,
    model: str = MODEL,
    delta: dict[str, Any] | None = None,
    start_extra: dict[str, Any] | None = None,
    end_extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A whole Messages stream, as the API sends it (docs: "Streaming Messages")."""
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage or {"input_tokens": 25, "output_tokens": 1},
                **(start_extra or {}),
            },
        }
    ]
    for index, (start, deltas) in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        if index == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None, **(delta or {})},
            "usage": end_usage or {"output_tokens": 15},
            **(end_extra or {}),
        }
    )
    events.append({"type": "message_stop"})
    return events


def text(*pieces: str, citations: list[dict[str, Any]] = ()) -> Block:  # type: ignore[assignment]
    deltas = [{"type": "text_delta", "text": p} for p in pieces]
    deltas += [{"type": "citations_delta", "citation": c} for c in citations]
    return {"type": "text", "text": ""}, deltas


def thinking(
    *pieces: str, signature: str = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pk"
) -> Block:
    deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
    return {"type": "thinking", "thinking": "", "signature": ""}, [
        *deltas,
        {"type": "signature_delta", "signature": signature},
    ]


def tool_use(ident: str, name: str, *pieces: str, kind: str = "tool_use") -> Block:
    return {"type": kind, "id": ident, "name": name, "input": {}}, [
        {"type": "input_json_delta", "partial_json": p} for p in pieces
    ]


def whole(block: dict[str, Any]) -> Block:
    """A block that arrives complete in its content_block_start (server tool results)."""
    return block, []


def check(run: Run) -> None:
    """streamrec's projection equals what the SDK accumulated, field by field."""
    sdk, state = run.sdk, run.state
    assert state.malformed_chunks == 0, state.problems
    assert state.unknown_events == 0
    response = state.construct_call_response()
    blocks = [dump(b) for b in sdk.content]
    for block in blocks:
        block.pop("parsed_output", None)  # the SDK's own structured-output field
    body = drop_none(response.response)
    body["content"] = drop_none(body["content"])
    sdk_body = dump(sdk)
    sdk_body["content"] = blocks
    assert body == sdk_body
    assert (response.id, response.model) == (sdk.id, sdk.model)
    assert response.finish_reasons == ([sdk.stop_reason] if sdk.stop_reason else None)
    # message_param is to_param() but for empty text blocks, which the API rejects
    # ("text content blocks must be non-empty"); the SDK's to_param sends them back
    param = sdk.to_param()
    expected = [dump(b) for b in param["content"] if not (b.type == "text" and not b.text)]
    for block in expected:
        block.pop("parsed_output", None)
    assert drop_none(state.message_param["content"]) == expected
    assert state.content == "".join(b.text for b in sdk.content if b.type == "text")
    assert state.thinking == "".join(b.thinking for b in sdk.content if b.type == "thinking")
    tools = [b for b in sdk.content if b.type == "tool_use"]
    assert [(t.id, t.name, t.index) for t in state.tool_calls] == [
        (b.id, b.name, sdk.content.index(b)) for b in tools
    ]
    for call, block in zip(state.tool_calls, tools, strict=True):
        if call.valid:
            assert call.args == block.input
            assert json.loads(call.arguments) == block.input
    usage = sdk.usage
    written = usage.cache_creation_input_tokens or 0
    read = usage.cache_read_input_tokens or 0
    assert state.input_tokens == usage.input_tokens + written + read
    assert state.output_tokens == usage.output_tokens
    assert state.cached_tokens == usage.cache_read_input_tokens
    assert state.cache_write_tokens == usage.cache_creation_input_tokens
    assert state.status == "completed"


# -- every block type ---------------------------------------------------------------------


def test_text(oracle: Oracle) -> None:
    check(oracle.anthropic(message(text("Hello", ", ", "world"))))


def test_text_with_citations(oracle: Oracle) -> None:
    citation = {
        "type": "char_location",
        "cited_text": "The grass is green.",
        "document_index": 0,
        "document_title": "Facts",
        "start_char_index": 0,
        "end_char_index": 19,
        "file_id": None,
    }
    run = oracle.anthropic(
        message(text("The grass ", citations=[citation]), text("is green.", citations=[citation]))
    )
    check(run)
    assert run.state.message_param["content"][0]["citations"][0]["cited_text"] == (
        "The grass is green."
    )


def test_web_search_result_citations(oracle: Oracle) -> None:
    citation = {
        "type": "web_search_result_location",
        "cited_text": "Claude Shannon was born on April 30, 1916",
        "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
        "title": "Claude Shannon - Wikipedia",
        "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm",
    }
    check(oracle.anthropic(message(text("Shannon was born in 1916.", citations=[citation]))))


def test_thinking_with_signature_and_redacted_thinking(oracle: Oracle) -> None:
    run = oracle.anthropic(
        message(
            thinking("Let me ", "think."),
            whole({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}),
            text("42"),
        ),
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    check(run)
    assert run.state.message_param["content"][0]["signature"].startswith("EqQB")


def test_tool_use_with_input_json_deltas(oracle: Oracle) -> None:
    run = oracle.anthropic(
        message(
            text("Checking."),
            tool_use("toolu_01A", "get_weather", '{"city": "Pa', 'ris", "unit"', ': "celsius"}'),
            tool_use("toolu_01B", "get_time", ""),
            stop="tool_use",
        )
    )
    check(run)
    assert [t.valid for t in run.state.tool_calls] == [True, True]
    assert run.state.tool_calls[1].arguments == "{}"


def test_fine_grained_tool_streaming(oracle: Oracle) -> None:
    # the beta streams input unbuffered: pieces need not end at JSON token boundaries
    run = oracle.anthropic(
        message(
            tool_use(
                "toolu_01", "write", '{"pa', 'th": "a.', 'txt", "body": "line one\\nli', 'ne two"}'
            ),
            stop="tool_use",
        ),
        betas=["fine-grained-tool-streaming-2025-05-14"],
    )
    check(run)
    assert run.state.tool_calls[0].args == {"path": "a.txt", "body": "line one\nline two"}


_SEARCH_RESULT = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_01",
    "content": [
        {
            "type": "web_search_result",
            "title": "Claude Shannon - Wikipedia",
            "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
            "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y",
            "page_age": "April 30, 2025",
        }
    ],
}


@pytest.mark.parametrize(
    ("name", "input_json", "result"),
    [
        ("web_search", '{"query": "claude shannon birth date"}', _SEARCH_RESULT),
        (
            "web_fetch",
            '{"url": "https://example.com/article"}',
            {
                "type": "web_fetch_tool_result",
                "tool_use_id": "srvtoolu_01",
                "content": {
                    "type": "web_fetch_result",
                    "url": "https://example.com/article",
                    "retrieved_at": "2025-08-25T10:30:00Z",
                    "content": {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "Hi"},
                        "title": "Article",
                        "citations": {"enabled": True},
                    },
                },
            },
        ),
        (
            "code_execution",
            '{"code": "print(1 + 1)"}',
            {
                "type": "code_execution_tool_result",
                "tool_use_id": "srvtoolu_01",
                "content": {
                    "type": "code_execution_result",
                    "stdout": "2\n",
                    "stderr": "",
                    "return_code": 0,
                    "content": [],
                },
            },
        ),
        (
            "bash_code_execution",
            '{"command": "ls -la"}',
            {
                "type": "bash_code_execution_tool_result",
                "tool_use_id": "srvtoolu_01",
                "content": {
                    "type": "bash_code_execution_result",
                    "stdout": "total 0\n",
                    "stderr": "",
                    "return_code": 0,
                    "content": [],
                },
            },
        ),
        (
            "text_editor_code_execution",
            '{"command": "view", "path": "/tmp/a.py"}',
            {
                "type": "text_editor_code_execution_tool_result",
                "tool_use_id": "srvtoolu_01",
                "content": {
                    "type": "text_editor_code_execution_view_result",
                    "content": "print('hi')\n",
                    "file_type": "text",
                    "num_lines": 1,
                    "start_line": 1,
                    "total_lines": 1,
                },
            },
        ),
        (
            "tool_search_tool_regex",
            '{"query": "weather"}',
            {
                "type": "tool_search_tool_result",
                "tool_use_id": "srvtoolu_01",
                "content": {
                    "type": "tool_search_tool_search_result",
                    "tool_references": [{"type": "tool_reference", "tool_name": "get_weather"}],
                },
            },
        ),
    ],
)
def test_server_tools_and_their_results(
    oracle: Oracle, name: str, input_json: str, result: dict[str, Any]
) -> None:
    half = len(input_json) // 2
    run = oracle.anthropic(
        message(
            tool_use(
                "srvtoolu_01", name, input_json[:half], input_json[half:], kind="server_tool_use"
            ),
            whole(result),
            text("Done."),
            end_usage={
                "output_tokens": 40,
                "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
            },
        )
    )
    check(run)
    # server tools ran at Anthropic: nothing for the client to run
    assert run.state.tool_calls == []
    sent_back = run.state.message_param["content"]
    assert sent_back[0]["input"] == json.loads(input_json)
    assert sent_back[1] == result


def test_container_and_pause_turn(oracle: Oracle) -> None:
    container = {"id": "container_011CPR5CNjB747bTd36fQLFk", "expires_at": "2026-01-01T00:00:00Z"}
    run = oracle.anthropic(
        message(
            tool_use("srvtoolu_01", "code_execution", '{"code": "1"}', kind="server_tool_use"),
            stop="pause_turn",
            delta={"container": container},
        )
    )
    check(run)
    assert run.state.finish_reasons == ["pause_turn"]
    assert run.state.construct_call_response().response["container"]["id"] == container["id"]


def test_refusal_with_stop_details(oracle: Oracle) -> None:
    details = {"type": "refusal", "category": "cyber", "explanation": "This could enable harm."}
    run = oracle.anthropic(
        message(text("I can't"), stop="refusal", delta={"stop_details": details})
    )
    check(run)
    assert run.state.refusal == "This could enable harm."


def test_mcp_tool_use_and_result(oracle: Oracle) -> None:
    run = oracle.anthropic(
        message(
            (
                {
                    "type": "mcp_tool_use",
                    "id": "mcptoolu_01",
                    "name": "echo",
                    "server_name": "example",
                    "input": {},
                },
                [{"type": "input_json_delta", "partial_json": '{"text": "hi"}'}],
            ),
            whole(
                {
                    "type": "mcp_tool_result",
                    "tool_use_id": "mcptoolu_01",
                    "is_error": False,
                    "content": [{"type": "text", "text": "hi"}],
                }
            ),
            text("It said hi."),
        ),
        betas=["mcp-client-2025-04-04"],
    )
    check(run)
    assert run.state.message_param["content"][0]["input"] == {"text": "hi"}


def test_cache_usage_with_ttl_breakdown(oracle: Oracle) -> None:
    run = oracle.anthropic(
        message(
            text("Hi"),
            start_usage={
                "input_tokens": 10,
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1800,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 150,
                    "ephemeral_1h_input_tokens": 50,
                },
                "output_tokens": 1,
                "service_tier": "standard",
            },
            end_usage={"output_tokens": 20},
        )
    )
    check(run)
    assert (run.state.input_tokens, run.state.cached_tokens) == (2010, 1800)


# -- compaction, iterations, fallback (beta) ----------------------------------------------

_SUMMARY = "The user asked for a weather bot; we wrote get_weather in Python."


def _compaction_stream() -> list[dict[str, Any]]:
    compaction = (
        {"type": "compaction", "content": None},
        [{"type": "compaction_delta", "content": _SUMMARY, "encrypted_content": "Ep0BCkgIBx"}],
    )
    iterations = [
        {
            "type": "compaction",
            "input_tokens": 180_000,
            "output_tokens": 3_500,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
        {
            "type": "message",
            "input_tokens": 23_000,
            "output_tokens": 1_000,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    ]
    return message(
        compaction,
        text("Continuing: here is the bot."),
        start_usage={"input_tokens": 23_000, "output_tokens": 1},
        end_usage={"output_tokens": 1_000, "iterations": iterations},
    )


def test_compaction_summary_survives_into_message_param(oracle: Oracle) -> None:
    run = oracle.anthropic(_compaction_stream(), betas=["compact-2026-01-12"])
    check(run)
    block = run.state.message_param["content"][0]
    assert block == {"type": "compaction", "content": _SUMMARY, "encrypted_content": "Ep0BCkgIBx"}
    assert run.state.content == "Continuing: here is the bot."


def test_compaction_iteration_is_priced(oracle: Oracle) -> None:
    run = oracle.anthropic(_compaction_stream(), betas=["compact-2026-01-12"])
    state = run.state
    # the top-level usage (what the SDK reports) leaves the compaction out; the bill does not
    assert (state.input_tokens, state.output_tokens) == (23_000, 1_000)

    def cost(inp: int, out: int) -> Decimal:
        usage = genai_prices.Usage(
            input_tokens=inp, output_tokens=out, cache_read_tokens=0, cache_write_tokens=0
        )
        return genai_prices.calc_price(usage, MODEL, provider_id="anthropic").total_price

    assert state.cost == cost(180_000, 3_500) + cost(23_000, 1_000)
    assert [p["kind"] for p in state.cost_metadata["parts"]] == ["compaction", "message"]


def test_model_fallback_reports_and_prices_the_model_that_answered(oracle: Oracle) -> None:
    fallback = {
        "type": "fallback",
        "from": {"model": MODEL},
        "to": {"model": "claude-haiku-4-5"},
        "trigger": {"type": "refusal", "category": "cyber"},
    }
    iterations = [
        {
            "type": "message",
            "model": MODEL,
            "input_tokens": 100,
            "output_tokens": 5,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
        {
            "type": "fallback_message",
            "model": "claude-haiku-4-5",
            "input_tokens": 100,
            "output_tokens": 30,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    ]
    run = oracle.anthropic(
        message(
            text("I can't help with"),
            whole(fallback),
            text("Here is a safe answer."),
            start_usage={"input_tokens": 100, "output_tokens": 1},
            end_usage={"output_tokens": 35, "iterations": iterations},
        ),
        beta=True,
    )
    check(run)
    state = run.state
    assert state.model == "claude-haiku-4-5" == run.sdk.model
    parts = state.cost_metadata["parts"]
    assert [(p["kind"], p["model"]) for p in parts] == [
        ("message", MODEL),
        ("fallback_message", "claude-haiku-4-5"),
    ]
    assert state.cost == sum((Decimal(p["cost"]) for p in parts), Decimal(0))


# -- tool input that is cut off or not JSON -------------------------------------------------


def test_tool_input_cut_off_by_max_tokens_is_not_a_valid_call(oracle: Oracle) -> None:
    run = oracle.anthropic(
        message(
            tool_use("toolu_01", "get_weather", '{"city": "Paris", "unit": "cel'),
            stop="max_tokens",
        )
    )
    check(run)
    state = run.state
    [call] = state.tool_calls
    assert not call.valid and not call.complete
    assert call.problem == "input cut off by max_tokens"
    assert call.arguments == '{"city": "Paris", "unit": "cel'  # the raw text, not "{}"
    assert state.tool_problems == [
        "tool call toolu_01 (get_weather): input cut off by max_tokens; "
        'raw input \'{"city": "Paris", "unit": "cel\''
    ]
    # message_param carries the block as the SDK does: its partial parse of the input
    assert (
        state.message_param["content"][0]["input"] == run.sdk.content[0].input == {"city": "Paris"}
    )
    # Anthropic documents such a call as one to retry with more max_tokens, not to answer
    with pytest.raises(ProjectionError, match="cut off by max_tokens"):
        state.tool_message_params([(call, "sunny")])


def test_tool_input_that_is_not_json_is_refused_by_the_sdk_and_flagged_here(
    oracle: Oracle,
) -> None:
    run = oracle.anthropic(
        message(tool_use("toolu_01", "f", '{"a" 1}'), stop="tool_use"), expect_error=True
    )
    # the SDK raises "Unable to parse tool parameter JSON from model"; streamrec records
    # the stream whole and marks the call
    assert isinstance(run.error, ValueError)
    assert run.state.status == "interrupted"  # where the SDK stopped reading
    [call] = run.state.tool_calls
    assert (call.valid, call.problem, call.arguments) == (
        False,
        "input is not valid JSON",
        '{"a" 1}',
    )
    assert run.state.tool_problems


@pytest.mark.parametrize(
    ("stop", "problem"),
    [
        ("max_tokens", "input cut off by max_tokens"),
        ("tool_use", "the stream ended before the input was complete"),
    ],
)
def test_a_tool_input_never_stopped_is_flagged(oracle: Oracle, stop: str, problem: str) -> None:
    # as Anthropic sends a max_tokens cut: no content_block_stop for the open block
    events = message(
        text("Saving."),
        tool_use("toolu_01", "make_file", '{"name": "a.txt", "lines": ["x", "y'),
        stop=stop,
    )
    events = [e for e in events if e != {"type": "content_block_stop", "index": 1}]
    run = oracle.anthropic(events)
    check(run)
    [call] = run.state.tool_calls
    assert (call.valid, call.problem) == (False, problem)
    assert run.state.message_param["content"][1]["input"] == {"name": "a.txt", "lines": ["x"]}


# -- generated streams ---------------------------------------------------------------------

_piece = wire_text(6)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-100, 100) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=4,
)


@st.composite
def _block(draw: st.DrawFn, index: int) -> Block:
    kind = draw(
        st.sampled_from(
            ["text", "thinking", "tool_use", "redacted", "cited", "server", "result", "compaction"]
        )
    )
    if kind == "text":
        return text(*draw(st.lists(_piece, min_size=1, max_size=3)))
    if kind == "cited":
        citation = {"type": "char_location", "cited_text": draw(_piece), "document_index": 0}
        return text(draw(_piece), citations=[citation])
    if kind == "server":
        query = json.dumps({"query": draw(_piece)})
        return tool_use(
            f"srvtoolu_{index}",
            "web_search",
            *draw(split(query, max_cuts=3)),
            kind="server_tool_use",
        )
    if kind == "result":
        return whole({**_SEARCH_RESULT, "tool_use_id": f"srvtoolu_{index}"})
    if kind == "compaction":
        delta = {"type": "compaction_delta", "content": draw(_piece), "encrypted_content": "e"}
        return {"type": "compaction", "content": None}, [delta]
    if kind == "thinking":
        return thinking(*draw(st.lists(_piece, max_size=3)), signature=f"sig{index}")
    if kind == "redacted":
        return whole({"type": "redacted_thinking", "data": f"data{index}"})
    args = draw(st.dictionaries(st.text(max_size=4), _json_value, max_size=3))
    return tool_use(
        f"toolu_{index}",
        draw(st.sampled_from(["f", "g"])),
        *draw(split(json.dumps(args), max_cuts=3)),
    )


@st.composite
def _stream(draw: st.DrawFn) -> list[dict[str, Any]]:
    blocks = [draw(_block(i)) for i in range(draw(st.integers(0, 4)))]
    fresh, written, read, out = (draw(st.integers(0, 5000)) for _ in range(4))
    return message(
        *blocks,
        stop=draw(st.sampled_from(["end_turn", "tool_use", "stop_sequence", "pause_turn"])),
        start_usage={
            "input_tokens": fresh,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "output_tokens": 1,
        },
        end_usage={"output_tokens": out},
    )


@oracle_settings(25)
@given(events=_stream())
@example(events=message(text("")))
def test_generated_streams_agree_with_the_sdk(oracle: Oracle, events: list[dict[str, Any]]) -> None:
    # only the beta types know a compaction block (the non-beta SDK reads it as text)
    beta = any(e.get("content_block", {}).get("type") == "compaction" for e in events)
    check(oracle.anthropic(events, beta=beta))
