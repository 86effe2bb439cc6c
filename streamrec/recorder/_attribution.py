"""Who and what a recording is for: name, tags and free-form metadata, per recorder or per request.

A recorder (``record()``, the transports, the proxy, ``streamrec record``) is
given defaults; each HTTP request may add its own with ``x-streamrec-*``
headers, which are removed before the request goes upstream (the provider
never sees them, and they are never stored as request headers):

- ``x-streamrec-name: NAME`` names the recording (over the recorder's name);
- ``x-streamrec-tags: a, b`` adds tags (``x-streamrec-tag`` too);
- any other ``x-streamrec-KEY: VALUE`` sets metadata ``KEY`` (lower case),
  e.g. ``x-streamrec-user: alice``, ``x-streamrec-session: 42``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import RecorderError

__all__ = ["HEADER_PREFIX", "Attribution", "check_metadata", "split_headers"]

HEADER_PREFIX = "x-streamrec-"
_RESERVED = frozenset({"name", "tags"})
# response-side header of ours that a client might echo back: never metadata
_IGNORED = frozenset({"stream-id"})


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Metadata as ``{str: str}``; keys must be non-empty and not ``name``/``tags``."""
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not key.strip():
            raise RecorderError(f"metadata keys must be non-empty strings, not {key!r}")
        if key in _RESERVED:
            raise RecorderError(f"metadata key {key!r} is reserved: use name= / tags=")
        if value is None:
            continue
        out[key] = value if isinstance(value, str) else str(value)
    return out


@dataclass(frozen=True)
class Attribution:
    """A recording's name, tags and metadata."""

    name: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def with_headers(self, found: Attribution) -> Attribution:
        """These defaults overridden (name, metadata keys) or extended (tags) by a request's."""
        tags = tuple(dict.fromkeys([*self.tags, *found.tags]))
        return Attribution(found.name or self.name, tags, {**self.metadata, **found.metadata})


def split_headers(headers: Iterable[tuple[str, str]]) -> tuple[Attribution, list[tuple[str, str]]]:
    """(what ``x-streamrec-*`` headers say, the other headers to forward)."""
    name: str | None = None
    tags: list[str] = []
    metadata: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in headers:
        lower = key.lower()
        if not lower.startswith(HEADER_PREFIX):
            rest.append((key, value))
            continue
        what = lower[len(HEADER_PREFIX) :]
        if what == "name":
            name = value.strip() or None
        elif what in ("tags", "tag"):
            tags += [t.strip() for t in value.split(",") if t.strip()]
        elif what and what not in _IGNORED:
            metadata[what] = value.strip()
    return Attribution(name, tuple(tags), metadata), rest
