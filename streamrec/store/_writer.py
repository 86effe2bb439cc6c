"""The one writer: takes events off the live stream's path and commits them in groups.

Recorders hand events to ``submit``: an append to a thread-safe queue (no lock, no
I/O, no bookkeeping on the live stream's path). The bookkeeping (numbering, the
buffer bound, streams given up) happens when the queue is drained into the
pending list: by the writer at each cycle, by ``flush``, and by a submitter
that finds the queue long (so the bound holds while a commit is slow). A
daemon thread commits whatever has gathered every ``interval`` seconds, at once
when someone waits on ``flush`` (stream end, or every chunk with
``durability="chunk"``), and at interpreter exit.

Two kinds of failure are told apart, because they need opposite answers:

- The database is unreachable or locked (``StoreUnavailable``): nothing is wrong
  with the events. They stay in memory, in order, and the writer retries with
  backoff (up to ``_MAX_BACKOFF_S`` apart) until the database takes them. The
  buffer is bounded (``max_buffer_bytes``, default 64 MiB of payload, or
  ``$STREAMREC_BUFFER_MB``): an event that would pass the bound is dropped with
  every later event of its stream, and that stream is marked failed (naming
  the loss) as soon as the database accepts writes again. Waiters on ``flush``
  are released while the database is away, so no consumer stalls on it.
- Anything else a write raises is about the data: the batch is split per stream,
  and only the streams whose own events fail are marked failed, with the reason.

A connection lost while its COMMIT is on the wire leaves the batch in doubt: the
server may have committed it without the answer coming back (or commit it later:
the retry then waits on the open transaction's keys). The retry is then refused on
the events' own unique key, which alone would give the stream up and lose everything
after it. So a write refused on a unique key first asks the database how far each
stream of the batch is stored (a stream's events are committed in seq order),
counts what is there as committed, and writes the rest.

The thread survives every exception; later recordings in the process are stored.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from ..errors import StoreError, StoreUnavailable
from ..events import ChunkCell, ChunkTuple, StoredEvent, chunk_row

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["BUFFER_ENV_VAR", "DEFAULT_BUFFER_BYTES", "Writer"]

log = logging.getLogger("streamrec.store")

FailureListener = Callable[[BaseException], None]
BUFFER_ENV_VAR = "STREAMREC_BUFFER_MB"
DEFAULT_BUFFER_BYTES = 64 << 20
_EVENT_OVERHEAD = 200  # bytes counted per event beside its payload (ids, timings, the row)
_FIRST_BACKOFF_S = 0.05
_MAX_BACKOFF_S = 2.0
# at interpreter exit, how long to keep retrying a database that is away
_EXIT_GRACE_S = 5.0
# a submitter that finds this many events not yet drained drains them itself (under the lock)
_DRAIN_AT = 1024


@dataclass(slots=True)
class _Item:
    event: StoredEvent
    summary: dict[str, Any] | None
    size: int
    number: int = 0  # order of submission


def _size(event: StoredEvent) -> int:
    """What an event counts against the buffer bound. A chunk the recorder still holds as an
    SDK object (its wire JSON is made here, at commit) is counted by its estimate: measuring
    it would dump it on the live stream's path."""
    if type(event) is StoredEvent:  # the common case, without a failed attribute lookup
        return len(event.payload) + _EVENT_OVERHEAD
    estimate = getattr(event, "size_estimate", None)
    return (estimate if isinstance(estimate, int) else len(event.payload)) + _EVENT_OVERHEAD


def _buffer_bound(explicit: int | None) -> int:
    if explicit is not None:
        return explicit
    raw = os.environ.get(BUFFER_ENV_VAR)
    if raw:
        try:
            return int(float(raw) * (1 << 20))
        except ValueError:
            log.warning("streamrec: ignoring %s=%r (not a number of MiB)", BUFFER_ENV_VAR, raw)
    return DEFAULT_BUFFER_BYTES


