"""Gemini ``streamGenerateContent?alt=sse`` streams (``google.generate_content``).

Each SSE ``data`` is a whole ``GenerateContentResponse`` (ai.google.dev, "Generating
content" / REST ``models.streamGenerateContent``), in proto3 JSON: camelCase keys,
and fields equal to their zero value left out::

    {"candidates": [{"content": {"role": "model", "parts": [...]},
                     "finishReason": "STOP", "index": 0}],
     "usageMetadata": {promptTokenCount, cachedContentTokenCount, candidatesTokenCount,
                       thoughtsTokenCount, toolUsePromptTokenCount, totalTokenCount},
     "modelVersion": "...", "responseId": "...", "promptFeedback": {"blockReason": ...}}

How it is folded, and why:

- Text parts of the first candidate make ``content``; parts marked ``"thought": true``
  make ``thinking`` instead. Parts are kept in ``provider_data["parts"]`` (adjacent
  unsigned text of one kind merged) because Gemini wants its signatures back on the
  next turn exactly where they were: a part carrying a ``thoughtSignature`` (even one
  with empty text and nothing else) stays a part of its own, never merged into the
  part before it nor the part after ("Thought signatures": do not merge a signed part).
- ``functionCall`` parts arrive whole, so each is a complete tool call at once.
  Its id is the part's ``id`` when Gemini sends one, else ``<name>_<n>`` (n counts
  calls in the stream), a stable name for the same call live, on replay and rebuild.
- ``finishReason`` per candidate gives ``finish_reasons``; a blocked prompt
  (``promptFeedback.blockReason``) is reported as ``refusal``.
- Every chunk repeats the usage so far, so the last one wins. ``promptTokenCount``
  already includes ``cachedContentTokenCount``; ``thoughtsTokenCount`` is not part
  of ``candidatesTokenCount``. So input = prompt + toolUsePrompt, output =
  candidates + thoughts, reasoning = thoughts, cached = cachedContent; a count
  left out is zero (proto3), not unknown.
- A non-streaming ``generateContent`` body has the same shape and folds the same; so
  does each element of a stream asked for without ``?alt=sse`` (one JSON array, which
  the proxy records element by element), and a chunk holding a whole such array.
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
    as_int,
    as_str,
    decode,
    decode_objects,
    fill_request,
    set_error,
    set_usage,
    tool_output,
    unknown,
)

_TEXT_KEYS = frozenset({"text", "thought", "thoughtSignature"})


def _parts_of(system: Any) -> list[Any]:
    """The parts of a system instruction given as text, a part, a list, or a content."""
    if isinstance(system, str):
        return [{"text": system}]
    if isinstance(system, dict):
        parts = system.get("parts")
        return list(parts) if isinstance(parts, list) else [system]
    if isinstance(system, list):
        return [{"text": p} if isinstance(p, str) else p for p in system]
    return []


@register
class GoogleReducer(Reducer):
    """``google.generate_content``."""

    api = "google.generate_content"
    provider = "google"

    def __init__(self, state: StreamState) -> None:
        super().__init__(state)
        self._finish: dict[int, str] = {}
        state.provider_data["parts"] = []

    def start(self, started: StreamStarted) -> None:
        """Read a REST body (``contents``, ``systemInstruction``, ``tools``) or the SDK's
        kwargs (``contents``, ``config.system_instruction``, ``config.tools``).

        ``messages`` is the conversation as sent: the system instruction first, as a
        ``{"role": "system", "parts": [...]}`` content (Gemini carries it beside
        ``contents``; this is where the other formats keep it), then ``contents``.
        """
        request = dict(started.request)
        contents = request.get("contents")
        if isinstance(contents, str):
            contents = [{"role": "user", "parts": [{"text": contents}]}]
        elif isinstance(contents, dict):
            contents = [contents]
        config = as_dict(request.get("config"))
        system_parts = _parts_of(request.get("systemInstruction", config.get("system_instruction")))
        messages = [{"role": "system", "parts": system_parts}] if system_parts else []
        messages += list(contents) if isinstance(contents, list) else []
        tools = request.get("tools") if request.get("tools") is not None else config.get("tools")
        declarations: list[dict[str, Any]] = []
        for tool in tools if isinstance(tools, list) else ():
            tool = as_dict(tool)
            found = tool.get("functionDeclarations", tool.get("function_declarations"))
            declarations += [d for d in found or () if isinstance(d, dict)]
        # a content without a role is the user's (Gemini's default)
        fill_request(self.state, request, messages, declarations, default_role="user")

    def chunk(self, data: str, event: str | None) -> list[ToolCall]:
        if data[:1] != "[":
            return self._response(decode(data))
        # a whole streamGenerateContent array as one chunk (recorded as a body before the
        # proxy split arrays, or handed to record() so): its responses in order
        completed: list[ToolCall] = []
        for body in decode_objects(data):
            completed += self._response(body)
        return completed

    def _response(self, body: dict[str, Any]) -> list[ToolCall]:
        state = self.state
        if "error" in body:
            if not isinstance(body["error"], dict):
                set_error(state, "error", body["error"])
                return []
            error = body["error"]
            set_error(
                state,
                error.get("status") or error.get("code"),
                error.get("message", ""),
                code=error.get("code"),
            )
            return []
        if (
            not {"candidates", "usageMetadata", "promptFeedback", "modelVersion", "responseId"}
            & body.keys()
        ):
            unknown(state)
            return []
        if isinstance(body.get("responseId"), str):
            state.id = body["responseId"]
        if isinstance(body.get("modelVersion"), str):
            state.model = body["modelVersion"]
        feedback = body.get("promptFeedback")
        if isinstance(feedback, dict):
            state.provider_data["prompt_feedback"] = feedback
            if isinstance(feedback.get("blockReason"), str):
                state.refusal = feedback.get("blockReasonMessage") or feedback["blockReason"]
        completed: list[ToolCall] = []
        candidates = body.get("candidates")
        if candidates is not None and not isinstance(candidates, list):
            raise ProjectionError(f"candidates is {type(candidates).__name__}, not a list")
        for position, candidate in enumerate(candidates or ()):
            if not isinstance(candidate, dict):
                raise ProjectionError("a candidate is not an object")
            index = as_int(candidate.get("index"))
            completed += self._candidate(position if index is None else index, candidate)
        if isinstance(body.get("usageMetadata"), dict):
            self._usage(body["usageMetadata"])
        return completed

    def _candidate(self, index: int, candidate: dict[str, Any]) -> list[ToolCall]:
        state = self.state
        completed: list[ToolCall] = []
        if index == 0:
            meta = state.provider_data.setdefault("candidate", {})
            meta.update({k: v for k, v in candidate.items() if k not in ("content", "index")})
            parts = as_dict(candidate.get("content")).get("parts")
            if parts is not None and not isinstance(parts, list):
                raise ProjectionError(f"parts is {type(parts).__name__}, not a list")
            for part in parts or ():
                if not isinstance(part, dict):
                    raise ProjectionError("a part is not an object")
                completed += self._part(part)
        reason = candidate.get("finishReason")
        if isinstance(reason, str) and reason:
            self._finish[index] = reason
            state.finish_reasons = [self._finish[i] for i in sorted(self._finish)]
        return completed

    def _part(self, part: dict[str, Any]) -> list[ToolCall]:
        state = self.state
        kept: list[dict[str, Any]] = state.provider_data["parts"]
        if "text" in part:
            text = as_str(part["text"], "part text")
            thought = part.get("thought") is True
            if thought:
                state.thinking += text
            else:
                state.content += text
            last = kept[-1] if kept else None
            # Gemini's rule for signatures: never merge a signed part with another part,
            # signed or not; it goes back exactly as it came. Unsigned text of one kind
            # is one part however the stream cut it.
            if (
                last is not None
                and part.keys() <= _TEXT_KEYS
                and last.keys() <= _TEXT_KEYS
                and "text" in last
                and (last.get("thought") is True) == thought
                and "thoughtSignature" not in last
                and "thoughtSignature" not in part
            ):
                last["text"] += text
            else:
                kept.append(part)
            return []
        if "functionCall" in part:
            call = as_dict(part["functionCall"])
            if "args" not in call and call.get("partialArgs") is not None:
                unknown(state)  # Vertex's streamed function arguments: not folded yet
                kept.append(part)
                return []
            name = as_str(call.get("name", ""), "functionCall.name")
            args = call.get("args")
            if args is not None and not isinstance(args, dict):
                raise ProjectionError("functionCall.args is not an object")
            n = len(state.tool_calls)
            ident = (
                call.get("id")
                if isinstance(call.get("id"), str) and call.get("id")
                else f"{name}_{n}"
            )
            tool = ToolCall(
                id=ident, name=name, arguments=dumps(args or {}), index=n, complete=True
            )
            state.tool_calls.append(tool)
            kept.append(part)
            return [tool]
        kept.append(part)  # inlineData, executableCode, codeExecutionResult, ...
        return []

    def _usage(self, usage: dict[str, Any]) -> None:
        def count(key: str) -> int:
            return as_int(usage.get(key)) or 0

        thoughts = count("thoughtsTokenCount")
        set_usage(
            self.state,
            input_tokens=count("promptTokenCount") + count("toolUsePromptTokenCount"),
            output_tokens=count("candidatesTokenCount") + thoughts,
            cached_tokens=count("cachedContentTokenCount"),
            cache_write_tokens=None,  # Gemini bills cache creation as storage, not per request
            reasoning_tokens=thoughts,
        )
        self.state.provider_data["usage"] = usage

    # -- provider-shaped outputs --------------------------------------------------------

    @classmethod
    def message_param(cls, state: StreamState) -> dict[str, Any]:
        """``{"role": "model", "parts": [...]}`` with thought parts and signatures kept."""
        return {
            "role": "model",
            "parts": copy.deepcopy(list(state.provider_data.get("parts") or ())),
        }

    @classmethod
    def response(cls, state: StreamState) -> dict[str, Any]:
        """The ``GenerateContentResponse`` of a non-streaming ``generateContent`` call."""
        candidate: dict[str, Any] = {"content": cls.message_param(state)}
        candidate.update(copy.deepcopy(as_dict(state.provider_data.get("candidate"))))
        candidate["index"] = 0
        body: dict[str, Any] = {"candidates": [candidate]}
        if "prompt_feedback" in state.provider_data:
            body["promptFeedback"] = copy.deepcopy(state.provider_data["prompt_feedback"])
        if state.usage.reported:
            body["usageMetadata"] = copy.deepcopy(as_dict(state.provider_data.get("usage")))
        body["modelVersion"] = state.model
        body["responseId"] = state.id
        return body

    @classmethod
    def tool_message_params(
        cls, state: StreamState, tools_and_outputs: list[tuple[Any, Any]]
    ) -> list[dict[str, Any]]:
        """One user content of ``functionResponse`` parts, ``{"result": output}`` as the SDK
        sends; the call's ``id`` is echoed only when Gemini gave one."""
        if not tools_and_outputs:
            return []
        wire_ids = {
            as_dict(p.get("functionCall")).get("id")
            for p in state.provider_data.get("parts") or ()
            if isinstance(p, dict)
        }
        parts = []
        for tool, output in tools_and_outputs:
            ident, name = tool_identity(tool)
            response: dict[str, Any] = {"name": name, "response": {"result": tool_output(output)}}
            if ident and ident in wire_ids:
                response = {"id": ident, **response}
            parts.append({"functionResponse": response})
        return [{"role": "user", "parts": parts}]
