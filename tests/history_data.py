"""A small, fully known history for stats, views and queries tests: every figure is hand-computable.

Streams are written through ``Store.append`` with the read-model row the
projection computes (the recorder's own path), but with chosen start times and
chunk timings, so latency percentiles and day/week/month groups are exact.

- 20 ``gpt-4o-mini`` streams on Monday 2026-11-02 (10:00 + i minutes, i = 0…19):
  time to first chunk (i+1)·10 ms, then 5 chunks 10 ms apart, completed 10 ms
  after the last (duration = ttft + 50 ms); usage 1000 in / 100 out, 400 of
  the input read from cache when i is even; name "chat"; tag "a" (i < 10) or
  "b"; metadata user=alice (odd i) or bob (even i).
- 4 ``gpt-4o`` streams: 2026-11-03 09:00 completed (ttft 500 ms, 2000 in / 50 out),
  2026-11-03 09:30 failed after one chunk (no usage: unpriced), 2026-11-10 12:00
  completed (ttft 700 ms, 3000 in / 100 out, 1000 cached), 2026-12-01 00:00
  interrupted after two chunks (no usage); name "agent", no tags, user=carol.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text

from streamrec import Store
from streamrec.events import (
    EventKind,
    StoredEvent,
    StreamCompleted,
    StreamFailed,
    StreamInterrupted,
    StreamStarted,
)
from streamrec.migrations.versions import hist04_rollup
from streamrec.projection import project
from streamrec.store import summary_row
from streamrec.store._schema import ROLLUP_KEYS, ROLLUP_VALUES, stream_rollup

from .chunks import usage_body

MS = 1_000_000


def _chunk(
    model: str,
    delta: dict[str, Any] | None,
    finish: str | None = None,
    usage: Any = None,
    response_id: str = "chatcmpl-hist",
) -> str:
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": 1763900000,
        "model": model,
        "choices": [] if usage else [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return json.dumps(body, separators=(",", ":"))


def write_stream(
    store: Store,
    *,
    started_at: datetime,
    model: str,
    ttft_ms: int,
    chunks: int = 5,
    step_ms: int = 10,
    end: str = "completed",
    usage: tuple[int, int, int] | None = (1000, 100, 0),
    name: str | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    stream_id: str | None = None,
    request: dict[str, Any] | None = None,
    response_id: str = "chatcmpl-hist",
) -> str:
    """Append one OpenAI chat stream with exactly these timings and usage; returns its id."""
    sid = stream_id or str(uuid.uuid4())
    start = StreamStarted(
        provider="openai",
        api="openai.chat.completions",
        model=model.split("-20")[0],
        request=request
        or {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        name=name,
        tags=tags or [],
        metadata=metadata or {},
    )
    batch = [StoredEvent(sid, 0, EventKind.STARTED, 0, started_at, start.model_dump_json())]
    rid = response_id
    bodies = [_chunk(model, {"role": "assistant", "content": ""}, response_id=rid)]
    bodies += [
        _chunk(model, {"content": f"w{i}"}, response_id=rid) for i in range(max(chunks - 3, 0))
    ]
    bodies.append(_chunk(model, {}, "stop", response_id=rid))
    if usage is not None:
        bodies.append(
            _chunk(model, None, usage=usage_body(usage[0], usage[1], usage[2]), response_id=rid)
        )
    bodies = bodies[:chunks]
    t = ttft_ms * MS
    for body in bodies:
        batch.append(
            StoredEvent(
                sid,
                len(batch),
                EventKind.CHUNK,
                t,
                started_at + timedelta(microseconds=t // 1000),
                body,
            )
        )
        t += step_ms * MS
    terminal = {
        "completed": (EventKind.COMPLETED, StreamCompleted()),
        "failed": (
            EventKind.FAILED,
            StreamFailed(error_type="RateLimitError", message="slow down"),
        ),
        "interrupted": (EventKind.INTERRUPTED, StreamInterrupted(reason="consumer stopped")),
    }[end]
    # t is now one step after the last chunk: the terminal event's time
    batch.append(
        StoredEvent(
            sid,
            len(batch),
            terminal[0],
            t,
            started_at + timedelta(microseconds=t // 1000),
            terminal[1].model_dump_json(),
        )
    )
    store.append(batch, [summary_row(project(batch), batch[-1].seq)])
    return sid


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def populate(store: Store) -> dict[str, list[str]]:
    """Write the history described in the module docstring; returns ids by model."""
    ids: dict[str, list[str]] = {"gpt-4o-mini": [], "gpt-4o": []}
    for i in range(20):
        ids["gpt-4o-mini"].append(
            write_stream(
                store,
                started_at=_at("2026-11-02T10:00:00") + timedelta(minutes=i),
                model="gpt-4o-mini-2024-07-18",
                ttft_ms=(i + 1) * 10,
                usage=(1000, 100, 400 if i % 2 == 0 else 0),
                name="chat",
                tags=["a"] if i < 10 else ["b"],
                metadata={"user": "alice" if i % 2 else "bob"},
            )
        )
    big = "gpt-4o-2024-08-06"
    carol = {"user": "carol"}
    for when, ttft, end, usage, chunks in (
        ("2026-11-03T09:00:00", 500, "completed", (2000, 50, 0), 5),
        ("2026-11-03T09:30:00", 600, "failed", None, 1),
        ("2026-11-10T12:00:00", 700, "completed", (3000, 100, 1000), 5),
        ("2026-12-01T00:00:00", 800, "interrupted", None, 2),
    ):
        ids["gpt-4o"].append(
            write_stream(
                store,
                started_at=_at(when),
                model=big,
                ttft_ms=ttft,
                end=end,
                usage=usage,
                chunks=chunks,
                name="agent",
                metadata=carol,
            )
        )
    return ids


def expected_rollup(store: Store) -> set[tuple[Any, ...]]:
    """What ``stream_rollup`` must hold: hist04's backfill query over ``streams`` now."""
    query = hist04_rollup._backfill().split("\n", 1)[1]  # the SELECT under the INSERT
    with store.engine.connect() as conn:
        return {
            tuple(int(x) if i > 7 else x for i, x in enumerate(r))
            for r in conn.execute(text(query))
        }


def rollup_rows(store: Store) -> set[tuple[Any, ...]]:
    """What ``stream_rollup`` holds."""
    columns = [*ROLLUP_KEYS, "status", "nulls", *ROLLUP_VALUES]
    with store.engine.connect() as conn:
        rows = conn.execute(
            stream_rollup.select().with_only_columns(*(stream_rollup.c[c] for c in columns))
        )
        return {tuple(r) for r in rows}
