"""Secrets never reach the store: keys, tokens and auth headers are removed before an event is built.

Two rules, applied wherever a recorder takes text it did not produce:

* by name: a value under a credential-named key (``api_key``, ``authorization``,
  ``password``, ``x-goog-api-key``, ``client_secret``…) is removed, at the top
  level of a request and at any depth below it, whenever it is a scalar (a tool
  schema with a property called ``password`` maps it to a schema object: that
  is data and stays);
* by shape: a string that looks like a credential anywhere (provider key
  prefixes ``sk-``, ``sk-ant-``, ``AIza``; ``Bearer …``; JWTs; GitHub, Slack,
  AWS, Hugging Face tokens; ``key=…`` in a URL) has that part replaced by
  ``[redacted]`` — in requests, ``fn_args``, error bodies (a 401 that echoes the
  key), failure messages and headers.

Successful chunks are stored verbatim (replay is byte-exact); ``streamrec audit``
finds a secret a model wrote into one, and ``--scrub`` removes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REDACTED",
    "SECRET_HEADERS",
    "SECRET_KEYS",
    "SECRET_PATTERN",
    "Redact",
    "is_secret_key",
    "redact_text",
    "safe_headers",
    "scrub",
    "secret_spans",
]

REDACTED = "[redacted]"

#: headers that carry credentials or session state; never stored
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "set-cookie",
        "x-auth-token",
        "x-amz-security-token",
        "openai-organization",
        "openai-project",
    }
)
SECRET_KEYS = frozenset(
    {
        *SECRET_HEADERS,
        "api_key",
        "apikey",
        "key",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "passwd",
        "secret",
        "http_client",
        "client",
        "credentials",
    }
)
# at depth, "key" and "client" are too common as data names ({"key": "color"})
_SHALLOW_ONLY = frozenset({"key", "client", "http_client"})
_SECRETISH = re.compile(
    r"(^|[_-])(api[_-]?key|secret|password|passwd|access[_-]?token|auth[_-]?token|"
    r"refresh[_-]?token|session[_-]?token|private[_-]?key|credentials?)$",
    re.I,
)

#: what a credential looks like inside any text: a token of a known shape (``token``),
#: or the value after a word that announces one (``Bearer …``, ``?key=…``: ``value``)
SECRET_PATTERN = re.compile(
    r"""
    (?P<token>
      (?<![A-Za-z0-9])sk-(?:ant-|proj-|svcacct-|or-)?[A-Za-z0-9_\-]{16,}    # OpenAI, Anthropic
    | (?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{30,}                          # Google API keys
    | (?<![A-Za-z0-9])eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}  # JWT
    | (?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})  # GitHub
    | (?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9\-]{10,}                   # Slack
    | (?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])         # AWS access key ids
    | (?<![A-Za-z0-9])hf_[A-Za-z0-9]{20,}                               # Hugging Face
    )
    | (?P<lead>
        (?<![A-Za-z0-9])(?:[Bb]earer|[Bb]asic|[Tt]oken)\s+
      | [?&;](?:key|api_key|apikey|api-key|token|access_token|secret|password)=
      )
      (?P<value>[A-Za-z0-9._~+/=%\-]{8,})
    """,
    re.X,
)


def _replace(match: re.Match[str]) -> str:
    return REDACTED if match["token"] else match["lead"] + REDACTED


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Where credential-shaped strings are in ``text`` (start, end), for audit."""
    return [
        m.span("token") if m["token"] else m.span("value") for m in SECRET_PATTERN.finditer(text)
    ]


def is_secret_key(key: str) -> bool:
    """True for names that carry credentials (headers, query parameters, kwargs)."""
    lowered = key.lower()
    return lowered in SECRET_KEYS or bool(_SECRETISH.search(lowered))


def _secret_at_depth(key: str) -> bool:
    lowered = key.lower()
    return lowered not in _SHALLOW_ONLY and is_secret_key(lowered)


def redact_text(text: str) -> str:
    """``text`` with every credential-shaped part replaced by ``[redacted]``."""
    return SECRET_PATTERN.sub(_replace, text) if text else text


def scrub(value: Any) -> Any:
    """A copy of a request (or ``fn_args``) with its credentials removed.

    Credential-named keys go at the top level (``api_key=…``, ``key=…``) and,
    below it, wherever their value is a scalar (under transport keys such as
    ``extra_query`` or ``headers``, ``key`` too); credential-shaped strings are
    redacted everywhere. Anything else is left exactly as it was: the stored
    request is what was asked (and the matcher scrubs a live request the same
    way before comparing, so fingerprints agree).
    """
    if not isinstance(value, dict):
        return _scrub_deep(value)
    out = {}
    for key, item in value.items():
        if isinstance(key, str) and is_secret_key(key):
            continue
        out[key] = _scrub_deep(
            item, transport=isinstance(key, str) and bool(_TRANSPORT.search(key))
        )
    return out


_TRANSPORT = re.compile(r"header|query|option|auth|credential", re.I)


def _scrub_deep(value: Any, *, transport: bool = False) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        secret = is_secret_key if transport else _secret_at_depth
        return {
            k: _scrub_deep(v, transport=transport)
            for k, v in value.items()
            if not (isinstance(k, str) and secret(k) and not isinstance(v, dict | list))
        }
    if isinstance(value, list | tuple):
        return [_scrub_deep(v, transport=transport) for v in value]
    return value


def safe_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers fit to store: credential and cookie headers dropped, the rest redacted by shape."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {
        k.lower(): redact_text(v)
        for k, v in items
        if not (k.lower() in SECRET_HEADERS or is_secret_key(k))
    }


@dataclass(frozen=True)
class Redact:
    """Hooks that change what is stored, never what the live caller receives.

    ``request`` gets the request (credentials already removed) and returns what
    to store; ``chunk`` gets each chunk's wire text and returns what to store
    (a redacted recording replays the redacted text, by design).
    """

    request: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    chunk: Callable[[str], str] | None = None
