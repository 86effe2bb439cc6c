"""The state a streaming client holds, as one concrete model.

Field names are Mirascope v1 ``BaseStream``'s attribute names, so code and
people that know Mirascope read it without a map; the values follow the
provider's documented meaning (see docs/mirascope-divergences.md).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CallResponse", "StreamState", "ToolCall", "Usage"]


class ToolCall(BaseModel):
    """A tool call assembled from the stream; ``complete`` once its arguments stopped growing."""

    model_config = ConfigDict(validate_assignment=False)

    id: str | None = None
    name: str = ""
    arguments: str = ""
    index: int = 0
    type: str = "function"
    complete: bool = False
    problem: str | None = None
    """Why the call must not be run, when it must not: its input was cut off (``max_tokens``,
    the stream ended) or is not a JSON object. ``arguments`` then holds the raw text as
    streamed, never a made-up ``{}``."""

    @property
    def valid(self) -> bool:
        """True when the call is complete and its arguments are a JSON object."""
        return self.complete and self.problem is None

    @property
    def args(self) -> dict[str, Any]:
        """The arguments decoded; ``{}`` for an empty or unparsable string (check ``problem``)."""
        if not self.arguments:
            return {}
        try:
            value = json.loads(self.arguments)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {"value": value}


class Usage(BaseModel):
    """Token usage normalised to inclusive totals.

    ``input_tokens`` includes cache reads and writes; ``output_tokens`` includes
    reasoning. ``reported`` is False when the provider never sent usage (an
    interrupted stream): then the counts are None, not zero.
    """

    input_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    reported: bool = False


class StreamState(BaseModel):
    """Everything a streaming client knows about one call, rebuilt from events alone."""

    model_config = ConfigDict(validate_assignment=False)

    stream_id: str | None = None
    status: str = "recording"
    api: str | None = None
    provider: str | None = None
    name: str | None = None
    tags: list[str] = Field(default_factory=list)

    # BaseStream's attributes
    content: str = ""
    model: str | None = None
    id: str | None = None
    finish_reasons: list[str] | None = None
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    start_time: float = 0.0
    end_time: float = 0.0
    messages: list[Any] = Field(default_factory=list)
    call_params: dict[str, Any] = Field(default_factory=dict)
    call_kwargs: dict[str, Any] = Field(default_factory=dict)
    prompt_template: str | None = None
    fn_args: dict[str, Any] = Field(default_factory=dict)
    dynamic_config: dict[str, Any] | None = None
    user_message_param: dict[str, Any] | None = None
    # the assistant turn in the provider's shape; for OpenAI Responses the list of output
    # items, because that is what goes back into ``input`` (``input += response.output``)
    message_param: dict[str, Any] | list[dict[str, Any]] = Field(default_factory=dict)
    cost_metadata: dict[str, Any] = Field(default_factory=dict)
    cost: Decimal | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tool_types: list[dict[str, Any]] = Field(default_factory=list)

    # what the stream carried beyond BaseStream's attributes
    requested_model: str | None = None
    fingerprint: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    thinking: str = ""
    refusal: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    chunk_count: int = 0
    client_messages: int = 0
    """WebSocket frames the client sent (``client.message`` events)."""
    malformed_chunks: int = 0
    unknown_events: int = 0
    problems: list[str] = Field(default_factory=list)
    tool_problems: list[str] = Field(default_factory=list)
    """One line per tool call that must not be run (see ``ToolCall.problem``)."""
    error: dict[str, Any] | None = None
    time_to_first_chunk_ns: int | None = None
    duration_ns: int | None = None
    provider_data: dict[str, Any] = Field(default_factory=dict)
    tool_outputs: list[dict[str, Any]] = Field(default_factory=list)
    """Tool outputs recorded after the stream (``tool.result`` events): id, name, output."""

    def construct_call_response(self) -> CallResponse:
        """The final call response, as a non-streaming call would have returned it."""
        from ._reducers import reducer_for

        reducer = reducer_for(self.api)
        return CallResponse(
            provider=self.provider,
            api=self.api,
            id=self.id,
            model=self.model,
            content=self.content,
            thinking=self.thinking,
            finish_reasons=self.finish_reasons,
            tool_calls=[t.model_copy() for t in self.tool_calls],
            message_param=self.message_param,
            usage=self.usage.model_copy(),
            input_tokens=self.input_tokens,
            cached_tokens=self.cached_tokens,
            output_tokens=self.output_tokens,
            cost=self.cost,
            cost_metadata=dict(self.cost_metadata),
            messages=list(self.messages),
            response=reducer.response(self),
        )

    def tool_message_params(
        self, tools_and_outputs: list[tuple[Any, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Messages that hand tool outputs back to the model, in the provider's own shape.

        Each tool may be a ``ToolCall`` or anything with ``id``/``name`` (or a
        Mirascope tool with ``tool_call``); outputs are stringified unless the
        provider takes structured values. Without an argument, the outputs
        recorded for this stream (``tool.result`` events) are used.
        """
        from ..errors import ProjectionError
        from ._reducers import reducer_for, tool_identity

        if tools_and_outputs is None:
            tools_and_outputs = [(dict(o), o.get("output")) for o in self.tool_outputs]
        by_id: dict[str, ToolCall] = {t.id: t for t in self.tool_calls if t.id}
        for tool, _ in tools_and_outputs:
            ident = tool_identity(tool)[0]
            call = by_id.get(ident) if ident else None
            if call is not None and call.problem:
                # the provider documents such a call as one to retry, not to answer
                raise ProjectionError(
                    f"tool call {call.id} ({call.name}) cannot be answered: {call.problem}; "
                    f"its raw input was {call.arguments!r}"
                )
        return reducer_for(self.api).tool_message_params(self, tools_and_outputs)


class CallResponse(BaseModel):
    """The final response of a streamed call: what ``construct_call_response()`` returns."""

    provider: str | None
    api: str | None
    id: str | None
    model: str | None
    content: str
    thinking: str = ""
    finish_reasons: list[str] | None
    tool_calls: list[ToolCall]
    message_param: dict[str, Any] | list[dict[str, Any]]
    usage: Usage
    input_tokens: int | None
    cached_tokens: int | None
    output_tokens: int | None
    cost: Decimal | None
    cost_metadata: dict[str, Any]
    messages: list[Any]
    response: dict[str, Any]
    """The provider's non-streaming response body for the same call."""

    @property
    def tools(self) -> list[ToolCall]:
        """The tool calls the model made (Mirascope's ``CallResponse.tools``)."""
        return self.tool_calls
