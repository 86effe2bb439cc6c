"""Projecting a prefix, reading the state, then the rest equals projecting the whole, for
the blocks the providers stream today (the SDK-oracle suites' streams, cut anywhere)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamrec import SSEEvent
from tests import test_oracle_anthropic as an
from tests import test_oracle_google as gm
from tests import test_oracle_openai_chat as oc
from tests import test_oracle_openai_responses as rs
from tests.formats_support import check_prefix_then_rest, stored

_settings = settings(max_examples=40, deadline=None, derandomize=True)
_text = st.text(max_size=5)


def _sse(events: list[Any]) -> list[SSEEvent | str]:
    """Wire events as the recorder stores them (``event:`` name where the wire has one)."""
    out: list[SSEEvent | str] = []
    for event in events:
        if isinstance(event, str):
            out.append(event)
        else:
            out.append(SSEEvent(json.dumps(event), event.get("type")))
    return out


@st.composite
def _anthropic(draw: st.DrawFn) -> list[Any]:
    blocks: list[an.Block] = []
    for n in range(draw(st.integers(0, 5))):
        kind = draw(
            st.sampled_from(
                ["text", "cited", "thinking", "tool", "cut", "server", "compaction", "fallback"]
            )
        )
        if kind == "text":
            blocks.append(an.text(draw(_text), draw(_text)))
        elif kind == "cited":
            citation = {"type": "char_location", "cited_text": "x", "document_index": 0}
            blocks.append(an.text(draw(_text), citations=[citation]))
        elif kind == "thinking":
            blocks.append(an.thinking(draw(_text), signature=f"sig{n}"))
        elif kind in ("tool", "cut"):
            args = json.dumps({"a": draw(_text)})
            cut = draw(st.integers(1, len(args))) if kind == "cut" else len(args)
            blocks.append(an.tool_use(f"toolu_{n}", "f", args[:cut]))
        elif kind == "server":
            blocks.append(an.tool_use(f"srv_{n}", "web_search", '{"q": 1}', kind="server_tool_use"))
            blocks.append(an.whole({**an._SEARCH_RESULT, "tool_use_id": f"srv_{n}"}))
        elif kind == "compaction":
            blocks.append(
                (
                    {"type": "compaction", "content": None},
                    [
                        {
                            "type": "compaction_delta",
                            "content": draw(_text),
                            "encrypted_content": "e",
                        }
                    ],
                )
            )
        else:
            blocks.append(
                an.whole(
                    {
                        "type": "fallback",
                        "from": {"model": an.MODEL},
                        "to": {"model": "claude-haiku-4-5"},
                        "trigger": {"type": "refusal"},
                    }
                )
            )
    iterations = [
        {"type": kind, "input_tokens": 10, "output_tokens": 2}
        for kind in draw(st.lists(st.sampled_from(["message", "compaction"]), max_size=2))
    ]
    usage: dict[str, Any] = {"output_tokens": 9}
    if iterations:
        usage["iterations"] = iterations
    return an.message(
        *blocks, stop=draw(st.sampled_from(["end_turn", "max_tokens"])), end_usage=usage
    )


@st.composite
def _chat(draw: st.DrawFn) -> list[Any]:
    n = draw(st.integers(1, 2))
    chunks: list[Any] = [oc.chunk(*(oc.role(i) for i in range(n)), obfuscation="xy")]
    for i in range(n):
        chunks.append(
            oc.chunk(
                oc.choice(
                    {"content": draw(_text), "reasoning_content": draw(_text)},
                    index=i,
                    logprobs={"content": [{"token": "a", "logprob": -1.0}], "refusal": None},
                )
            )
        )
        args = json.dumps({"a": draw(_text)})
        cut = draw(st.integers(1, len(args)))
        chunks.append(
            oc.chunk(oc.choice({"tool_calls": [oc.call(0, f"c{i}", "f", args[:cut])]}, index=i))
        )
        chunks.append(oc.chunk(oc.choice({"audio": {"transcript": draw(_text)}}, index=i)))
    for i in range(n):
        chunks.append(oc.chunk(oc.choice({}, draw(st.sampled_from(["stop", "length"])), index=i)))
    chunks.append(oc.usage_chunk())
    chunks.append(oc.chunk(moderation={"input": {}, "output": {}}))
    chunks.append("[DONE]")
    return chunks


@st.composite
def _responses(draw: st.DrawFn) -> list[Any]:
    wire = rs.Wire().start()
    for n in range(draw(st.integers(0, 4))):
        kind = draw(
            st.sampled_from(["message", "function", "custom", "builtin", "audio", "reasoning"])
        )
        if kind == "audio":
            wire.ev("response.audio.transcript.delta", delta=draw(_text))
            wire.ev("response.audio.delta", delta="UklG")
            wire.ev(
                draw(st.sampled_from(["response.audio.done", "response.audio.transcript.done"]))
            )
        elif kind == "message":
            wire.message(draw(_text), draw(_text), ident=f"msg_{n}")
        elif kind == "function":
            wire.function_call(
                f"call_{n}", "f", '{"a":', draw(st.sampled_from([" 1}", " 1"])), ident=f"fc_{n}"
            )
        elif kind == "custom":
            wire.custom_call(f"cc_{n}", "exec", draw(_text))
        elif kind == "builtin":
            item, events = rs._BUILTINS[draw(st.sampled_from(sorted(rs._BUILTINS)))]
            wire.builtin({**item, "id": f"{item['id']}_{n}"}, *events)
        elif not any(e.get("item", {}).get("id") == "rs_1" for e in wire.events):
            wire.reasoning(draw(_text) or "x", encrypted="a", final_encrypted="b")
    events: list[Any] = wire.completed()
    if draw(st.booleans()) and len(events) > 4:  # a resumed connection repeats a tail
        events = [*events, *events[-3:]]
    if draw(st.booleans()):
        events.append("[DONE]")
    return events


@st.composite
def _gemini(draw: st.DrawFn) -> list[Any]:
    chunks = []
    for n in range(draw(st.integers(1, 5))):
        part = draw(gm._part(n))
        chunks.append(gm.chunk([part], "STOP" if n == 4 else None))
    return chunks


@_settings
@given(st.data())
def test_anthropic_prefix_then_rest(data: st.DataObject) -> None:
    events = stored("anthropic.messages", _sse(data.draw(_anthropic())))
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))


@_settings
@given(st.data())
def test_openai_chat_prefix_then_rest(data: st.DataObject) -> None:
    chunks = [c if isinstance(c, str) else json.dumps(c) for c in data.draw(_chat())]
    events = stored("openai.chat.completions", chunks)
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))


@_settings
@given(st.data())
def test_openai_responses_prefix_then_rest(data: st.DataObject) -> None:
    events = stored("openai.responses", _sse(data.draw(_responses())))
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))


@_settings
@given(st.data())
def test_gemini_prefix_then_rest(data: st.DataObject) -> None:
    chunks = [json.dumps(c) for c in data.draw(_gemini())]
    events = stored("google.generate_content", chunks)
    check_prefix_then_rest(events, data.draw(st.integers(0, len(events))))
