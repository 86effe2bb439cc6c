"""What the replay servers answer when the store cannot: one place for HTTP and WebSocket."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import StoreError, StoreUnavailable

__all__ = ["store_failure"]


def store_failure(exc: StoreError) -> tuple[int, dict[str, Any]]:
    """(status, error body) for a request the store could not answer, logged in one line.

    503 while the database is away (a client's retry may find it back), 500 for one that
    cannot be read (a corrupt file); either way the server goes on serving, and the
    client reads streamrec's reason in the providers' error shape, not a bare 500.
    """
    logging.getLogger("uvicorn.error").error("streamrec: %s", exc)
    status = 503 if isinstance(exc, StoreUnavailable) else 500
    return status, {
        "error": {"type": "streamrec_store_error", "code": "store_error", "message": str(exc)}
    }
