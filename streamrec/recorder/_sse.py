"""Splitting an SSE byte stream into events, incrementally, as the bytes arrive.

Network reads cut the stream anywhere: inside a line, between ``\\r`` and
``\\n``, inside a UTF-8 sequence. Line splitting and field parsing are
httpx-sse's decoders (the ones behind ``EventSource``), so we do not keep a
second SSE parser. Two spec points their ``ServerSentEvent`` blurs are kept
exact here, because replay must re-emit what was on the wire: an event with
no ``event:`` line has no name (not ``"message"``), and a block without any
``data:`` line dispatches nothing.
"""

from __future__ import annotations

import codecs

from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from ..events import SSEEvent

__all__ = ["SSESplitter"]


class _ExactDecoder(SSEDecoder):
    """httpx-sse's field parser, dispatching as the SSE spec does (see the module docstring)."""

    def dispatch(self, line: str) -> SSEEvent | None:
        # what the block holds before the blank line resets it
        name, has_data = self._event, bool(self._data)
        sse = self.decode(line)
        if sse is None or not has_data:
            return None
        return SSEEvent(sse.data, name or None)


class SSESplitter:
    """Feed bytes as they arrive; get back each event completed so far, in order."""

    def __init__(self) -> None:
        # bytes that are not UTF-8 become surrogate escapes: stored exactly, replayed as received
        self._text = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._lines = SSELineDecoder()
        self._fields = _ExactDecoder()
        self._started = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events that ``data`` completed (possibly none)."""
        text = self._text.decode(data)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")  # the spec drops one leading BOM
        return self._events(self._lines.decode(text)) if text else []

    def close(self) -> list[SSEEvent]:
        """End of stream: the spec discards a last event that no blank line finished."""
        tail = self._text.decode(b"", final=True)
        lines = self._lines.decode(tail) if tail else []
        # a trailing "\r" held back for a possible "\n" still ends a (blank) line
        return self._events([*lines, *self._lines.flush()])

    def _events(self, lines: list[str]) -> list[SSEEvent]:
        events = []
        for line in lines:
            event = self._fields.dispatch(line)
            if event is not None:
                events.append(event)
        return events
