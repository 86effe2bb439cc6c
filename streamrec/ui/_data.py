"""What the pages show, as plain JSON-ready dicts: read from the store, folded by the projection.

Everything here is read-only and bounded: the list is one page of rows chosen
and ordered by the database (indexes do the work on a large store), a stream's
view is that stream's events, the history is grouped in SQL.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..events import EventKind, StoredEvent
from ..projection import Projector, StreamState
from ..store import SORTS as STORE_SORTS
from ..store import Filters, Store

__all__ = [
    "PAGE_SIZE",
    "SORTS",
    "Listing",
    "chunk_texts",
    "compare_view",
    "history_view",
    "list_streams",
    "stream_view",
]

PAGE_SIZE = 50
_NANO = Decimal(1_000_000_000)
SORTS = tuple(STORE_SORTS)
"""The list's sort keys (``Store.streams(sort=…)``)."""
#: the events list shows at most this many rows; the timeline always has every chunk
EVENT_ROWS = 2000


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def _dollars(nanos: int | None) -> str | None:
    return None if nanos is None else str(Decimal(nanos) / _NANO)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    """A read-model row for the page (the `ls` columns and a few more)."""
    return {
        "stream_id": row["stream_id"],
        "started_at": _iso(row.get("started_at")),
        "status": row["status"],
        "provider": row.get("provider"),
        "api": row.get("api"),
        "model": row.get("model") or row.get("requested_model"),
        "chunks": row.get("chunk_count"),
        "input_tokens": row.get("input_tokens"),
        "output_tokens": row.get("output_tokens"),
        "cost": _dollars(row.get("cost_nanousd")),
        "cost_reason": row.get("cost_reason"),
        "ttft_ms": _ms(row.get("ttft_ns")),
        "duration_ms": _ms(row.get("duration_ns")),
        "name": row.get("name"),
        "tags": json.loads(row["tags"]) if row.get("tags") else [],
        "meta": json.loads(row["meta"]) if row.get("meta") else {},
    }


@dataclass(frozen=True)
class Listing:
    """One page of the streams list."""

    rows: list[dict[str, Any]]
    page: int
    has_next: bool
    sort: str
    descending: bool

    def as_json(self) -> dict[str, Any]:
        """The page as the list's JSON endpoint returns it."""
        return {
            "rows": self.rows,
            "page": self.page,
            "has_next": self.has_next,
            "sort": self.sort,
            "order": "desc" if self.descending else "asc",
        }


