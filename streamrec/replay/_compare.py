"""Comparing two recordings of the same request, so a re-record can be reviewed.

What is compared is what a client would see differently: the answer (content,
tool calls, finish reasons, the answered model, status), its usage, the shape
of the event log, and the timing profile. Timing is reported but never makes
two recordings "different": no two runs take the same time.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from ..events import EventKind, StreamStarted
from ..store import Store
from ._match import json_differences

__all__ = ["compare_recordings", "recording_profile"]

#: the fields whose difference makes two recordings differ, in display order
ANSWER_FIELDS = (
    "status",
    "model",
    "content",
    "tool_calls",
    "finish_reasons",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "events",
    "client",
)
TIMING_FIELDS = ("ttft_ms", "duration_ms", "chunks", "mean_gap_ms")


def recording_profile(store: Store, stream_id: str) -> dict[str, Any]:
    """What ``compare_recordings`` compares, for one recording."""
    events = store.events(stream_id)
    row = store.stream(stream_id)
    state = store.state(stream_id)
    started = events[0].model() if events else None
    request = dict(started.request) if isinstance(started, StreamStarted) else {}
    client = getattr(started, "client", None) if started is not None else None
    chunk_times = [e.t_ns for e in events if e.kind is EventKind.CHUNK]
    gaps = [b - a for a, b in itertools.pairwise(chunk_times)]
    return {
        "stream_id": stream_id,
        "name": row.get("name"),
        "recorded_at": events[0].recorded_at.isoformat() if events else None,
        "request": request,
        "requested_model": row.get("requested_model"),
        "status": row.get("status"),
        "model": row.get("model"),
        "content": state.content,
        "tool_calls": [[t.name, t.arguments] for t in state.tool_calls],
        "finish_reasons": list(state.finish_reasons or []),
        "input_tokens": row.get("input_tokens"),
        "cached_tokens": row.get("cached_tokens"),
        "output_tokens": row.get("output_tokens"),
        "reasoning_tokens": row.get("reasoning_tokens"),
        "events": dict(sorted(Counter(e.kind.value for e in events).items())),
        "client": client,
        "ttft_ms": _ms(row.get("ttft_ns")),
        "duration_ms": _ms(row.get("duration_ns")),
        "chunks": len(chunk_times),
        "mean_gap_ms": _ms(sum(gaps) / len(gaps)) if gaps else None,
    }


def _ms(ns: Any) -> float | None:
    return round(ns / 1e6, 1) if isinstance(ns, (int, float)) else None


def compare_recordings(store_a: Store, a: str, store_b: Store, b: str) -> dict[str, Any]:
    """``{"same": bool, "same_request": bool, "request": [...], "answer": {...},
    "timing": {...}, "a": profile, "b": profile}``; ``answer`` holds only the fields
    that differ, as ``[a, b]``; ``timing`` holds every timing field."""
    pa, pb = recording_profile(store_a, a), recording_profile(store_b, b)
    request = [
        {"path": path, "a": va, "b": vb}
        for path, va, vb in json_differences(
            _comparable(pa["request"]), _comparable(pb["request"]), limit=10
        )
    ]
    answer = {f: [pa[f], pb[f]] for f in ANSWER_FIELDS if pa[f] != pb[f]}
    timing = {f: [pa[f], pb[f]] for f in TIMING_FIELDS}
    return {
        "same": not answer,
        "same_request": not request,
        "request": request,
        "answer": answer,
        "timing": timing,
        "a": pa,
        "b": pb,
    }


def _comparable(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k not in {"stream", "stream_options"}}
