"""Which streams a history command looks at: time windows and attribute filters.

One ``Filters`` value serves ``stats``, ``ls``, ``export`` and ``prune``, so a
filter means the same thing everywhere. Times are parsed here, strictly:
ISO 8601 dates and times (UTC when they carry no zone) or relative spans
(``90m``, ``24h``, ``7d``, ``2w``) counted back from now. Anything else is a
``FilterError`` naming the accepted forms, never a silent string comparison.
The comparison is on the column's real timestamp type on both engines: the
bound value is an aware UTC ``datetime``, which SQLite stores and compares in
one fixed-width text format and PostgreSQL as ``timestamptz``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, cast, func, type_coerce

from ..errors import FilterError
from ._schema import streams

__all__ = ["TIME_FORMS", "Filters", "meta_value", "parse_time"]

TIME_FORMS = (
    "an ISO 8601 date or time (2026-12-01, 2026-12-01T09:30, 2026-12-01T09:30:00Z, "
    "2026-12-01 09:30:00+01:00; UTC when no zone is given) or a span back from now "
    "(90m, 24h, 7d, 2w)"
)

_SPAN = re.compile(r"^(\d+)([smhdw])$")
_SPAN_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$"
)


def parse_time(
    value: str | datetime, *, end: bool = False, now: datetime | None = None
) -> datetime:
    """An aware UTC datetime for a ``--since``/``--until`` value.

    ``end=True`` (for ``--until``) reads a bare date as the end of that day, so
    ``--since 2026-11-01 --until 2026-11-30`` is all of November.
    """
    if isinstance(value, datetime):
        return _utc(value)
    text = value.strip()
    span = _SPAN.match(text)
    if span:
        amount = timedelta(**{_SPAN_UNITS[span.group(2)]: int(span.group(1))})
        return (now or datetime.now(timezone.utc)) - amount
    try:
        if _DATE.match(text):
            day = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
            return day + timedelta(days=1) if end else day
        if _DATETIME.match(text):
            if text[-1] in "Zz":
                text = text[:-1] + "+00:00"
            elif re.search(r"[+-]\d{2}$", text):
                text += ":00"  # Python 3.10's fromisoformat wants minutes in the offset
            elif re.search(r"[+-]\d{4}$", text):
                text = text[:-2] + ":" + text[-2:]
            return _utc(datetime.fromisoformat(text.replace(" ", "T", 1)))
    except ValueError as exc:
        raise FilterError(f"{value!r} is not a valid time ({exc}); use {TIME_FORMS}") from None
    raise FilterError(f"{value!r} is not a time; use {TIME_FORMS}")


def _utc(when: datetime) -> datetime:
    return (
        when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    )


def meta_value(dialect: str, key: str) -> ColumnElement[Any]:
    """The text value of metadata key ``key`` of each stream (NULL when absent)."""
    if dialect == "postgresql":
        value: ColumnElement[Any] = cast(streams.c.meta, JSON)[key].as_string()
        return value
    # SQLite: no CAST (it would coerce the text to a number); json_extract reads the text
    coerced: ColumnElement[Any] = type_coerce(streams.c.meta, JSON)[key].as_string()
    return coerced


@dataclass(frozen=True)
class Filters:
    """A conjunction of conditions on streams; empty means every stream.

    ``since`` is inclusive and ``until`` exclusive (both on ``started_at``);
    strings are parsed with ``parse_time``. ``model`` matches the requested or
    the reported model; ``tag`` one of the tags; ``meta`` every given
    metadata key with exactly that value; ``status`` one status or several;
    ``conversation`` the streams of one conversation (by its id).
    """

    since: datetime | None = None
    until: datetime | None = None
    status: tuple[str, ...] = ()
    model: str | None = None
    api: str | None = None
    provider: str | None = None
    name: str | None = None
    tag: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    fingerprint: str | None = None
    conversation: str | None = None

    @classmethod
    def of(
        cls,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        status: str | tuple[str, ...] | list[str] | None = None,
        model: str | None = None,
        api: str | None = None,
        provider: str | None = None,
        name: str | None = None,
        tag: str | None = None,
        meta: Mapping[str, str] | None = None,
        fingerprint: str | None = None,
        conversation: str | None = None,
        now: datetime | None = None,
    ) -> Filters:
        """Filters from loose arguments (time strings parsed, one status or several)."""
        return cls(
            since=parse_time(since, now=now) if since is not None else None,
            until=parse_time(until, end=True, now=now) if until is not None else None,
            status=(status,) if isinstance(status, str) else tuple(status or ()),
            model=model or None,
            api=api or None,
            provider=provider or None,
            name=name or None,
            tag=tag or None,
            meta=dict(meta or {}),
            fingerprint=fingerprint or None,
            conversation=conversation or None,
        )

    def conditions(self, dialect: str) -> list[ColumnElement[bool]]:
        """The WHERE conditions on ``streams`` for ``dialect`` ("sqlite" or "postgresql")."""
        c = streams.c
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(c.started_at >= _utc(self.since))
        if self.until is not None:
            out.append(c.started_at < _utc(self.until))
        if len(self.status) == 1:
            out.append(c.status == self.status[0])
        elif self.status:
            out.append(c.status.in_(self.status))
        if self.model:
            out.append((c.model == self.model) | (c.requested_model == self.model))
        if self.api:
            out.append(c.api == self.api)
        if self.provider:
            out.append(c.provider == self.provider)
        if self.name:
            out.append(c.name == self.name)
        if self.fingerprint:
            out.append(c.fingerprint == self.fingerprint)
        if self.conversation:
            out.append(func.coalesce(c.conversation_id, c.stream_id) == self.conversation)
        if self.tag:
            # tags is a JSON array of strings; its elements are quoted exactly so
            out.append(c.tags.contains(json.dumps(self.tag), autoescape=True))
        for key, value in self.meta.items():
            out.append(meta_value(dialect, key) == cast(value, String))
        return out

    def __bool__(self) -> bool:
        return any(
            (
                self.since,
                self.until,
                self.status,
                self.model,
                self.api,
                self.provider,
                self.name,
                self.tag,
                self.meta,
                self.fingerprint,
                self.conversation,
            )
        )
