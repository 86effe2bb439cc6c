"""One recording in progress: builds events, folds them live, hands them to the writer.

Every way of recording (iterator wrappers, the httpx transport, the proxy)
drives a ``Recording``; none of them builds events or touches the store itself.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ..errors import RecorderError, StoreError, StoreWarning
from ..events import (
    ChunkCell,
    ChunkTuple,
    EventKind,
    SSEEvent,
    StoredEvent,
    StreamFailed,
    StreamInterrupted,
    StreamStarted,
    ToolResult,
    chunk_row,
    new_stream_id,
    request_fingerprint,
    utcnow,
)
from ..projection import (
    Projector,
    StreamState,
    ToolCall,
    api_for_provider,
    reducer_for,
    tool_identity,
)
from ..store import Store, as_store, summary_row
from ._attribution import check_metadata
from ._redact import Redact, redact_text, safe_headers, scrub
from ._wire import (
    AS_IS,
    AS_IS_UNLESS_EXTRA_TYPE,
    dump_sdk,
    sdk_mode,
    sdk_modes,
    sdk_part,
    to_wire,
)

__all__ = ["DURABILITIES", "Durability", "Recording"]

log = logging.getLogger("streamrec.recorder")

# response headers that describe one connection or the bytes as sent, not the response:
# replay frames its own body (decoded, re-chunked), so these would lie
_UNREPLAYED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "set-cookie",
        "cookie",
    }
)

Durability = Literal["group", "chunk"]
#: ``group``: commits gather for ``Writer`` 's interval (20 ms) and at stream end, so a
#: SIGKILL loses at most the events of the last interval; ``chunk``: each chunk is
#: committed before the consumer gets it (nothing handed over is lost on SIGKILL)
DURABILITIES: tuple[str, ...] = ("group", "chunk")

# the live path's calls, bound once (module globals: no attribute lookups per chunk)
_mono = time.monotonic_ns
_wall = time.time_ns

_WARNED_LOCK = threading.Lock()
_WARNED: set[str] = set()  # stores already warned about (unavailable or unusable), by URL


class Recording:
    """The events of one stream, from ``stream.started`` to its terminal event."""

    def __init__(
        self,
        *,
        api: str,
        request: Mapping[str, Any] | None = None,
        store: Store | str | os.PathLike[str] | None = None,
        name: str | None = None,
        tags: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        strict: bool = False,
        prompt_template: str | None = None,
        fn_args: Mapping[str, Any] | None = None,
        redact: Redact | None = None,
        connection: Mapping[str, Any] | None = None,
        durability: Durability | str = "group",
        client: str | None = None,
    ) -> None:
        if "." not in api:
            api = api_for_provider(api)
        reducer = reducer_for(api)  # fail fast on an api we cannot fold
        if durability not in DURABILITIES:
            raise RecorderError(
                f"durability must be one of {', '.join(DURABILITIES)}, not {durability!r}"
            )
        meta = check_metadata(metadata)
        self.api = api
        self.durability = durability
        self.stream_id = new_stream_id()
        self.strict = strict
        self.storage_error: BaseException | None = None
        self.problems: list[str] = []
        """What could not be recorded exactly (unsupported chunks, values JSON cannot encode)."""
        self.finished = False
        self._reported = False
        self._writer: Any = None
        self._submit_row: Any = None  # the writer's ``submit_row``, looked up once
        self._dump = self._dump_part  # bound once: every SDK chunk's cell holds it
        self._modes = sdk_modes(api)  # per class of chunk objects: what is stored of them
        self._store: Store | None = None
        self._projector = Projector(self.stream_id)
        # events not yet folded: the fold (JSON decode, reducer, state writes) is most of a
        # chunk's cost, so it runs when the state is read, not on the live stream's path
        self._unfolded: list[StoredEvent | ChunkTuple | ChunkCell] = []
        self._seq = 0
        self._t0 = time.monotonic_ns()
        self._response: dict[str, Any] | None = None
        self._redact = redact or Redact()
        self._open_store(store)
        clean = scrub(dict(request or {}))
        if self._redact.request is not None:
            clean = self._redact.request(clean)
        try:
            fingerprint: str | None = request_fingerprint(api, clean)
        except (TypeError, ValueError):  # keys JSON cannot sort: matched by nothing
            fingerprint = None
        started = StreamStarted(
            provider=reducer.provider,
            api=api,
            model=clean.get("model") if isinstance(clean.get("model"), str) else None,
            request=clean,
            prompt_template=prompt_template,
            fn_args=scrub(dict(fn_args or {})),
            name=name,
            tags=[str(t) for t in tags],
            metadata=meta,
            fingerprint=fingerprint,
            host=socket.gethostname(),
            pid=os.getpid(),
            connection=scrub(dict(connection)) if connection else None,
            client=_client_name(client),
        )
        self._emit(EventKind.STARTED, self._started_json(started))

    def _open_store(self, store: Store | str | os.PathLike[str] | None) -> None:
        """Attach to the store's writer; a store that cannot be used never breaks the call."""
        try:
            self._store = as_store(store)
        except StoreError as exc:
            if self.strict:
                raise RecorderError(f"cannot record: {exc}") from exc
            # the live stream goes on; this recording is lost, and said so once per store
            self.storage_error = exc
            self._reported = True
            _warn_once(str(store), f"streamrec: not recording ({exc}); the live stream continues")
            return
        if self._store.unavailable is not None:
            if self.strict:
                raise RecorderError(f"cannot record: {self._store.unavailable}")
            _warn_once(
                self._store.url,
                f"streamrec: the database is unavailable ({self._store.unavailable}); "
                "recordings are kept in memory and written when it is back",
            )
        self._writer = self._store.writer
        self._submit_row = self._writer.submit_row
        self._writer.listen(self.stream_id, self._on_storage_failure)

    def _started_json(self, started: StreamStarted) -> str:
        try:
            return started.model_dump_json(exclude_none=True)
        except ValueError:  # text with lone surrogates, values JSON cannot encode
            pass
        bad: list[str] = []

        def best_effort(value: Any) -> str:
            bad.append(type(value).__name__)
            return repr(value)

        text = json.dumps(started.model_dump(mode="python", exclude_none=True), default=best_effort)
        if bad:
            self._problem(f"request values JSON cannot encode stored as text: {sorted(set(bad))}")
        return text

    # -- what the wrappers call ----------------------------------------------------------

    @property
    def state(self) -> StreamState:
        """The live state, exact whenever it is read: the chunks since the last read are
        folded now (lazily, so that recording costs the live stream a row and a queue put)."""
        self._fold()
        return self._projector.state

    def chunk(self, chunk: Any) -> None:
        """Record one chunk as received (folded into ``state`` when that is next read)."""
        if self.storage_error is not None:
            self._check_strict()
        cls = type(chunk)
        if self._redact.chunk is None and (
            cls is SSEEvent or (mode := self._modes.get(cls) or sdk_mode(cls, self.api))
        ):
            # the live path of every chunk the transports, the proxy and SDK streams hand
            # over: a row and two appends, and one call of ours (the writer's)
            seq = self._seq
            if cls is SSEEvent:
                # a bare tuple: nothing the garbage collector keeps tracking (with thousands
                # of rows alive, tracked ones made its collections most of a chunk's cost)
                t_ns = _mono() - self._t0
                bare = (self.stream_id, seq, t_ns, _wall(), chunk.data, chunk.event)
                self._seq = seq + 1
                self._unfolded.append(bare)
                if self._submit_row is not None:
                    try:
                        self._submit_row(bare)
                    except Exception as exc:  # the live stream goes on whatever the store does
                        self._on_storage_failure(exc)
            else:
                # an SDK object: what is stored is chosen now (seq stays gapless); its wire
                # JSON is made on the writer's thread, or by the next state read
                if mode == AS_IS:
                    part = chunk
                elif mode == AS_IS_UNLESS_EXTRA_TYPE:
                    extra = getattr(chunk, "__pydantic_extra__", None)
                    part = chunk if not extra or "type" not in extra else None
                else:
                    part = None
                if part is None:
                    part = sdk_part(chunk, self.api)
                    if part is None:
                        return
                # one list, shared by the writer's row and the fold's: dumped once
                cell = [self.stream_id, seq, _mono() - self._t0, _wall(), part, self._dump, None]
                self._seq = seq + 1
                self._unfolded.append(cell)
                if self._submit_row is not None:
                    try:
                        self._submit_row(cell)
                    except Exception as exc:  # the live stream goes on whatever the store does
                        self._on_storage_failure(exc)
            return
        try:
            wire = to_wire(chunk, self.api)
        except Exception as exc:  # never into the consumer's loop: keep what we can
            wire = self._best_effort(chunk, exc)
        if wire is None:
            return
        data, name = wire
        if self._redact.chunk is not None:
            data = self._redact.chunk(data)
        self._push(data, name)

    def client_message(self, data: str, event: str | None = None) -> None:
        """Record a frame the client sent over a WebSocket (``client.message``), in order."""
        self._check_strict()
        if self._redact.chunk is not None:
            data = self._redact.chunk(data)
        self._emit(EventKind.CLIENT_MESSAGE, data, event)

    def _dump_part(self, part: Any, seq: int) -> tuple[str, str | None]:
        """An SDK chunk's wire text, made on the writer's thread or by the next state read
        (see ``DeferredChunk``); a dump that fails stores the object's repr and tells
        ``problems``, as the eager path does, never raising into the writer or the fold."""
        try:
            return dump_sdk(part, self.api)
        except Exception as exc:
            # named as the eager path names it (event ``seq`` - 1: the started event is 0)
            what = type(part).__name__
            self._problem(f"chunk {seq - 1}: a {what} stored as its repr ({exc})")
            return repr(part), None

    def _best_effort(self, chunk: Any, error: Exception) -> tuple[str, str | None]:
        if isinstance(chunk, Mapping):
            text = json.dumps(dict(chunk), separators=(",", ":"), ensure_ascii=False, default=repr)
            self._problem(f"chunk {self._seq - 1}: values JSON cannot encode stored as text")
            return text, None
        self._problem(
            f"chunk {self._seq - 1}: a {type(chunk).__name__} stored as its repr ({error})"
        )
        return repr(chunk), None

    def _problem(self, text: str) -> None:
        if not self.problems:
            log.warning("streamrec: recording %s: %s", self.stream_id, text)
        self.problems.append(text)

    def durable(self, timeout: float | None = 30.0) -> None:
        """With ``durability="chunk"``, wait until what was recorded so far is committed
        (the wrappers call it before handing a chunk over); with ``group``, return at once."""
        if self.durability == "chunk" and self._writer is not None:
            self.flush(timeout, check=False)

    async def adurable(self, timeout: float | None = 30.0) -> None:
        """``durable`` without blocking the event loop."""
        if self.durability == "chunk" and self._writer is not None:
            await self.aflush(timeout, check=False)

    def sent(self) -> None:
        """The request leaves for the upstream now: chunk times count from here, so time to
        first chunk excludes what happened before (the first call's client start-up)."""
        self._t0 = time.monotonic_ns()

    def response_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """The response's status and headers, kept with the terminal event so replay gives
        them back; credentials, cookies and per-connection headers are dropped."""
        kept = {k: v for k, v in safe_headers(headers).items() if k not in _UNREPLAYED}
        self._response = {"status": status, "headers": kept}

    def complete(self) -> list[ToolCall]:
        """The stream ended normally."""
        return self._finish(EventKind.COMPLETED, "{}")

    def fail(self, error: BaseException, status_code: int | None = None) -> list[ToolCall]:
        """The stream raised (or the provider answered with an error)."""
        error_type, message = _describe(error)
        # an exception's text may quote a key (an SDK error carrying a 401 body, say)
        payload = StreamFailed(
            error_type=redact_text(error_type),
            message=redact_text(message),
            status_code=status_code,
        )
        return self._finish(EventKind.FAILED, _json_of(payload))

    def interrupt(self, reason: str) -> list[ToolCall]:
        """The stream stopped early without an error of its own."""
        return self._finish(
            EventKind.INTERRUPTED, _json_of(StreamInterrupted(reason=redact_text(reason)))
        )

    def tool_results(self, tools_and_outputs: Iterable[tuple[Any, Any]]) -> None:
        """Append the outputs of the stream's tool calls (``tool_message_params()`` uses them).

        Each tool is a ``ToolCall``, a mapping or a Mirascope tool (see
        ``tool_identity``); outputs are stored as given (JSON values).
        """
        outputs = []
        for tool, output in tools_and_outputs:
            ident, name = tool_identity(tool)
            outputs.append({"id": ident, "name": name, "output": output})
        self._emit(EventKind.TOOL_RESULT, _json_of(ToolResult(outputs=outputs)))

    def flush(self, timeout: float | None = 30.0, *, check: bool = True) -> None:
        """Wait until every event so far is committed; with ``check``, report a storage failure
        (raise in strict mode, else warn once)."""
        if self._writer is not None:
            # returns at once while the database is away (the events wait in the buffer);
            # a slow commit is not a failure: the writer reports real ones
            with contextlib.suppress(concurrent.futures.TimeoutError):
                self._writer.flush(timeout)
        if check:
            self._check_strict()

    async def aflush(self, timeout: float | None = 30.0, *, check: bool = True) -> None:
        """``flush`` without blocking the event loop."""
        import asyncio

        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError):  # not the builtin before 3.11
                await asyncio.wait_for(asyncio.wrap_future(self._writer.flush_future()), timeout)
        if check:
            self._check_strict()

    # -- internals -----------------------------------------------------------------------

    def _finish(self, kind: EventKind, payload: str) -> list[ToolCall]:
        if self.finished:
            return []
        self.finished = True
        if self._response is not None:
            payload = json.dumps(
                {**json.loads(payload), "response": self._response},
                separators=(",", ":"),
                ensure_ascii=False,
            )
        return self._emit(kind, payload, terminal=True)

    def _push(self, payload: str, name: str | None) -> None:
        """The live path of a chunk: its bare row, queued; the fold waits for a state read."""
        seq = self._seq
        bare = (self.stream_id, seq, _mono() - self._t0, _wall(), payload, name)
        self._seq = seq + 1
        self._unfolded.append(bare)
        if self._submit_row is not None:
            try:
                self._submit_row(bare)
            except Exception as exc:  # the live stream goes on whatever the store does
                self._on_storage_failure(exc)

    def _fold(self) -> list[ToolCall]:
        """Fold the events not yet folded; the tool calls they completed."""
        completed: list[ToolCall] = []
        while self._unfolded:
            pending, self._unfolded = self._unfolded, []
            for item in pending:
                event = item if isinstance(item, StoredEvent) else chunk_row(item)
                try:
                    completed += self._projector.apply(event)
                except Exception as exc:  # the log keeps the event; the live state lacks it
                    self._problem(
                        f"event {event.seq} could not be folded: {type(exc).__name__}: {exc}"
                    )
        return completed

    def _emit(
        self, kind: EventKind, payload: str, name: str | None = None, *, terminal: bool = False
    ) -> list[ToolCall]:
        event = StoredEvent(
            stream_id=self.stream_id,
            seq=self._seq,
            kind=kind,
            t_ns=time.monotonic_ns() - self._t0,
            recorded_at=utcnow(),
            payload=payload,
            event=name,
        )
        self._seq += 1
        self._unfolded.append(event)
        # folded with what came before: at once for the stream's start and its end (the
        # read-model row needs the whole fold), else when the state is next read
        completed = self._fold() if terminal or kind is EventKind.STARTED else []
        summary = None
        if terminal:
            try:
                summary = summary_row(self._projector.state, event.seq)
            except Exception as exc:
                self._problem(f"no read-model row: {type(exc).__name__}: {exc}")
                summary = {
                    "stream_id": self.stream_id,
                    "status": _STATUS[kind],
                    "last_seq": event.seq,
                }
        if self._writer is not None:
            try:
                self._writer.submit(event, summary)
            except Exception as exc:  # the live stream goes on whatever the store does
                self._on_storage_failure(exc)
        return completed

    def _on_storage_failure(self, error: BaseException) -> None:
        # runs on the writer thread: note it (the caller's thread warns or raises at its
        # next call) and log it for recorders no caller checks (the proxy, transports)
        if self.storage_error is None:
            self.storage_error = error
            log.warning(
                "streamrec: recording %s could not be stored: %s",
                self.stream_id,
                redact_text(str(error)),
            )

    def _check_strict(self) -> None:
        if self.storage_error is None or self._reported:
            return
        if self.strict:
            raise RecorderError(
                f"recording {self.stream_id} could not be stored: {self.storage_error}"
            ) from self.storage_error
        self._reported = True
        warnings.warn(
            f"streamrec: recording {self.stream_id} could not be stored "
            f"({self.storage_error}); the live stream continues",
            StoreWarning,
            stacklevel=4,
        )


