"""Reprice: recompute stored streams' cost from their recorded usage, with new prices.

Without overrides, each stream is priced again by the installed genai-prices
data, exactly as a recording is (its events folded, the price in force when it
started), so upgrading genai-prices and repricing updates old figures. With a
price file, the streams it covers (private, fine-tuned or self-hosted models)
are priced by it instead, per million tokens::

    {"prices": [
      {"model": "ft:gpt-4o-mini:acme:*", "provider": "openai",
       "input_mtok": "0.30", "cached_mtok": "0.15", "cache_write_mtok": "0.30",
       "output_mtok": "1.20", "from": "2026-01-01", "until": "2026-07-01"}
    ]}

``model`` is a glob matched against the reported, then the requested model;
``provider``, ``cached_mtok``, ``cache_write_mtok`` (both default to the input
price), ``from`` (inclusive) and ``until`` (exclusive, on ``started_at``) are
optional; the first entry that matches wins. Money stays exact: Decimal
prices, integer nano-dollars. Each repriced row records its provenance in
``prices_version``: genai-prices figures carry the installed genai-prices
version, overridden ones ``override:<sha256 of the file>``. ``rebuild``
recomputes from genai-prices; repricing with the file again restores the
overrides (``verify`` leaves overridden costs alone).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from ..errors import StoreError
from ._filters import Filters, parse_time
from ._rows import batches
from ._schema import streams

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["OVERRIDE_PREFIX", "PriceOverride", "load_prices", "overridden", "reprice"]

OVERRIDE_PREFIX = "override:"
_COST_COLUMNS = ("cost_nanousd", "cost_reason", "prices_version", "cache_savings_nanousd")
_THOUSAND = Decimal(1000)  # nano-dollars per token at a price of $1 per million tokens


@dataclass(frozen=True)
class PriceOverride:
    """One entry of a price file: USD per million tokens for the models it matches."""

    model: str
    input_mtok: Decimal
    output_mtok: Decimal
    cached_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None
    provider: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether this entry prices the stream of read-model ``row``."""
        if self.provider and row.get("provider") != self.provider:
            return False
        models = [m for m in (row.get("model"), row.get("requested_model")) if m]
        if not any(fnmatch.fnmatchcase(m, self.model) for m in models):
            return False
        started = row.get("started_at")
        if started is not None and started.tzinfo is None:
            from datetime import timezone

            started = started.replace(tzinfo=timezone.utc)
        if self.since is not None and (started is None or started < self.since):
            return False
        return not (self.until is not None and (started is None or started >= self.until))

    def cost(self, row: Mapping[str, Any]) -> tuple[int, int] | None:
        """(cost, cache savings) in nano-dollars for the row's usage; None without usage."""
        inp, out = row.get("input_tokens"), row.get("output_tokens")
        if inp is None or out is None:
            return None
        cached = row.get("cached_tokens") or 0
        written = row.get("cache_write_tokens") or 0
        cached_price = self.cached_mtok if self.cached_mtok is not None else self.input_mtok
        write_price = (
            self.cache_write_mtok if self.cache_write_mtok is not None else self.input_mtok
        )
        plain = inp - cached - written
        total = (
            plain * self.input_mtok
            + cached * cached_price
            + written * write_price
            + out * self.output_mtok
        ) * _THOUSAND
        saved = cached * (self.input_mtok - cached_price) * _THOUSAND
        return int(total.to_integral_value()), int(saved.to_integral_value())


