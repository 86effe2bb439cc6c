"""Each part's public names: a sorted ``__all__`` that names everything the package re-exports."""

from __future__ import annotations

import importlib
import inspect

import pytest

PARTS = [
    "streamrec",
    "streamrec.events",
    "streamrec.errors",
    "streamrec.store",
    "streamrec.projection",
    "streamrec.recorder",
    "streamrec.replay",
    "streamrec.migrations",
]


@pytest.mark.parametrize("name", PARTS)
def test_every_exported_name_resolves_and_public_callables_are_documented(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported)  # order itself is ruff's RUF022
    for attr in exported:
        value = getattr(module, attr, None)
        assert value is not None, f"{name}.{attr}"
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__doc__, f"{name}.{attr} has no docstring"


def test_the_interface_the_issues_name() -> None:
    import streamrec

    for name in (
        "record",
        "replay",
        "SSEEvent",
        "Store",
        "StreamState",
        "replay_async",
        "replay_stream",
    ):
        assert name in streamrec.__all__