_STATUS = {
    EventKind.COMPLETED: "completed",
    EventKind.FAILED: "failed",
    EventKind.INTERRUPTED: "interrupted",
}


def _json_of(payload: Any) -> str:
    """A payload model's JSON; text pydantic will not write (lone surrogates, values JSON
    cannot encode) goes through the standard encoder, escaped or as its repr."""
    try:
        return str(payload.model_dump_json(exclude_none=True))
    except ValueError:
        return json.dumps(payload.model_dump(mode="python", exclude_none=True), default=repr)


def _warn_once(key: str, message: str) -> None:
    with _WARNED_LOCK:
        if key in _WARNED:
            return
        _WARNED.add(key)
    log.warning("%s", message)
    warnings.warn(message, StoreWarning, stacklevel=4)


def _client_name(user_agent: str | None) -> str | None:
    """The SDK and its version from a User-Agent: its product tokens, without comments."""
    if not user_agent:
        return None
    import re

    text = re.sub(r"\([^)]*\)", "", user_agent)
    return redact_text(" ".join(text.split())[:120]) or None


def _describe(error: BaseException) -> tuple[str, str]:
    """(type, message) of an error; for an SDK error carrying the provider's error body
    (Anthropic's in-stream ``event: error``, say) the provider's own type and message."""
    body = getattr(error, "body", None)
    detail = body.get("error") if isinstance(body, dict) else None
    if isinstance(detail, dict) and isinstance(detail.get("type"), str):
        return detail["type"], str(detail.get("message") or error)
    return type(error).__name__, str(error)
