"""Finding the recording for a request, and saying clearly when there is none.

A request matches a recording when what it asks is equal: the api and the
request body, minus transport keys (``stream``, ``user``, …; see
``events.request_fingerprint``), minus what the caller chose to ignore
(``ignore`` paths such as ``metadata`` or ``messages[*].name``, ``ignore_text``
regexes over every string, or only the ``match_on`` paths). Identical requests
made several times get the recordings in the order they were recorded, the last
one repeating, so a program that asks the same thing twice replays both answers.

A matcher may be scoped to some recordings (``only``: a test's own), so what a
test gets never depends on which other tests ran.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import NoMatchingRecording
from ..events import StreamStarted, request_fingerprint
from ..recorder import scrub
from ..store import Store

__all__ = ["MatchOptions", "Matcher", "json_differences"]

_REPLAYABLE = ("completed", "failed", "interrupted")
# keys that never change what a model is asked; left out of explanations too
_TRANSPORT = frozenset({"stream", "stream_options", "metadata", "user", "store", "service_tier"})
_PATH = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]")
_MISSING = object()


@dataclass(frozen=True)
class MatchOptions:
    """What of a request decides its recording.

    ``match_on``: only these paths count (None: the whole request);
    ``ignore``: paths left out (``metadata``, ``messages[*].name``, ``tools[0]``);
    ``ignore_text``: regexes whose matches are blanked in every string (dates, ids).
    """

    match_on: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    ignore_text: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        match_on: Iterable[str] | None = None,
        ignore: Iterable[str] = (),
        ignore_text: Iterable[str] = (),
    ) -> MatchOptions:
        """Options from any iterables (a marker's lists, CLI tuples); regexes checked here."""
        for pattern in ignore_text:
            re.compile(pattern)
        return cls(
            tuple(match_on) if match_on is not None else None, tuple(ignore), tuple(ignore_text)
        )

    @property
    def plain(self) -> bool:
        """No option set: the stored fingerprint decides, no request needs reading."""
        return self.match_on is None and not self.ignore and not self.ignore_text

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """The part of ``request`` that must be equal."""
        out = copy.deepcopy(request)
        if self.match_on is not None:
            kept: dict[str, Any] = {}
            for path in self.match_on:
                for steps, value in _select(out, _steps(path)):
                    _put(kept, steps, value)
            out = kept
        for path in self.ignore:
            _drop(out, _steps(path))
        if self.ignore_text:
            pattern = re.compile("|".join(f"(?:{p})" for p in self.ignore_text))
            out = _blank(out, pattern)
        return out


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for name, index in _PATH.findall(path):
        if name:
            steps.append(name)
        elif index == "*":
            steps.append("*")
        else:
            steps.append(int(index))
    return steps


def _select(value: Any, steps: list[str | int], at: tuple[Any, ...] = ()) -> Iterator[Any]:
    if not steps:
        yield at, value
        return
    step, rest = steps[0], steps[1:]
    if step == "*" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _select(item, rest, (*at, i))
    elif _has(value, step):
        yield from _select(value[step], rest, (*at, step))


def _has(value: Any, step: str | int) -> bool:
    if isinstance(step, int):
        return isinstance(value, list) and step < len(value)
    return step != "*" and isinstance(value, dict) and step in value


def _put(target: dict[str, Any], steps: tuple[Any, ...], value: Any) -> None:
    # lists are kept as dicts keyed by index: only equality matters here
    node: Any = target
    for step in steps[:-1]:
        node = node.setdefault(str(step), {})
    node[str(steps[-1])] = value


def _drop(value: Any, steps: list[str | int]) -> None:
    if not steps:
        return
    step, rest = steps[0], steps[1:]
    targets: list[Any]
    if step == "*" and isinstance(value, list):
        targets = list(range(len(value)))
    elif _has(value, step):
        targets = [step]
    else:
        return
    if not rest:
        if isinstance(value, dict):
            for key in targets:
                value.pop(key, None)
        else:
            for i in targets:
                value[i] = None  # keep positions: later items stay where they were
        return
    for key in targets:
        _drop(value[key], rest)


def _blank(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub("…", value)
    if isinstance(value, list):
        return [_blank(v, pattern) for v in value]
    if isinstance(value, dict):
        return {k: _blank(v, pattern) for k, v in value.items()}
    return value


def json_differences(
    asked: Any, recorded: Any, path: str = "", limit: int = 3
) -> list[tuple[str, Any, Any]]:
    """The first ``limit`` JSON paths where two values differ: (path, asked, recorded).

    A value missing on one side is ``None`` with the path marked ``(missing …)``.
    """
    out: list[tuple[str, Any, Any]] = []
    _differ(asked, recorded, path, out, limit)
    return out


def _differ(a: Any, b: Any, path: str, out: list[tuple[str, Any, Any]], limit: int) -> None:
    if len(out) >= limit or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            _differ(a.get(key, _MISSING), b.get(key, _MISSING), sub, out, limit)
        return
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            _differ(
                a[i] if i < len(a) else _MISSING,
                b[i] if i < len(b) else _MISSING,
                f"{path}[{i}]",
                out,
                limit,
            )
        return
    out.append((path or "(request)", a, b))


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(missing)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


class Matcher:
    """Maps requests to stream ids in one store (or some of its recordings); thread-safe.

    ``hint`` is how to record a missing request (a command or a pytest flag),
    appended to every miss.
    """

    def __init__(
        self,
        store: Store,
        *,
        only: Collection[str] | None = None,
        options: MatchOptions | None = None,
        hint: str | None = None,
    ) -> None:
        self.store = store
        self.only = frozenset(only) if only is not None else None
        self.options = options or MatchOptions()
        self.hint = hint or (
            "record it with `streamrec record -- <your command>`, "
            "or in tests with `pytest --record-mode=new_episodes`"
        )
        self._served: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._requests: dict[str, tuple[str, dict[str, Any]]] = {}
        self._scope: list[dict[str, Any]] | None = None
        self.misses: list[str] = []
        """The error messages of requests that found no recording, in order."""
        self.served: list[str] = []
        """The stream ids served, in order."""

    def take(self, api: str, request: dict[str, Any]) -> str | None:
        """The stream id to replay for ``request``, or None (not counted as a miss:
        the caller records it instead)."""
        key, rows = self._candidates(api, request)
        return self._choose(key, rows) if rows else None

    def find(self, api: str, request: dict[str, Any], *, describe: str = "") -> str:
        """The stream id to replay for ``request``; ``NoMatchingRecording`` if none."""
        key, rows = self._candidates(api, request)
        if not rows:
            error = NoMatchingRecording(self._explain(api, scrub(request), describe))
            with self._lock:
                self.misses.append(str(error))
            raise error
        return self._choose(key, rows)

    # -- internals -----------------------------------------------------------------------

    def _key(self, api: str, request: dict[str, Any]) -> str:
        return request_fingerprint(api, self.options.apply(request))

    def _recorded(self, stream_id: str) -> tuple[str, dict[str, Any]] | None:
        """(api, request) of a recording, read once."""
        cached = self._requests.get(stream_id)
        if cached is None:
            first = self.store.event(stream_id, 0)
            started = first.model() if first is not None else None
            if not isinstance(started, StreamStarted):
                return None
            cached = self._requests[stream_id] = (started.api, dict(started.request))
        return cached

    def _scope_rows(self, api: str) -> list[dict[str, Any]]:
        if self._scope is None:  # a scope is a test's few recordings: read their rows once
            self._scope = [self.store.stream(sid) for sid in sorted(self.only or ())]
        return [r for r in self._scope if r["status"] in _REPLAYABLE and r["api"] == api]

    def _candidates(self, api: str, request: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        clean = scrub(request)
        key = self._key(api, clean)
        if self.only is None and self.options.plain:
            rows = [r for r in self.store.streams(fingerprint=key) if r["status"] in _REPLAYABLE]
            return key, rows
        if self.only is None:
            pool = [
                r
                for r in self.store.streams(model=_model_of(clean), limit=None)
                if r["status"] in _REPLAYABLE and r["api"] == api
            ]
        else:
            pool = self._scope_rows(api)
        rows = []
        for row in pool:
            recorded = self._recorded(row["stream_id"])
            if recorded is not None and self._key(recorded[0], recorded[1]) == key:
                rows.append(row)
        return key, rows

    def _choose(self, key: str, rows: list[dict[str, Any]]) -> str:
        rows.sort(key=lambda r: r["stream_id"])  # oldest first
        with self._lock:
            n = self._served[key]
            self._served[key] = n + 1
            chosen = str(rows[min(n, len(rows) - 1)]["stream_id"])
            self.served.append(chosen)
        return chosen

    def _explain(self, api: str, request: dict[str, Any], describe: str) -> str:
        model = request.get("model")
        asked = describe or api
        head = f"no recording matches {asked} (api {api}, model {model!r})"
        if self.only is not None:
            pool = [r["stream_id"] for r in self._scope_rows(api)]
            where, hold = "this test's recordings", "hold"
        else:
            named = _model_of(request)
            pool = [
                r["stream_id"]
                for r in (self.store.streams(model=named, limit=20) if named else [])
                if r["api"] == api
            ]
            where, hold = "the store", "holds"
        mine = self._comparable(request)
        # each distinct recorded request once, however often it was recorded
        seen: dict[str, tuple[int, list[str], list[tuple[str, Any, Any]]]] = {}
        for sid in pool:
            recorded = self._recorded(sid)
            if recorded is None:
                continue
            theirs = self._comparable(recorded[1])
            key = request_fingerprint(api, theirs)
            if key in seen:
                seen[key][1].append(sid)
                continue
            diffs = json_differences(mine, theirs, limit=100)
            seen[key] = (len(diffs), [sid], diffs[:3])
        nearest = sorted(seen.values(), key=lambda v: (v[0], v[1][0]))
        if not nearest:
            body = f"{where} {hold} no recording of that api and model"
        else:
            lines = []
            for _, ids, diffs in nearest[:3]:
                what = "; ".join(f"{p}: {_show(a)} ≠ {_show(b)}" for p, a, b in diffs)
                many = f" (and {len(ids) - 1} identical)" if len(ids) > 1 else ""
                lines.append(f"  {ids[0]}{many}: {what or 'differs only in ignored keys'}")
            body = f"closest in {where} (asked ≠ recorded):\n" + "\n".join(lines)
        return f"{head};\n{body}\n{self.hint}"

    def _comparable(self, request: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in self.options.apply(request).items() if k not in _TRANSPORT}


def _model_of(request: dict[str, Any]) -> str | None:
    """The request's model as the read model can hold it: a hostile or mistaken body's
    list or object is no model to filter by (the fingerprint still compares all of it)."""
    model = request.get("model")
    return model if isinstance(model, str) else None
