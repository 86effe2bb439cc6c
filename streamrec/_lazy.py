"""Lazy exports for the package and its parts (PEP 562 module ``__getattr__``).

``import streamrec`` (and so every CLI start: ``streamrec.cli`` lives inside the
package) must not pay for SQLAlchemy, Alembic, httpx, starlette, pydantic models
or genai-prices before a command asks for them. Each ``__init__`` names where
its exports live; the first access imports that module and caches the value
in the package's namespace, so later accesses are plain attribute reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(
    package: str, where: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose name ``n`` lives in ``where[n]``."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
