"""OpenAI Chat Completions streams (``chat.completion.chunk``), and the servers that copy them.

Read by the documented meaning: ``usage`` arrives in a last chunk with empty
``choices`` (or, on some compatible servers, on every chunk, cumulative, or
under ``x_groq.usage``); it never clears the finish reasons a choice already
gave. Tool calls are keyed by ``index``; a call is complete when a later index
starts, a finish reason arrives, or the stream ends (``[DONE]`` included).
"""

from __future__ import annotations

from typing import Any

from ...events import StreamStarted
from .._reducers import Reducer, close_tool_calls, output_text, register, tool_identity
from .._state import StreamState, ToolCall
from ._common import as_int, decode, set_usage, take_request


@register
class OpenAIChatReducer(Reducer):
    """``openai.chat.completions``."""

    api = "openai.chat.completions"
    provider = "openai"

    def __init__(self, state: StreamState) -> None:
        super().__init__(state)
        self._by_index: dict[int, ToolCall] = {}
        self._finish: dict[int, str] = {}

    def start(self, started: StreamStarted) -> None:
        take_request(self.state, started, "messages")

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        if data.strip() == "[DONE]":
            return close_tool_calls(self.state)
        chunk = decode(data)
        state = self.state
        if isinstance(chunk.get("error"), dict):
            error = chunk["error"]
            state.problems.append(f"error chunk: {error.get('message') or error}")
            state.error = {"type": str(error.get("type") or "error"), "message": str(error.get("message", ""))}
            return []
        if chunk.get("id"):
            state.id = chunk["id"]
        if chunk.get("model"):
            state.model = chunk["model"]
        if chunk.get("system_fingerprint"):
            state.provider_data["system_fingerprint"] = chunk["system_fingerprint"]
        choices = chunk.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise ValueError(f"choices is {type(choices).__name__}, not a list")
        completed: list[ToolCall] = []
        for choice in choices or ():
            if isinstance(choice, dict):
                completed += self._choice(choice)
        usage = chunk.get("usage")
        if not isinstance(usage, dict):
            groq = chunk.get("x_groq")
            usage = groq.get("usage") if isinstance(groq, dict) else None
        if isinstance(usage, dict):
            self._usage(usage)
        return completed

    def _choice(self, choice: dict[str, Any]) -> list[ToolCall]:
        state = self.state
        index = as_int(choice.get("index")) or 0
        completed: list[ToolCall] = []
        delta = choice.get("delta")
        if index == 0 and isinstance(delta, dict):
            if isinstance(delta.get("content"), str):
                state.content += delta["content"]
            if isinstance(delta.get("refusal"), str):
                state.refusal = (state.refusal or "") + delta["refusal"]
            for key in ("reasoning_content", "reasoning"):  # vLLM, DeepSeek, OpenRouter, Ollama
                if isinstance(delta.get(key), str):
                    state.thinking += delta[key]
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    completed += self._tool_delta(call)
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            self._finish[index] = reason
            state.finish_reasons = [self._finish[i] for i in sorted(self._finish)]
            if index == 0:
                completed += close_tool_calls(state)
        return completed

    def _tool_delta(self, call: dict[str, Any]) -> list[ToolCall]:
        index = as_int(call.get("index"))
        if index is None:
            index = len(self._by_index) if call.get("id") else max(self._by_index, default=0)
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        completed: list[ToolCall] = []
        tool = self._by_index.get(index)
        if tool is None or (call.get("id") and tool.id and call["id"] != tool.id):
            # a new call starts: every earlier one is complete
            completed = close_tool_calls(self.state)
            tool = ToolCall(id=call.get("id"), index=index, type=call.get("type") or "function")
            self._by_index[index] = tool
            self.state.tool_calls.append(tool)
        if isinstance(function.get("name"), str):
            tool.name += function["name"]
        if isinstance(function.get("arguments"), str):
            tool.arguments += function["arguments"]
        return completed

    def _usage(self, usage: dict[str, Any]) -> None:
        prompt = usage.get("prompt_tokens_details")
        completion = usage.get("completion_tokens_details")
        set_usage(
            self.state,
            input_tokens=as_int(usage.get("prompt_tokens")),
            output_tokens=as_int(usage.get("completion_tokens")),
            cached_tokens=as_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None,
            reasoning_tokens=as_int(completion.get("reasoning_tokens"))
            if isinstance(completion, dict)
            else None,
        )
        if usage.get("cost") is not None:  # OpenRouter reports what it charged
            self.state.provider_data["reported_cost"] = usage["cost"]

    @classmethod
    def message_param(cls, state: StreamState) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": state.content or None}
        if state.refusal:
            message["refusal"] = state.refusal
        if state.tool_calls:
            message["tool_calls"] = [
                {
                    "id": t.id,
                    "type": t.type,
                    "function": {"name": t.name, "arguments": t.arguments},
                }
                for t in state.tool_calls
            ]
        return message

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        reasons = state.finish_reasons or []
        body: dict[str, Any] = {
            "id": state.id,
            "object": "chat.completion",
            "model": state.model,
            "choices": [
                {
                    "index": 0,
                    "message": cls.message_param(state),
                    "finish_reason": reasons[0] if reasons else None,
                }
            ],
        }
        if state.usage.reported:
            usage: dict[str, Any] = {
                "prompt_tokens": state.input_tokens,
                "completion_tokens": state.output_tokens,
                "total_tokens": (state.input_tokens or 0) + (state.output_tokens or 0),
            }
            if state.cached_tokens is not None:
                usage["prompt_tokens_details"] = {"cached_tokens": state.cached_tokens}
            if state.reasoning_tokens is not None:
                usage["completion_tokens_details"] = {"reasoning_tokens": state.reasoning_tokens}
            body["usage"] = usage
        return body

    @classmethod
    def tool_message_params(
        cls, state: StreamState, tools_and_outputs: list[tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        messages = []
        for tool, output in tools_and_outputs:
            ident, name = tool_identity(tool)
            messages.append(
                {"role": "tool", "content": output_text(output), "tool_call_id": ident, "name": name}
            )
        return messages
