"""Alembic owns the schema; this package ships its environment and versions with streamrec."""

from ._api import HEAD_REVISION, current_revision, head_revision, upgrade

__all__ = ["HEAD_REVISION", "current_revision", "head_revision", "upgrade"]
