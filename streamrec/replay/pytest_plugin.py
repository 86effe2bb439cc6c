"""pytest plugin: tests run against their own recordings, the way pytest-recording users work.

Installed through the ``pytest11`` entry point (``-p no:streamrec`` turns it off),
and inert until the session asks for it (see ``_pytest_options``: a streamrec
flag or ini setting, or a test module that uses the marker or the fixtures). Then,
before the modules that use it are imported (with a flag or ini setting: before the
first conftest.py), it starts one loopback server for
the session, points the SDKs' base-URL variables (``OPENAI_BASE_URL``,
``ANTHROPIC_BASE_URL``, ``GOOGLE_GEMINI_BASE_URL``) at it, sets placeholder API
keys where none are set, and installs a socket-level network guard. So a client
built at import time talks to streamrec too, and one built with an explicit
``base_url`` of a real provider is refused instead of making billed calls.

A test uses recordings when it is marked ``@pytest.mark.streamrec(...)`` (on the
test, its class or its module) or asks for the ``streamrec`` fixture. What the
server does for it follows the record mode (pytest-recording's names and
meanings; ``--record-mode``, ini ``streamrec_record_mode``, marker
``record_mode=``):

- ``none`` (default): replay only; a request with no recording fails the test
  with the first differing JSON paths and the flag that records it;
- ``once``: record when the test has no recordings yet, else as ``none``;
- ``new_episodes``: replay what is recorded, record what is not (appending);
- ``all`` / ``rewrite``: record every request, replacing the test's recordings.

Recordings live beside the test module, one JSONL file per test:
``recordings/{module}/{test}.jsonl`` (payloads that are JSON appear as JSON).
``--streamrec-db URL`` uses one shared store instead (a database, or a
``.jsonl`` export kept in the repository). Recording goes to the upstream the
program would have used: its own base-URL variable, else
``$STREAMREC_UPSTREAM_<P>``, else the provider's public API.

Flags shared with pytest-recording and cassetter (``--record-mode``,
``--block-network``, ``--allowed-hosts``) are registered by streamrec only where
no other plugin registered them; otherwise streamrec reads theirs (ini
``streamrec_shared_flags = false`` makes them drive the other plugin alone).
``--streamrec-record-mode`` & co. always drive streamrec only.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ..errors import ReplayError
from ..events import EventKind, StreamFailed
from ..store import Store
from ._guard import HostRules, NetworkGuard, is_loopback
from ._match import Matcher, MatchOptions
from ._pytest_options import (
    add_options,
    add_shared_flags,
    checked_mode,
    drives_streamrec,
    opt_in_reason,
    option,
    record_mode,
    shared_option,
    uses_streamrec,
)

_MARKER_KEYS = frozenset(
    {
        "record_mode",
        "mode",
        "speed",
        "match_on",
        "ignore",
        "ignore_text",
        "upstreams",
        "redact",
        "allowed_hosts",
        "record_failures",
        # faults injected into the replay (see streamrec.replay._faults)
        "fail_at_chunk",
        "fail_as",
        "rechunk",
        "disconnect_after_ms",
        "status",
        "status_times",
        "retry_after",
    }
)
_SESSION = pytest.StashKey["StreamrecSession"]()
_FORBIDDEN = re.compile(r"[<>?%*:|\"'/\\]")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    # every entry-point plugin has registered its flags by now, and none is parsed yet
    add_shared_flags(early_config, parser)
    # a session that asks for streamrec from its start gets the SDKs pointed at it before
    # pytest imports the first conftest.py files (which often import the application)
    reason = opt_in_reason(early_config, parser.parse_known_args(args))
    if reason is not None:
        session = StreamrecSession(early_config)
        early_config.stash[_SESSION] = session
        session.activate(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "streamrec(record_mode=None, speed=None, match_on=None, ignore=(), ignore_text=(), "
        "upstreams=None, allowed_hosts=()): run this test against its streamrec recordings",
    )
    session = config.stash.get(_SESSION, None)
    if session is None:
        session = config.stash[_SESSION] = StreamrecSession(config)
    session.configure()  # the command line is parsed now
    reason = opt_in_reason(config, config.option)
    if reason is not None:
        session.activate(reason)
    session.late = True  # from now on modules may have been imported before activation
    # conftests (those loaded already, then each one as it loads) may use streamrec too
    config.pluginmanager.register(_ConftestWatch(session), "streamrec-conftest-watch")


class _ConftestWatch:
    """Wakes the session when a conftest about to shape the tests uses streamrec."""

    def __init__(self, session: StreamrecSession) -> None:
        self.session = session

    def pytest_plugin_registered(self, plugin: Any) -> None:
        source = getattr(plugin, "__file__", None)
        if (
            not self.session.active
            and source
            and Path(source).name == "conftest.py"
            and uses_streamrec(Path(source))
        ):
            self.session.activate(f"{Path(source).name} in {Path(source).parent} uses it")


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Wake the session before a test module that uses streamrec is imported, so that the
    clients it builds at import time are pointed at streamrec too."""
    if not isinstance(collector, pytest.Module):
        return
    session = collector.config.stash.get(_SESSION, None)
    if session is not None and not session.active and uses_streamrec(collector.path):
        session.activate(f"{collector.path.name} uses it")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.stop()


