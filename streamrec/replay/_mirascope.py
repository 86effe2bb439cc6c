"""Mirascope v1 interop: ``@streamrec.recorded(...)`` over an ``@openai.call(stream=True)`` function.

Mirascope builds its provider client when the decorated function is called
(``setup_call``), from the SDK's base-URL variables, and sends the request when
the stream is iterated. So the decorator needs no Mirascope internals: it points
those variables at a loopback server for the duration of the call, and the
stream the caller gets is Mirascope's own (``OpenAIStream``, ``AnthropicStream``,
``GoogleStream``) with every attribute Mirascope fills, fed from a recording
(``mode="replay"``), recorded through the recording proxy (``"record"``), or
replayed when recorded and recorded when not (``"auto"``). A client built in the
call (Mirascope's dynamic config ``{"client": genai.Client()}``, which its google
provider needs: google-genai closes the client Mirascope builds itself once it is
collected, before the stream is read) is pointed at the server too.

One server per decorated function, started on first call and kept for the
process (the stream may be iterated long after the call returned).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import ReplayError
from ..store import Store, as_store

__all__ = ["recorded"]

F = TypeVar("F", bound=Callable[..., Any])
_MODES = ("replay", "record", "auto")
_ENV_LOCK = threading.Lock()


def recorded(
    *,
    mode: str = "replay",
    store: Store | str | os.PathLike[str] | None = None,
    speed: float = 0.0,
    upstreams: Mapping[str, str] | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Record or replay a Mirascope call by ``mode`` (``replay``, ``record``, ``auto``).

    ``store``: where recordings are (default: ``$STREAMREC_DB``, else
    ``.streamrec/streamrec.db``); ``upstreams``: where ``record`` goes (default:
    the program's own base-URL variables, then ``$STREAMREC_UPSTREAM_<P>``, then
    the providers). A replayed request with no recording raises the SDK's 404
    error naming the request, never a live call.
    """
    if mode not in _MODES:
        raise ReplayError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}")

    def decorator(fn: F) -> F:
        server: dict[str, Any] = {}
        lock = threading.Lock()

        def url() -> str:
            with lock:
                if "server" not in server:
                    server["server"] = _start(mode, as_store(store), speed, upstreams, name)
                return str(server["server"].url)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            from ..recorder import client_env
            from ._server import placeholder_keys

            env = client_env(url())
            if mode == "replay":  # offline needs no secret, but the SDKs insist on a key
                env.update(placeholder_keys(os.environ))
            with _environment(env):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return decorator


def _start(
    mode: str,
    store: Store,
    speed: float,
    upstreams: Mapping[str, str] | None,
    name: str | None,
) -> Any:
    from .._serving import BackgroundServer
    from ..recorder import RecordingProxy, resolve_upstreams
    from ..recorder._routes import CLIENT_ENV
    from ._match import Matcher
    from ._server import replay_app

    if mode == "replay":
        return BackgroundServer(replay_app(store, speed=speed, matcher=Matcher(store))).start()
    # the program's own base URLs (as set before we point them at us) come first
    own = {p: os.environ[var] for p, (var, _) in CLIENT_ENV.items() if os.environ.get(var)}
    proxy = RecordingProxy(
        store=store, upstreams=resolve_upstreams({**own, **(upstreams or {})}), name=name
    )
    if mode == "record":
        return BackgroundServer(proxy).start()
    app = replay_app(store, speed=speed, matcher=Matcher(store), fallback=proxy)
    return BackgroundServer(app).start()


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` while the call builds its client, then restore."""
    with _ENV_LOCK:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
