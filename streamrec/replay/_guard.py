"""A network guard for offline test runs: ``socket.connect`` refuses what is not allowed.

Why at the socket: a test's code may build its SDK client at import time or
with an explicit ``base_url``, bypassing every base-URL variable; every client
still ends in ``socket.connect``. Only the connect methods are wrapped (not the
socket class), so servers and Unix sockets keep working. The refusal is a
``NetworkBlocked`` error, not an ``OSError``: HTTP clients do not mistake it for
a flaky connection and retry, and the test fails at once, saying what it tried.

The policy is asked on every connect, so one guard serves a whole session
whose tests differ (replay-only tests, recording tests, unmarked tests).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReplayError

__all__ = ["HostRules", "NetworkBlocked", "NetworkGuard"]


class NetworkBlocked(ReplayError):
    """A connection the offline test run does not allow (see ``--allowed-hosts``)."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (and IPv4-mapped loopback), or the name localhost."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


@dataclass
class HostRules:
    """Hosts a connection may go to: exact names or addresses (resolved once), regexes,
    and ``(host, port)`` pairs of servers we run."""

    patterns: list[str] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)
    endpoints: set[tuple[str, int]] = field(default_factory=set)

    @classmethod
    def parse(cls, hosts: Iterable[str]) -> HostRules:
        """``--allowed-hosts`` values (comma-separated lists allowed): names, IPs or regexes."""
        rules = cls()
        for item in hosts:
            for host in (h.strip() for h in item.split(",")):
                if host:
                    rules.allow_host(host)
        return rules

    def allow_host(self, host: str) -> None:
        """Allow every port of ``host`` (its addresses too, where it resolves)."""
        self.patterns.append(host)
        self.addresses.add(host)
        try:
            for info in socket.getaddrinfo(host, None):
                self.addresses.add(str(info[4][0]))
        except Exception:
            pass  # a regex, or a name that does not resolve (offline, refused): matched as text

    def allow_endpoint(self, host: str, port: int) -> None:
        """Allow one server (our replay server, a recording upstream, the database)."""
        self.endpoints.add((host, port))
        if host == "localhost":
            self.endpoints.update({("127.0.0.1", port), ("::1", port)})

    def allows(self, host: str, port: int | None) -> bool:
        """Does a rule allow a connection to ``host:port``?"""
        if port is not None and (host, port) in self.endpoints:
            return True
        if host in self.addresses:
            return True
        return any(_fullmatch(p, host) for p in self.patterns)


def _fullmatch(pattern: str, host: str) -> bool:
    try:
        return re.fullmatch(pattern, host) is not None
    except re.error:
        return False


def _port(port: Any) -> int | None:
    try:
        return int(port)
    except (TypeError, ValueError):
        return {"https": 443, "http": 80}.get(str(port))


#: what the guard asks before each connect: (host, port) -> None to allow, else the reason
Policy = Callable[[str, "int | None"], "str | None"]


class NetworkGuard:
    """Wraps ``socket.socket.connect``/``connect_ex`` while installed; ``policy`` decides."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.refused: list[str] = []
        """What was refused, in order (the plugin fails the test that tried)."""
        self._lock = threading.Lock()
        self._originals: tuple[Any, Any, Any] | None = None

    def install(self) -> None:
        """Start refusing (idempotent)."""
        if self._originals is not None:
            return
        connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
        getaddrinfo = socket.getaddrinfo
        self._originals = (connect, connect_ex, getaddrinfo)
        guard = self

        def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            # a name we would refuse is not even looked up: the query itself leaves the machine
            if isinstance(host, (str, bytes)) and host:
                name = host.decode() if isinstance(host, bytes) else host
                guard.refuse(name, _port(port))
            return getaddrinfo(host, port, *args, **kwargs)

        def guarded_connect(sock: socket.socket, address: Any, /) -> None:
            guard.check(sock, address)
            return connect(sock, address)

        def guarded_connect_ex(sock: socket.socket, address: Any, /) -> int:
            guard.check(sock, address)
            return connect_ex(sock, address)

        socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = guarded_getaddrinfo

    def uninstall(self) -> None:
        """Put the original methods back."""
        if self._originals is not None:
            connect, connect_ex, socket.getaddrinfo = self._originals
            socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
            self._originals = None

    def check(self, sock: socket.socket, address: Any) -> None:
        """Raise ``NetworkBlocked`` if the policy refuses ``address``."""
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return  # Unix sockets and the like never leave the machine
        self.refuse(str(address[0]), int(address[1]) if len(address) > 1 else None)

    def refuse(self, host: str, port: int | None) -> None:
        """Raise ``NetworkBlocked`` if the policy refuses ``host:port``."""
        reason = self.policy(host, port)
        if reason is None:
            return
        message = f"streamrec blocked a connection to {host}:{port}: {reason}"
        with self._lock:
            self.refused.append(message)
        raise NetworkBlocked(message)
