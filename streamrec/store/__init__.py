"""The SQL store: tables, engines and URLs, appends and reads, the group-commit writer."""

from ._engine import DEFAULT_PATH, ENV_VAR, resolve_url
from ._filters import TIME_FORMS, Filters, parse_time
from ._portable import export_lines, import_lines
from ._sql import READER_ROLE
from ._stats import DIMENSIONS, GROUPS, STAT_FIELDS, parse_by, stats
from ._store import Store, as_store, default_store
from ._summary import summary_row
from ._writer import Writer

__all__ = [
    "DEFAULT_PATH",
    "DIMENSIONS",
    "ENV_VAR",
    "GROUPS",
    "READER_ROLE",
    "STAT_FIELDS",
    "TIME_FORMS",
    "Filters",
    "Store",
    "Writer",
    "as_store",
    "default_store",
    "export_lines",
    "import_lines",
    "parse_by",
    "parse_time",
    "resolve_url",
    "stats",
    "summary_row",
]
