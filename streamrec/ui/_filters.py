"""The filters the streams and history pages share, read from a query string.

One parser for both pages, so a filter means the same thing on the list and on
the charts, and the list's links carry it to the history page unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Select

__all__ = ["STATUSES", "FilterError", "Filters", "parse_time"]

STATUSES = ("recording", "completed", "failed", "interrupted")
_SPAN = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class FilterError(ValueError):
    """A filter value the page cannot use; the message says what is accepted."""


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or time (UTC when no zone) or a span back from now (``90m``, ``24h``, ``7d``)."""
    text = value.strip()
    span = _SPAN.match(text)
    if span:
        now = now or datetime.now(timezone.utc)
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{value!r} is not a time: use an ISO 8601 date or time (2026-12-01, "
            "2026-12-01T09:30, …+02:00) or a span such as 90m, 24h, 7d"
        ) from None
    # UTC throughout: SQLite compares the stored UTC text, so a zone must be folded in first
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Filters:
    """What the user narrowed the streams to; empty fields do not filter."""

    since: str = ""
    until: str = ""
    model: str = ""
    provider: str = ""
    api: str = ""
    status: str = ""
    name: str = ""
    tag: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Filters:
        """The filters in a query string (unknown keys ignored, values stripped)."""
        found = cls(**{f.name: params.get(f.name, "").strip() for f in fields(cls)})
        found.bounds()  # refuse bad times here, with the message, not deep in a query
        if found.status and found.status not in STATUSES:
            raise FilterError(f"status {found.status!r} is not one of {', '.join(STATUSES)}")
        return found

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``since`` and ``until`` as aware datetimes (None where not given)."""
        return (
            parse_time(self.since) if self.since else None,
            parse_time(self.until) if self.until else None,
        )

    def items(self) -> dict[str, str]:
        """The filters that are set, for links and forms."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def apply(self, query: Select[Any], streams: Any) -> Select[Any]:
        """``query`` narrowed to the streams these filters select (``streams`` is the table)."""
        since, until = self.bounds()
        conditions: list[ColumnElement[bool]] = []
        if since is not None:
            conditions.append(streams.c.started_at >= since)
        if until is not None:
            conditions.append(streams.c.started_at < until)
        if self.model:
            conditions.append(
                (streams.c.model == self.model) | (streams.c.requested_model == self.model)
            )
        for key in ("provider", "api", "status", "name"):
            if getattr(self, key):
                conditions.append(streams.c[key] == getattr(self, key))
        if self.tag:
            # tags are a JSON array of strings: match the quoted element, as Store.streams does
            conditions.append(streams.c.tags.contains(json.dumps(self.tag), autoescape=True))
        return query.where(*conditions) if conditions else query
