"""The one writer: takes events off the live stream's path and commits them in groups.

Recorders hand events to ``submit`` (a queue put, no I/O); a daemon thread
commits whatever has gathered every ``interval`` seconds, at once when someone
waits on ``flush`` (stream end), and at interpreter exit. A batch that fails is
retried, then split per stream so one bad stream cannot take others down; a
stream whose events could not be stored is reported to its listener and marked
failed, and the live stream goes on.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..events import StoredEvent

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["Writer"]

FailureListener = Callable[[BaseException], None]
_RETRY_DELAYS = (0.05, 0.25, 1.0)


@dataclass(slots=True)
class _Item:
    event: StoredEvent
    summary: dict[str, Any] | None = None


@dataclass(slots=True)
class _Flush:
    done: Future[None] = field(default_factory=Future)


_STOP = object()


class Writer:
    """Group-commit writer for one store; thread-safe, shared by every recording in the process."""

    def __init__(self, store: Store, *, interval: float = 0.02, max_batch: int = 5000) -> None:
        self._store = store
        self._interval = interval
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._listeners: dict[str, FailureListener] = {}
        self._failed: set[str] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="streamrec-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def submit(self, event: StoredEvent, summary: dict[str, Any] | None = None) -> None:
        """Queue an event (and, for a terminal one, its read-model row). Never blocks on I/O."""
        if self._closed:
            # after interpreter-exit close: write through rather than lose it
            self._commit([_Item(event, summary)])
            return
        self._queue.put(_Item(event, summary))

    def listen(self, stream_id: str, listener: FailureListener) -> None:
        """Call ``listener(exc)`` if events of ``stream_id`` cannot be stored.

        The listener is dropped once the stream's terminal event is committed.

        A bound method is held weakly, so a recording dropped without a flush is not kept alive.
        """
        if inspect.ismethod(listener):
            method = weakref.WeakMethod(listener)
            self._listeners[stream_id] = lambda exc: (m := method()) and m(exc)
        else:
            self._listeners[stream_id] = listener

    def flush_future(self) -> Future[None]:
        """A future that resolves once everything submitted before it is committed."""
        marker = _Flush()
        if self._closed or not self._thread.is_alive():
            marker.done.set_result(None)
        else:
            self._queue.put(marker)
        return marker.done

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until everything submitted so far is committed."""
        self.flush_future().result(timeout)

    def close(self) -> None:
        """Commit what is queued and stop the thread (idempotent; runs at exit)."""
        if self._closed:
            return
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=60)
        self._closed = True
        atexit.unregister(self.close)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[_Item] = []
            waiters: list[_Flush] = []
            stop = self._take(first, batch, waiters)
            deadline = time.monotonic() + self._interval
            while not stop and not waiters and len(batch) < self._max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                stop = self._take(item, batch, waiters)
            # drain whatever else is already queued without waiting
            while not stop and len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = self._take(item, batch, waiters)
            if batch:
                self._commit(batch)
            for waiter in waiters:
                waiter.done.set_result(None)
            if stop:
                return

    def _take(self, item: Any, batch: list[_Item], waiters: list[_Flush]) -> bool:
        if item is _STOP:
            return True
        if isinstance(item, _Flush):
            waiters.append(item)
        else:
            batch.append(item)
        return False

    def _commit(self, batch: Sequence[_Item]) -> None:
        batch = [i for i in batch if i.event.stream_id not in self._failed]
        if not batch:
            return
        error = self._try(batch)
        if error is None:
            for item in batch:
                if item.summary is not None:  # its terminal event: nothing left to report
                    self._listeners.pop(item.event.stream_id, None)
            return
        # split per stream: only the streams whose own events fail are lost
        by_stream: dict[str, list[_Item]] = {}
        for item in batch:
            by_stream.setdefault(item.event.stream_id, []).append(item)
        for stream_id, items in by_stream.items():
            stream_error = self._try(items, retries=()) if len(by_stream) > 1 else error
            if stream_error is not None:
                self._fail(stream_id, stream_error)

    def _try(
        self, items: Sequence[_Item], retries: Sequence[float] = _RETRY_DELAYS
    ) -> StoreError | None:
        events = [i.event for i in items]
        summaries = [i.summary for i in items if i.summary is not None]
        for delay in (*retries, None):
            try:
                self._store.append(events, summaries)
                return None
            except StoreError as exc:
                if delay is None:
                    return exc
                time.sleep(delay)
        return None  # pragma: no cover - the loop always returns

    def _fail(self, stream_id: str, error: StoreError) -> None:
        self._failed.add(stream_id)
        listener = self._listeners.pop(stream_id, None)
        if listener is not None:
            listener(error)
        with contextlib.suppress(StoreError):  # the database is gone; the listener was told
            self._store.mark_failed(stream_id, str(error))
