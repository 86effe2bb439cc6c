"""OpenAI Responses streams (``openai.responses``), read the way OpenAI documents them.

The wire is SSE with ``event: <type>`` and a JSON ``data`` carrying the same
``type`` and a ``sequence_number`` (platform.openai.com, "Streaming responses";
the SDK's ``ResponseStreamEvent`` union). The response is a list of output items
(``message``, ``function_call``, ``reasoning``, ...) addressed by ``output_index``:

    response.created / in_progress / queued      {"response": {id, model, status, ...}}
    response.output_item.added / done            {"output_index", "item"}
    response.content_part.added / done           {"output_index", "content_index", "part"}
    response.output_text.delta / done            {"output_index", "content_index", "delta" | "text"}
    response.refusal.delta / done                {..., "delta" | "refusal"}
    response.function_call_arguments.delta/done  {"output_index", "delta" | "arguments"}
    response.reasoning_summary_text.delta/done   {"output_index", "summary_index", "delta" | "text"}
    response.completed / incomplete / failed     {"response": {..., output, usage, error,
                                                               incomplete_details}}
    error                                        {code, message, param}
                                                 (WebSocket mode: {status, error: {type, code, message, param}})

How it is folded, and why:

- The output items are the truth; they are kept in ``provider_data["output"]``
  and updated by the deltas, replaced by ``output_item.done`` and by the final
  response's ``output``. ``content`` (output_text), ``refusal`` and ``thinking``
  (reasoning summaries, then reasoning text) grow with the deltas and are
  recomputed from the items whenever an item is done, so the end state never
  depends on how the deltas were cut.
- A function call is a ``ToolCall`` whose id is its ``call_id`` (what
  ``function_call_output`` answers); it is complete at
  ``function_call_arguments.done`` (or its ``output_item.done``) if its arguments are
  a JSON object; one cut off (an ``incomplete`` item) or not JSON gets a ``problem``
  instead. A custom tool call is a ``ToolCall`` of type ``custom`` whose arguments are
  its free-text ``input`` (answered by ``custom_tool_call_output``). Built-in tools
  (web and file search, code interpreter, image generation, MCP, computer use, local
  shell, shell) and ``compaction`` items are kept as output items: they go back in
  ``input`` as they came. A ``shell_call``'s ``action.commands[command_index]`` grows
  with ``shell_call_command.added/delta/done``, a ``shell_call_output``'s
  ``output[command_index]`` stdout/stderr with ``shell_call_output_content.delta``
  (``.done`` gives the whole list), so a stream cut off mid-command keeps what came.
- Audio (``response.audio.delta/done``, ``response.audio.transcript.delta/done``, and
  the Realtime names ``response.output_audio*``) carries no output index: the base64
  ``data`` and the ``transcript`` are joined in ``provider_data["audio"]``, as chat
  keeps ``message.audio``. The transcript is not ``content``: the SDK's
  ``output_text`` joins the ``output_text`` parts only.
- Every event has a ``sequence_number``; one seen before (a background stream resumed
  with ``starting_after`` and recorded as one stream) is skipped, counted in
  ``provider_data["repeated_events"]``. A ``data: [DONE]`` (gateways) ends the stream.
- ``finish_reasons`` is ``[status]`` of the terminal response (``completed``,
  ``incomplete``, ``failed``); why it is incomplete is in
  ``provider_data["incomplete_details"]``. ``response.failed`` and ``error`` set ``error``.
- Usage comes only with the terminal response: ``input_tokens`` already includes
  ``input_tokens_details.cached_tokens``, ``output_tokens`` includes ``reasoning_tokens``.
- ``message_param`` is the list of output items: the SDK's documented way to
  continue a conversation by hand is ``input += response.output`` (reasoning
  items and function calls must go back with their outputs).
- A non-streaming body (``"object": "response"``) recorded as one chunk folds whole.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import ProjectionError
from ...events import StreamStarted
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
    set_error,
    set_usage,
    take_request,
    unknown,
)

_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
# documented events that carry nothing a streaming client's state holds
_IGNORED = frozenset(
    {
        "response.content_part.done",
        "response.output_text.annotation.added",
        "response.reasoning_summary_part.done",
        "response.code_interpreter_call.completed",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        # "new summary content is sampled": the event itself "contains no summary content";
        # the compaction item comes with output_item.added / done
        "response.compaction.compacting",
        "response.file_search_call.completed",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.image_generation_call.completed",
        "response.image_generation_call.generating",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.partial_image",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_list_tools.completed",
        "response.mcp_list_tools.failed",
        "response.mcp_list_tools.in_progress",
        # WebSocket mode's steering acknowledgements: about queued input, not this output
        "response.steer.accepted",
        "response.steer.failed",
        "response.steer.pending",
        "response.web_search_call.completed",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
    }
)

# the audio events (``response.audio.*`` in the SDK's ``ResponseStreamEvent`` union;
# ``response.output_audio*`` as the Realtime API names them, sent by some servers):
# event -> (what it carries, whether it ends it)
_AUDIO: dict[str, tuple[str, bool]] = {
    "response.audio.delta": ("data", False),
    "response.audio.done": ("data", True),
    "response.audio.transcript.delta": ("transcript", False),
    "response.audio.transcript.done": ("transcript", True),
    "response.output_audio.delta": ("data", False),
    "response.output_audio.done": ("data", True),
    "response.output_audio_transcript.delta": ("transcript", False),
    "response.output_audio_transcript.done": ("transcript", True),
}


@register
class OpenAIResponsesReducer(Reducer):
    """``openai.responses``."""

    api = "openai.responses"
    provider = "openai"

    def __init__(self, state: StreamState) -> None:
        super().__init__(state)
        self._items: dict[int, dict[str, Any]] = {}  # output_index -> item
        self._tools: dict[int, ToolCall] = {}
        self._last_seq: int | None = None
        state.provider_data["output"] = []

    def start(self, started: StreamStarted) -> None:
        take_request(self.state, started, "input")

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        if data.strip() == "[DONE]":
            # not in OpenAI's Responses wire, but OpenAI-compatible gateways end it so
            # (the SDK stops reading there too): the end of the stream, not a bad chunk
            return []
        body = decode(data)
        kind = body.get("type", event)
        seq = as_int(body.get("sequence_number"))
        if seq is not None:
            # a background stream resumed with ``starting_after`` may repeat events the
            # first connection delivered: each sequence number counts once
            if self._last_seq is not None and seq <= self._last_seq:
                self.state.provider_data["repeated_events"] = (
                    self.state.provider_data.get("repeated_events", 0) + 1
                )
                return []
            self._last_seq = seq
        if kind is None and body.get("object") == "response":
            return self._response(body, terminal=True)  # a non-streaming body as one chunk
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self._part_delta(body, "output_text" if kind.endswith("text.delta") else "refusal")
        elif kind == "response.function_call_arguments.delta":
            self._arguments_delta(body)
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self._reasoning_delta(body, summary=kind.startswith("response.reasoning_summary"))
        elif kind == "response.function_call_arguments.done":
            return self._arguments_done(body)
        elif kind == "response.custom_tool_call_input.delta":
            self._arguments_delta(body, key="input")
        elif kind == "response.custom_tool_call_input.done":
            item = self._item_for(body)
            item["input"] = as_str(body.get("input"), "input")
            return self._track_tool(self._index_of(item), item, done=True)
        elif kind in _AUDIO:
            self._audio(body, _AUDIO[kind])
        elif kind in (
            "response.shell_call_command.added",
            "response.shell_call_command.delta",
            "response.shell_call_command.done",
        ):
            self._shell_command(body, kind.rsplit(".", 1)[1])
        elif kind == "response.shell_call_output_content.delta":
            self._shell_output_delta(body)
        elif kind == "response.shell_call_output_content.done":
            item = self._item_for(body)
            output = body.get("output")
            if not isinstance(output, list):
                raise ProjectionError("shell_call_output_content.done without an output list")
            item["output"] = copy.deepcopy(output)
        elif kind == "response.output_item.added" and body.get("item") is None:
            # an empty added event (some providers send one, leaving a gap in the output
            # indexes; the SDK skips it too): nothing to add
            return []
        elif kind == "response.output_item.added" or kind == "response.output_item.done":
            return self._item(body, done=kind.endswith("done"))
        elif kind == "response.content_part.added":
            item = self._item_for(body)
            parts = item.setdefault("content", [])
            part = as_dict(body.get("part"))
            self._slot(parts, as_index(body.get("content_index"), "content_index"), part)
        elif kind == "response.reasoning_summary_part.added":
            item = self._item_for(body)
            summary = item.setdefault("summary", [])
            part = as_dict(body.get("part"))
            self._slot(summary, as_index(body.get("summary_index"), "summary_index"), part)
        elif kind in ("response.output_text.done", "response.refusal.done"):
            self._part_done(body, "text" if kind.endswith("text.done") else "refusal")
        elif (
            kind == "response.reasoning_summary_text.done" or kind == "response.reasoning_text.done"
        ):
            self._reasoning_done(body, summary=kind.startswith("response.reasoning_summary"))
        elif kind in _LIFECYCLE or kind in _TERMINAL:
            response = body.get("response")
            if not isinstance(response, dict):
                raise ProjectionError(f"{kind} without a response object")
            return self._response(response, terminal=kind in _TERMINAL, kind=kind)
        elif kind == "error":
            # over SSE the fields are top-level; WebSocket mode nests them: {"status", "error": {…}}
            error = as_dict(body.get("error")) or body
            code = error.get("code") or (error.get("type") if error is not body else None)
            set_error(self.state, code, error.get("message", ""), param=error.get("param"))
        elif kind not in _IGNORED:
            unknown(self.state)
        return []

    def end(self) -> list[ToolCall]:
        # A function call whose arguments never finished is truncated: leave it incomplete.
        return []

    # -- items --------------------------------------------------------------------------

    def _item(self, body: dict[str, Any], *, done: bool) -> list[ToolCall]:
        index = as_index(body.get("output_index"), "output_index")
        item = body.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise ProjectionError(f"output item {index} has no type")
        if not done and index in self._items:
            raise ProjectionError(f"output item {index} added twice")
        self._put(index, item)
        completed = self._track_tool(index, item, done=done)
        if done:
            self._recompute()
        return completed

    def _put(self, index: int, item: dict[str, Any]) -> None:
        self._items[index] = item
        self.state.provider_data["output"] = [self._items[i] for i in sorted(self._items)]

    def _track_tool(self, index: int, item: dict[str, Any], *, done: bool) -> list[ToolCall]:
        kind = item.get("type")
        if kind not in ("function_call", "custom_tool_call"):
            return []
        tool = self._tools.get(index)
        if tool is None:
            tool = ToolCall(index=index, type="function" if kind == "function_call" else "custom")
            self._tools[index] = tool
            self.state.tool_calls.append(tool)
        if isinstance(item.get("call_id"), str):
            tool.id = item["call_id"]
        if isinstance(item.get("name"), str):
            tool.name = item["name"]
        # a custom tool's input is free text; a function's arguments are a JSON object
        arguments = item.get("arguments" if kind == "function_call" else "input")
        if isinstance(arguments, str) and (arguments or done):
            tool.arguments = arguments
        if not done or tool.complete:
            return []
        status = item.get("status")
        if status not in (None, "completed"):
            tool.problem = f"cut off: the call is {status}"
            return []
        if kind == "function_call" and parse_object(tool.arguments) is None:
            tool.problem = "arguments are not valid JSON"
            return []
        tool.problem = None
        tool.complete = True
        return [tool]

    def _renumber(self, output: list[Any]) -> None:
        """The terminal response's ``output`` is the whole list: items the stream put at
        other indexes (after a gap) move to their final place, matched by id."""
        final_ids = [i.get("id") or i.get("call_id") for i in output if isinstance(i, dict)]
        by_id = {(it.get("id") or it.get("call_id")): i for i, it in self._items.items()}
        if [by_id.get(ident) for ident in final_ids] == list(range(len(final_ids))):
            return  # the usual case: every item already where the response puts it
        tools = {}
        for new, ident in enumerate(final_ids):
            old = by_id.get(ident)
            if old is not None and old in self._tools:
                tools[new] = self._tools[old]
                tools[new].index = new
        self._tools = tools
        self._items = {}
        self.state.tool_calls = [self._tools[i] for i in sorted(self._tools)]

    def _item_for(self, body: dict[str, Any]) -> dict[str, Any]:
        index = as_int(body.get("output_index"))
        if index is not None and index in self._items:
            return self._items[index]
        for item in self._items.values():  # some servers address by item_id only
            if body.get("item_id") and item.get("id") == body.get("item_id"):
                return item
        raise ProjectionError(
            f"event for output item {body.get('output_index')!r}, which was never added"
        )

    def _index_of(self, item: dict[str, Any]) -> int:
        return next(i for i, it in self._items.items() if it is item)

    @staticmethod
    def _slot(parts: list[Any], index: int, value: dict[str, Any]) -> dict[str, Any]:
        """``parts[index]``, set to ``value`` (a missing part is created)."""
        while len(parts) <= index:
            parts.append({})
        if value or not parts[index]:
            parts[index] = value
        return parts[index]  # type: ignore[no-any-return]

    # -- deltas -------------------------------------------------------------------------

    def _part_delta(self, body: dict[str, Any], part_type: str) -> None:
        delta = as_str(body.get("delta"), "delta")
        item = self._item_for(body)
        parts = item.setdefault("content", [])
        index = as_index(body.get("content_index"), "content_index")
        key = "text" if part_type == "output_text" else "refusal"
        part = self._slot(parts, index, {})
        part.setdefault("type", part_type)
        part[key] = (part.get(key) or "") + delta
        state = self.state
        if key == "text":
            state.content += delta
        else:
            state.refusal = (state.refusal or "") + delta

    def _part_done(self, body: dict[str, Any], key: str) -> None:
        item = self._item_for(body)
        part = self._slot(
            item.setdefault("content", []), as_index(body.get("content_index"), "content_index"), {}
        )
        part[key] = as_str(body.get(key), key)
        part.setdefault("type", "output_text" if key == "text" else "refusal")
        self._recompute()

    def _arguments_delta(self, body: dict[str, Any], key: str = "arguments") -> None:
        delta = as_str(body.get("delta"), "delta")
        item = self._item_for(body)
        item[key] = (item.get(key) or "") + delta
        tool = self._tools.get(self._index_of(item))
        if tool is not None:
            tool.arguments += delta

    def _arguments_done(self, body: dict[str, Any]) -> list[ToolCall]:
        item = self._item_for(body)
        item["arguments"] = as_str(body.get("arguments"), "arguments")
        return self._track_tool(self._index_of(item), item, done=True)

    def _reasoning_slot(self, body: dict[str, Any], *, summary: bool) -> dict[str, Any]:
        """The summary part or reasoning-content part an event addresses, made on first use."""
        item = self._item_for(body)
        key, index, kind = (
            ("summary", "summary_index", "summary_text")
            if summary
            else ("content", "content_index", "reasoning_text")
        )
        slot = self._slot(item.setdefault(key, []), as_index(body.get(index)), {})
        slot.setdefault("type", kind)
        return slot

    def _reasoning_delta(self, body: dict[str, Any], *, summary: bool) -> None:
        delta = as_str(body.get("delta"), "delta")
        slot = self._reasoning_slot(body, summary=summary)
        slot["text"] = (slot.get("text") or "") + delta
        self.state.thinking += delta

    def _reasoning_done(self, body: dict[str, Any], *, summary: bool) -> None:
        slot = self._reasoning_slot(body, summary=summary)
        slot["text"] = as_str(body.get("text"), "text")
        self._recompute()

    # -- audio and shell calls ------------------------------------------------------------

    def _audio(self, body: dict[str, Any], what: tuple[str, bool]) -> None:
        """Audio output is kept in ``provider_data["audio"]`` (``data``: the base64 chunks
        joined, ``transcript``), as chat keeps ``message.audio``; it is not ``content``:
        the SDK's ``output_text`` is the ``output_text`` parts only."""
        key, done = what
        audio = self.state.provider_data.setdefault("audio", {})
        if not done:
            audio[key] = audio.get(key, "") + as_str(body.get("delta"), "delta")
        elif isinstance(body.get(key), str):
            # a Realtime-named ``.done`` may repeat the whole transcript; the SDK's carry
            # nothing, and what the deltas built stands
            audio[key] = body[key]
        else:
            audio.setdefault(key, "")

    def _shell_command(self, body: dict[str, Any], step: str) -> None:
        """``action.commands[command_index]`` of a ``shell_call`` item, as it is streamed."""
        item = self._item_for(body)
        action = item.get("action")
        if not isinstance(action, dict):
            action = item["action"] = {}
        commands = action.get("commands")
        if not isinstance(commands, list):
            commands = action["commands"] = []
        index = as_index(body.get("command_index"), "command_index")
        while len(commands) <= index:
            commands.append("")
        if step == "delta":
            commands[index] += as_str(body.get("delta"), "delta")
        else:
            commands[index] = as_str(body.get("command"), "command")

    def _shell_output_delta(self, body: dict[str, Any]) -> None:
        """``output[command_index]`` of a ``shell_call_output`` item: stdout and stderr grow."""
        item = self._item_for(body)
        output = item.get("output")
        if not isinstance(output, list):
            output = item["output"] = []
        index = as_index(body.get("command_index"), "command_index")
        while len(output) <= index:
            output.append({"stdout": "", "stderr": ""})
        chunk = output[index]
        for stream, text in as_dict(body.get("delta")).items():
            if stream in ("stdout", "stderr") and isinstance(text, str):
                chunk[stream] = (chunk.get(stream) or "") + text

    # -- the response object ------------------------------------------------------------

    def _response(
        self, response: dict[str, Any], *, terminal: bool, kind: str | None = None
    ) -> list[ToolCall]:
        state = self.state
        if isinstance(response.get("id"), str):
            state.id = response["id"]
        if isinstance(response.get("model"), str):
            state.model = response["model"]
        meta = {k: v for k, v in response.items() if k != "output"}
        state.provider_data["response"] = meta
        if isinstance(response.get("service_tier"), str):
            state.provider_data["service_tier"] = response["service_tier"]
        completed: list[ToolCall] = []
        output = response.get("output")
        if isinstance(output, list) and output:  # the final word on every item
            if terminal:
                self._renumber(output)
            for index, item in enumerate(output):
                if isinstance(item, dict) and isinstance(item.get("type"), str):
                    self._put(index, item)
                    # an item of a failed or cut-off response may be partial: its status
                    # says so, and the call gets a problem instead of being handed out
                    completed += self._track_tool(index, item, done=terminal)
            self._recompute()
        if not terminal:
            return completed
        status = response.get("status")
        if not isinstance(status, str):
            status = {"response.failed": "failed", "response.incomplete": "incomplete"}.get(
                kind or "", "completed"
            )
        state.finish_reasons = [status]
        if response.get("incomplete_details") is not None:
            state.provider_data["incomplete_details"] = response["incomplete_details"]
        error = response.get("error")
        if isinstance(error, dict):
            set_error(state, error.get("code"), error.get("message", ""))
        elif status == "failed":
            set_error(state, "failed", "the response failed")
        if isinstance(response.get("usage"), dict):
            self._usage(response["usage"])
        return completed

    def _usage(self, usage: dict[str, Any]) -> None:
        details_in = as_dict(usage.get("input_tokens_details"))
        details_out = as_dict(usage.get("output_tokens_details"))
        set_usage(
            self.state,
            input_tokens=as_int(usage.get("input_tokens")),
            output_tokens=as_int(usage.get("output_tokens")),
            cached_tokens=as_int(details_in.get("cached_tokens")),
            cache_write_tokens=as_int(details_in.get("cache_write_tokens")),
            reasoning_tokens=as_int(details_out.get("reasoning_tokens")),
        )
        self.state.provider_data["usage"] = usage

    def _recompute(self) -> None:
        """content, refusal and thinking from the items, in output order."""
        texts: list[str] = []
        refusals: list[str] = []
        thoughts: list[str] = []
        for index in sorted(self._items):
            item = self._items[index]
            kind = item.get("type")
            if kind == "message":
                for part in item.get("content") or ():
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                        texts.append(part["text"])
                    elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                        refusals.append(part["refusal"])
            elif kind == "reasoning":
                for key in ("summary", "content"):
                    for part in item.get(key) or ():
                        if isinstance(part, dict) and isinstance(part.get("text"), str):
                            thoughts.append(part["text"])
        state = self.state
        state.content = "".join(texts)
        state.refusal = "".join(refusals) if refusals else None
        state.thinking = "".join(thoughts)
        # OpenAI bills each web search call the model made (genai-prices: per 1000)
        searches = sum(
            1
            for item in self._items.values()
            if item.get("type") == "web_search_call"
            and as_dict(item.get("action")).get("type", "search") == "search"
            and item.get("status") == "completed"
        )
        if searches:
            state.provider_data["web_searches"] = searches
        else:
            state.provider_data.pop("web_searches", None)

    # -- provider-shaped outputs --------------------------------------------------------

    @classmethod
    def message_param(cls, state: StreamState) -> list[dict[str, Any]]:
        """The output items: append them to ``input`` (``input += response.output``)."""
        return copy.deepcopy(list(state.provider_data.get("output") or ()))

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        """The ``Response`` object a non-streaming call returns."""
        body: dict[str, Any] = copy.deepcopy(as_dict(state.provider_data.get("response")))
        body.setdefault("id", state.id)
        body.setdefault("object", "response")
        body.setdefault("model", state.model)
        body["output"] = cls.message_param(state)
        return body

    @classmethod
    def tool_message_params(
        cls, state: StreamState, tools_and_outputs: list[tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        """One ``function_call_output`` item per output, keyed by the call's ``call_id``."""
        custom = {t.id for t in state.tool_calls if t.type == "custom"}
        items = []
        for tool, output in tools_and_outputs:
            ident, _ = tool_identity(tool)
            kind = "custom_tool_call_output" if ident in custom else "function_call_output"
            items.append({"type": kind, "call_id": ident, "output": output_text(output)})
        return items
