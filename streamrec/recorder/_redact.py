"""Secrets never reach the store: keys and auth headers are dropped before an event is built."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SECRET_KEYS", "is_secret_key", "scrub"]

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
_SECRETISH = re.compile(r"(^|[_-])(api[_-]?key|secret|password|access[_-]?token|auth[_-]?token)$", re.I)


def is_secret_key(key: str) -> bool:
    """True for names that carry credentials (headers, query parameters, kwargs)."""
    lowered = key.lower()
    return lowered in SECRET_KEYS or bool(_SECRETISH.search(lowered))


def scrub(value: Any) -> Any:
    """A copy of ``value`` with every secret-named key removed, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not (isinstance(k, str) and is_secret_key(k))}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value
