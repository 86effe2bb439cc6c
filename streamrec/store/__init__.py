"""The SQL store: tables, engines and URLs, appends and reads, the group-commit writer."""

from ._engine import DEFAULT_PATH, ENV_VAR, resolve_url
from ._portable import export_lines, import_lines
from ._sql import READER_ROLE
from ._stats import GROUPS, stats
from ._store import Store, as_store, default_store
from ._summary import summary_row
from ._writer import Writer

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "GROUPS",
    "READER_ROLE",
    "Store",
    "Writer",
    "as_store",
    "default_store",
    "export_lines",
    "import_lines",
    "resolve_url",
    "stats",
    "summary_row",
]
