"""Alembic owns the schema; this package ships its environment and versions with streamrec."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._api import HEAD_REVISION, current_revision, head_revision, needs_rebuild, upgrade

__all__ = ["HEAD_REVISION", "current_revision", "head_revision", "needs_rebuild", "upgrade"]

# imported on first use (see streamrec._lazy): a CLI command pays only for what it touches
__getattr__, __dir__ = exports(
    __name__,
    {
        "HEAD_REVISION": "._api",
        "current_revision": "._api",
        "head_revision": "._api",
        "needs_rebuild": "._api",
        "upgrade": "._api",
    },
    globals(),
)
