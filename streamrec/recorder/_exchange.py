"""One recorded HTTP exchange, without I/O: the proxy and both transports feed it what they see.

The callers only move bytes (and ``await`` where they are async); what is a
chunk, when a stream counts as ended, failed or interrupted, lives here once.
Recording must never break forwarding: a recording that raises is logged and
dropped, and the bytes keep flowing (``strict`` makes it raise, for tests).
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import RecorderError
from ..events import SSEEvent
from ..providers import JSON_ARRAY_API, Endpoint, request_body
from ..store import Store
from ._json_array import JSONArraySplitter
from ._recording import Recording
from ._redact import Redact, redact_text
from ._sse import SSESplitter

__all__ = ["IDENTITY", "Exchange", "UpstreamStatusError", "open_exchange"]

log = logging.getLogger("streamrec.recorder")

OnFinish = Callable[[Recording], None]

# the last event of a stream, per wire format: a client may stop reading right
# after it (the openai SDK closes the response at [DONE]), so what follows is
# only the end of the HTTP body and the stream counts as complete
_LAST_DATA = {"openai.chat.completions": frozenset({"[DONE]"})}
_LAST_EVENT = {
    "openai.responses": frozenset(
        {"response.completed", "response.failed", "response.incomplete", "error"}
    ),
    "anthropic.messages": frozenset({"message_stop", "error"}),
}
_NO_MARKER: frozenset[str] = frozenset()

#: asked of the upstream for recorded calls: the recorder reads the body as it
#: streams, and compression only delays events (a gzip stream flushes in blocks)
IDENTITY = ("accept-encoding", "identity")
_MESSAGE_MAX = 2000


class UpstreamStatusError(Exception):
    """The upstream answered 4xx/5xx (its body is recorded as the one chunk, for replay)."""


def open_exchange(
    endpoint: Endpoint,
    body: bytes,
    *,
    store: Store | None,
    name: str | None = None,
    tags: Iterable[str] = (),
    strict: bool = False,
    on_finish: OnFinish | None = None,
    redact: Redact | None = None,
    durability: str = "group",
    metadata: Mapping[str, str] | None = None,
    client: str | None = None,
) -> Exchange | None:
    """Start recording a call to ``endpoint``; None if it cannot be recorded.

    ``client`` is the caller's User-Agent (which SDK, which version)."""
    try:
        recording = Recording(
            client=client,
            durability=durability,
            api=endpoint.api,
            request=request_body(endpoint, _json(body)),
            store=store,
            name=name,
            tags=tags,
            metadata=metadata,
            strict=strict,
            redact=redact,
        )
    except Exception as exc:  # the call goes ahead unrecorded: forwarding never depends on us
        if strict:
            raise
        log.warning(
            "streamrec: not recording a call to %s: %s", endpoint.api, redact_text(str(exc))
        )
        return None
    return Exchange(recording, on_finish=on_finish)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None  # recorded as an empty request; the upstream will say what is wrong


