"""Secrets never reach the store: keys and auth headers are dropped before an event is built."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SECRET_KEYS", "Redact", "is_secret_key", "scrub"]

SECRET_KEYS = frozenset(
    {
        "api_key",
        "api-key",
        "apikey",
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "key",
        "access_token",
        "client_secret",
        "password",
        "secret",
        "http_client",
        "client",
    }
)
_SECRETISH = re.compile(
    r"(^|[_-])(api[_-]?key|secret|password|access[_-]?token|auth[_-]?token)$", re.I
)


def is_secret_key(key: str) -> bool:
    """True for names that carry credentials (headers, query parameters, kwargs)."""
    lowered = key.lower()
    return lowered in SECRET_KEYS or bool(_SECRETISH.search(lowered))


def scrub(value: Any) -> Any:
    """A copy of a request with its credentials removed.

    Secret-named keys go at the top level (``api_key=…``) and at any depth under
    transport keys (headers, query parameters, client options). Content is left
    alone: a tool schema with a property called ``key`` or ``password`` is data,
    and altering it would change what was asked (and its fingerprint).
    """
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if isinstance(key, str):
            if is_secret_key(key):
                continue
            if _TRANSPORT.search(key):
                item = _scrub_deep(item)
        out[key] = item
    return out


_TRANSPORT = re.compile(r"header|query|option|auth|credential", re.I)


def _scrub_deep(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _scrub_deep(v)
            for k, v in value.items()
            if not (isinstance(k, str) and is_secret_key(k))
        }
    if isinstance(value, (list, tuple)):
        return [_scrub_deep(v) for v in value]
    return value


@dataclass(frozen=True)
class Redact:
    """Hooks that change what is stored, never what the live caller receives.

    ``request`` gets the request (credentials already removed) and returns what
    to store; ``chunk`` gets each chunk's wire text and returns what to store
    (a redacted recording replays the redacted text, by design).
    """

    request: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    chunk: Callable[[str], str] | None = None
