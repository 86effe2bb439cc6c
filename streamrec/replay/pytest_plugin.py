"""pytest plugin: run the code under test against recordings instead of live providers.

Installed through the ``pytest11`` entry point; inert unless a test uses the
``streamrec`` fixture. The fixture starts one local server for the session and
points the SDKs' base-URL variables (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``,
``GOOGLE_GEMINI_BASE_URL``) at it, so unmodified application code is served:

- ``replay`` (the default): answers from recordings; a request with none fails
  the test with a message naming the request and how to record it;
- ``record``: forwards to the real providers through the recording proxy;
- ``auto``: replays what is recorded and records what is not.

Mode and store: ``--streamrec-mode`` / ``$STREAMREC_MODE`` / ini ``streamrec_mode``;
``--streamrec-db`` / ``$STREAMREC_DB`` / ini ``streamrec_db``. A store ending in
``.jsonl`` is a ``streamrec export`` file kept in the repository: it is loaded
into a scratch database, and written back (sorted, diffable) after a session
that recorded something new.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..store import Store

MODES = ("replay", "record", "auto")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("streamrec", "replaying recorded LLM streams")
    group.addoption(
        "--streamrec-mode", choices=MODES, default=None, help="replay (default), record or auto."
    )
    group.addoption(
        "--streamrec-db",
        default=None,
        metavar="URL",
        help="Store of recordings (default: $STREAMREC_DB, else .streamrec/streamrec.db).",
    )
    group.addoption(
        "--streamrec-speed",
        type=float,
        default=0.0,
        help="Replay timing: 0 instant (default), 1 as recorded.",
    )
    parser.addini("streamrec_mode", "default mode of the streamrec fixture", default="")
    parser.addini("streamrec_db", "database URL of the streamrec fixture", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "streamrec(mode): run this test's streamrec fixture in the given mode"
    )


@dataclass
class StreamrecSession:
    """The server one test session shares; one per mode, started on first use."""

    store: Store
    speed: float
    servers: dict[str, Any] = field(default_factory=dict)
    matchers: dict[str, Any] = field(default_factory=dict)
    jsonl: Path | None = None
    loaded: frozenset[str] = frozenset()

    @classmethod
    def open(cls, url: str | None, speed: float, scratch: Path) -> StreamrecSession:
        """A session on a database URL, or on a JSONL export loaded into a scratch database."""
        if url and url.endswith(".jsonl"):
            from ..store import import_lines

            path = Path(url)
            store = Store(scratch / "recordings.db")
            loaded: list[str] = []
            if path.exists():
                with path.open(encoding="utf-8") as lines:
                    loaded, _ = import_lines(store, lines)
            return cls(store, speed, jsonl=path, loaded=frozenset(loaded))
        return cls(Store(url), speed)

    def server(self, mode: str) -> Any:
        from .._serving import BackgroundServer
        from ._match import Matcher
        from ._server import replay_app

        if mode not in self.servers:
            matcher = self.matchers[mode] = Matcher(self.store)
            if mode == "replay":
                app = replay_app(self.store, speed=self.speed, matcher=matcher)
            else:
                from ..recorder import proxy_app

                proxy = proxy_app(store=self.store)
                app = (
                    proxy
                    if mode == "record"
                    else replay_app(self.store, speed=self.speed, matcher=matcher, fallback=proxy)
                )
            self.servers[mode] = BackgroundServer(app).start()
        return self.servers[mode]

    def close(self) -> None:
        """Stop the servers; write a JSONL store back if this session recorded into it."""
        for server in self.servers.values():
            server.stop()
        if self.jsonl is not None:
            self.store.writer.flush()
            if set(self.store.stream_ids()) - self.loaded:
                from ..store import export_lines

                self.jsonl.parent.mkdir(parents=True, exist_ok=True)
                self.jsonl.write_text(
                    "".join(line + "\n" for line in export_lines(self.store)), encoding="utf-8"
                )
        self.store.close()


@dataclass
class StreamrecFixture:
    """What a test sees: the mode, the store, the server URL and what was served or missed."""

    mode: str
    store: Store
    url: str
    _matcher: Any
    _served_before: int = 0
    _missed_before: int = 0

    @property
    def served(self) -> list[str]:
        """Stream ids replayed during this test, in order."""
        return list(self._matcher.served[self._served_before :])

    @property
    def misses(self) -> list[str]:
        """Requests of this test that had no recording (their error messages)."""
        return list(self._matcher.misses[self._missed_before :])


def _mode(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("streamrec")
    config = request.config
    mode = (
        (marker and (marker.kwargs.get("mode") or (marker.args[0] if marker.args else None)))
        or config.getoption("--streamrec-mode")
        or os.environ.get("STREAMREC_MODE")
        or config.getini("streamrec_mode")
        or "replay"
    )
    if mode not in MODES:
        # a typo must never fall through to a mode that makes live calls
        raise pytest.UsageError(f"streamrec mode must be one of {', '.join(MODES)}, not {mode!r}")
    return str(mode)


@pytest.fixture(scope="session")
def streamrec_session(request: pytest.FixtureRequest) -> Iterator[StreamrecSession]:
    """The session's store and servers."""
    config = request.config
    url = config.getoption("--streamrec-db") or config.getini("streamrec_db") or None
    scratch = Path(tempfile.mkdtemp(prefix="streamrec-"))
    session = StreamrecSession.open(url, config.getoption("--streamrec-speed"), scratch)
    yield session
    session.close()


@pytest.fixture
def streamrec(
    streamrec_session: StreamrecSession,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[StreamrecFixture]:
    """Point the providers' SDKs at recordings (or the recording proxy) for this test."""
    from ..recorder import client_env

    mode = _mode(request)
    server = streamrec_session.server(mode)
    for variable, value in client_env(server.url).items():
        monkeypatch.setenv(variable, value)
    matcher = streamrec_session.matchers[mode]
    fixture = StreamrecFixture(
        mode, streamrec_session.store, server.url, matcher, len(matcher.served), len(matcher.misses)
    )
    yield fixture


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A request with no recording fails its test, even if the application swallowed the error."""
    result = yield
    fixture = getattr(item, "funcargs", {}).get("streamrec")
    if isinstance(fixture, StreamrecFixture) and fixture.mode == "replay" and fixture.misses:
        pytest.fail("\n".join(fixture.misses), pytrace=False)
    return result
