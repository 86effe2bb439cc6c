"""JSONL export and import: recordings as diffable text to keep in a repository.

One event per line, in (stream, seq) order, with the payload text verbatim, so
an export imported into another store replays byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..events import EventKind, StoredEvent
from ..projection import project
from ._summary import summary_row

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["export_lines", "import_lines"]


def export_lines(store: Store, stream_ids: Iterable[str] | None = None) -> Iterator[str]:
    """JSON lines for the given streams (all when None), oldest stream first."""
    ids = [store.resolve(s) for s in stream_ids] if stream_ids else store.stream_ids()
    for stream_id in ids:
        for e in store.events(stream_id):
            yield json.dumps(
                {
                    "stream_id": e.stream_id,
                    "seq": e.seq,
                    "kind": e.kind.value,
                    "t_ns": e.t_ns,
                    "recorded_at": e.recorded_at.isoformat(),
                    "event": e.event,
                    "payload": e.payload,
                },
                ensure_ascii=False,
            )


def import_lines(store: Store, lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """Append the streams in ``lines``; returns (imported ids, skipped ids already present).

    Every line is checked before anything is written: a bad file imports nothing.
    """
    by_stream: dict[str, list[StoredEvent]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw: dict[str, Any] = json.loads(line)
            event = StoredEvent(
                stream_id=str(raw["stream_id"]),
                seq=int(raw["seq"]),
                kind=EventKind(raw["kind"]),
                t_ns=int(raw["t_ns"]),
                recorded_at=datetime.fromisoformat(raw["recorded_at"]),
                payload=str(raw["payload"]),
                event=raw.get("event"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"line {number}: not a streamrec event ({exc})") from None
        by_stream.setdefault(event.stream_id, []).append(event)
    existing = set(store.stream_ids())
    imported, skipped = [], []
    for stream_id, events in by_stream.items():
        if stream_id in existing:
            skipped.append(stream_id)
            continue
        events.sort(key=lambda e: e.seq)
        if [e.seq for e in events] != list(range(len(events))):
            raise StoreError(f"stream {stream_id}: seq is not gapless from 0")
        if events[0].kind is not EventKind.STARTED:
            raise StoreError(f"stream {stream_id}: does not begin with stream.started")
        imported.append(stream_id)
    for stream_id in imported:
        events = by_stream[stream_id]
        store.append(events, [summary_row(project(events), events[-1].seq)])
    return imported, skipped
