"""What a driver's exception means to a caller: the one mapping of every database error
to streamrec's own (``errors.py``), so a command prints one line and the writer knows
which failures to buffer and retry.

Raw sqlite3 errors come here too: the quick read paths (``_rows``) use the pool's driver
connection without SQLAlchemy around it, so a corrupt file there raises
``sqlite3.DatabaseError``, not SQLAlchemy's ``DatabaseError`` wrapping it.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from ..errors import NotAStreamrecDatabase, StoreError, StoreUnavailable

__all__ = ["DRIVER_ERRORS", "store_error"]

DRIVER_ERRORS = (SQLAlchemyError, sqlite3.Error)
"""What ``store_error`` maps: SQLAlchemy's errors and the raw sqlite3 driver's."""

# SQLite errors that are about the statement or the file, not a passing lock or outage
_PERMANENT = ("no such table", "no such column", "syntax error", "readonly database", "constraint")


def store_error(exc: BaseException, doing: str, where: str) -> StoreError:
    """The ``StoreError`` to raise for ``exc``, met while trying to ``doing`` at ``where``."""
    if isinstance(exc, SATimeoutError):  # no pooled connection came back in time
        return StoreUnavailable(f"could not {doing} at {where}: {exc}")
    if isinstance(exc, (DBAPIError, sqlite3.Error)):
        reason = (str(getattr(exc, "orig", exc)).strip().splitlines() or [repr(exc)])[0]
        if "not a database" in reason or "malformed" in reason:
            return NotAStreamrecDatabase(f"{where} is not a readable database: {reason}")
        message = f"could not {doing} at {where}: {reason}"
        if _transient(exc, reason):
            return StoreUnavailable(message)
        return StoreError(message)
    return StoreError(f"could not {doing} at {where}: {exc}")


def _transient(exc: BaseException, reason: str) -> bool:
    """Whether a driver error means "not now" (unreachable, restarted, locked), not "never"."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, (OperationalError, InterfaceError, sqlite3.OperationalError)):
        return False
    return not any(p in reason.lower() for p in _PERMANENT)
