"""The SQL store: tables, engines and URLs, appends and reads, the group-commit writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._engine import DEFAULT_PATH, ENV_VAR, resolve_url
    from ._filters import TIME_FORMS, Filters, parse_time
    from ._otlp import export_otlp, span_attributes
    from ._portable import export_lines, import_lines
    from ._sql import READER_ROLE
    from ._stats import DIMENSIONS, GROUPS, STAT_FIELDS, parse_by, stats
    from ._store import SORTS, Store, as_store, default_store
    from ._summary import summary_row
    from ._writer import Writer

__all__ = [
    "DEFAULT_PATH",
    "DIMENSIONS",
    "ENV_VAR",
    "GROUPS",
    "READER_ROLE",
    "SORTS",
    "STAT_FIELDS",
    "TIME_FORMS",
    "Filters",
    "Store",
    "Writer",
    "as_store",
    "default_store",
    "export_lines",
    "export_otlp",
    "import_lines",
    "parse_by",
    "parse_time",
    "resolve_url",
    "span_attributes",
    "stats",
    "summary_row",
]

# imported on first use (see streamrec._lazy): a CLI command pays only for what it touches
__getattr__, __dir__ = exports(
    __name__,
    {
        "DEFAULT_PATH": "._engine",
        "DIMENSIONS": "._stats",
        "ENV_VAR": "._engine",
        "GROUPS": "._stats",
        "READER_ROLE": "._sql",
        "SORTS": "._store",
        "STAT_FIELDS": "._stats",
        "TIME_FORMS": "._filters",
        "Filters": "._filters",
        "Store": "._store",
        "Writer": "._writer",
        "as_store": "._store",
        "default_store": "._store",
        "export_lines": "._portable",
        "export_otlp": "._otlp",
        "import_lines": "._portable",
        "parse_by": "._stats",
        "parse_time": "._filters",
        "resolve_url": "._engine",
        "span_attributes": "._otlp",
        "stats": "._stats",
        "summary_row": "._summary",
    },
    globals(),
)