class Writer:
    """Group-commit writer for one store; thread-safe, shared by every recording in the process."""

    def __init__(
        self,
        store: Store,
        *,
        interval: float = 0.02,
        max_batch: int = 5000,
        max_buffer_bytes: int | None = None,
    ) -> None:
        self._store = store
        self._interval = interval
        self._max_batch = max_batch
        self.max_buffer_bytes = _buffer_bound(max_buffer_bytes)
        """Bound on the payload bytes held while the database is away (see the module doc)."""
        self._cond = threading.Condition(threading.Lock())
        # submitted, not drained: events, (event, summary) pairs, chunks' bare tuples and
        # SDK chunks' cells
        self._inbox: deque[
            StoredEvent | tuple[StoredEvent, dict[str, Any]] | ChunkTuple | ChunkCell
        ]
        self._inbox = deque()
        self._idle = False  # the thread waits for the first event (a submit must wake it)
        self._pending: list[_Item] = []  # submitted, not yet committed or given up, in order
        self._bytes = 0
        self._submitted = 0  # number of the last item put in _pending
        self._waiters: list[tuple[int, Future[bool]]] = []
        self._give_up_at = 0.0
        self._urgent = False
        self._stopping = False
        self._closed = False
        self._listeners: dict[str, FailureListener] = {}
        self._failed: set[str] = set()  # streams given up: later events are not stored
        self._dropped: dict[str, int] = {}  # stream -> events dropped past the bound
        self.unavailable: StoreError | None = None
        """Why the database is not taking writes right now; None while it is."""
        self._thread = threading.Thread(target=self._run, name="streamrec-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- what recorders call ---------------------------------------------------------------

    def submit(self, event: StoredEvent, summary: dict[str, Any] | None = None) -> None:
        """Queue an event (and, for a terminal one, its read-model row). Never blocks on I/O.

        An append, and a wake-up only when the writer sleeps (or the stream ends); chunks
        come through ``submit_row`` instead. Whether the event is kept (the buffer bound, a
        stream given up) is decided when it is drained, in submission order.
        """
        if self._closed:
            # after interpreter-exit close: write through rather than lose it
            self._write_through(_Item(event, summary, _size(event)))
            return
        inbox = self._inbox
        inbox.append(event if summary is None else (event, summary))
        if self._idle or summary is not None:
            with self._cond:
                self._cond.notify()
        elif len(inbox) >= _DRAIN_AT:
            self._drain_here()

    def submit_row(self, row: ChunkTuple | ChunkCell) -> None:
        """``submit`` for a chunk given as its bare tuple (``ChunkTuple``: the live path
        allocates nothing the garbage collector keeps tracking) or an SDK chunk's cell
        (``ChunkCell``, one list); the row is made when drained."""
        if self._closed:
            self.submit(chunk_row(row))
            return
        inbox = self._inbox
        inbox.append(row)
        if self._idle:
            with self._cond:
                self._cond.notify()
        elif len(inbox) >= _DRAIN_AT:
            self._drain_here()

    def _drain_here(self) -> None:
        with self._cond:
            self._drain()

    def _drain(self) -> None:
        """Move what was submitted into ``_pending``, applying the bound and the streams given
        up (caller holds the lock).

        A stream that begins losing events is told here, under the lock, so that whoever
        drains next (a ``flush`` on the stream's own thread, say) sees the failure already
        reported. Listeners only note the error (``Recording._on_storage_failure``): they
        never call back into the writer.
        """
        inbox = self._inbox
        while inbox:
            item = inbox.popleft()
            if isinstance(item, StoredEvent):
                event, summary = item, None
            elif len(item) == 2:
                event, summary = item  # a stream's end and its read-model row
            else:  # a chunk's bare tuple or cell
                event, summary = chunk_row(item), None
            stream_id = event.stream_id
            if stream_id in self._failed:
                if summary is not None:  # its end: nothing more will come
                    self._failed.discard(stream_id)
                continue
            if stream_id in self._dropped:
                self._dropped[stream_id] += 1
                continue
            size = _size(event)
            if self._pending and self._bytes + size > self.max_buffer_bytes:
                self._dropped[stream_id] = 1
                log.warning(
                    "streamrec: recording %s is losing events: the write buffer (%d MiB) is "
                    "full while the database is unavailable (%s); it will be marked failed",
                    stream_id,
                    self.max_buffer_bytes >> 20,
                    self.unavailable,
                )
                tell = self._listeners.get(stream_id)
                if tell is not None:
                    with contextlib.suppress(Exception):
                        tell(StoreError(self._drop_reason(stream_id)))
                continue
            self._submitted += 1
            self._pending.append(_Item(event, summary, size, self._submitted))
            self._bytes += size

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

    def flush_future(self) -> Future[bool]:
        """A future that resolves once everything submitted before it is committed (True), or
        at once while the database is unavailable (False: the events are buffered, not lost)."""
        done: Future[bool] = Future()
        with self._cond:
            self._drain()
            if not self._pending or self._closed or not self._thread.is_alive():
                done.set_result(not self._pending)
            elif self.unavailable is not None:
                done.set_result(False)
            else:
                self._waiters.append((self._submitted, done))
                self._urgent = True
                self._cond.notify()
        return done

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything submitted so far is committed; False if it is only buffered."""
        return self.flush_future().result(timeout)

    @property
    def buffered(self) -> int:
        """Events submitted and not yet committed."""
        with self._cond:
            return len(self._pending) + len(self._inbox)

    def close(self, grace: float = _EXIT_GRACE_S) -> None:
        """Commit what is queued and stop the thread (idempotent; runs at exit).

        While the database is away, keeps retrying for ``grace`` seconds; what is still
        buffered then is lost, and the log names its streams.
        """
        if self._closed:
            return
        with self._cond:
            self._stopping = True
            self._give_up_at = time.monotonic() + grace
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=grace + 60)
        with self._cond:
            self._closed = True
            self._drain()
            lost = {i.event.stream_id for i in self._pending}
            self._release_waiters(force=True)
        if lost:
            log.warning(
                "streamrec: the database stayed unavailable at exit; not stored: %s",
                ", ".join(sorted(lost)),
            )
        atexit.unregister(self.close)

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                self._drain()
                while not self._pending and not self._stopping:
                    self._idle = True  # set before the last look: a later submit wakes us
                    self._drain()
                    if self._pending:
                        break
                    self._cond.wait()
                self._idle = False
                self._drain()
                if not self._pending:
                    return
                if backoff:
                    if self._stopping and time.monotonic() >= self._give_up_at:
                        return
                    self._cond.wait(backoff)  # a close wakes us early; the wait is the backoff
                elif not (self._urgent or self._stopping):
                    self._cond.wait(self._interval)  # let a group gather
                self._urgent = False
                self._drain()
                batch = self._pending[: self._max_batch]
            try:
                available = self._commit(batch)
            except Exception:  # a bug of ours must not end recording in this process
                log.exception("streamrec: the writer failed on a batch; its streams are marked")
                self._give_up(batch, StoreError("internal error in the writer (see the log)"))
                available = True
            if available:
                backoff = 0.0
                self._finish_dropped()
            else:
                backoff = min(max(backoff * 2, _FIRST_BACKOFF_S), _MAX_BACKOFF_S)

    def _commit(self, batch: Sequence[_Item]) -> bool:
        """Store ``batch``; False if the database is unavailable (the batch stays pending)."""
        try:
            self._append(batch)
        except StoreUnavailable as exc:
            self._outage(exc)
            return False
        except Exception as exc:
            if isinstance(exc.__cause__, IntegrityError):  # a write cut by an outage landed?
                try:
                    left = self._reconcile(batch)
                except StoreUnavailable as again:
                    self._outage(again)
                    return False
                if len(left) < len(batch):
                    return not left or self._commit(left)
            by_stream: dict[str, list[_Item]] = {}
            for item in batch:
                by_stream.setdefault(item.event.stream_id, []).append(item)
            if len(by_stream) == 1:
                self._give_up(batch, exc)
                return True
            # split per stream: only the streams whose own events fail are lost
            for items in by_stream.values():
                try:
                    self._append(items)
                except StoreUnavailable as again:
                    self._outage(again)
                    return False
                except Exception as own:
                    self._give_up(items, own)
                else:
                    self._committed(items)
            return True
        self._committed(batch)
        return True

    def _reconcile(self, batch: Sequence[_Item]) -> Sequence[_Item]:
        """Count as committed the events of ``batch`` the database already holds; the rest.
        A write an outage cut was a head of the pending list, so it is within this batch.
        Raises ``StoreUnavailable`` while the database is still away."""
        through = self._store.stored_through([i.event.stream_id for i in batch])
        stored = [i for i in batch if i.event.seq <= through.get(i.event.stream_id, -1)]
        if not stored:
            return batch
        log.warning(
            "streamrec: %d event(s) written as the database went away were committed after all",
            len(stored),
        )
        self._committed(stored)
        gone = {id(i) for i in stored}
        return [i for i in batch if id(i) not in gone]

    def _append(self, items: Sequence[_Item]) -> None:
        events = [i.event for i in items]
        summaries = [i.summary for i in items if i.summary is not None]
        self._store.append(events, summaries)

    def _outage(self, exc: StoreUnavailable) -> None:
        with self._cond:
            first = self.unavailable is None
            self.unavailable = exc
            held = len(self._pending)
            self._release_waiters(force=True)
        if first:
            log.warning(
                "streamrec: the database is unavailable (%s); keeping %d event(s) in memory "
                "(up to %d MiB) and retrying",
                exc,
                held,
                self.max_buffer_bytes >> 20,
            )

    def _committed(self, items: Sequence[_Item]) -> None:
        ended = [i.event.stream_id for i in items if i.summary is not None]
        with self._cond:
            if self.unavailable is not None:
                log.warning(
                    "streamrec: the database is back; writing %d buffered event(s)",
                    len(self._pending),
                )
                self.unavailable = None
            self._remove(items)
            for stream_id in ended:  # its terminal event: nothing left to report
                self._listeners.pop(stream_id, None)

    def _give_up(self, items: Sequence[_Item], error: BaseException) -> None:
        """Events of these streams cannot be stored: drop them (and later ones), mark the streams."""
        ids = list(dict.fromkeys(i.event.stream_id for i in items))
        with self._cond:
            self._failed.update(ids)
        # told and marked before waiters are released, so a flush sees the failure
        for stream_id in ids:
            self._mark(stream_id, f"events could not be stored: {_reason(error)}", error)
        with self._cond:
            self._remove([i for i in self._pending if i.event.stream_id in self._failed])

    def _finish_dropped(self) -> None:
        """Mark the streams that lost events past the bound, once their kept events are in."""
        with self._cond:
            if not self._dropped:
                return
            still = {i.event.stream_id for i in self._pending}
            ready = [s for s in self._dropped if s not in still]
        for stream_id in ready:
            reason = self._drop_reason(stream_id)
            try:
                self._store.mark_failed(stream_id, reason)
            except StoreError:
                return  # the database went away again: next time
            with self._cond:
                self._dropped.pop(stream_id, None)
                self._failed.add(stream_id)
            log.warning("streamrec: recording %s marked failed: %s", stream_id, reason)
            self._tell(stream_id, StoreError(reason))

    def _drop_reason(self, stream_id: str) -> str:
        return (
            f"{self._dropped.get(stream_id, 0)} event(s) dropped: the write buffer "
            f"({self.max_buffer_bytes >> 20} MiB) was full while the database was unavailable"
        )

    def _mark(self, stream_id: str, reason: str, error: BaseException) -> None:
        log.warning("streamrec: recording %s: %s", stream_id, reason)
        self._tell(stream_id, error if isinstance(error, StoreError) else StoreError(reason))
        with contextlib.suppress(Exception):  # the database is gone; the listener was told
            self._store.mark_failed(stream_id, reason)

    def _tell(self, stream_id: str, error: BaseException) -> None:
        listener = self._listeners.pop(stream_id, None)
        if listener is not None:
            with contextlib.suppress(Exception):
                listener(error)

    def _remove(self, items: Sequence[_Item]) -> None:
        """Take ``items`` out of the pending list (caller holds the lock) and release waiters."""
        if not items:
            return
        gone = {id(i) for i in items}
        self._pending = [i for i in self._pending if id(i) not in gone]
        self._bytes -= sum(i.size for i in items)
        self._release_waiters()

    def _release_waiters(self, *, force: bool = False) -> None:
        # _pending keeps submission order: everything up to ``target`` is out once the
        # oldest pending item is younger than it
        oldest = self._pending[0].number if self._pending else self._submitted + 1
        keep = []
        for target, future in self._waiters:
            if oldest > target:
                future.set_result(True)
            elif force:
                future.set_result(False)
            else:
                keep.append((target, future))
        self._waiters = keep

    def _write_through(self, item: _Item) -> None:
        try:
            self._append([item])
        except Exception as exc:
            self._tell(item.event.stream_id, exc)


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
