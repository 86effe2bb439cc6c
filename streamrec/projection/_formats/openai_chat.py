"""OpenAI Chat Completions streams (``chat.completion.chunk``), and the servers that copy them.

Read by the documented meaning: ``usage`` arrives in a last chunk with empty
``choices``; it never clears the finish reasons a choice already gave. Tool
calls are keyed by ``index``; a call is complete when a later index starts, a
finish reason arrives, or the stream ends (``[DONE]`` included).

OpenAI-compatible servers differ in ways their own documentation states, and
each is read for what it says, nothing more:

- vLLM, llama.cpp, Ollama: ``"usage": null`` on every chunk (ignored), usage on
  every chunk with running totals (the last wins: they are cumulative),
  ``reasoning_content`` / ``reasoning`` deltas (thinking), and tool-call deltas
  without ``index`` (a known ``id`` continues its call, a new ``id`` starts the
  next one, no ``id`` continues the last one).
- Groq: usage under ``x_groq.usage`` on the last chunk; priced as Groq's.
- OpenRouter: ``usage.cost`` is what OpenRouter charged, kept beside
  genai-prices' figure (``cost_metadata["provider_reported_cost"]``), never
  instead of it; ``prompt_tokens_details.cache_write_tokens`` is a cache write.
- An ``error`` object (or string) in a chunk is a failure sent mid-stream.

Every choice is kept (``n > 1``): ``provider_data["choices"]`` holds each one's
accumulated message (content, refusal, tool calls, reasoning fields, audio),
finish reason and logprobs, merged the way the SDK merges deltas (text appended,
objects merged, indexed lists merged by ``index``). Choice 0 also fills the
``BaseStream`` fields. A chunk without ``usage`` (a moderation chunk after the
usage chunk) leaves the usage alone; ``obfuscation`` padding is ignored.
``message_param`` carries back what the next turn needs: the audio's ``id``
(OpenAI's way to refer to a previous audio answer) and OpenRouter's
``reasoning_details`` unchanged ("preserving reasoning blocks"); never
``reasoning_content``, which DeepSeek rejects in a request.

A tool call whose arguments are not a JSON object once it is complete (cut off by
``max_tokens``: finish reason ``length``; or not JSON at all) keeps its raw text,
gets a ``problem`` and is never handed out as a runnable call.

A non-streaming ``chat.completion`` body recorded as one chunk folds the same way
(``choices[].message`` instead of ``delta``).
"""

from __future__ import annotations

import copy
from typing import Any

from ...events import StreamStarted
from .._reducers import Reducer, register, tool_identity
from .._state import StreamState, ToolCall
from ._common import (
    as_dict,
    as_int,
    decode,
    output_text,
    parse_object,
    partial_object,
    set_error,
    set_usage,
    take_request,
)

_NEVER_KEPT = frozenset({"obfuscation"})
_CHOICE0_FIELDS = frozenset({"obfuscation", "content", "refusal", "tool_calls", "role"})
_ABSENT = object()


