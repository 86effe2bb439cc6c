"""Following the log while other processes record into it (``streamrec tail``).

SQLite has no notifications: the follower polls the log's position (the
autoincrement ``events.position``) on a short interval; a poll that finds
nothing costs one indexed query. PostgreSQL wakes the follower: revision
hist03 adds a statement trigger on ``events`` that ``NOTIFY``s
``streamrec_events`` at each commit, and the follower ``LISTEN``s, reading only
when told (and every few seconds regardless, in case a notification is lost).

PostgreSQL hands out positions at insert and commits in any order, so a
reader cannot trust "position > last" alone: events are tracked per stream by
``seq`` (gapless), and each read looks back a window of positions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ..events import EventKind, StoredEvent
from ._schema import events

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["CHANNEL", "follow"]

CHANNEL = "streamrec_events"
_LOOKBACK = 10_000  # positions re-read on PostgreSQL, for commits that landed out of order
_TERMINAL = frozenset({EventKind.COMPLETED, EventKind.FAILED, EventKind.INTERRUPTED})


def follow(
    store: Store,
    stream_id: str | None = None,
    *,
    from_start: bool = True,
    poll_s: float = 0.2,
    stop: Callable[[], bool] | None = None,
    idle_timeout_s: float | None = None,
) -> Iterator[StoredEvent]:
    """Events as they are committed, in order per stream.

    With ``stream_id``: that stream's events (from its first when
    ``from_start``), ending after its terminal event. Without: every stream's
    events appended from now on, until ``stop()`` is true or ``idle_timeout_s``
    passes with nothing new.
    """
    from ._rows import stored_event

    if stream_id is not None:
        stream_id = store.resolve(stream_id)
    seen: dict[str, int] = {}
    with store.engine.connect() as conn:
        last = int(conn.execute(select(func.coalesce(func.max(events.c.position), 0))).scalar_one())
    if stream_id is not None and from_start:
        last = 0
    waiter = _Waiter(store, poll_s)
    idle_since = time.monotonic()
    try:
        while True:
            lookback = _LOOKBACK if store.engine.dialect.name == "postgresql" else 0
            query = select(events).where(events.c.position > last - lookback)
            if stream_id is not None:
                query = query.where(events.c.stream_id == stream_id)
            query = query.order_by(events.c.position).limit(5000)
            with store._errors("follow the log"), store.engine.connect() as conn:
                rows = conn.execute(query).all()
            fresh = False
            for row in rows:
                event = stored_event(row)
                if event.seq <= seen.get(event.stream_id, -1):
                    continue
                if event.seq != seen.get(event.stream_id, event.seq - 1) + 1 and (
                    event.stream_id in seen
                ):
                    break  # a gap: its missing event has not committed yet; read again
                seen[event.stream_id] = event.seq
                last = max(last, event.position or last)
                fresh = True
                yield event
                if stream_id is not None and event.kind in _TERMINAL:
                    return
            if fresh:
                idle_since = time.monotonic()
            elif idle_timeout_s is not None and time.monotonic() - idle_since > idle_timeout_s:
                return
            if stop is not None and stop():
                return
            if not fresh or len(rows) < 5000:
                waiter.wait()
    finally:
        waiter.close()


class _Waiter:
    """Sleeps until the log may have grown: a poll interval, or a PostgreSQL notification."""

    def __init__(self, store: Store, poll_s: float) -> None:
        self.poll_s = poll_s
        self._conn: Any = None
        if store.engine.dialect.name == "postgresql":
            raw = store.engine.raw_connection()
            driver = raw.driver_connection
            driver.autocommit = True  # type: ignore[union-attr]
            driver.execute(f"LISTEN {CHANNEL}")  # type: ignore[union-attr]
            self._raw = raw
            self._conn = driver

    def wait(self) -> None:
        if self._conn is None:
            time.sleep(self.poll_s)
            return
        # woken by a commit's NOTIFY; read again after a few seconds regardless
        for _ in self._conn.notifies(timeout=max(self.poll_s, 2.0), stop_after=1):
            break

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(f"UNLISTEN {CHANNEL}")
            finally:
                self._raw.close()
