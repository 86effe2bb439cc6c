"""Closing the streams a dead recorder left ``recording`` (``streamrec recover``, and every
store open for this host's own dead processes).

A recorder killed mid-stream leaves its committed prefix and no end. Deciding that it
is dead must never close a stream still being written: on this host the recorder's pid
says so for certain; elsewhere only the age of the stream's last event can.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from .. import projection
from ..errors import StoreError
from ..events import EventKind, StoredEvent, utcnow
from ._rows import batches, interrupted_payload, stored_event
from ._schema import events
from ._summary import summary_row

if TYPE_CHECKING:
    from ._store import Store


def recover(store: Store, *, older_than_s: float, local_only: bool) -> list[str]:
    """``Store.recover``: the ids of the streams it marked interrupted."""
    recovered = []
    now = utcnow()
    rows = store.streams(status="recording")
    # every store open asks: one read of the first events, not one per stream
    firsts = _first_events(store, [row["stream_id"] for row in rows])
    for row in rows:
        stream_id = row["stream_id"]
        started = firsts.get(stream_id)
        payload = started.model() if started else None
        host, pid = getattr(payload, "host", None), getattr(payload, "pid", None)
        if host == socket.gethostname() and pid is not None:
            dead = not _pid_alive(pid)
        elif local_only:
            continue
        else:
            last = store.event(stream_id, row["last_seq"])
            age = (now - last.recorded_at).total_seconds() if last else older_than_s
            dead = age >= older_than_s
        if not dead or started is None:
            continue
        try:
            _close_interrupted(store, store.events(stream_id), "recorder process died")
        except StoreError:
            if store.stream(stream_id)["status"] != "recording":
                continue  # another process recovered it first
            raise  # the store cannot be written: say so, not "0 recovered"
        recovered.append(stream_id)
    return recovered


def _first_events(store: Store, stream_ids: Sequence[str]) -> dict[str, StoredEvent]:
    found: dict[str, StoredEvent] = {}
    with store._errors("read events"), store.engine.connect() as conn:
        for chunk in batches(stream_ids):
            query = select(events).where(events.c.seq == 0, events.c.stream_id.in_(chunk))
            for row in conn.execute(query):
                event = stored_event(row)
                found[event.stream_id] = event
    return found


def _close_interrupted(store: Store, stored: Sequence[StoredEvent], reason: str) -> None:
    """Append ``stream.interrupted`` (and its read-model row) to a stream that will never end."""
    last = stored[-1]
    event = StoredEvent(
        stream_id=last.stream_id,
        seq=last.seq + 1,
        kind=EventKind.INTERRUPTED,
        t_ns=last.t_ns,
        recorded_at=utcnow(),
        payload=interrupted_payload(reason),
    )
    store.append([event], [summary_row(projection.project([*stored, event]), event.seq)])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
