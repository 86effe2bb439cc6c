"""Folds stored events into a ``StreamState``: the one code path for live, replay and rebuild."""

from __future__ import annotations

from ..events import (
    EventKind,
    StoredEvent,
    StreamFailed,
    StreamInterrupted,
    StreamStarted,
    ToolResult,
)
from ._cost import price, price_key
from ._reducers import Reducer, reducer_for
from ._state import StreamState, ToolCall

__all__ = ["Projector", "project"]

_MAX_PROBLEMS = 50
_NS_PER_MS = 1_000_000


class Projector:
    """Apply events one at a time; ``state`` is always current.

    Never raises on chunk content: a malformed or unknown chunk is counted in
    ``malformed_chunks`` and described in ``problems``.
    """

    def __init__(self, stream_id: str | None = None) -> None:
        self._state = StreamState(stream_id=stream_id)
        self._reducer: Reducer | None = None
        self._dirty = True
        self._priced: tuple[object, ...] | None = None

    @property
    def state(self) -> StreamState:
        """The live state, with derived fields (message_param, cost) brought up to date."""
        if self._dirty:
            self._refresh()
        return self._state

    @property
    def content(self) -> str:
        """The text so far, without refreshing the derived fields: the reducers keep it
        current themselves, and a reader per chunk (the CLI's text replay, a loop printing
        ``stream.content``) should not rebuild the message and re-price each time."""
        return self._state.content

    def apply(self, event: StoredEvent) -> list[ToolCall]:
        """Fold one event; return the tool calls it completed."""
        state = self._state
        if state.stream_id is None:
            state.stream_id = event.stream_id
        kind = event.kind
        if kind is EventKind.CHUNK:  # chunk marks the state changed itself
            return self.chunk(event.seq, event.t_ns, event.payload, event.event)
        self._dirty = True
        if kind is EventKind.STARTED:
            self._start(event)
            return []
        if kind is EventKind.TOOL_RESULT:
            state.tool_outputs.extend(ToolResult.model_validate_json(event.payload).outputs)
            return []
        if kind is EventKind.CLIENT_MESSAGE:
            self._client(event)
            return []
        # terminal events
        state.end_time = event.recorded_at.timestamp() * 1000
        state.duration_ns = event.t_ns
        # only a stream that ended normally completes its open tool calls: arguments cut
        # off by a failure or an interruption must not look runnable
        completed = self._reducer.end() if self._reducer and kind is EventKind.COMPLETED else []
        if self._reducer is not None and kind is not EventKind.COMPLETED:
            self._reducer.abandon(
                "the stream failed before the input was complete"
                if kind is EventKind.FAILED
                else "the stream was interrupted before the input was complete"
            )
        if kind is EventKind.COMPLETED:
            state.status = "failed" if state.error else "completed"
        elif kind is EventKind.FAILED:
            failed = StreamFailed.model_validate_json(event.payload)
            state.status = "failed"
            state.error = {
                "type": failed.error_type,
                "message": failed.message,
                "status_code": failed.status_code,
            }
        elif kind is EventKind.INTERRUPTED:
            state.status = "interrupted"
            state.error = {
                "type": "interrupted",
                "message": StreamInterrupted.model_validate_json(event.payload).reason,
            }
        return completed

    def _start(self, event: StoredEvent) -> None:
        started = StreamStarted.model_validate_json(event.payload)
        state = self._state
        state.api = started.api
        state.provider = started.provider
        state.requested_model = started.model
        state.fingerprint = started.fingerprint
        state.model = started.model
        state.name = started.name
        state.tags = list(started.tags)
        state.metadata = {**started.metadata, "name": started.name, "tags": list(started.tags)}
        state.prompt_template = started.prompt_template
        state.fn_args = dict(started.fn_args)
        state.start_time = event.recorded_at.timestamp() * 1000
        self._reducer = reducer_for(started.api)(state)
        self._reducer.start(started)

    def chunk(self, seq: int, t_ns: int, payload: str, name: str | None) -> list[ToolCall]:
        """``apply`` of a chunk event given as its fields: the store's state read folds its
        rows without making an event of each (see ``Store.state``)."""
        state = self._state
        self._dirty = True
        state.chunk_count += 1
        if state.time_to_first_chunk_ns is None:
            state.time_to_first_chunk_ns = t_ns
        if self._reducer is None:
            self._problem(seq, "chunk before stream.started")
            return []
        try:
            return self._reducer.chunk(payload, name)
        except Exception as exc:  # a bad chunk must never break a recording
            self._problem(seq, f"{type(exc).__name__}: {exc}")
            return []

    def _client(self, event: StoredEvent) -> None:
        """A WebSocket frame the client sent: folded like a chunk, never fatal."""
        self._state.client_messages += 1
        if self._reducer is None:
            self._problem(event.seq, "client message before stream.started")
            return
        try:
            self._reducer.client(event.payload, event.event)
        except Exception as exc:
            self._problem(event.seq, f"client message: {type(exc).__name__}: {exc}")

    def _problem(self, seq: int, text: str) -> None:
        state = self._state
        state.malformed_chunks += 1
        if len(state.problems) < _MAX_PROBLEMS:
            state.problems.append(f"seq {seq}: {text}")

    def _refresh(self) -> None:
        state = self._state
        if self._reducer is not None:
            state.message_param = type(self._reducer).message_param(state)
        state.tool_problems = [
            f"tool call {t.id} ({t.name}): {t.problem}; raw input {t.arguments!r}"
            for t in state.tool_calls
            if t.problem
        ]
        # pricing is a genai-prices lookup: redo it only when what it reads changed,
        # not on every read of a state that a chunk touched
        key = price_key(state)
        if key != self._priced:
            state.cost, state.cost_metadata = price(state) if state.api else (None, {})
            self._priced = key
        self._dirty = False


def project(events: list[StoredEvent] | tuple[StoredEvent, ...]) -> StreamState:
    """The state after folding ``events`` (one stream's, in seq order)."""
    projector = Projector()
    for event in events:
        projector.apply(event)
    return projector.state
