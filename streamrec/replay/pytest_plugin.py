"""pytest plugin: a ``streamrec_store`` fixture pointing at the project's recordings.

Registered through the ``pytest11`` entry point, so installing streamrec makes
it available; it does nothing unless a test asks for its fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..store import Store


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("streamrec")
    group.addoption(
        "--streamrec-db",
        default=None,
        help="database URL of the recordings tests replay (default: $STREAMREC_DB or .streamrec/)",
    )


@pytest.fixture
def streamrec_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The store recordings are replayed from (``--streamrec-db``, else the default)."""
    store = Store(request.config.getoption("--streamrec-db"))
    yield store
    store.close()
