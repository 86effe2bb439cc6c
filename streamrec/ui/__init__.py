"""``streamrec ui``: a local, read-only web view over a store — lists, timelines, state, history."""

from ._app import ui_app

__all__ = ["ui_app"]