def list_streams(
    store: Store,
    filters: Filters,
    *,
    sort: str = "started",
    descending: bool = True,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Listing:
    """A page of read-model rows: filtered, ordered and cut by the database.

    No total count: counting a million rows on every poll costs more than the
    page itself; one extra row tells whether there is a next page.
    """
    sort = sort if sort in SORTS else "started"
    page = max(page, 1)
    rows = store.streams(
        filters=filters,
        sort=sort,
        descending=descending,
        limit=page_size + 1,
        offset=(page - 1) * page_size,
    )
    return Listing(
        rows=[_row(r) for r in rows[:page_size]],
        page=page,
        has_next=len(rows) > page_size,
        sort=sort,
        descending=descending,
    )


# -- one stream ---------------------------------------------------------------------------


def _output_size(state: StreamState) -> int:
    """How much output the stream has produced so far (characters of every kind)."""
    return (
        len(state.content)
        + len(state.thinking)
        + len(state.refusal or "")
        + sum(len(t.arguments) for t in state.tool_calls)
    )


def _delta(before: dict[str, Any], state: StreamState) -> dict[str, Any]:
    """What one event changed in the state: text, thinking, tool-call fragments, usage, finish."""
    out: dict[str, Any] = {}
    for key in ("content", "thinking"):
        old, new = before[key], getattr(state, key)
        if len(new) != old:
            out[key] = new[old:] if len(new) > old else new
    refusal = state.refusal or ""
    if len(refusal) != before["refusal"]:
        out["refusal"] = refusal[before["refusal"] :]
    fragments = []
    for i, tool in enumerate(state.tool_calls):
        old_name, old_len = before["tools"][i] if i < len(before["tools"]) else ("", 0)
        if tool.name != old_name or len(tool.arguments) != old_len:
            fragments.append({"name": tool.name, "id": tool.id, "args": tool.arguments[old_len:]})
    if fragments:
        out["tool_calls"] = fragments
    usage = state.usage.model_dump(exclude={"reported"})
    if usage != before["usage"]:
        out["usage"] = {k: v for k, v in usage.items() if v is not None}
    if state.finish_reasons != before["finish_reasons"]:
        out["finish_reasons"] = state.finish_reasons
    return out


def _snapshot(state: StreamState) -> dict[str, Any]:
    return {
        "content": len(state.content),
        "thinking": len(state.thinking),
        "refusal": len(state.refusal or ""),
        "tools": [(t.name, len(t.arguments)) for t in state.tool_calls],
        "usage": state.usage.model_dump(exclude={"reported"}),
        "finish_reasons": state.finish_reasons,
    }


def fold(stored: list[StoredEvent]) -> tuple[StreamState, list[dict[str, Any]]]:
    """The final state and, per event, what it changed: the one fold, applied event by event."""
    projector = Projector()
    state: StreamState | None = None
    steps = []
    for event in stored:
        before = _snapshot(state) if state is not None else _snapshot(StreamState())
        projector.apply(event)
        if state is None:
            # the projector keeps folding into this one object: reading it after each event
            # costs nothing (``projector.state`` would re-derive message_param and cost each time)
            state = projector.state
        steps.append(
            {
                "seq": event.seq,
                "kind": event.kind.value,
                "event": event.event,
                "t_ms": round(event.t_ns / 1e6, 3),
                "bytes": len(event.payload.encode("utf-8", "surrogateescape")),
                "delta": _delta(before, state) if event.kind is EventKind.CHUNK else {},
                "output": _output_size(state),
            }
        )
    return projector.state, steps


def _timeline(steps: list[dict[str, Any]], state: StreamState) -> dict[str, Any]:
    """The chart's data: one point per chunk, the first chunk and the end marked, gaps measured."""
    chunks = [s for s in steps if s["kind"] == EventKind.CHUNK.value]
    points = [{"x": s["t_ms"], "y": s["output"], "seq": s["seq"]} for s in chunks]
    gaps = [(b["x"] - a["x"], a["x"], b["x"]) for a, b in itertools.pairwise(points)]
    longest = max(gaps, default=None)
    ends = [
        s
        for s in steps
        if s["kind"]
        in (EventKind.COMPLETED.value, EventKind.FAILED.value, EventKind.INTERRUPTED.value)
    ]
    end = ends[-1] if ends else None
    # a WebSocket session's client frames, where they fell among the server's chunks
    client = [
        {"x": s["t_ms"], "y": s["output"], "seq": s["seq"]}
        for s in steps
        if s["kind"] == EventKind.CLIENT_MESSAGE.value
    ]
    return {
        "points": points,
        "client_messages": client,
        "first_chunk": points[0] if points else None,
        # marked by how the stream ended for its client: an error event inside a stream
        # that then closed normally (Anthropic's ``event: error``) is a failure too
        "end": (
            {"x": end["t_ms"], "y": points[-1]["y"] if points else 0, "kind": state.status}
            if end
            else None
        ),
        "status": state.status,
        "longest_gap_ms": round(longest[0], 3) if longest else None,
        "longest_gap_at_ms": longest[1] if longest else None,
    }


def _state_json(state: StreamState) -> dict[str, Any]:
    return {
        "stream_id": state.stream_id,
        "status": state.status,
        "provider": state.provider,
        "api": state.api,
        "requested_model": state.requested_model,
        "model": state.model,
        "id": state.id,
        "name": state.name,
        "tags": state.tags,
        "content": state.content,
        "thinking": state.thinking,
        "refusal": state.refusal,
        "tool_calls": [
            {
                "id": t.id,
                "name": t.name,
                "arguments": t.arguments,
                "complete": t.complete,
                "problem": t.problem,
            }
            for t in state.tool_calls
        ],
        "tool_outputs": state.tool_outputs,
        "finish_reasons": state.finish_reasons,
        "usage": state.usage.model_dump(),
        "cost": str(state.cost) if state.cost is not None else None,
        "cost_metadata": state.cost_metadata,
        "ttft_ms": _ms(state.time_to_first_chunk_ns),
        "duration_ms": _ms(state.duration_ns),
        "chunk_count": state.chunk_count,
        "malformed_chunks": state.malformed_chunks,
        "unknown_events": state.unknown_events,
        "problems": state.problems,
        "tool_problems": state.tool_problems,
        "error": state.error,
        "fingerprint": state.fingerprint,
    }


def stream_view(store: Store, stream_id: str) -> dict[str, Any]:
    """Everything the stream page shows about one recording."""
    stream_id = store.resolve(stream_id)
    stored = store.events(stream_id)
    state, steps = fold(stored)
    started = stored[0].model() if stored and stored[0].kind is EventKind.STARTED else None
    # the response's status and headers ride on the terminal event (when recorded)
    last = stored[-1].model() if len(stored) > 1 else None
    response = getattr(last, "response", None) or None
    same = (
        [
            _row(r)
            for r in store.streams(fingerprint=state.fingerprint, limit=21)
            if r["stream_id"] != stream_id
        ][:20]
        if state.fingerprint
        else []
    )
    return {
        "stream_id": stream_id,
        "started_at": _iso(stored[0].recorded_at) if stored else None,
        "state": _state_json(state),
        "request": getattr(started, "request", None),
        "response": response,
        "fn_args": getattr(started, "fn_args", None) or None,
        "prompt_template": getattr(started, "prompt_template", None),
        "timeline": _timeline(steps, state),
        "events": steps[:EVENT_ROWS],
        "events_total": len(steps),
        "same_request": same,
        "commands": {
            "replay": f"streamrec replay {stream_id} --speed 1",
            "replay_sse": f"streamrec replay {stream_id} --format sse",
            "show": f"streamrec show {stream_id}",
            "export": f"streamrec export {stream_id} > {stream_id[:13]}.jsonl",
        },
    }


def _text(delta: dict[str, Any]) -> str:
    """The output one chunk added, as a reader sees it appear (thinking, text, tool arguments)."""
    parts = [delta.get(key, "") for key in ("thinking", "content", "refusal")]
    parts += [t["args"] for t in delta.get("tool_calls", ())]
    return "".join(str(p) for p in parts)


def chunk_texts(store: Store, stream_id: str) -> list[str]:
    """Per chunk, in order, the output it added (what the in-page replay prints)."""
    _, steps = fold(store.events(stream_id))
    return [_text(s["delta"]) for s in steps if s["kind"] == EventKind.CHUNK.value]


def payload(store: Store, stream_id: str, seq: int) -> dict[str, Any] | None:
    """One event's raw payload, as stored (the page asks for it on demand)."""
    event = store.event(store.resolve(stream_id), seq)
    if event is None:
        return None
    return {
        "seq": event.seq,
        "kind": event.kind.value,
        "event": event.event,
        "payload": event.payload,
    }


def compare_view(store: Store, a: str, b: str) -> dict[str, Any]:
    """Two recordings side by side: what ``streamrec diff`` compares, with both pages' timelines.

    The verdict, the fields compared and the request's differing JSON paths come
    from ``compare_recordings`` (the one comparison, shared with the command).
    """
    from ..replay._compare import ANSWER_FIELDS, TIMING_FIELDS, compare_recordings

    a, b = store.resolve(a), store.resolve(b)
    result = compare_recordings(store, a, store, b)
    pa, pb = result["a"], result["b"]
    return {
        "a": stream_view(store, a),
        "b": stream_view(store, b),
        "same": result["same"],
        "same_request": result["same_request"],
        "request_differences": result["request"],
        "differing": list(result["answer"]),
        "rows": [
            {"field": f, "a": pa[f], "b": pb[f], "same": f not in result["answer"]}
            for f in ANSWER_FIELDS
        ],
        "timing": [{"field": f, "a": pa[f], "b": pb[f]} for f in TIMING_FIELDS],
    }


# -- history ------------------------------------------------------------------------------


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    """A ``stats`` row for the page: money as decimal strings (exact), everything else as is."""
    out = {}
    for key, value in row.items():
        if key == "group":
            continue
        out[key] = str(value) if isinstance(value, Decimal) else value
    return out


def history_view(store: Store, filters: Filters) -> dict[str, Any]:
    """The ``stats`` figures the charts draw: per day and model, and their sums per day.

    One ``stats`` pass (by day and model); the per-day totals are sums of its
    rows, so a large store is read once.
    """
    by_model = [_figures(r) for r in store.stats(["day", "model"], filters=filters)]
    days: dict[str, dict[str, Any]] = {}
    for row in by_model:
        row["model"] = row["model"] or "?"
        if row["day"] is None:
            continue
        day = days.setdefault(
            row["day"],
            {"day": row["day"], "streams": 0, "failures": 0, "interrupted": 0},
        )
        for key in ("streams", "failures", "interrupted"):
            day[key] += row.get(key) or 0
        for key in ("input_tokens", "cached_tokens"):
            if row.get(key) is not None:
                day[key] = day.get(key, 0) + row[key]
    for day in days.values():
        inputs = day.get("input_tokens")
        day["cache_hit_ratio"] = day.get("cached_tokens", 0) / inputs if inputs else None
    by_day = sorted(days.values(), key=lambda d: str(d["day"]))
    return {
        "rows": by_model,
        "days": [d["day"] for d in by_day],
        "by_day": by_day,
        "models": sorted({r["model"] for r in by_model}),
    }