@register
class OpenAIChatReducer(Reducer):
    """``openai.chat.completions``."""

    api = "openai.chat.completions"
    provider = "openai"

    def __init__(self, state: StreamState) -> None:
        super().__init__(state)
        self._by_index: dict[int, ToolCall] = {}
        self._finish: dict[int, str] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        state.provider_data["choices"] = []

    def start(self, started: StreamStarted) -> None:
        take_request(self.state, started, "messages")

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        if data.strip() == "[DONE]":
            return self._close()
        chunk = decode(data)
        state = self.state
        error = chunk.get("error")
        if isinstance(error, dict):
            set_error(state, error.get("type") or error.get("code"), error.get("message", ""))
            return []
        if isinstance(error, str):  # Ollama and others: {"error": "text"}
            set_error(state, "error", error)
            return []
        # every chunk repeats them: a pydantic attribute write costs more than the compare
        get = chunk.get
        ident, model = get("id"), get("model")
        if ident and ident != state.id:
            state.id = ident
        if model and model != state.model:
            state.model = model
        fingerprint, tier = get("system_fingerprint"), get("service_tier")
        if isinstance(fingerprint, str):
            state.provider_data["system_fingerprint"] = fingerprint
        if isinstance(tier, str):
            state.provider_data["service_tier"] = tier
        choices = get("choices")
        completed: list[ToolCall] = []
        if choices:
            if not isinstance(choices, list):
                raise ValueError(f"choices is {type(choices).__name__}, not a list")
            for choice in choices:
                if isinstance(choice, dict):
                    done = self._choice(choice)
                    if done:
                        completed += done
        elif choices is not None and not isinstance(choices, list):
            raise ValueError(f"choices is {type(choices).__name__}, not a list")
        usage = get("usage")
        groq = get("x_groq")
        if groq is not None and isinstance(groq, dict):
            state.provider_data["price_provider"] = "groq"
            if not isinstance(usage, dict):
                usage = groq.get("usage")
        if usage is not None and isinstance(usage, dict):
            self._usage(usage)
        moderation = get("moderation")
        if moderation is not None and isinstance(moderation, dict):
            state.provider_data["moderation"] = moderation
        return completed

    def end(self) -> list[ToolCall]:
        return self._close()

    def _close(self) -> list[ToolCall]:
        """Every open call has its final arguments: hand out those that are JSON objects."""
        state = self.state
        done = []
        for tool in state.tool_calls:
            if tool.complete or tool.problem:
                continue
            if parse_object(tool.arguments) is None:
                if self._finish.get(0) == "length":
                    tool.problem = "arguments cut off by max_tokens (finish_reason length)"
                elif partial_object(tool.arguments) is not None:
                    tool.problem = "arguments are not a complete JSON object"
                else:
                    tool.problem = "arguments are not valid JSON"
                continue
            tool.complete = True
            done.append(tool)
        return done

    def _choice(self, choice: dict[str, Any]) -> list[ToolCall]:
        # the fold's innermost step (once per chunk): plain gets, each field read once
        state = self.state
        get = choice.get
        index = get("index")
        if index.__class__ is not int or index < 0:
            index = as_int(index) or 0
        # a non-streaming body's whole ``message`` reads as one delta
        delta = get("delta", _ABSENT)
        if delta is _ABSENT:
            delta = get("message")
        reason = get("finish_reason")
        self._keep_choice(index, delta, get("logprobs"), reason)
        completed: list[ToolCall] = []
        if index == 0 and isinstance(delta, dict):
            field = delta.get
            content = field("content")
            if content and isinstance(content, str):
                state.content += content
            refusal = field("refusal")
            if isinstance(refusal, str):
                state.refusal = (state.refusal or "") + refusal
            for key in ("reasoning_content", "reasoning"):  # vLLM, DeepSeek, OpenRouter, Ollama
                thought = field(key)
                if thought and isinstance(thought, str):
                    state.thinking += thought
            calls = field("tool_calls")
            if calls:
                for call in calls:
                    if isinstance(call, dict):
                        completed += self._tool_delta(call)
        if reason and isinstance(reason, str):
            self._finish[index] = reason
            state.finish_reasons = [self._finish[i] for i in sorted(self._finish)]
            if index == 0:
                completed += self._close()
        return completed

    def _keep_choice(self, index: int, delta: Any, logprobs: Any, reason: Any) -> None:
        slot = self._choices.get(index)
        if slot is None:
            slot = self._choices[index] = {"index": index, "message": {}, "finish_reason": None}
            self.state.provider_data["choices"] = [self._choices[i] for i in sorted(self._choices)]
        if isinstance(delta, dict):
            # choice 0's text, refusal and tool calls live in the BaseStream fields (and
            # message_param): only what else its deltas carry is merged here
            skip = _CHOICE0_FIELDS if index == 0 else _NEVER_KEPT
            if not delta.keys() <= skip:
                merge_delta(slot["message"], {k: v for k, v in delta.items() if k not in skip})
        if logprobs is not None and isinstance(logprobs, dict):
            kept = slot.setdefault("logprobs", {"content": None, "refusal": None})
            for key in ("content", "refusal"):
                if isinstance(logprobs.get(key), list) and logprobs[key]:
                    kept[key] = (kept.get(key) or []) + logprobs[key]
        if reason and isinstance(reason, str):
            slot["finish_reason"] = reason

    def _tool_delta(self, call: dict[str, Any]) -> list[ToolCall]:
        ident = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        index = as_int(call.get("index"))
        if index is None:
            known = [i for i, t in self._by_index.items() if ident is not None and t.id == ident]
            if known:
                index = known[0]
            elif ident is not None:
                index = max(self._by_index, default=-1) + 1
            else:
                index = max(self._by_index, default=0)
        function = as_dict(call.get("function"))
        completed: list[ToolCall] = []
        tool = self._by_index.get(index)
        if tool is None or (ident and tool.id and ident != tool.id):
            # a new call starts: every earlier one is complete
            completed = self._close()
            kind = call.get("type")
            tool = ToolCall(
                id=ident, index=index, type=kind if isinstance(kind, str) else "function"
            )
            self._by_index[index] = tool
            self.state.tool_calls.append(tool)
        elif tool.id is None and ident:
            tool.id = ident
        if isinstance(function.get("name"), str):
            tool.name += function["name"]
        if isinstance(function.get("arguments"), str):
            tool.arguments += function["arguments"]
        return completed

    def _usage(self, usage: dict[str, Any]) -> None:
        prompt = as_dict(usage.get("prompt_tokens_details"))
        completion = as_dict(usage.get("completion_tokens_details"))
        set_usage(
            self.state,
            input_tokens=as_int(usage.get("prompt_tokens")),
            output_tokens=as_int(usage.get("completion_tokens")),
            cached_tokens=as_int(prompt.get("cached_tokens")),
            cache_write_tokens=as_int(prompt.get("cache_write_tokens")),
            reasoning_tokens=as_int(completion.get("reasoning_tokens")),
        )
        data = self.state.provider_data
        if isinstance(usage.get("cost"), (int, float)) and not isinstance(usage["cost"], bool):
            # OpenRouter's usage accounting: what it charged, in its credits
            data["reported_cost"] = usage["cost"]
            data.setdefault("price_provider", "openrouter")
            if isinstance(usage.get("cost_details"), dict):
                data["reported_cost_details"] = usage["cost_details"]

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
        choices = state.provider_data.get("choices") or ()
        kept = choices[0]["message"] if choices and choices[0]["index"] == 0 else {}
        # what the next turn must carry back: OpenAI's audio is referenced by its id;
        # OpenRouter asks for reasoning_details unchanged. (DeepSeek rejects a
        # reasoning_content sent back, so that stays out.)
        audio = kept.get("audio")
        if isinstance(audio, dict) and isinstance(audio.get("id"), str):
            message["audio"] = {"id": audio["id"]}
        if isinstance(kept.get("reasoning_details"), list):
            message["reasoning_details"] = copy.deepcopy(kept["reasoning_details"])
        return message

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        reasons = state.finish_reasons or []
        body: dict[str, Any] = {
            "id": state.id,
            "object": "chat.completion",
            "model": state.model,
            "choices": [],
        }
        kept = state.provider_data.get("choices") or [{"index": 0, "message": {}}]
        for slot in kept:
            message = {"role": "assistant", "content": None, **copy.deepcopy(slot["message"])}
            if slot["index"] == 0:
                param = cls.message_param(state)
                param.pop("audio", None)  # the response has the whole audio object
                message.update(param)
            choice = {
                "index": slot["index"],
                "message": message,
                "finish_reason": slot.get("finish_reason"),
            }
            if slot.get("logprobs") is not None:
                choice["logprobs"] = copy.deepcopy(slot["logprobs"])
            body["choices"].append(choice)
        if body["choices"] and body["choices"][0]["index"] == 0:
            body["choices"][0]["finish_reason"] = reasons[0] if reasons else None
        for key in ("system_fingerprint", "service_tier", "moderation"):
            if key in state.provider_data:
                body[key] = copy.deepcopy(state.provider_data[key])
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
                {
                    "role": "tool",
                    "content": output_text(output),
                    "tool_call_id": ident,
                    "name": name,
                }
            )
        return messages


