"""Cost from genai-prices' bundled price data: exact Decimals, with provenance and reasons.

Priced by the model the provider reported (falling back to the requested one),
with the normalised usage: input inclusive of cache reads and writes, output
inclusive of reasoning, which is what genai-prices expects (its cache units are
parts of ``input_tokens``). Anthropic's cache writes are priced by their TTL
(5 minutes or 1 hour) when the response says which. The price in force when the
stream started is used, so a rebuild next year gives the same figure; the
response's service tier selects tier prices where genai-prices has them.

A response billed in several parts is priced part by part and summed: a
reducer that finds them puts ``provider_data["billed_parts"]`` (each part's
model and inclusive counts), as Anthropic's ``usage.iterations`` lists every
sampling iteration (a compaction's tokens are outside the top-level usage; a
fallback's hops ran on different models). Server-tool requests that
genai-prices prices (web searches) are counted too.

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

from ..events import dumps
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
    parts = _billed_parts(state, model)
    total = Decimal(0)
    priced: list[dict[str, Any]] = []
    for part in parts:
        part_model = part.pop("model", None) or model
        kind = part.pop("kind", None)
        calc, reason = _price_part(state, part_model, part, when, context)
        if calc is None:
            meta["reason"] = (
                reason if len(parts) == 1 else f"{kind or 'part'} ({part_model}): {reason}"
            )
            if len(parts) > 1:
                meta["parts"] = priced
            return None, meta
        total += Decimal(calc.total_price)
        priced.append(
            {
                "kind": kind,
                "model": calc.model.id,
                "provider": calc.provider.id,
                "input_cost": str(calc.input_price),
                "output_cost": str(calc.output_price),
                "cost": str(calc.total_price),
                **part,
            }
        )
    first = priced[0]
    meta.update(
        {
            "input_cost": str(sum((Decimal(p["input_cost"]) for p in priced), Decimal(0))),
            "output_cost": str(sum((Decimal(p["output_cost"]) for p in priced), Decimal(0))),
            "priced_model": first["model"],
            "priced_provider": first["provider"],
            "priced_at": when.isoformat() if when else None,
            "service_tier": tier if isinstance(tier, str) else None,
            "cost_nanousd": int((total * _NANO).to_integral_value()),
            "reason": None,
        }
    )
    if len(priced) > 1:
        meta["parts"] = priced
    return total, meta


def _price_part(
    state: StreamState,
    model: str,
    counts: dict[str, Any],
    when: datetime | None,
    context: dict[str, str] | None,
) -> tuple[Any, str | None]:
    """(genai-prices' calculation, None), or (None, why it cannot be priced)."""
    last_error: Exception | None = None
    for provider_id in _candidates(state):
        try:
            return _calc(counts, model, provider_id, when, context), None
        except LookupError as exc:
            last_error = exc
            continue
        except Exception as exc:  # genai-prices refuses inconsistent usage (cached > input, …)
            return None, f"usage cannot be priced: {exc}"
    return None, f"no price for model {model!r}: {last_error}"


def _billed_parts(state: StreamState, model: str) -> list[dict[str, Any]]:
    """What was billed, as genai-prices usage counts, one dict per separately priced part."""
    data = state.provider_data
    listed = data.get("billed_parts")
    if isinstance(listed, list) and listed:
        parts = [dict(p) for p in listed if isinstance(p, dict)]
    else:
        usage = state.usage
        part: dict[str, Any] = {
            "model": model,
            "input_tokens": usage.input_tokens,
            "cache_read_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "output_tokens": usage.output_tokens,
        }
        ttl = data.get("cache_write_ttl")
        if (
            isinstance(ttl, dict)
            and isinstance(ttl.get("1h"), int)
            and isinstance(ttl.get("5m"), int)
        ):
            part["cache_write_5m_tokens"] = ttl["5m"]
            part["cache_write_1h_tokens"] = ttl["1h"]
        # audio tokens (Realtime) are parts of the totals, priced at audio prices
        audio = data.get("audio_tokens")
        if isinstance(audio, dict):
            part.update({k: v for k, v in audio.items() if isinstance(v, int) and v})
        parts = [part]
    searches = data.get("web_searches")
    if isinstance(searches, int) and searches > 0:
        parts[-1]["web_searches"] = searches
    return parts


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
        dumps(data.get("billed_parts")),
        data.get("web_searches"),
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
    counts: dict[str, Any],
    model: str,
    provider_id: str | None,
    when: datetime | None,
    context: dict[str, str] | None,
) -> Any:
    import genai_prices

    return genai_prices.calc_price(
        genai_prices.Usage(**counts),
        model,
        provider_id=provider_id,
        genai_request_timestamp=when,
        price_context=context,
    )
