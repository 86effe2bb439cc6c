"""Running an ASGI app on a loopback port in a background thread (demo upstream, replay server, proxy).

We bind the socket ourselves so port 0 gives a free port we know before the
first request, and uvicorn serves on it.

Our servers are not an open door (the proxy forwards the API keys sent to it,
the replay server and the UI show recordings): they bind loopback unless
``allow_remote`` says otherwise, and ``HostGuard`` refuses a request whose
``Host`` is not the server's own address, so a web page that rebinds its DNS
name to 127.0.0.1 cannot talk to them from the user's browser.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from .errors import ServerError

__all__ = ["BackgroundServer", "HostGuard", "bind", "check_bind", "is_loopback", "own_hosts"]

log = logging.getLogger("streamrec.serving")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback ``host`` unless ``allow_remote``; warn when it is allowed."""
    if is_loopback(host):
        return
    if not allow_remote:
        raise ServerError(
            f"refusing to listen on {host}, beyond loopback: anyone who reaches it could use "
            "the server (and the API keys sent through a proxy); pass --allow-remote to mean it"
        )
    log.warning("streamrec: listening on %s, beyond loopback (--allow-remote)", host)


def own_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values naming a server bound to ``host:port`` (lower-case)."""
    names = {"localhost", "127.0.0.1", "[::1]"} if is_loopback(host) else set()
    bare = host.strip("[]").lower()
    names.add(f"[{bare}]" if ":" in bare else bare)
    return {f"{name}:{port}" for name in names} | ({*names} if port == 80 else set())


class HostGuard:
    """ASGI middleware refusing requests whose ``Host`` is not one of ``allowed`` (DNS rebinding).

    ``allowed`` holds ``host:port`` values (lower-case); ``"*"`` in it allows any.
    A refused HTTP request gets 421 with a JSON error; a websocket is closed.
    """

    def __init__(self, app: Any, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(a.lower() for a in allowed)

    def allows(self, host: str | None) -> bool:
        """True if a request with this ``Host`` header may be served."""
        return "*" in self.allowed or (host is not None and host.lower() in self.allowed)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            hosts = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"]
            host = hosts[0] if len(hosts) == 1 else None
            if not self.allows(host):
                await self._refuse(scope, send, host)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], send: Any, host: str | None) -> None:
        message = (
            f"streamrec: refused a request for Host {host!r}: this server answers only to "
            f"{', '.join(sorted(self.allowed))} (DNS-rebinding guard)"
        )
        log.warning("%s", message)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"error": {"type": "forbidden_host", "message": message}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 421,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready TCP socket on ``host:port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto given explicitly: asyncio only turns Nagle off (TCP_NODELAY) on accepted
    # sockets whose proto is IPPROTO_TCP; with 0, small writes wait up to 40 ms for ACKs
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class BackgroundServer:
    """``with BackgroundServer(app) as server: server.url`` — uvicorn in a daemon thread.

    A non-loopback ``host`` needs ``allow_remote=True``. Requests must name the
    server in their ``Host`` (its loopback names, or the address it is bound
    to), or one of ``allowed_hosts`` (``"*"``: any; a wildcard bind with
    ``allow_remote`` and no ``allowed_hosts`` allows any).
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        import uvicorn

        check_bind(host, allow_remote)
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        allowed = own_hosts(str(self.host), self.port) | set(allowed_hosts)
        if allow_remote and not allowed_hosts and str(self.host) in ("0.0.0.0", "::"):
            allowed.add("*")  # every address of the machine is ours: no name to check against
        self.guard = HostGuard(app, allowed)
        app = self.guard
        # no Date/Server of our own: the proxy passes the upstream's through unchanged
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            server_header=False,
            date_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
