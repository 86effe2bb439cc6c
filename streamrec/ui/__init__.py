"""``streamrec ui``: a local, read-only web view over a store — lists, timelines, state, history."""

from ._app import LOOPBACK_HOSTS, ui_app

__all__ = ["LOOPBACK_HOSTS", "ui_app"]
