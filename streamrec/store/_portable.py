"""JSONL export and import: recordings as diffable text to keep in a repository.

One event per line, in (stream, seq) order, with the payload text verbatim, so
an export imported into another store replays byte for byte. ``readable=True``
writes a payload that is JSON as a JSON value (``"json": {...}``, plus the
``"style"`` that reproduces its exact bytes), so a reviewer reads the chunks in
a diff; a payload no style reproduces stays text. Import reads both.
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

__all__ = ["event_line", "export_lines", "import_lines", "readable_payload"]


# how JSON text may have been written: (separators, ensure_ascii) per style name
_STYLES: dict[str, tuple[tuple[str, str], bool]] = {
    "compact": ((",", ":"), False),
    "compact-ascii": ((",", ":"), True),
    "spaced": ((", ", ": "), False),
    "spaced-ascii": ((", ", ": "), True),
    "colon-space": ((",", ": "), False),  # Google's: {"a": 1,"b": 2}
    "colon-space-ascii": ((",", ": "), True),
}


def _styled(value: Any, style: str) -> str:
    separators, ascii_only = _STYLES[style]
    return json.dumps(value, separators=separators, ensure_ascii=ascii_only)


def readable_payload(payload: str) -> dict[str, Any]:
    """``{"json": value, "style": …}`` when a style reproduces ``payload`` exactly, else
    ``{"payload": payload}``."""
    if payload[:1] in ("{", "["):
        try:
            value = json.loads(payload)
        except ValueError:
            value = None
        if value is not None:
            for style in _STYLES:
                if _styled(value, style) == payload:
                    return (
                        {"json": value} if style == "compact" else {"json": value, "style": style}
                    )
    return {"payload": payload}


def event_line(e: StoredEvent, *, readable: bool = False) -> str:
    """One event as a JSON line (see the module docstring)."""
    head: dict[str, Any] = {
        "stream_id": e.stream_id,
        "seq": e.seq,
        "kind": e.kind.value,
        "t_ns": e.t_ns,
        "recorded_at": e.recorded_at.isoformat(),
        "event": e.event,
    }
    head.update(readable_payload(e.payload) if readable else {"payload": e.payload})
    line = json.dumps(head, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8: \udcXX escapes keep them exact
        line = json.dumps(head)
    return line


def export_lines(
    store: Store, stream_ids: Iterable[str] | None = None, *, readable: bool = False
) -> Iterator[str]:
    """JSON lines for the given streams (all when None), oldest stream first."""
    ids = [store.resolve(s) for s in stream_ids] if stream_ids else store.stream_ids()
    for stream_id in ids:
        for e in store.events(stream_id):
            yield event_line(e, readable=readable)


def _payload(raw: dict[str, Any]) -> str:
    if "payload" in raw:
        return str(raw["payload"])
    style = raw.get("style") or "compact"
    if style not in _STYLES:
        raise ValueError(f"unknown payload style {style!r}")
    return _styled(raw["json"], style)


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
                payload=_payload(raw),
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
