"""What the per-format tests share: folding chunk lists, raw SSE over HTTP, exact prices.

Kept apart from the tests so that every ``test_formats_*.py`` reads as the
provider's behaviour, not as plumbing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import genai_prices
import httpx
from hypothesis import strategies as st

from streamrec import RecordedStream, SSEEvent, Store, record
from streamrec.events import EventKind, StoredEvent, StreamStarted
from streamrec.projection import Projector, StreamState, ToolCall, project

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PROVIDERS = {
    "openai.chat.completions": "openai",
    "openai.responses": "openai",
    "anthropic.messages": "anthropic",
    "google.generate_content": "google",
}


# -- folding ------------------------------------------------------------------------------


def stored(
    api: str,
    chunks: Sequence[SSEEvent | str],
    request: dict[str, Any] | None = None,
    end: EventKind | None = EventKind.COMPLETED,
) -> list[StoredEvent]:
    """One stream's events: started, a chunk per item, and the terminal ``end``."""
    request = request or {}
    started = StreamStarted(
        provider=PROVIDERS[api], api=api, model=request.get("model"), request=request
    )
    out = [StoredEvent("s1", 0, EventKind.STARTED, 0, T0, started.model_dump_json())]
    for i, item in enumerate(chunks, 1):
        data, name = (item.data, item.event) if isinstance(item, SSEEvent) else (item, None)
        out.append(StoredEvent("s1", i, EventKind.CHUNK, i * 1000, T0, data, name))
    if end is not None:
        payload = {
            EventKind.COMPLETED: "{}",
            EventKind.INTERRUPTED: '{"reason": "stopped"}',
            EventKind.FAILED: '{"error_type": "RemoteProtocolError", "message": "dropped"}',
        }[end]
        out.append(StoredEvent("s1", len(out), end, 99_000, T0, payload))
    return out


def fold(
    api: str,
    chunks: Sequence[SSEEvent | str],
    request: dict[str, Any] | None = None,
    end: EventKind | None = EventKind.COMPLETED,
) -> tuple[StreamState, list[list[str]]]:
    """The state after ``chunks``, and the ids of the tool calls each event completed."""
    projector = Projector("s1")
    completed = [
        [t.id or t.name for t in projector.apply(e)] for e in stored(api, chunks, request, end)
    ]
    return projector.state, completed[1:]


def check_prefix_then_rest(events: list[StoredEvent], split: int) -> StreamState:
    """Folding in one go equals folding a prefix, reading the state, then the rest.

    Also: every tool call handed out is complete and handed out once, and the text read
    without a refresh (``Projector.content``) is the state's, mid-way and at the end.
    """
    whole = project(events)
    projector = Projector()
    handed: list[ToolCall] = []
    for event in events[:split]:
        handed += projector.apply(event)
    unrefreshed = projector.content
    assert unrefreshed == projector.state.content
    projector.state.model_dump()  # reading mid-way must not change what follows
    for event in events[split:]:
        handed += projector.apply(event)
    assert projector.content == whole.content
    assert projector.state == whole
    assert all(t.complete for t in handed)
    assert len({id(t) for t in handed}) == len(handed)
    assert whole.cost is None or isinstance(whole.cost, Decimal)
    json.dumps(whole.model_dump(mode="json"))  # the state is JSON all the way down
    return whole


# -- recording through the SDKs -------------------------------------------------------------


def drain(stream: RecordedStream[Any]) -> tuple[list[Any], BaseException | None]:
    """Iterate a recorded sync stream to its end; the error it raised, if any."""
    out: list[Any] = []
    try:
        for chunk in stream:
            out.append(chunk)
    except Exception as exc:
        return out, exc
    return out, None


async def adrain(stream: RecordedStream[Any]) -> tuple[list[Any], BaseException | None]:
    """``drain`` with ``async for``."""
    out: list[Any] = []
    try:
        async for chunk in stream:
            out.append(chunk)
    except Exception as exc:
        return out, exc
    return out, None


def record_sse(
    url: str,
    body: dict[str, Any],
    *,
    api: str,
    store: Store,
    headers: dict[str, str] | None = None,
) -> tuple[RecordedStream[SSEEvent], list[SSEEvent], BaseException | None]:
    """POST ``body`` and record the answer's SSE events (or its JSON body) as received."""
    with httpx.Client(timeout=10) as client:
        events = list(_sse_events(client, url, body, headers or {}))
    stream = record(_replayed(events), api=api, request=body, store=store)
    chunks, error = drain(stream)
    return stream, chunks, error


def _replayed(events: list[SSEEvent | BaseException]) -> Iterable[SSEEvent]:
    for event in events:
        if isinstance(event, BaseException):
            raise event
        yield event


def _sse_events(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]
) -> Iterable[SSEEvent | BaseException]:
    """The SSE events of a response (a JSON body is one event), then the error that cut it."""
    with client.stream("POST", url, json=body, headers=headers) as response:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            yield SSEEvent(response.read().decode())
            return
        name: str | None = None
        data: list[str] = []
        try:
            for line in response.iter_lines():
                if not line:
                    if data:
                        yield SSEEvent("\n".join(data), name)
                    name, data = None, []
                elif line.startswith("event:"):
                    name = line[6:].removeprefix(" ")
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
        except httpx.HTTPError as exc:
            yield exc


async def aiter_list(items: Iterable[Any]) -> AsyncIterable[Any]:
    """An async iterable over ``items``."""
    for item in items:
        yield item


# -- prices ---------------------------------------------------------------------------------


def expected_cost(
    model: str,
    provider: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cached: int | None = None,
    cache_write: int | None = None,
) -> Decimal:
    """What genai-prices charges for this usage (inclusive input, as it expects)."""
    usage = genai_prices.Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached,
        cache_write_tokens=cache_write,
    )
    return genai_prices.calc_price(usage, model, provider_id=provider).total_price


def usage_of(state: StreamState) -> tuple[Any, ...]:
    """(input, cached, cache_write, output, reasoning, reported) of the normalised usage."""
    u = state.usage
    return (
        u.input_tokens,
        u.cached_tokens,
        u.cache_write_tokens,
        u.output_tokens,
        u.reasoning_tokens,
        u.reported,
    )


# -- hypothesis building blocks ---------------------------------------------------------------

json_scalar = st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=8)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
garbage_text = (
    st.text(max_size=30)
    | st.builds(json.dumps, json_value)
    | st.just("[DONE]")
    | st.just("")
    | st.just("{")
)
maybe_int = st.none() | st.integers(-2, 5000) | st.just("7")
small_index = st.integers(0, 3)
words = st.text(max_size=12)


def dumps(obj: Any) -> str:
    """Compact JSON, as most providers write it."""
    return json.dumps(obj, separators=(",", ":"))
