"""Faults injected into a replay, so a client's stream handling is tested on real recordings.

Each fault changes how a recording is delivered, never what it holds:

- ``fail_at_chunk=N``: after N chunks the connection drops (``fail_as="drop"``),
  or the provider's own in-stream error event is sent (``fail_as="error"``);
- ``rechunk=SEED``: the same bytes, written in pieces cut at reproducible random
  offsets (inside lines and events, across events), as a slow network splits them;
- ``disconnect_after_ms=T``: the connection drops T ms into the response;
- ``status=429|500|503|529``: the first ``status_times`` matching requests get that
  HTTP error (with ``retry-after``) in the provider's error shape, before the
  recording is served: an SDK's retry logic engages and then succeeds.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReplayError

__all__ = ["Faults"]

_FAIL_AS = ("drop", "error")
_STATUS_TEXT = {
    408: ("timeout", "Request timed out"),
    429: ("rate_limit_exceeded", "Rate limit reached (injected by streamrec)"),
    500: ("server_error", "The server had an error (injected by streamrec)"),
    502: ("bad_gateway", "Bad gateway (injected by streamrec)"),
    503: ("service_unavailable", "Service unavailable (injected by streamrec)"),
    529: ("overloaded_error", "Overloaded (injected by streamrec)"),
}
_ANTHROPIC_TYPES = {
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


@dataclass
class Faults:
    """What to break in a replay (see the module docstring); all off by default."""

    fail_at_chunk: int | None = None
    fail_as: str = "drop"
    rechunk: int | None = None
    disconnect_after_ms: float | None = None
    status: int | None = None
    status_times: int = 1
    retry_after: float = 0.01
    _left: int = field(default=-1, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.fail_as not in _FAIL_AS:
            raise ReplayError(f"fail_as must be one of {', '.join(_FAIL_AS)}, not {self.fail_as!r}")
        if self.fail_at_chunk is not None and self.fail_at_chunk < 0:
            raise ReplayError("fail_at_chunk must be >= 0")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ReplayError(f"status must be an HTTP error status (4xx/5xx), not {self.status}")
        self._left = self.status_times if self.status is not None else 0

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> Faults | None:
        """Faults from marker/config keywords (None when none is set)."""
        keys = {
            "fail_at_chunk",
            "fail_as",
            "rechunk",
            "disconnect_after_ms",
            "status",
            "status_times",
            "retry_after",
        }
        given = {k: v for k, v in options.items() if k in keys and v is not None}
        return cls(**given) if given else None

    @property
    def any(self) -> bool:
        """Is any fault set?"""
        return any(
            v is not None
            for v in (self.fail_at_chunk, self.rechunk, self.disconnect_after_ms, self.status)
        )

    def take_status(self) -> int | None:
        """The error status for this request, if the one-shot status has shots left."""
        with self._lock:
            if self._left > 0 and self.status is not None:
                self._left -= 1
                return self.status
        return None

    def status_response(self, api: str, status: int) -> tuple[bytes, dict[str, str]]:
        """(JSON body, headers) of an HTTP error as the provider of ``api`` sends it."""
        code, message = _STATUS_TEXT.get(
            status, ("error", f"HTTP {status} (injected by streamrec)")
        )
        body: dict[str, Any]
        if api.startswith("anthropic"):
            kind = _ANTHROPIC_TYPES.get(status, "api_error")
            body = {"type": "error", "error": {"type": kind, "message": message}}
        elif api.startswith("google"):
            body = {
                "error": {
                    "code": status,
                    "message": message,
                    "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
                }
            }
        else:
            body = {"error": {"message": message, "type": code, "param": None, "code": code}}
        headers = {
            "retry-after": str(max(0, round(self.retry_after))),
            "retry-after-ms": str(max(0, round(self.retry_after * 1000))),
            "x-should-retry": "true",
        }
        return json.dumps(body).encode(), headers


def error_event(api: str) -> tuple[str, str | None] | None:
    """(data, event name) of the provider's own in-stream error, or None where the wire
    format has none (then a drop stands in)."""
    data: dict[str, Any]
    if api == "anthropic.messages":
        data = {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded (injected by streamrec)"},
        }
        return json.dumps(data), "error"
    if api == "openai.responses":
        data = {
            "type": "error",
            "code": "server_error",
            "message": "The server had an error (injected by streamrec)",
            "param": None,
        }
        return json.dumps(data), "error"
    if api == "openai.chat.completions":
        data = {"error": {"message": "The server had an error (injected by streamrec)", "type": "server_error"}}  # fmt: skip
        return json.dumps(data), None
    return None


def rechunked(pieces: Iterator[tuple[float, bytes]], seed: int) -> Iterator[tuple[float, bytes]]:
    """The same bytes as ``pieces`` ((wait, bytes) per event), cut at reproducible offsets.

    A cut may fall anywhere: inside a line, between ``\\r`` and ``\\n``, across events
    (bytes are held back and sent with the next piece). The first piece of each event
    keeps its wait, so the replay's clock is unchanged.
    """
    rng = random.Random(seed)
    pending = b""
    for wait, data in pieces:
        pending += data
        first = True
        while pending:
            size = rng.randint(1, 64)
            if size > len(pending) and rng.random() < 0.5:
                break  # hold the tail back: it goes out with the next event's bytes
            piece, pending = pending[:size], pending[size:]
            yield (wait if first else 0.0), piece
            first = False
    if pending:
        yield 0.0, pending