def merge_delta(acc: dict[str, Any], delta: dict[str, Any]) -> None:
    """Fold one choice delta into its message, as the SDK's ``accumulate_delta`` does:
    text appended, objects merged, lists of ``index``-ed objects merged by index, other
    lists extended; ``index`` and ``type`` replaced. Any other value replaces the old
    one (the SDK adds numbers, which would sum an audio's ``expires_at``)."""
    for key, value in delta.items():
        old = acc.get(key)
        if old is None or key in ("index", "type"):
            if isinstance(value, list) and any(isinstance(v, dict) and "index" in v for v in value):
                acc[key] = []
                _merge_indexed(acc[key], value)
            else:
                acc[key] = copy.deepcopy(value)
        elif isinstance(old, str) and isinstance(value, str):
            acc[key] = old + value
        elif isinstance(old, dict) and isinstance(value, dict):
            merge_delta(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            if any(isinstance(v, dict) and "index" in v for v in value):
                _merge_indexed(old, value)
            else:
                old.extend(copy.deepcopy(value))
        elif value is not None:
            acc[key] = copy.deepcopy(value)


def _merge_indexed(acc: list[Any], entries: list[Any]) -> None:
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        index = entry.get("index")
        found = next((a for a in acc if isinstance(a, dict) and a.get("index") == index), None)
        if found is None:
            acc.append({})
            found = acc[-1]
        merge_delta(found, entry)
