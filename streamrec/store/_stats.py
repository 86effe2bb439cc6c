"""Token and cost history grouped by model, provider, day, name or status, from the read model."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select

from ..errors import StoreError
from ._schema import streams

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["GROUPS", "stats"]

GROUPS = ("model", "provider", "api", "day", "name", "status")
_NANO = Decimal(1_000_000_000)


def stats(store: Store, by: str = "model", *, since: str | None = None) -> list[dict[str, Any]]:
    """One row per group: streams, chunks, tokens, exact cost, mean time to first chunk.

    ``cost`` is a ``Decimal`` (USD) and ``cost_nanousd`` the same as an integer;
    ``unpriced`` counts streams with no cost (no usage, or no price for the model).
    """
    if by not in GROUPS:
        raise StoreError(f"cannot group by {by!r} (one of {', '.join(GROUPS)})")
    key: ColumnElement[Any] = (
        func.substr(func.cast(streams.c.started_at, streams.c.name.type), 1, 10)
        if by == "day"
        else streams.c[by]
    )
    query = (
        select(
            key.label("group"),
            func.count().label("streams"),
            func.sum(streams.c.chunk_count).label("chunks"),
            func.sum(streams.c.input_tokens).label("input_tokens"),
            func.sum(streams.c.cached_tokens).label("cached_tokens"),
            func.sum(streams.c.output_tokens).label("output_tokens"),
            func.sum(streams.c.reasoning_tokens).label("reasoning_tokens"),
            func.sum(streams.c.cost_nanousd).label("cost_nanousd"),
            func.count(streams.c.cost_nanousd).label("priced"),
            func.avg(streams.c.ttft_ns).label("mean_ttft_ns"),
        )
        .group_by(key)
        .order_by(key)
    )
    if since:
        query = query.where(streams.c.started_at >= since)
    with store._errors("compute stats"), store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for row in rows:
        item = dict(row._mapping)
        item[by] = item["group"]  # also under its own name: {"group": …, "model": …}
        nanos = item.pop("cost_nanousd")
        item["cost_nanousd"] = int(nanos) if nanos is not None else None
        item["cost"] = Decimal(int(nanos)) / _NANO if nanos is not None else None
        item["unpriced"] = item["streams"] - item.pop("priced")
        ttft = item.pop("mean_ttft_ns")
        item["mean_ttft_ms"] = round(float(ttft) / 1e6, 3) if ttft is not None else None
        for k in ("chunks", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"):
            item[k] = int(item[k]) if item[k] is not None else None
        out.append(item)
    return out
