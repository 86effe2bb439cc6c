"""Anthropic Messages streams (``anthropic.messages``), read the way Anthropic documents them.

The wire is SSE whose ``event:`` name repeats the ``type`` of its JSON ``data``
(docs.anthropic.com, "Streaming Messages"; the SDK's ``RawMessageStreamEvent``)::

    message_start        {"message": {id, model, content: [],
                                      usage: {input_tokens, cache_*, output_tokens}}}
    content_block_start  {"index", "content_block": text | tool_use | thinking
                                                     | redacted_thinking | ...}
    content_block_delta  {"index", "delta": text_delta | input_json_delta | thinking_delta
                                             | signature_delta | citations_delta}
    content_block_stop   {"index"}
    message_delta        {"delta": {stop_reason, stop_sequence, stop_details}, "usage": {...}}
    message_stop, ping   (no payload); error {"error": {type, message}} ends a failed stream

How it is folded, and why:

- Text deltas make ``content``, thinking deltas ``thinking``. Every block is kept
  whole in ``provider_data["blocks"]`` (thinking with its signature, redacted
  thinking with its data, tool_use with its parsed input), because the next
  request must send them back as they were: ``message_param`` and ``response()``
  are built from those blocks and nothing else.
- A ``tool_use`` block's ``partial_json`` pieces are concatenated and the call is
  complete at its ``content_block_stop``; an empty input means ``{}``. Input that is
  not a whole JSON object then (cut by ``max_tokens``, with or without its
  ``content_block_stop``, or not JSON) keeps its raw text in ``arguments``, gets a
  ``problem`` and is never handed out; the block in ``message_param`` gets the SDK's
  partial parse (jiter's), since the API needs an object there. Server tools
  (``server_tool_use``, ``mcp_tool_use``) stream their input the same way; their
  result blocks arrive whole and are kept as they came.
- ``compaction`` blocks get their summary from ``compaction_delta`` (``content`` and
  ``encrypted_content`` replace the start block's, as the SDK's beta accumulator
  does). A ``fallback`` block names the model that writes what follows: it becomes
  ``model``, the one reported and priced.
- ``usage.iterations`` (compaction, message, fallback_message entries) become
  ``provider_data["billed_parts"]``, each priced at its own model: the top-level
  usage leaves a compaction out. ``server_tool_use.web_search_requests`` are priced
  too.
- Usage counts in ``message_delta`` are cumulative, so the latest value of each
  field wins (the SDK's ``accumulate_event`` does the same): ``message_start``'s
  ``output_tokens`` is a placeholder that is replaced, never added. Until a
  ``message_delta`` arrives the output count is unknown (None), so a stream cut
  short is never priced as if it had produced one token. Input is made inclusive:
  ``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``.
- ``stop_reason`` is the finish reason; ``refusal`` takes Anthropic's explanation
  (``stop_details``) when the model refused, or the stop reason itself.
- A non-streaming body (``"type": "message"``) recorded as one chunk folds whole.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import ProjectionError
from ...events import StreamStarted, dumps
from .._reducers import Reducer, register, tool_identity
from .._state import StreamState, ToolCall
from ._common import (
    as_dict,
    as_index,
    as_int,
    as_str,
    decode,
    output_text,
    parse_object,
    partial_object,
    set_error,
    set_usage,
    take_request,
    unknown,
)


@register
class AnthropicReducer(Reducer):
    """``anthropic.messages``."""

    api = "anthropic.messages"
    provider = "anthropic"

    def __init__(self, state: StreamState) -> None:
        super().__init__(state)
        self._blocks: dict[int, dict[str, Any]] = {}  # wire index -> block in provider_data
        self._json: dict[int, str] = {}  # wire index -> partial_json so far
        self._tools: dict[int, ToolCall] = {}
        self._stopped: set[int] = set()
        self._usage: dict[str, Any] = {}
        self._final_usage = False  # message_start's output_tokens is a placeholder
        state.provider_data["blocks"] = []

    def start(self, started: StreamStarted) -> None:
        take_request(self.state, started, "messages")

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        body = decode(data)
        kind = body.get("type", event)
        if kind == "content_block_delta":
            return self._delta(as_index(body.get("index")), as_dict(body.get("delta")))
        if kind == "content_block_start":
            return self._block_start(as_index(body.get("index")), body.get("content_block"))
        if kind == "content_block_stop":
            return self._block_stop(as_index(body.get("index")))
        if kind == "message_start":
            return self._message(as_dict(body.get("message")), streamed=True)
        if kind == "message_delta":
            for key in ("context_management", "input_transformations"):
                if body.get(key) is not None:  # beta: replace message_start's value
                    self.state.provider_data.setdefault("message", {})[key] = body[key]
            self._message_delta(as_dict(body.get("delta")), body.get("usage"))
        elif kind == "error":
            error = as_dict(body.get("error"))
            set_error(self.state, error.get("type"), error.get("message", ""))
        elif kind == "message":  # a non-streaming response body, recorded as one chunk
            return self._message(body, streamed=False)
        elif kind not in ("ping", "message_stop"):
            unknown(self.state)
        return []

    def end(self) -> list[ToolCall]:
        # A tool_use block without its content_block_stop has truncated input: incomplete.
        self._settle_open("the stream ended before the input was complete")
        return []

    def abandon(self, why: str) -> None:
        self._settle_open(why)
        super().abandon(why)

    # -- events -------------------------------------------------------------------------

    def _message(self, message: dict[str, Any], *, streamed: bool) -> list[ToolCall]:
        state = self.state
        if isinstance(message.get("id"), str):
            state.id = message["id"]
        if isinstance(message.get("model"), str):
            state.model = message["model"]
        # the message's other fields (container, context_management, ...) as the SDK's
        # snapshot keeps them from message_start
        state.provider_data["message"] = {
            k: v
            for k, v in message.items()
            if k not in ("content", "usage", "id", "model", "type", "role") and v is not None
        }
        completed: list[ToolCall] = []
        for block in message.get("content") or ():
            index = len(self._blocks)
            self._block_start(index, block)
            completed += self._block_stop(index)
        if message.get("stop_reason") or message.get("stop_sequence"):
            self._message_delta(message, None)
        if isinstance(message.get("usage"), dict):
            self._take_usage(message["usage"], final=not streamed)
        return completed

    def _block_start(self, index: int, block: Any) -> list[ToolCall]:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ProjectionError(f"content block {index} has no type")
        if index in self._blocks:
            raise ProjectionError(f"content block {index} started twice")
        kind = block["type"]
        state = self.state
        if kind == "text":
            state.content += as_str(block.get("text", ""), "text")
        elif kind == "thinking":
            state.thinking += as_str(block.get("thinking", ""), "thinking")
        elif kind == "fallback":
            # the model named in ``to`` writes what follows (the beta SDK relabels its
            # snapshot the same way): report and price the model that answered
            to = as_dict(block.get("to")).get("model")
            if isinstance(to, str):
                state.model = to
            state.provider_data.setdefault("fallbacks", []).append(block)
        elif kind == "tool_use":
            start_input = block.get("input")
            tool = ToolCall(
                id=block.get("id") if isinstance(block.get("id"), str) else None,
                name=block["name"] if isinstance(block.get("name"), str) else "",
                arguments=dumps(start_input)
                if isinstance(start_input, dict) and start_input
                else "",
                index=index,
            )
            self._tools[index] = tool
            state.tool_calls.append(tool)
        self._blocks[index] = block
        state.provider_data["blocks"].append(block)
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ToolCall]:
        block = self._blocks.get(index)
        if block is None:
            raise ProjectionError(f"delta for content block {index}, which never started")
        kind = delta.get("type")
        state = self.state
        if kind == "text_delta":
            text = as_str(delta.get("text"), "text_delta.text")
            block["text"] = block.get("text", "") + text
            state.content += text
        elif kind == "input_json_delta":
            piece = as_str(delta.get("partial_json"), "partial_json")
            if index in self._tools:  # a tool's arguments are the one copy of its input
                self._tools[index].arguments += piece
            else:
                self._json[index] = self._json.get(index, "") + piece
        elif kind == "thinking_delta":
            text = as_str(delta.get("thinking"), "thinking_delta.thinking")
            block["thinking"] = block.get("thinking", "") + text
            state.thinking += text
        elif kind == "signature_delta":
            block["signature"] = as_str(delta.get("signature"), "signature_delta.signature")
        elif kind == "citations_delta":
            citations = block.get("citations")
            if not isinstance(citations, list):  # the start block may carry ``null``
                citations = block["citations"] = []
            citations.append(delta.get("citation"))
        elif kind == "compaction_delta":
            # the summary (and its opaque ``encrypted_content``) arrive whole in one delta:
            # they replace what the start block had, as the SDK's accumulator does
            for key in ("content", "encrypted_content"):
                if delta.get(key) is not None:
                    block[key] = delta[key]
        else:
            unknown(state)
        return []

    def _block_stop(self, index: int) -> list[ToolCall]:
        block = self._blocks.get(index)
        if block is None:
            raise ProjectionError(f"stop for content block {index}, which never started")
        self._stopped.add(index)
        tool = self._settle(index)
        if tool is None or tool.complete or tool.problem:
            return []
        if not tool.arguments.strip():
            tool.arguments = "{}"
        tool.complete = True
        return [tool]

    def _settle(self, index: int) -> ToolCall | None:
        """Give a block the input streamed so far; flag its call if that is not an object.

        Cut off or not JSON: the block keeps what the SDK's partial parse makes of it (the
        API needs an object there), the call keeps the raw text and is never handed out.
        """
        block = self._blocks[index]
        tool = self._tools.get(index)
        streamed = tool.arguments if tool is not None else self._json.get(index)
        if streamed:  # tool_use, server_tool_use, mcp_tool_use: input streamed as JSON
            parsed = parse_object(streamed)
            if parsed is None:
                partial = partial_object(streamed)
                block["input"] = partial if partial is not None else as_dict(block.get("input"))
                if tool is not None and not tool.problem:
                    tool.problem = (
                        "input is not a complete JSON object"
                        if partial is not None
                        else "input is not valid JSON"
                    )
            else:
                block["input"] = parsed
        return tool

    def _settle_open(self, problem: str) -> None:
        """The message ended with blocks still open: their input is what arrived."""
        for index in self._blocks:
            if index in self._stopped:
                continue
            tool = self._settle(index)
            if (
                tool is not None
                and not tool.complete
                and (not tool.problem or tool.problem == "input is not a complete JSON object")
            ):
                tool.problem = problem

    def _message_delta(self, delta: dict[str, Any], usage: Any) -> None:
        state = self.state
        reason = delta.get("stop_reason")
        if isinstance(reason, str) and reason:
            state.finish_reasons = [reason]
            if reason == "max_tokens":
                self._settle_open("input cut off by max_tokens")
                for tool in state.tool_calls:
                    if tool.problem == "input is not a complete JSON object":
                        tool.problem = "input cut off by max_tokens"
            if reason == "refusal":
                details = as_dict(delta.get("stop_details"))
                state.refusal = details.get("explanation") or details.get("category") or reason
        message = state.provider_data.setdefault("message", {})
        for key in ("stop_sequence", "stop_details", "container"):
            if delta.get(key) is not None:
                state.provider_data[key] = message[key] = delta[key]
        if isinstance(usage, dict):
            self._take_usage(usage, final=True)

    def _take_usage(self, usage: dict[str, Any], *, final: bool) -> None:
        """Merge cumulative usage (latest value per field wins) and normalise it."""
        self._usage.update({k: v for k, v in usage.items() if v is not None})
        raw = self._usage
        self._final_usage = self._final_usage or final
        state = self.state
        state.provider_data["usage"] = dict(raw)
        fresh = as_int(raw.get("input_tokens"))
        write = as_int(raw.get("cache_creation_input_tokens"))
        read = as_int(raw.get("cache_read_input_tokens"))
        inclusive = None if fresh is None else fresh + (write or 0) + (read or 0)
        output = as_int(raw.get("output_tokens")) if self._final_usage else None
        thinking = as_dict(raw.get("output_tokens_details")).get("thinking_tokens")
        set_usage(
            state,
            input_tokens=inclusive,
            output_tokens=output,
            cached_tokens=read,
            cache_write_tokens=write,
            reasoning_tokens=as_int(thinking),
        )
        ttl = as_dict(raw.get("cache_creation"))
        state.provider_data["cache_write_ttl"] = {
            "5m": as_int(ttl.get("ephemeral_5m_input_tokens")),
            "1h": as_int(ttl.get("ephemeral_1h_input_tokens")),
        }
        if isinstance(raw.get("service_tier"), str):
            state.provider_data["service_tier"] = raw["service_tier"]
        searches = as_int(as_dict(raw.get("server_tool_use")).get("web_search_requests"))
        if searches:
            state.provider_data["web_searches"] = searches
        state.provider_data["billed_parts"] = _iteration_parts(raw.get("iterations"))

    # -- provider-shaped outputs --------------------------------------------------------

    @classmethod
    def message_param(cls, state: StreamState) -> dict[str, Any]:
        """``{"role": "assistant", "content": [blocks]}``: what the SDK sends back next turn.

        Thinking blocks keep their signature (the API checks it), tool_use blocks carry
        their parsed input, empty text blocks are left out (the API rejects them).
        """
        return {"role": "assistant", "content": _param_blocks(state)}

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        """The ``Message`` a non-streaming call returns, with usage as Anthropic reports it."""
        reasons = state.finish_reasons or []
        body: dict[str, Any] = copy.deepcopy(as_dict(state.provider_data.get("message")))
        body.update(
            {
                "id": state.id,
                "type": "message",
                "role": "assistant",
                "model": state.model,
                "content": _param_blocks(state, keep_empty=True),
                "stop_reason": reasons[0] if reasons else None,
                "stop_sequence": state.provider_data.get("stop_sequence"),
            }
        )
        if state.usage.reported:
            usage = copy.deepcopy(as_dict(state.provider_data.get("usage")))
            body["usage"] = {**usage, "output_tokens": state.usage.output_tokens}
        return body

    @classmethod
    def tool_message_params(
        cls, state: StreamState, tools_and_outputs: list[tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        """One user message holding a ``tool_result`` block per output (as Anthropic requires)."""
        if not tools_and_outputs:
            return []
        blocks = []
        for tool, output in tools_and_outputs:
            ident, _ = tool_identity(tool)
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": ident,
                    "content": [{"type": "text", "text": output_text(output)}],
                }
            )
        return [{"role": "user", "content": blocks}]


def _iteration_parts(iterations: Any) -> list[dict[str, Any]] | None:
    """Each entry of ``usage.iterations`` as a separately priced part.

    Anthropic bills every iteration: the top-level usage leaves a compaction's tokens
    out (``BetaUsage.iterations``), and after a fallback the hops ran on different
    models (a ``fallback_message`` entry names the one that served). An entry without
    a model is the response's. Only the final ``message_delta`` has them all: until
    then (and for an entry that is not an object) the top-level usage is priced.
    """
    if not isinstance(iterations, list) or not iterations:
        return None
    parts = []
    for entry in iterations:
        if not isinstance(entry, dict):
            return None
        fresh = as_int(entry.get("input_tokens")) or 0
        write = as_int(entry.get("cache_creation_input_tokens")) or 0
        read = as_int(entry.get("cache_read_input_tokens")) or 0
        part: dict[str, Any] = {
            "kind": entry.get("type") if isinstance(entry.get("type"), str) else "message",
            "model": entry.get("model") if isinstance(entry.get("model"), str) else None,
            "input_tokens": fresh + write + read,
            "cache_read_tokens": read,
            "cache_write_tokens": write,
            "output_tokens": as_int(entry.get("output_tokens")) or 0,
        }
        ttl = as_dict(entry.get("cache_creation"))
        five, hour = (
            as_int(ttl.get("ephemeral_5m_input_tokens")),
            as_int(ttl.get("ephemeral_1h_input_tokens")),
        )
        if five is not None and hour is not None:
            part["cache_write_5m_tokens"], part["cache_write_1h_tokens"] = five, hour
        parts.append(part)
    return parts


def _param_blocks(state: StreamState, *, keep_empty: bool = False) -> list[dict[str, Any]]:
    out = []
    for block in state.provider_data.get("blocks") or ():
        if block.get("type") == "text" and not block.get("text") and not keep_empty:
            continue
        out.append({k: copy.deepcopy(v) for k, v in block.items() if v is not None})
    return out
