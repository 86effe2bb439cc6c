"""The filter form the streams and history pages share, read from a query string.

The form keeps the text the user typed (to show it back and to carry it from
the list to the history page); what it means is the store's ``Filters``, the
same one ``ls``, ``stats`` and ``export`` use, so a filter selects the same
streams in the page as on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..errors import FilterError
from ..store import Filters

__all__ = ["STATUSES", "FilterForm"]

STATUSES = ("recording", "completed", "failed", "interrupted")


@dataclass(frozen=True)
class FilterForm:
    """What the user narrowed the streams to, as typed; empty fields do not filter.

    ``meta`` is ``KEY=VALUE`` pairs separated by commas (every one must hold).
    """

    since: str = ""
    until: str = ""
    model: str = ""
    provider: str = ""
    api: str = ""
    status: str = ""
    name: str = ""
    tag: str = ""
    meta: str = ""

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> FilterForm:
        """The form in a query string (unknown keys ignored); ``FilterError`` if it means nothing."""
        form = cls(**{f.name: params.get(f.name, "").strip() for f in fields(cls)})
        form.filters()  # refuse a bad value here, with its message, not deep in a query
        return form

    def metadata(self) -> dict[str, str]:
        """The ``meta`` field as a dict."""
        out: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in self.meta.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise FilterError(f"metadata filter {item!r} is not KEY=VALUE")
            out[key.strip()] = value.strip()
        return out

    def filters(self) -> Filters:
        """The store's ``Filters`` for this form."""
        if self.status and self.status not in STATUSES:
            raise FilterError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")
        return Filters.of(
            since=self.since or None,
            until=self.until or None,
            status=self.status or None,
            model=self.model,
            api=self.api,
            provider=self.provider,
            name=self.name,
            tag=self.tag,
            meta=self.metadata(),
        )

    def items(self) -> dict[str, str]:
        """The fields that are set, for links and forms."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