@dataclass
class TestRun:
    """One streamrec test in progress: how its requests are served and what it recorded."""

    nodeid: str
    mode: str
    records: bool
    """Whether requests may go to the upstream (and be recorded) at all."""
    path: Path | None
    loaded: list[str]
    matcher: Matcher
    app: Any
    proxy: Any = None
    refused: list[str] = field(default_factory=list)


class StreamrecSession:
    """What a pytest session shares: the server, the store, the guard, the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.active: str | None = None
        """Why this session uses streamrec; None while it is inert."""
        self.late = False
        """Whether it woke up after collection had begun importing modules."""
        self.configured = False
        """Whether the command line was parsed (``configure``) and the options read."""
        self.default_mode = "none"
        self.block_network = False
        self.rules = HostRules()
        self.upstream_rules = HostRules()
        self.speed = 0.0
        self.strict = False
        self.record_failures = False
        self.max_age: float | None = None
        self.stale: list[tuple[str, str, str]] = []
        self.root = Path(str(config.rootpath))
        self.db_url: str | None = None
        self.recordings_dir: str | None = None
        self.current: TestRun | None = None
        self.unused: list[tuple[str, str]] = []
        self.unreachable: list[tuple[str, str]] = []
        self.written: list[Path] = []
        self._store: Store | None = None
        self._jsonl: Path | None = None
        self._jsonl_loaded: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.original_env: dict[str, str] = {}
        self.guard = NetworkGuard(self._policy)

    # -- start and stop ------------------------------------------------------------------

    def configure(self) -> None:
        """Read the options (the command line is parsed); guard the network if active."""
        config = self.config
        self.block_network = bool(
            option(config, "--streamrec-block-network") or shared_option(config, "--block-network")
        )
        hosts = [
            option(config, "--streamrec-allowed-hosts") or "",
            shared_option(config, "--allowed-hosts") or "",
            *config.getini("streamrec_allowed_hosts"),
        ]
        self.rules = HostRules.parse(hosts)
        speed = option(config, "--streamrec-speed")
        self.speed = float(speed) if speed is not None else 0.0
        self.strict = bool(option(config, "--streamrec-strict"))
        self.record_failures = bool(option(config, "--streamrec-record-failures"))
        self.max_age = _age(
            option(config, "--streamrec-max-age") or config.getini("streamrec_max_age") or None
        )
        self.db_url = _resolve_db(
            option(config, "--streamrec-db") or config.getini("streamrec_db") or None, self.root
        )
        self.recordings_dir = config.getini("streamrec_recordings_dir") or None
        self.configured = True
        if self.active is not None:
            self._guard_network()

    def activate(self, reason: str) -> None:
        """Serve, point the SDKs at us and (once configured) guard the network."""
        if self.active is not None:
            return
        self.active = reason
        self._serve()
        if self.configured:
            self._guard_network()

    def _serve(self) -> None:
        from .._serving import BackgroundServer
        from ..recorder import client_env
        from ._server import placeholder_keys

        self._server = BackgroundServer(_Dispatch(self)).start()
        env = {**client_env(self._server.url), **placeholder_keys(os.environ)}
        for var, value in env.items():
            self._saved_env[var] = os.environ.get(var)
            if os.environ.get(var):
                self.original_env[var] = os.environ[var]
            os.environ[var] = value

    def _guard_network(self) -> None:
        self.default_mode = record_mode(self.config)
        self.rules.allow_endpoint(self._server.host, self._server.port)
        if self.db_url:
            self._allow_database(self.db_url)
        self.guard.install()
        # pytest-recording's own --block-network guard must let SDKs reach our server
        recording = self.config.pluginmanager.get_plugin("recording")
        if recording is not None and option(self.config, "--block-network"):
            current = option(self.config, "--allowed-hosts") or ""
            ours = re.escape(str(self._server.host))
            self.config.option.allowed_hosts = f"{current},{ours}" if current else ours

    def stop(self) -> None:
        """Stop serving; put the environment back; write a shared JSONL store back."""
        self.guard.uninstall()
        if self._server is not None:
            self._server.stop()
        for var, value in self._saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if self._store is not None:
            self._store.writer.flush()
            if self._jsonl is not None and set(self._store.stream_ids()) - self._jsonl_loaded:
                from ..store import export_lines

                self._jsonl.parent.mkdir(parents=True, exist_ok=True)
                self._jsonl.write_text(
                    "".join(line + "\n" for line in export_lines(self._store, readable=True)),
                    encoding="utf-8",
                )
            self._store.close()

    @property
    def url(self) -> str:
        """The server the SDKs are pointed at."""
        return str(self._server.url)

    @property
    def store(self) -> Store:
        """The shared store, or a scratch one holding the per-test files loaded so far."""
        with self._lock:
            if self._store is None:
                url = self.db_url
                if url and url.endswith(".jsonl"):
                    from ..store import import_lines

                    self._jsonl = Path(url)
                    self._store = Store(Path(tempfile.mkdtemp(prefix="streamrec-")) / "r.db")
                    if self._jsonl.exists():
                        with self._jsonl.open(encoding="utf-8") as lines:
                            loaded, _ = import_lines(self._store, lines)
                        self._jsonl_loaded = frozenset(loaded)
                elif url:
                    self._store = Store(url)
                else:
                    self._store = Store(Path(tempfile.mkdtemp(prefix="streamrec-")) / "r.db")
            return self._store

    def _allow_database(self, url: str) -> None:
        if "://" not in url or url.startswith("sqlite"):
            return
        try:
            from sqlalchemy.engine import make_url

            parsed = make_url(url)
        except Exception:
            return
        if parsed.host:
            self.rules.allow_endpoint(parsed.host, parsed.port or 5432)

    # -- the guard -----------------------------------------------------------------------

    def _policy(self, host: str, port: int | None) -> str | None:
        if self.rules.allows(host, port):
            return None
        run = self.current
        if run is not None and run.records and self.upstream_rules.allows(host, port):
            return None
        loopback = is_loopback(host)
        if self.block_network:
            return "--block-network allows only streamrec's servers and --allowed-hosts"
        if loopback:
            return None
        if run is not None and not run.records:
            late = ""
            if self.late:
                # a client built before streamrec woke up still points at the provider
                late = (
                    f"; a client built at import time before streamrec started (when "
                    f"{self.active}) still points at its provider: ini "
                    "streamrec_record_mode = none starts streamrec with the session"
                )
            return (
                f"{run.nodeid} replays only (record mode {run.mode}); nothing leaves the "
                "machine (record with --record-mode=once/new_episodes, or allow the host "
                f"with --allowed-hosts){late}"
            )
        return None

    # -- per test ------------------------------------------------------------------------

    def begin(self, request: pytest.FixtureRequest, options: dict[str, Any]) -> TestRun:
        """Set up serving for the test ``request`` belongs to."""
        from ..recorder import RecordingProxy, resolve_upstreams
        from ._faults import Faults
        from ._server import replay_app

        mode = checked_mode(
            str(options.get("record_mode") or options.get("mode") or self.default_mode)
        )
        store = self.store
        node = request.node
        path = None if self.db_url else self._path_for(request)
        loaded: list[str] = []
        if path is not None and path.exists():
            loaded = _load(store, path)
            if self.max_age is not None:
                self._check_age(node.nodeid, loaded)
        if path is None and mode == "once":
            mode = "new_episodes"  # a shared store has no per-test "first run"
        records = mode in ("all", "rewrite", "new_episodes") or (mode == "once" and not loaded)
        match = MatchOptions.of(
            options.get("match_on"), options.get("ignore", ()), options.get("ignore_text", ())
        )
        matcher = Matcher(
            store,
            only=None if path is None else loaded,
            options=match,
            hint=self._hint(node.nodeid, path, loaded),
        )
        speed = options.get("speed")
        speed = self.speed if speed is None else float(speed)
        try:
            faults = Faults.of(options)
        except (TypeError, ReplayError) as exc:
            raise pytest.UsageError(f"@pytest.mark.streamrec: {exc}") from None
        for host in options.get("allowed_hosts", ()) or ():
            self.rules.allow_host(host)
        proxy = None
        if records:
            overrides = {
                p: self.original_env[var]
                for p, var in _BASE_URL_VARS.items()
                if var in self.original_env
            }
            overrides.update(options.get("upstreams") or {})
            upstreams = resolve_upstreams(overrides)
            for base in upstreams.values():
                parts = urlsplit(base)
                if parts.hostname:
                    default = 443 if parts.scheme == "https" else 80
                    self.upstream_rules.allow_endpoint(parts.hostname, parts.port or default)
                    if not is_loopback(parts.hostname):
                        self.upstream_rules.allow_host(parts.hostname)
            proxy = RecordingProxy(
                store=store, upstreams=upstreams, name=node.nodeid, redact=options.get("redact")
            )
        if mode in ("all", "rewrite") or (records and mode == "once"):
            app = proxy
        elif mode == "new_episodes":
            app = replay_app(store, speed=speed, matcher=matcher, fallback=proxy, faults=faults)
        else:
            app = replay_app(store, speed=speed, matcher=matcher, faults=faults)
        run = TestRun(node.nodeid, mode, records, path, loaded, matcher, app, proxy)
        self.current = run
        return run

    def end(self, run: TestRun) -> None:
        """Write the test's recordings; note what it left unused."""
        if self.current is run:
            self.current = None
        store = self.store
        recorded: list[str] = []
        if run.proxy is not None:
            # the SDK may stop reading at the stream's last event, before the proxy has
            # settled the exchange: let calls in flight end before reading them back
            deadline = time.monotonic() + 5
            while run.proxy.active and time.monotonic() < deadline:
                time.sleep(0.005)
            store.writer.flush()
            for sid in run.proxy.stream_ids:
                if not self.record_failures and _unreachable(store, sid):
                    self.unreachable.append((run.nodeid, sid))
                else:
                    recorded.append(sid)
        if run.path is not None:
            keep: list[str] | None = None
            if run.mode == "new_episodes" and recorded:
                keep = run.loaded + recorded
            elif run.mode in ("all", "rewrite", "once") and recorded:
                keep = recorded
            if keep is not None:
                _write(store, run.path, keep)
                self.written.append(run.path)
            elif run.mode == "rewrite" and run.path.exists():
                run.path.unlink()
        if not run.records or run.mode == "new_episodes":
            used = set(run.matcher.served)
            self.unused.extend((run.nodeid, sid) for sid in run.loaded if sid not in used)

    def _check_age(self, nodeid: str, stream_ids: list[str]) -> None:
        from datetime import datetime, timezone

        from ..events import StreamStarted

        now = datetime.now(timezone.utc)
        for sid in stream_ids:
            first = self.store.event(sid, 0)
            if first is None or self.max_age is None:
                continue
            recorded = first.recorded_at
            if recorded.tzinfo is None:
                recorded = recorded.replace(tzinfo=timezone.utc)
            age = (now - recorded).total_seconds()
            if age <= self.max_age:
                continue
            started = first.model()
            row = self.store.stream(sid)
            client = (
                getattr(started, "client", None) if isinstance(started, StreamStarted) else None
            )
            what = (
                f"{age / 86400:.0f} days old, recorded {recorded:%Y-%m-%d} by "
                f"{client or 'an unknown client'}, model {row.get('requested_model')!r} "
                f"answered as {row.get('model')!r}"
            )
            self.stale.append((nodeid, sid, what))

    def _path_for(self, request: pytest.FixtureRequest) -> Path:
        module = Path(str(request.node.path))
        cls = request.node.cls
        name = f"{cls.__name__}.{request.node.name}" if cls is not None else request.node.name
        name = _FORBIDDEN.sub("-", name)
        if self.recordings_dir:
            try:
                rel = module.relative_to(self.root).with_suffix("")
            except ValueError:
                rel = Path(module.stem)
            return self.root / str(self.recordings_dir) / rel / f"{name}.jsonl"
        return module.parent / "recordings" / module.stem / f"{name}.jsonl"

    def _hint(self, nodeid: str, path: Path | None, loaded: list[str]) -> str:
        flag = (
            "--record-mode"
            if drives_streamrec(self.config, "--record-mode")
            else "--streamrec-record-mode"
        )
        mode = "new_episodes" if loaded or path is None else "once"
        where = f" into {path}" if path is not None else ""
        return f'record it{where} with: pytest {flag}={mode} "{nodeid}"'


