"""Cost from genai-prices' bundled price data: exact Decimals, with provenance and reasons.

Priced by the model the provider reported (falling back to the requested one),
with the normalised usage (input inclusive of cache reads and writes, which is
what genai-prices expects). No usage or no price gives ``None`` and a reason,
never 0. genai-prices' auto-update is never started, so this makes no network call.
"""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import version
from typing import Any

from ._state import StreamState

__all__ = ["price"]

_NANO = Decimal(1_000_000_000)


def price(state: StreamState) -> tuple[Decimal | None, dict[str, Any]]:
    """(cost in USD, cost_metadata) for the state's usage."""
    import genai_prices

    usage = state.usage
    model = state.model or state.requested_model
    meta: dict[str, Any] = {
        "source": "genai-prices",
        "prices_version": version("genai-prices"),
        "provider": state.provider,
        "model": model,
        "input_tokens": usage.input_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }
    if "reported_cost" in state.provider_data:
        meta["provider_reported_cost"] = str(state.provider_data["reported_cost"])
    if not usage.reported:
        meta["reason"] = "usage not reported by the provider"
        return None, meta
    if not model:
        meta["reason"] = "no model to price"
        return None, meta
    priced = genai_prices.Usage(
        input_tokens=usage.input_tokens or 0,
        cache_read_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.output_tokens or 0,
    )
    try:
        calc = genai_prices.calc_price(priced, model, provider_id=_provider_id(state.provider))
    except LookupError as exc:
        meta["reason"] = f"no price for model {model!r}: {exc}"
        return None, meta
    except ValueError as exc:  # genai-prices refuses inconsistent usage (cached > input, …)
        meta["reason"] = f"usage cannot be priced: {exc}"
        return None, meta
    total = Decimal(calc.total_price)
    meta.update(
        {
            "input_cost": str(calc.input_price),
            "output_cost": str(calc.output_price),
            "priced_model": calc.model.id,
            "priced_provider": calc.provider.id,
            "cost_nanousd": int((total * _NANO).to_integral_value()),
            "reason": None,
        }
    )
    return total, meta


def _provider_id(provider: str | None) -> str | None:
    return {"openai": "openai", "anthropic": "anthropic", "google": "google"}.get(provider or "")
