"""``streamrec record -- CMD``: run a program with the recording proxy in front of its providers.

The program is not changed: it gets the SDKs' base-URL variables pointing at
a proxy on a free loopback port. A library function (not CLI code) so that
scripts and tests can do what the command does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

from ..store import Store, default_store
from ._proxy import ProxyServer, RecordingProxy
from ._routes import resolve_upstreams

__all__ = ["RecordedRun", "run_command", "run_recorded"]


@dataclass(frozen=True)
class RecordedRun:
    """What ``run_recorded`` did: the program's exit code and the calls it recorded."""

    returncode: int
    stream_ids: list[str] = field(default_factory=list)


def run_recorded(
    argv: Sequence[str],
    *,
    store: Store | None = None,
    upstreams: Mapping[str, str] | None = None,
    name: str | None = None,
    tags: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    durability: str = "group",
    metadata: Mapping[str, str] | None = None,
) -> RecordedRun:
    """Run ``argv`` through the recording proxy; return once it exited and its calls are committed.

    ``upstreams`` overrides the providers' upstreams; the others come from
    ``$STREAMREC_UPSTREAM_<P>``, then the base URL the program would have used
    (``$OPENAI_BASE_URL``, …), then the public APIs. A signal's exit is
    returned as a shell does (128 + signal number). ``FileNotFoundError`` and
    ``PermissionError`` propagate when ``argv[0]`` cannot be run.
    """
    env = dict(os.environ if environ is None else environ)
    store = store if store is not None else default_store()
    proxy = RecordingProxy(
        store=store,
        upstreams=resolve_upstreams(upstreams, env, inherit_client_env=True),
        name=name,
        tags=tags,
        durability=durability,
        metadata=metadata,
    )
    with ProxyServer(proxy) as server:
        code = run_command(list(argv), {**env, **server.env})
    store.writer.flush()
    return RecordedRun(code, list(proxy.stream_ids))


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``argv`` with ``env`` in the foreground, passing signals on; its exit code as a shell gives it.

    ``FileNotFoundError`` and ``PermissionError`` propagate when ``argv[0]`` cannot be run.
    """
    child = subprocess.Popen(list(argv), env=dict(env))
    forwarded = _forward_signals(child)
    try:
        interrupts = 0
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                # the terminal sent SIGINT to the child too: its exit code tells
                # what it made of it; a second Ctrl-C stops it for good
                interrupts += 1
                if interrupts > 1:
                    child.kill()
    finally:
        forwarded()
    return 128 - code if code < 0 else code


def _forward_signals(child: subprocess.Popen[bytes]) -> Callable[[], None]:
    """Pass SIGTERM/SIGHUP on to the child (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    names = [s for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s)]

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(getattr(signal, s), forward) for s in names}

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(getattr(signal, s), handler)

    return restore
