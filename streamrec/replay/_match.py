"""Finding the recording for a request, and saying clearly when there is none.

A request matches a recording when its fingerprint (api + what the request
asks, minus transport keys) is equal. Identical requests made several times
get the recordings in the order they were recorded, the last one repeating,
so a program that asks the same thing twice replays both answers.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from ..errors import NoMatchingRecording
from ..events import StreamStarted, request_fingerprint
from ..recorder import scrub
from ..store import Store

__all__ = ["Matcher"]

_REPLAYABLE = ("completed", "failed", "interrupted")


class Matcher:
    """Maps requests to stream ids in one store; thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._served: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.misses: list[str] = []
        """The error messages of requests that found no recording, in order."""
        self.served: list[str] = []
        """The stream ids served, in order."""

    def take(self, api: str, request: dict[str, Any]) -> str | None:
        """The stream id to replay for ``request``, or None (not counted as a miss:
        auto mode records it instead)."""
        fingerprint, rows = self._candidates(api, request)
        return self._choose(fingerprint, rows) if rows else None

    def _candidates(self, api: str, request: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        fingerprint = request_fingerprint(api, scrub(request))
        rows = [
            r for r in self.store.streams(fingerprint=fingerprint) if r["status"] in _REPLAYABLE
        ]
        return fingerprint, rows

    def find(self, api: str, request: dict[str, Any], *, describe: str = "") -> str:
        """The stream id to replay for ``request``; ``NoMatchingRecording`` if none."""
        fingerprint, rows = self._candidates(api, request)
        if not rows:
            error = NoMatchingRecording(self._explain(api, scrub(request), fingerprint, describe))
            with self._lock:
                self.misses.append(str(error))
            raise error
        return self._choose(fingerprint, rows)

    def _choose(self, fingerprint: str, rows: list[dict[str, Any]]) -> str:
        rows.sort(key=lambda r: r["stream_id"])  # oldest first
        with self._lock:
            n = self._served[fingerprint]
            self._served[fingerprint] = n + 1
            chosen = str(rows[min(n, len(rows) - 1)]["stream_id"])
            self.served.append(chosen)
        return chosen

    def _explain(self, api: str, request: dict[str, Any], fingerprint: str, describe: str) -> str:
        model = request.get("model")
        asked = describe or api
        head = (
            f"no recording matches {asked} (api {api}, model {model!r}, fingerprint {fingerprint})"
        )
        nearest = []
        for row in self.store.streams(model=model, limit=20) if model else []:
            if row["api"] != api:
                continue
            first = self.store.event(row["stream_id"], 0)
            started = first.model() if first is not None else None
            if not isinstance(started, StreamStarted):
                continue
            keys = sorted(
                k
                for k in set(started.request) | set(request)
                if k not in {"stream", "stream_options"}
                and started.request.get(k) != request.get(k)
            )
            nearest.append((len(keys), row["stream_id"], keys))
        nearest.sort()
        hint = "; record it with `streamrec record -- <your command>` or pytest --streamrec-mode=record"
        if not nearest:
            return f"{head}; no recording of that model exists{hint}"
        closest = ", ".join(
            f"{sid} (differs in {', '.join(keys) or 'nothing visible'})"
            for _, sid, keys in nearest[:3]
        )
        return f"{head}; closest: {closest}{hint}"
