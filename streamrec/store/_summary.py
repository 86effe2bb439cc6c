"""The ``streams`` row of a stream: a pure function of its projected state.

The recorder computes it from its live state at the end of a stream and
``rebuild`` from the stored events; being one function, the two agree.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .. import projection  # lazy: pricing loads genai-prices only when a row is priced

if TYPE_CHECKING:
    from ..projection import StreamState

__all__ = ["cache_savings_nanousd", "summary_row"]

# keys of StreamState.metadata that are the recording's name and tags, not user metadata
_RESERVED = ("name", "tags")


def _when(ms: float) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None


def summary_row(state: StreamState, last_seq: int) -> dict[str, Any]:
    """The read-model row for ``state`` (whose last event had ``last_seq``)."""
    meta = state.cost_metadata
    return {
        "stream_id": state.stream_id,
        "name": state.name,
        "tags": json.dumps(state.tags),
        "provider": state.provider,
        "api": state.api,
        "requested_model": state.requested_model,
        "model": state.model,
        "status": state.status,
        "started_at": _when(state.start_time),
        "ended_at": _when(state.end_time),
        "ttft_ns": state.time_to_first_chunk_ns,
        "duration_ns": state.duration_ns,
        "chunk_count": state.chunk_count,
        "malformed_chunks": state.malformed_chunks,
        "input_tokens": state.usage.input_tokens,
        "cached_tokens": state.usage.cached_tokens,
        "cache_write_tokens": state.usage.cache_write_tokens,
        "output_tokens": state.usage.output_tokens,
        "reasoning_tokens": state.usage.reasoning_tokens,
        "usage_reported": state.usage.reported,
        "cost_nanousd": meta.get("cost_nanousd") if state.cost is not None else None,
        "cost_reason": meta.get("reason"),
        "prices_version": meta.get("prices_version"),
        "finish_reasons": json.dumps(state.finish_reasons)
        if state.finish_reasons is not None
        else None,
        "response_id": state.id,
        "tool_call_count": len(state.tool_calls),
        "error": json.dumps(state.error) if state.error else None,
        "fingerprint": state.fingerprint,
        "last_seq": last_seq,
        "meta": json.dumps(
            {k: v for k, v in state.metadata.items() if k not in _RESERVED}, sort_keys=True
        ),
        "cache_savings_nanousd": cache_savings_nanousd(state),
    }


def cache_savings_nanousd(state: StreamState) -> int | None:
    """What the cache reads saved: the cost with every input token at full price, minus the cost.

    0 when nothing was read from a cache; None when the stream has no cost.
    """
    nanos = state.cost_metadata.get("cost_nanousd") if state.cost is not None else None
    if nanos is None:
        return None
    if not state.usage.cached_tokens:
        return 0
    uncached = state.model_copy(
        update={"usage": state.usage.model_copy(update={"cached_tokens": 0})}
    )
    full, meta = projection.price(uncached)
    if full is None:
        return None
    return int(meta["cost_nanousd"]) - int(nanos)