_BASE_URL_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
_BASE_URL_VARS["google"] = "GOOGLE_GEMINI_BASE_URL"


def _age(text: str | None) -> float | None:
    """``30d`` / ``12h`` / ``90m`` / ``45s`` (or plain seconds) as seconds."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*", text)
    if match is None:
        raise pytest.UsageError(f"--streamrec-max-age: {text!r} is not an age like 30d, 12h, 90m")
    unit = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[match[2]]
    return float(match[1]) * unit


def _resolve_db(url: str | None, root: Path) -> str | None:
    """A relative path (or ``sqlite:///relative``) is relative to the rootdir, not the cwd."""
    if not url:
        return None
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url[len("sqlite:///") :]
        if rest and rest != ":memory:" and not os.path.isabs(rest):
            return f"sqlite:///{root / rest}"
        return url
    if "://" in url:
        return url
    return str(root / url) if not os.path.isabs(url) else url


def _load(store: Store, path: Path) -> list[str]:
    from ..store import import_lines

    with path.open(encoding="utf-8") as lines:
        imported, skipped = import_lines(store, lines)
    return sorted(imported + skipped)


def _write(store: Store, path: Path, stream_ids: list[str]) -> None:
    from ..store import export_lines

    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(line + "\n" for line in export_lines(store, stream_ids, readable=True))
    path.write_text(text, encoding="utf-8")


def _unreachable(store: Store, stream_id: str) -> bool:
    """A call that failed before any response arrived (nothing of the provider's to replay)."""
    events = store.events(stream_id)
    if not events or events[-1].kind is not EventKind.FAILED:
        return False
    if any(e.kind is EventKind.CHUNK for e in events):
        return False
    failed = StreamFailed.model_validate_json(events[-1].payload)
    return failed.status_code is None


class _Dispatch:
    """The session server's ASGI app: the current test's app, or a refusal outside tests."""

    def __init__(self, session: StreamrecSession) -> None:
        self.session = session

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        run = self.session.current
        if run is not None:
            await run.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        from starlette.responses import JSONResponse

        message = (
            f"streamrec: {scope['method']} {scope['path']} came from outside a streamrec test; "
            "mark the test with @pytest.mark.streamrec (or use the streamrec fixture), "
            "or run pytest with -p no:streamrec"
        )
        body = {"error": {"type": "streamrec_not_a_streamrec_test", "message": message}}
        await JSONResponse(body, status_code=404)(scope, receive, send)


@dataclass
class StreamrecFixture:
    """What a test sees: its mode, the store, the server URL, what was served, missed, recorded."""

    mode: str
    store: Store
    url: str
    path: Path | None
    _run: TestRun

    @property
    def served(self) -> list[str]:
        """Stream ids replayed during this test, in order."""
        return list(self._run.matcher.served)

    @property
    def misses(self) -> list[str]:
        """Requests of this test that had no recording (their error messages)."""
        return list(self._run.matcher.misses)

    @property
    def recording(self) -> bool:
        """Whether this test's requests may go to the upstream and be recorded."""
        return self._run.records

    @property
    def recorded(self) -> list[str]:
        """Stream ids recorded during this test so far."""
        return list(self._run.proxy.stream_ids) if self._run.proxy is not None else []


@pytest.fixture
def streamrec_config() -> dict[str, Any]:
    """Options for every streamrec test in scope (override it in a conftest.py), as
    pytest-recording's ``vcr_config``: ``record_mode``, ``speed``, ``match_on``,
    ``ignore``, ``ignore_text``, ``upstreams``, ``redact``, ``allowed_hosts``, and faults
    (``fail_at_chunk``, ``fail_as``, ``rechunk``, ``disconnect_after_ms``, ``status``,
    ``status_times``, ``retry_after``). Marker keywords win over it."""
    return {}


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for marker in request.node.iter_markers("streamrec"):  # closest first: it wins
        if marker.args:
            options.setdefault("mode", marker.args[0])
        for key, value in marker.kwargs.items():
            if key not in _MARKER_KEYS:
                raise pytest.UsageError(
                    f"@pytest.mark.streamrec has no option {key!r} "
                    f"(one of {', '.join(sorted(_MARKER_KEYS))})"
                )
            options.setdefault(key, value)
    config = request.getfixturevalue("streamrec_config") or {}
    for key, value in dict(config).items():
        options.setdefault(key, value)
    return options


@pytest.fixture
def streamrec(request: pytest.FixtureRequest) -> Iterator[StreamrecFixture]:
    """Serve this test from its recordings (or record them, by the record mode)."""
    session = request.config.stash[_SESSION]
    session.activate(f"{request.node.nodeid} asked for it")
    run = session.begin(request, _options(request))
    try:
        yield StreamrecFixture(run.mode, session.store, session.url, run.path, run)
    finally:
        session.end(run)


@pytest.fixture(autouse=True)
def _streamrec_marker(request: pytest.FixtureRequest) -> None:
    """A marked test gets the ``streamrec`` fixture without naming it."""
    if request.node.get_closest_marker("streamrec") is not None:
        request.getfixturevalue("streamrec")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A request with no recording, or a refused connection, fails its test, even if the
    application swallowed the error."""
    session = item.config.stash.get(_SESSION, None)
    refused_before = len(session.guard.refused) if session is not None else 0
    result = yield
    if session is None:
        return result
    problems = list(session.guard.refused[refused_before:])
    fixture = getattr(item, "funcargs", {}).get("streamrec")
    if isinstance(fixture, StreamrecFixture):
        problems = fixture.misses + problems
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
    return result


def pytest_report_header(config: pytest.Config) -> str | None:
    session = config.stash.get(_SESSION, None)
    if session is None or session.active is None:
        return None  # a session that never asked for streamrec hears nothing of it
    return (
        f"streamrec: active ({session.active}), record mode {session.default_mode}, "
        f"SDKs -> {session.url}"
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is None:
        return
    write = terminalreporter.write_line
    if session.unused:
        terminalreporter.section("streamrec: recordings no test used")
        for nodeid, sid in session.unused:
            write(f"{nodeid}: {sid}")
        if session.strict:
            write("(--streamrec-strict: the session fails)")
    if session.stale:
        terminalreporter.section("streamrec: recordings older than --streamrec-max-age")
        for nodeid, sid, what in session.stale:
            write(f"{nodeid}: {sid} ({what}); re-record with --record-mode=rewrite")
        if session.strict:
            write("(--streamrec-strict: the session fails)")
    if session.unreachable:
        terminalreporter.section("streamrec: calls that could not reach the upstream")
        for nodeid, sid in session.unreachable:
            write(f"{nodeid}: {sid} (not recorded; --streamrec-record-failures keeps them)")
    if session.written:
        terminalreporter.section("streamrec: recordings written")
        for path in session.written:
            write(str(path))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_SESSION, None)
    if state is not None and state.strict and (state.unused or state.stale) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