class Exchange:
    """Feed it the response as it arrives: ``response``, ``feed``…, then ``end`` (or a failure)."""

    def __init__(self, recording: Recording, *, on_finish: OnFinish | None = None) -> None:
        self.recording = recording
        self._on_finish = on_finish
        self._mode = "pending"  # then "sse", "body" (one chunk), "array" or "error"
        self._status: int | None = None
        self._splitter: SSESplitter | None = None
        self._array: JSONArraySplitter | None = None
        self._inflate: Any = None
        self._body = bytearray()
        self._last = _NO_MARKER
        self._last_data = _NO_MARKER
        self._seen_last = False
        self._broken = False

    @property
    def stream_id(self) -> str:
        """The id the recording is stored under."""
        return self.recording.stream_id

    @property
    def finished(self) -> bool:
        """True once a terminal event was recorded (or recording was given up)."""
        return self._broken or self.recording.finished

    def response(self, status: int, headers: Mapping[str, str]) -> None:
        """The response head arrived. ``headers`` must be case-insensitive (httpx ``Headers``)."""
        self._status = status
        self._guard(self.recording.response_head, status, list(headers.items()))
        content_type = headers.get("content-type", "").lower()
        if status >= 400:
            self._mode = "error"
        elif content_type.startswith("text/event-stream"):
            self._mode = "sse"
            self._splitter = SSESplitter()
            api = self.recording.api
            self._last = _LAST_EVENT.get(api, _NO_MARKER)
            self._last_data = _LAST_DATA.get(api, _NO_MARKER)
        else:
            # a Gemini body that opens with "[" is a stream (see _json_array): sniffed
            self._mode = "body" if self.recording.api != JSON_ARRAY_API else "sniff"
        encoding = headers.get("content-encoding", "identity").lower().strip()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # we ask for identity, but an upstream may compress anyway: record decoded text
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        elif encoding not in ("", "identity"):
            self._undecodable(f"cannot record a body with content-encoding {encoding!r}")

    def sent(self) -> None:
        """The request leaves for the upstream now (time to first chunk counts from here)."""
        self._guard(self.recording.sent)

    def feed(self, raw: bytes) -> None:
        """Bytes of the body as received (still encoded, as they are forwarded)."""
        if self.finished or not raw:
            return
        self._decoded(self._inflated(raw) if self._inflate is not None else raw)

    def durable(self) -> None:
        """With ``durability="chunk"``, wait until what was fed so far is committed
        (callers do this before passing the bytes on)."""
        if not self._broken:
            self.recording.durable()

    async def adurable(self) -> None:
        """``durable`` without blocking the event loop."""
        if not self._broken:
            await self.recording.adurable()

    def end(self) -> None:
        """The body ended normally."""
        if self.finished:
            return
        if self._inflate is not None:
            self._decoded(self._inflated(None))
        if self.finished:
            return
        if self._mode == "error":
            self._fail_status()
        elif self._splitter is not None:
            self._chunks(self._splitter.close())
            self._finish(self.recording.complete)
        elif self._array is not None:
            if self._array.closed:
                self._finish(self.recording.complete)
            else:
                self._undecodable("the body ended inside its JSON array (no closing ])")
        else:
            if self._body:
                self._chunk(SSEEvent(self._text()))
            self._finish(self.recording.complete)

    def dropped(self, error: BaseException) -> None:
        """The upstream connection broke mid-body: failed, with every chunk that arrived."""
        if self.finished:
            return
        if self._mode == "error":
            self._fail_status()
        elif self._seen_last:
            self._finish(self.recording.complete)
        else:
            self._finish(self.recording.fail, error)

    def unreachable(self, error: BaseException) -> None:
        """No response at all (connection refused, DNS, timeout before the head)."""
        if not self.finished:
            self._finish(self.recording.fail, error)

    def close(self, reason: str = "the client stopped reading before the response ended") -> None:
        """The client went away or closed the response: whatever has not ended is settled here."""
        if self.finished:
            return
        if self._mode == "error":
            self._fail_status()
        elif self._seen_last or self._guard(lambda: self.recording.state.error is not None):
            # the stream reached its last event (or an in-band error ended it)
            self._finish(self.recording.complete)
        else:
            self._finish(self.recording.interrupt, reason)

    # -- internals -----------------------------------------------------------------------

    def _inflated(self, raw: bytes | None) -> bytes:
        """Decompressed bytes (``None``: the rest at the end); a body that will not
        decompress fails the recording, never the forwarding."""
        try:
            out: bytes = self._inflate.decompress(raw) if raw is not None else self._inflate.flush()
            return out
        except zlib.error as exc:
            self._undecodable(f"cannot decompress the body to record it: {exc}")
            return b""

    def _undecodable(self, reason: str) -> None:
        self._finish(self.recording.fail, RecorderError(reason), self._status)

    def _decoded(self, data: bytes) -> None:
        if not data:
            return
        if self._splitter is not None:
            self._chunks(self._splitter.feed(data))
        elif self._array is not None:
            self._elements(data)
        else:
            self._body += data
            if self._mode == "sniff" and (head := self._body.lstrip()[:1]):
                self._mode = "body"
                if head == b"[":
                    self._mode, self._array = "array", JSONArraySplitter()
                    self._elements(bytes(self._body))
                    self._body.clear()

    def _elements(self, data: bytes) -> None:
        assert self._array is not None
        for text in self._array.feed(data):
            self._chunk(SSEEvent(text))
        self._seen_last = self._array.closed

    def _chunks(self, events: list[SSEEvent]) -> None:
        for event in events:
            self._chunk(event)
            if event.data in self._last_data or (event.event or "") in self._last:
                self._seen_last = True

    def _chunk(self, event: SSEEvent) -> None:
        self._guard(self.recording.chunk, event)

    def _text(self) -> str:
        return bytes(self._body).decode("utf-8", errors="surrogateescape")

    def _fail_status(self) -> None:
        # an error body is replayed as recorded, but some upstreams echo the caller's key
        # in it ("Incorrect API key provided: sk-…"): that part is stored redacted
        text = redact_text(self._text())
        if text:
            self._chunk(SSEEvent(text))
        message = f"the upstream answered HTTP {self._status}: {text[:_MESSAGE_MAX]}"
        self._finish(self.recording.fail, UpstreamStatusError(message), self._status)

    def _finish(self, method: Callable[..., Any], *args: Any) -> None:
        self._guard(method, *args)
        if self._on_finish is not None and not self._broken:
            try:
                self._on_finish(self.recording)
            except Exception:  # a reporting hook must not break the stream either
                log.exception("streamrec: on_finish hook failed")

    def _guard(self, method: Callable[..., Any], *args: Any) -> Any:
        if self._broken:
            return None
        try:
            return method(*args)
        except Exception as exc:
            if self.recording.strict:
                raise
            self._broken = True
            log.warning(
                "streamrec: recording %s stopped: %s", self.stream_id, redact_text(str(exc))
            )
            return None
