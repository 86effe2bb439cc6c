"""Cost a finance team can trust: genai-prices' bundled prices, inclusive usage, exact money,
no network, and never a silent 0."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from decimal import Decimal
from importlib.metadata import version
from typing import Any

import genai_prices
import pytest
from genai_prices import data_snapshot

from streamrec import SSEEvent
from streamrec.events import EventKind
from streamrec.projection import StreamState, Usage, price
from tests.formats_support import dumps, fold

M = Decimal(10**6)


def _state(
    provider: str, model: str | None, start: datetime | None = None, **usage: Any
) -> StreamState:
    reported = bool(usage)
    return StreamState(
        api=None,
        provider=provider,
        model=model,
        start_time=(start or datetime(2026, 1, 1, tzinfo=timezone.utc)).timestamp() * 1000,
        usage=Usage(reported=reported, **usage),
    )


def test_anthropic_cache_reads_and_writes_each_at_their_price() -> None:
    state = _state(
        "anthropic",
        "claude-haiku-4-5-20251001",
        input_tokens=1000 + 300 + 200,
        cached_tokens=200,
        cache_write_tokens=300,
        output_tokens=50,
    )
    cost, meta = price(state)
    # $1 fresh input, $0.10 cache read, $1.25 cache write (5 minutes), $5 output, per MTok
    assert cost == (1000 * Decimal(1) + 200 * Decimal("0.1") + 300 * Decimal("1.25") + 50 * 5) / M
    assert meta["priced_provider"] == "anthropic" and meta["priced_model"] == "claude-haiku-4-5"
    assert meta["reason"] is None


def test_anthropic_one_hour_cache_writes_at_the_one_hour_price() -> None:
    state = _state(
        "anthropic",
        "claude-haiku-4-5-20251001",
        input_tokens=1300,
        cached_tokens=0,
        cache_write_tokens=300,
        output_tokens=0,
    )
    state.provider_data["cache_write_ttl"] = {"5m": 100, "1h": 200}
    cost, _ = price(state)
    assert cost == (1000 * Decimal(1) + 100 * Decimal("1.25") + 200 * Decimal(2)) / M


def test_anthropic_stream_prices_the_ttl_breakdown_from_the_wire() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "m",
            "model": "claude-haiku-4-5-20251001",
            "content": [],
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 1000,
                "cache_read_input_tokens": 0,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": 0,
                    "ephemeral_1h_input_tokens": 1000,
                },
                "output_tokens": 1,
            },
        },
    }
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 20},
    }
    state, _ = fold(
        "anthropic.messages",
        [SSEEvent(dumps(start), "message_start"), SSEEvent(dumps(end), "message_delta")],
    )
    assert state.cost == (10 * Decimal(1) + 1000 * Decimal(2) + 20 * 5) / M


def test_google_cached_content_at_the_cache_price_and_input_inclusive() -> None:
    state = _state(
        "google", "gemini-2.5-flash", input_tokens=2060, cached_tokens=2048, output_tokens=10
    )
    cost, meta = price(state)
    # $0.30 input, $0.03 cached, $2.50 output per MTok; cached tokens are part of the prompt
    assert cost == (12 * Decimal("0.3") + 2048 * Decimal("0.03") + 10 * Decimal("2.5")) / M
    assert meta["priced_provider"] == "google"


def test_openai_service_tier_prices_from_when_the_stream_ran() -> None:
    # genai-prices has gpt-5-mini's flex price from 2026-10-12 on: a stream is priced at its start
    usage = {"input_tokens": 1000, "cached_tokens": 200, "output_tokens": 100}
    after = datetime(2026, 11, 1, tzinfo=timezone.utc)
    base = _state("openai", "gpt-5-mini", after, **usage)
    flex = _state("openai", "gpt-5-mini", after, **usage)
    flex.provider_data["service_tier"] = "flex"
    early = _state("openai", "gpt-5-mini", datetime(2026, 1, 1, tzinfo=timezone.utc), **usage)
    early.provider_data["service_tier"] = "flex"
    standard, _ = price(base)
    cheaper, meta = price(flex)
    before, _ = price(early)
    counts = genai_prices.Usage(input_tokens=1000, cache_read_tokens=200, output_tokens=100)
    flex_price = genai_prices.calc_price(
        counts,
        "gpt-5-mini",
        provider_id="openai",
        genai_request_timestamp=after,
        price_context={"service_tier": "flex"},
    )
    assert (
        standard == genai_prices.calc_price(counts, "gpt-5-mini", provider_id="openai").total_price
    )
    assert cheaper == flex_price.total_price
    assert cheaper < standard and meta["service_tier"] == "flex"
    assert before == standard


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google", "groq", "openrouter"])
def test_our_provider_names_are_genai_prices_ids(provider: str) -> None:
    assert data_snapshot.get_snapshot().find_provider(None, provider, None).id == provider


def test_unknown_model_gives_no_cost_and_the_reason() -> None:
    cost, meta = price(_state("openai", "my-finetune-xyz", input_tokens=10, output_tokens=5))
    assert cost is None and "my-finetune-xyz" in meta["reason"]
    assert "cost_nanousd" not in meta


def test_missing_usage_is_not_zero() -> None:
    cost, meta = price(_state("openai", "gpt-4o-mini"))
    assert cost is None and meta["reason"] == "usage not reported by the provider"
    assert meta["input_tokens"] is None


def test_incomplete_usage_is_not_priced() -> None:
    cost, meta = price(_state("anthropic", "claude-haiku-4-5", input_tokens=20, output_tokens=None))
    assert cost is None and meta["reason"].startswith("usage incomplete")


def test_inconsistent_usage_gives_a_reason_not_an_exception() -> None:
    cost, meta = price(
        _state("openai", "gpt-4o-mini", input_tokens=10, cached_tokens=50, output_tokens=1)
    )
    assert cost is None and meta["reason"]


def test_money_is_exact_with_provenance() -> None:
    state = _state(
        "openai", "gpt-4o-mini", input_tokens=1_234_567, cached_tokens=1_000_000, output_tokens=7
    )
    cost, meta = price(state)
    assert isinstance(cost, Decimal)
    assert (
        cost == (234_567 * Decimal("0.15") + 1_000_000 * Decimal("0.075") + 7 * Decimal("0.6")) / M
    )
    assert meta["cost_nanousd"] == int(cost * 10**9) and isinstance(meta["cost_nanousd"], int)
    assert meta["prices_version"] == version("genai-prices") and meta["source"] == "genai-prices"
    assert meta["priced_at"] == "2026-01-01T00:00:00+00:00"  # the stream's start, stable on rebuild


def test_pricing_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("network access while pricing")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for provider, model in [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-haiku-4-5"),
        ("google", "gemini-2.5-pro"),
    ]:
        cost, _ = price(_state(provider, model, input_tokens=100, output_tokens=10))
        assert cost is not None and cost > 0


def test_rebuilt_and_live_agree_and_the_read_model_keeps_nanodollars(tmp_path: Any) -> None:
    from streamrec import Store, record

    chunks = [
        SSEEvent(
            dumps(
                {
                    "candidates": [
                        {
                            "content": {"parts": [{"text": "hi"}], "role": "model"},
                            "finishReason": "STOP",
                        }
                    ],
                    "usageMetadata": {
                        "promptTokenCount": 100,
                        "candidatesTokenCount": 3,
                        "thoughtsTokenCount": 7,
                    },
                    "modelVersion": "gemini-2.5-pro",
                }
            )
        )
    ]
    with Store(tmp_path / "s.db") as store:
        stream = record(
            chunks, api="google.generate_content", request={"model": "gemini-2.5-pro"}, store=store
        )
        list(stream)
        row = store.stream(stream.stream_id)
        assert store.state(stream.stream_id).cost == stream.state.cost
    expected = (100 * Decimal("1.25") + 10 * Decimal(10)) / M
    assert stream.state.cost == expected
    assert row["cost_nanousd"] == int(expected * 10**9)
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (100, 10, 7)


def test_a_stream_that_never_got_usage_has_none_in_the_read_model() -> None:
    start = {
        "type": "response.created",
        "response": {
            "id": "r",
            "object": "response",
            "model": "gpt-4o-mini",
            "status": "in_progress",
            "output": [],
        },
    }
    state, _ = fold(
        "openai.responses", [SSEEvent(dumps(start), "response.created")], end=EventKind.INTERRUPTED
    )
    assert state.status == "interrupted" and state.usage.reported is False
    assert state.cost is None and state.input_tokens is None
