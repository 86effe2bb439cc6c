"""Cost from genai-prices' bundled price data: exact Decimals, with provenance and reasons.

Priced by the model the provider reported (falling back to the requested one),
with the normalised usage: input inclusive of cache reads and writes, output
inclusive of reasoning, which is what genai-prices expects (its cache units are
parts of ``input_tokens``). Anthropic's cache writes are priced by their TTL
(5 minutes or 1 hour) when the response says which. The price in force when the
stream started is used, so a rebuild next year gives the same figure; the
response's service tier selects tier prices where genai-prices has them.

No usage, an incomplete usage (an Anthropic stream cut before its final
``message_delta``) or no price gives ``None`` and a reason, never 0.
genai-prices' auto-update is never started, so this makes no network call.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from decimal import Decimal
from importlib.metadata import version
from typing import Any

from ._state import StreamState

__all__ = ["price", "price_key"]

_NANO = Decimal(1_000_000_000)
# our provider names are genai-prices' provider ids; OpenAI-compatible servers that
# identify themselves (Groq's x_groq, OpenRouter's usage.cost) set ``price_provider``
_PROVIDER_IDS = frozenset({"openai", "anthropic", "google", "groq", "openrouter"})


def price(state: StreamState) -> tuple[Decimal | None, dict[str, Any]]:
    """(cost in USD, cost_metadata) for the state's usage."""
    usage = state.usage
    model = state.model or state.requested_model
    meta: dict[str, Any] = {
        "source": "genai-prices",
        "prices_version": _prices_version(),
        "provider": state.provider,
        "model": model,
        "input_tokens": usage.input_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }
    data = state.provider_data
    if isinstance(data.get("audio_tokens"), dict):
        meta["audio_tokens"] = dict(data["audio_tokens"])
    if "reported_cost" in data:
        meta["provider_reported_cost"] = str(data["reported_cost"])
    if not usage.reported:
        meta["reason"] = "usage not reported by the provider"
        return None, meta
    if usage.input_tokens is None or usage.output_tokens is None:
        missing = "input" if usage.input_tokens is None else "output"
        meta["reason"] = f"usage incomplete: no {missing} token count (the stream ended early)"
        return None, meta
    if not model:
        meta["reason"] = "no model to price"
        return None, meta
    tier = data.get("service_tier")
    context = {"service_tier": tier} if isinstance(tier, str) else None
    when = (
        datetime.fromtimestamp(state.start_time / 1000, timezone.utc) if state.start_time else None
    )
    last_error: Exception | None = None
    for provider_id in _candidates(state):
        try:
            calc = _calc(state, model, provider_id, when, context)
        except LookupError as exc:
            last_error = exc
            continue
        except Exception as exc:  # genai-prices refuses inconsistent usage (cached > input, …)
            meta["reason"] = f"usage cannot be priced: {exc}"
            return None, meta
        total = Decimal(calc.total_price)
        meta.update(
            {
                "input_cost": str(calc.input_price),
                "output_cost": str(calc.output_price),
                "priced_model": calc.model.id,
                "priced_provider": calc.provider.id,
                "priced_at": when.isoformat() if when else None,
                "service_tier": tier if isinstance(tier, str) else None,
                "cost_nanousd": int((total * _NANO).to_integral_value()),
                "reason": None,
            }
        )
        return total, meta
    meta["reason"] = f"no price for model {model!r}: {last_error}"
    return None, meta


def price_key(state: StreamState) -> tuple[object, ...]:
    """Everything ``price`` reads: equal keys give the same cost and metadata."""
    data = state.provider_data
    ttl = data.get("cache_write_ttl")
    audio = data.get("audio_tokens")
    return (
        state.api,
        tuple(state.usage.model_dump().values()),
        state.model,
        state.requested_model,
        state.provider,
        state.start_time,
        data.get("price_provider"),
        data.get("service_tier"),
        data.get("reported_cost"),
        tuple(sorted(ttl.items())) if isinstance(ttl, dict) else ttl,
        tuple(sorted(audio.items())) if isinstance(audio, dict) else audio,
    )


@functools.cache
def _prices_version() -> str:
    """The installed genai-prices, whose bundled data priced the figure (read once)."""
    return version("genai-prices")


def _candidates(state: StreamState) -> list[str | None]:
    """Providers to look the model up with, most specific first."""
    out: list[str | None] = []
    for name in (state.provider_data.get("price_provider"), state.provider):
        if isinstance(name, str) and name in _PROVIDER_IDS and name not in out:
            out.append(name)
    return out or [None]


def _calc(
    state: StreamState,
    model: str,
    provider_id: str | None,
    when: datetime | None,
    context: dict[str, str] | None,
) -> Any:
    import genai_prices

    usage = state.usage
    counts: dict[str, int | None] = {
        "input_tokens": usage.input_tokens,
        "cache_read_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
    }
    # audio tokens (Realtime) are parts of the totals, priced at audio prices
    audio = state.provider_data.get("audio_tokens")
    if isinstance(audio, dict):
        counts.update({k: v for k, v in audio.items() if isinstance(v, int) and v})
    ttl = state.provider_data.get("cache_write_ttl")
    if isinstance(ttl, dict) and isinstance(ttl.get("1h"), int) and isinstance(ttl.get("5m"), int):
        counts["cache_write_5m_tokens"] = ttl["5m"]
        counts["cache_write_1h_tokens"] = ttl["1h"]
    return genai_prices.calc_price(
        genai_prices.Usage(**counts),
        model,
        provider_id=provider_id,
        genai_request_timestamp=when,
        price_context=context,
    )