def load_prices(path: str | os.PathLike[str]) -> tuple[list[PriceOverride], str]:
    """The entries of a price file and its provenance tag (``override:<sha256 prefix>``)."""
    try:
        raw = Path(path).read_bytes()
        data = json.loads(raw)
    except OSError as exc:
        raise StoreError(f"cannot read the price file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StoreError(f"the price file {path} is not JSON: {exc}") from None
    entries = data.get("prices") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise StoreError(f'the price file {path} has no "prices" list')
    out = []
    for n, entry in enumerate(entries):
        where = f"{path}: prices[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str):
            raise StoreError(f'{where} needs a "model" (a name or a glob)')
        unknown = set(entry) - {
            "model",
            "provider",
            "input_mtok",
            "output_mtok",
            "cached_mtok",
            "cache_write_mtok",
            "from",
            "until",
        }
        if unknown:
            raise StoreError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")

        input_mtok = _money(entry, "input_mtok", where, True)
        output_mtok = _money(entry, "output_mtok", where, True)
        assert input_mtok is not None and output_mtok is not None
        out.append(
            PriceOverride(
                model=entry["model"],
                provider=entry.get("provider"),
                input_mtok=input_mtok,
                output_mtok=output_mtok,
                cached_mtok=_money(entry, "cached_mtok", where, False),
                cache_write_mtok=_money(entry, "cache_write_mtok", where, False),
                since=parse_time(entry["from"]) if entry.get("from") else None,
                until=parse_time(entry["until"], end=True) if entry.get("until") else None,
            )
        )
    return out, OVERRIDE_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def _money(entry: Mapping[str, Any], key: str, where: str, required: bool) -> Decimal | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise StoreError(f'{where} needs "{key}" (USD per million tokens)')
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise StoreError(f"{where}: {key} {value!r} is not a number") from None
    if amount < 0 or not amount.is_finite():
        raise StoreError(f"{where}: {key} must be a price, not {value!r}")
    return amount


def reprice(
    store: Store,
    *,
    filters: Filters | None = None,
    prices: str | os.PathLike[str] | None = None,
    dry_run: bool = False,
    batch: int = 500,
) -> list[dict[str, Any]]:
    """Recompute the cost of the chosen (ended) streams; return those whose figures changed.

    Each change is ``{"stream_id", "model", "before": {...}, "after": {...}}``
    with the cost columns (``cost_nanousd``, ``cost_reason``,
    ``prices_version``, ``cache_savings_nanousd``). ``dry_run`` changes nothing.
    """
    from ..projection import project
    from ._summary import summary_row

    overrides, tag = load_prices(prices) if prices is not None else ([], "")
    conditions = (filters or Filters()).conditions(store.engine.dialect.name)
    conditions.append(streams.c.status != "recording")
    with store._errors("read streams to reprice"), store.engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                select(streams).where(*conditions).order_by(streams.c.stream_id)
            ).all()
        ]
    changes: list[dict[str, Any]] = []
    for row in rows:
        entry = next((o for o in overrides if o.matches(row)), None)
        if entry is not None:
            priced = entry.cost(row)
            after: dict[str, Any] = (
                {
                    "cost_nanousd": priced[0],
                    "cost_reason": None,
                    "prices_version": tag,
                    "cache_savings_nanousd": priced[1],
                }
                if priced is not None
                else {
                    "cost_nanousd": None,
                    "cost_reason": "usage not reported by the provider",
                    "prices_version": tag,
                    "cache_savings_nanousd": None,
                }
            )
        else:
            stored = store.events(row["stream_id"])
            fresh = summary_row(project(stored), stored[-1].seq)
            after = {k: fresh[k] for k in _COST_COLUMNS}
        before = {k: row.get(k) for k in _COST_COLUMNS}
        if before != after:
            changes.append(
                {
                    "stream_id": row["stream_id"],
                    "model": row.get("model") or row.get("requested_model"),
                    "before": before,
                    "after": after,
                }
            )
    if dry_run or not changes:
        return changes
    engine = store._write_engine()
    for part in batches(changes, batch):
        with store._errors("reprice streams"), engine.begin() as conn:
            for change in part:
                conn.execute(
                    update(streams)
                    .where(streams.c.stream_id == change["stream_id"])
                    .values(**change["after"])
                )
    return changes


def overridden(row: Mapping[str, Any]) -> bool:
    """Whether the row's cost came from a price file (``verify`` does not recompute it)."""
    return str(row.get("prices_version") or "").startswith(OVERRIDE_PREFIX)
