"""OpenAI Realtime sessions (``openai.realtime``): JSON events both ways over one WebSocket.

A recording is one session (one connection): the client's frames are
``client.message`` events, the server's are chunks. Events as the Realtime API
documents them (developers.openai.com, "Realtime server events"; the SDK's
``RealtimeServerEvent`` union), GA names first, the beta names beside them:

    session.created / session.updated             {"session": {id, model, ...}}
    response.created                              {"response": {id, status, ...}}
    response.output_item.added / done             {"response_id", "output_index", "item"}
    response.output_text.delta / done             {..., "delta" | "text"}        (beta: response.text.*)
    response.output_audio_transcript.delta / done {..., "delta" | "transcript"}  (beta: response.audio_transcript.*)
    response.output_audio.delta / done            {..., "delta": base64 audio}   (beta: response.audio.*)
    response.function_call_arguments.delta / done {"call_id", "delta" | "arguments", "name"}
    response.done                                 {"response": {id, status, status_details, output, usage}}
    error                                         {"error": {type, code, message, param, event_id}}

How it is folded, and why:

- ``content`` is what the model said, in order, over the whole session: text
  deltas and the transcripts of its audio (a voice client shows the
  transcript). Audio itself stays in the log only (base64 in the chunks).
- Each ``response.done`` closes one response: its id, status, text and usage
  are kept in ``provider_data["responses"]``; ``finish_reasons`` lists every
  response's status; ``id`` is the last response's id; ``message_param`` and
  ``response()`` are the last response's output items and object.
- Usage is summed over the responses (each response is billed for its own
  input, which includes the conversation so far): ``input_tokens`` includes
  cached tokens, audio tokens are part of the totals and also kept apart in
  ``provider_data["audio_tokens"]`` (genai-prices' ``input_audio_tokens``,
  ``cache_audio_read_tokens``, ``output_audio_tokens``) so audio is priced at
  audio prices.
- A function call is a ``ToolCall`` with the ``call_id`` as id (what a
  ``function_call_output`` item answers), complete at
  ``response.function_call_arguments.done`` or its ``output_item.done``.
- An ``error`` event or a failed response does not end a session: all are kept
  in ``provider_data["errors"]``; ``error`` is set while the session's latest
  outcome is an error, and a later completed response clears it.
- A close frame the server ended the session with is kept as a last chunk
  (event ``websocket.close``, ``{"code", "reason"}``) and read into
  ``provider_data["close"]``.
- From the client's frames: ``session.update`` fills ``call_params["session"]``,
  ``conversation.item.create`` items are the ``messages`` (a user message
  becomes ``user_message_param``).
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
    as_int,
    as_str,
    decode,
    fill_request,
    output_text,
    set_usage,
    unknown,
)

_TEXT_DELTA = frozenset({"response.output_text.delta", "response.text.delta"})
_TRANSCRIPT_DELTA = frozenset(
    {"response.output_audio_transcript.delta", "response.audio_transcript.delta"}
)
# documented events that carry nothing a client's state holds beyond the log
_IGNORED = frozenset(
    {
        "conversation.created",
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.deleted",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.failed",
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.cleared",
        "input_audio_buffer.committed",
        "input_audio_buffer.dtmf_event_received",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.cleared",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "rate_limits.updated",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.done",
        "response.text.done",
        "response.output_audio_transcript.done",
        "response.audio_transcript.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.audio.delta",
        "response.audio.done",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "transcription_session.created",
        "transcription_session.updated",
    }
)
_AUDIO_KEYS = ("input_audio_tokens", "cache_audio_read_tokens", "output_audio_tokens")


@register
class OpenAIRealtimeReducer(Reducer):
    """``openai.realtime``."""

    api = "openai.realtime"
    provider = "openai"

    def __init__(self, state: StreamState) -> None:
        super().__init__(state)
        self._tools: dict[str, ToolCall] = {}  # call_id (or item id) -> tool
        self._text: dict[str, str] = {}  # response id -> what it said so far
        state.provider_data["responses"] = []
        state.provider_data["errors"] = []

    def start(self, started: StreamStarted) -> None:
        fill_request(self.state, dict(started.request), [], [])

    # -- the client's frames ------------------------------------------------------------

    def client(self, data: str, event: str | None) -> None:
        body = decode(data)
        kind = body.get("type", event)
        state = self.state
        if kind == "session.update":
            session = as_dict(body.get("session"))
            merged = {**as_dict(state.call_params.get("session")), **session}
            state.call_params["session"] = merged
            state.call_kwargs["session"] = merged
            tools = merged.get("tools")
            if isinstance(tools, list):
                state.tool_types = [t for t in tools if isinstance(t, dict)]
        elif kind == "conversation.item.create":
            item = as_dict(body.get("item"))
            if item:
                state.messages.append(item)
                if item.get("type", "message") == "message" and item.get("role") == "user":
                    state.user_message_param = item

    # -- the server's frames ------------------------------------------------------------

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        body = decode(data)
        state = self.state
        if event == "websocket.close":  # the close frame that ended the session
            state.provider_data["close"] = body
            return []
        kind = body.get("type", event)
        if kind in _TEXT_DELTA or kind in _TRANSCRIPT_DELTA:
            delta = as_str(body.get("delta"), "delta")
            state.content += delta
            key = str(body.get("response_id") or "")
            self._text[key] = self._text.get(key, "") + delta
        elif kind in ("session.created", "session.updated"):
            session = as_dict(body.get("session"))
            state.provider_data["session"] = session
            if isinstance(session.get("model"), str):
                state.model = session["model"]
        elif kind == "response.created":
            response = as_dict(body.get("response"))
            if isinstance(response.get("id"), str):
                state.id = response["id"]
        elif kind == "response.function_call_arguments.delta":
            tool = self._tool(body)
            tool.arguments += as_str(body.get("delta"), "delta")
        elif kind == "response.function_call_arguments.done":
            tool = self._tool(body)
            tool.arguments = as_str(body.get("arguments"), "arguments")
            return self._complete(tool)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = as_dict(body.get("item"))
            if item.get("type") == "function_call":
                tool = self._tool({**item, "item_id": item.get("id")})
                if isinstance(item.get("arguments"), str) and item["arguments"]:
                    tool.arguments = item["arguments"]
                if kind.endswith("done"):
                    return self._complete(tool)
        elif kind == "response.done":
            return self._done(as_dict(body.get("response")))
        elif kind == "error":
            error = as_dict(body.get("error"))
            if not error:
                raise ProjectionError("error event without an error object")
            self._error(error)
        elif kind not in _IGNORED:
            unknown(state)
        return []

    def end(self) -> list[ToolCall]:
        # arguments that never finished are cut off: leave those calls incomplete
        return []

    # -- internals ----------------------------------------------------------------------

    def _tool(self, body: dict[str, Any]) -> ToolCall:
        # a call is addressed by its call_id or its item id: either finds it
        keys = [k for k in (body.get("call_id"), body.get("item_id")) if isinstance(k, str)]
        if not keys:
            raise ProjectionError("function call event without call_id or item_id")
        tool = next((self._tools[k] for k in keys if k in self._tools), None)
        if tool is None:
            tool = ToolCall(index=len(self.state.tool_calls))
            self.state.tool_calls.append(tool)
        for key in keys:
            self._tools[key] = tool
        if isinstance(body.get("call_id"), str):
            tool.id = body["call_id"]
        if isinstance(body.get("name"), str):
            tool.name = body["name"]
        return tool

    @staticmethod
    def _complete(tool: ToolCall) -> list[ToolCall]:
        if tool.complete:
            return []
        tool.complete = True
        return [tool]

    def _error(self, error: dict[str, Any]) -> None:
        state = self.state
        state.provider_data["errors"].append(error)
        state.error = {
            "type": str(error.get("code") or error.get("type") or "error"),
            "message": error["message"] if isinstance(error.get("message"), str) else "",
        }

    def _done(self, response: dict[str, Any]) -> list[ToolCall]:
        state = self.state
        ident = response.get("id") if isinstance(response.get("id"), str) else None
        if ident:
            state.id = ident
        status = str(response["status"]) if isinstance(response.get("status"), str) else "completed"
        state.finish_reasons = [*(state.finish_reasons or []), status]
        state.provider_data["response"] = response
        usage = as_dict(response.get("usage"))
        summary: dict[str, Any] = {
            "id": ident,
            "status": status,
            "content": self._text.pop(ident or "", ""),
            "usage": usage or None,
        }
        state.provider_data["responses"].append(summary)
        if usage:
            self._usage(usage)
        completed: list[ToolCall] = []
        for item in response.get("output") or ():
            if isinstance(item, dict) and item.get("type") == "function_call":
                tool = self._tool({**item, "item_id": item.get("id")})
                if isinstance(item.get("arguments"), str):
                    tool.arguments = item["arguments"]
                if status == "completed":
                    completed += self._complete(tool)
        if status == "failed":
            details = as_dict(response.get("status_details"))
            error = as_dict(details.get("error")) or {
                "type": "failed",
                "message": "the response failed",
            }
            self._error({"message": "", **error})
        elif status == "completed":
            state.error = None  # the session recovered from what went wrong before
        return completed

    def _usage(self, usage: dict[str, Any]) -> None:
        state = self.state
        details_in = as_dict(usage.get("input_token_details"))
        details_out = as_dict(usage.get("output_token_details"))
        cached_audio = as_dict(details_in.get("cached_tokens_details")).get("audio_tokens")

        def add(current: int | None, value: Any) -> int | None:
            count = as_int(value)
            if count is None:
                return current
            return (current or 0) + count

        u = state.usage
        set_usage(
            state,
            input_tokens=add(u.input_tokens, usage.get("input_tokens")),
            output_tokens=add(u.output_tokens, usage.get("output_tokens")),
            cached_tokens=add(u.cached_tokens, details_in.get("cached_tokens")),
        )
        audio = dict(state.provider_data.get("audio_tokens") or dict.fromkeys(_AUDIO_KEYS, 0))
        for key, value in zip(
            _AUDIO_KEYS,
            (details_in.get("audio_tokens"), cached_audio, details_out.get("audio_tokens")),
            strict=True,
        ):
            audio[key] = (audio.get(key) or 0) + (as_int(value) or 0)
        state.provider_data["audio_tokens"] = audio

    # -- provider-shaped outputs --------------------------------------------------------

    @classmethod
    def message_param(cls, state: StreamState) -> list[dict[str, Any]]:
        """The last response's output items (each goes back as ``conversation.item.create``)."""
        response = as_dict(state.provider_data.get("response"))
        return copy.deepcopy([i for i in response.get("output") or () if isinstance(i, dict)])

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        """The last ``response.done`` response object."""
        return copy.deepcopy(as_dict(state.provider_data.get("response")))

    @classmethod
    def tool_message_params(
        cls, state: StreamState, tools_and_outputs: list[tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        """One ``conversation.item.create`` client event per output, keyed by ``call_id``."""
        events = []
        for tool, output in tools_and_outputs:
            ident, _ = tool_identity(tool)
            item = {"type": "function_call_output", "call_id": ident, "output": output_text(output)}
            events.append({"type": "conversation.item.create", "item": item})
        return events
