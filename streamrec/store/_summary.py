"""The ``streams`` row of a stream: a pure function of its projected state.

The recorder computes it from its live state at the end of a stream and
``rebuild`` from the stored events; being one function, the two agree. A value
a column cannot hold is fitted here too (``fit_row``), so the read model never
makes a write fail and ``verify`` compares like with like.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, Integer, String, Text

from .. import projection  # lazy: pricing loads genai-prices only when a row is priced
from ._schema import streams

if TYPE_CHECKING:
    from ..projection import StreamState

__all__ = ["cache_savings_nanousd", "day_of", "fit_row", "summary_row"]

# keys of StreamState.metadata that are the recording's name and tags, not user metadata
_RESERVED = ("name", "tags")
_MAX_TEXT = 1 << 20  # a read-model TEXT cell; the log keeps the whole value


def _when(ms: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _problem_free(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def day_of(started_at: datetime | None) -> str | None:
    """``streams.day``: the UTC calendar day a stream started, as the rollup keys it."""
    if started_at is None:
        return None
    if started_at.tzinfo is not None:
        started_at = started_at.astimezone(timezone.utc)
    return started_at.strftime("%Y-%m-%d")


def fit_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every value its ``streams`` column can hold; what had to change is listed
    in ``problems`` (NULL for a wrong type or an integer out of range, truncation for long text).
    """
    problems: list[str] = []
    out = dict(row)
    for key, value in row.items():
        column = streams.c.get(key)
        if column is None or value is None or key == "problems":
            continue
        if isinstance(column.type, Integer):
            bound = 2**63 if isinstance(column.type, BigInteger) else 2**31
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{key}: a {type(value).__name__}, not an integer")
                out[key] = None
            elif not -bound <= value < bound:
                problems.append(f"{key}: {value} is out of the column's range")
                out[key] = None
        elif isinstance(column.type, Boolean):
            if not isinstance(value, bool):
                problems.append(f"{key}: a {type(value).__name__}, not a boolean")
                out[key] = bool(value)
        elif isinstance(column.type, (String, Text)):
            if not isinstance(value, str):
                problems.append(f"{key}: a {type(value).__name__}, not a string")
                out[key] = None
                continue
            if not _problem_free(value):
                problems.append(f"{key}: holds a NUL or bytes that are not UTF-8")
                value = out[key] = value.replace("\x00", "").encode("utf-8", "replace").decode()
            length = column.type.length or _MAX_TEXT
            if len(value) > length:
                problems.append(f"{key}: {len(value)} characters, truncated to {length}")
                out[key] = value[:length]
        if out[key] is None and not column.nullable:
            out[key] = getattr(column.default, "arg", 0)
    if problems:
        earlier = json.loads(row["problems"]) if isinstance(row.get("problems"), str) else []
        out["problems"] = json.dumps([*earlier, *problems])
    elif "problems" not in out:
        out["problems"] = None
    return out


def summary_row(state: StreamState, last_seq: int) -> dict[str, Any]:
    """The read-model row for ``state`` (whose last event had ``last_seq``)."""
    meta = state.cost_metadata
    started_at = _when(state.start_time)
    return fit_row(
        {
            "stream_id": state.stream_id,
            "name": state.name,
            "tags": json.dumps(state.tags),
            "provider": state.provider,
            "api": state.api,
            "requested_model": state.requested_model,
            "model": state.model,
            "status": state.status,
            "started_at": started_at,
            "day": day_of(started_at),
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
    )


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
