"""OpenTelemetry export: one GenAI inference client span per recorded stream, over OTLP/HTTP.

Spans follow the GenAI semantic conventions: named ``{operation} {model}``,
kind CLIENT, with the recorded start and end times, ``gen_ai.provider.name``,
``gen_ai.operation.name``, request and response model, response id, finish
reasons, the token counts (input, output, cache read, cache creation,
reasoning), ``gen_ai.response.time_to_first_chunk`` (seconds) and the
conversation id. A failed or interrupted stream has an ERROR status and
``error.type``. Message content (``gen_ai.input.messages`` /
``gen_ai.output.messages``) is sent only when asked, since it may be
sensitive. Optionally the ``gen_ai.client.operation.duration`` and
``gen_ai.client.operation.time_to_first_chunk`` histograms go along.

The trace and span ids are derived from the stream id, so exporting the same
stream twice gives the same span (a backend can deduplicate). Needs the
``streamrec[otel]`` extra (``opentelemetry-sdk`` and its OTLP/HTTP exporter).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ._filters import Filters

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["export_otlp", "span_attributes"]

# our provider and api names -> the semantic conventions' values
_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "gcp.gemini"}
_OPERATIONS = {
    "openai.chat.completions": "chat",
    "openai.responses": "chat",
    "anthropic.messages": "chat",
    "google.generate_content": "generate_content",
}
_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
}


def _ns(when: Any) -> int:
    return int(when.timestamp() * 1_000_000_000)


def _operation(row: Mapping[str, Any]) -> str:
    return _OPERATIONS.get(str(row.get("api")), "chat")


def span_attributes(
    row: Mapping[str, Any], request: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The semantic-convention attributes of a stream's span, from its read-model row."""
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": _operation(row),
        "gen_ai.provider.name": _PROVIDERS.get(str(row.get("provider")), str(row.get("provider"))),
    }
    optional = {
        "gen_ai.request.model": row.get("requested_model"),
        "gen_ai.response.model": row.get("model"),
        "gen_ai.response.id": row.get("response_id"),
        "gen_ai.usage.input_tokens": row.get("input_tokens"),
        "gen_ai.usage.output_tokens": row.get("output_tokens"),
        "gen_ai.usage.cache_read.input_tokens": row.get("cached_tokens"),
        "gen_ai.usage.cache_creation.input_tokens": row.get("cache_write_tokens"),
        "gen_ai.usage.reasoning.output_tokens": row.get("reasoning_tokens"),
        "gen_ai.conversation.id": row.get("conversation_id"),
        "streamrec.stream_id": row.get("stream_id"),
        "streamrec.status": row.get("status"),
        "streamrec.name": row.get("name"),
        "streamrec.cost_nanousd": row.get("cost_nanousd"),
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    if row.get("finish_reasons"):
        attrs["gen_ai.response.finish_reasons"] = list(json.loads(row["finish_reasons"]))
    if row.get("ttft_ns") is not None:
        attrs["gen_ai.response.time_to_first_chunk"] = row["ttft_ns"] / 1e9
    for key, value in json.loads(row.get("meta") or "{}").items():
        attrs[f"streamrec.meta.{key}"] = value
    tags = json.loads(row.get("tags") or "[]")
    if tags:
        attrs["streamrec.tags"] = list(tags)
    for key, name in _REQUEST_PARAMS.items():
        value = (request or {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = value
    if row.get("status") == "failed":
        error = json.loads(row["error"]) if row.get("error") else {}
        attrs["error.type"] = str(error.get("type") or "_OTHER")
    elif row.get("status") == "interrupted":
        attrs["error.type"] = "interrupted"
    return attrs


def _ids(stream_id: str) -> tuple[int, int]:
    """(trace id, span id) derived from the stream id: re-exports give the same span."""
    try:
        trace = uuid.UUID(stream_id).int
    except ValueError:
        trace = int.from_bytes(hashlib.sha256(stream_id.encode()).digest()[:16], "big")
    span = int.from_bytes(hashlib.sha256(b"span:" + stream_id.encode()).digest()[:8], "big")
    return trace or 1, span or 1


def export_otlp(
    store: Store,
    endpoint: str,
    *,
    filters: Filters | None = None,
    stream_ids: list[str] | None = None,
    content: bool = False,
    metrics: bool = False,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> int:
    """Send one span per chosen stream (not those still recording) to ``endpoint``; return how many.

    ``endpoint`` is the collector's base URL (``http://localhost:4318``) or its
    traces URL (``…/v1/traces``). ``content`` adds the messages; ``metrics``
    also sends the duration and time-to-first-chunk histograms.
    """
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import IdGenerator
        from opentelemetry.trace import SpanKind, Status, StatusCode
    except ImportError:
        raise StoreError(
            "OTLP export needs the OpenTelemetry SDK: pip install 'streamrec[otel]'"
        ) from None

    base = endpoint.rstrip("/")
    for suffix in ("/v1/traces", "/v1/metrics"):
        base = base.removesuffix(suffix)

    class _StreamIds(IdGenerator):
        """Ids chosen per span: the next span takes the stream's."""

        def __init__(self) -> None:
            self.next = (1, 1)

        def generate_trace_id(self) -> int:
            return self.next[0]

        def generate_span_id(self) -> int:
            return self.next[1]

    ids = _StreamIds()
    resource = Resource.create({"service.name": "streamrec"})
    provider = TracerProvider(resource=resource, id_generator=ids)
    exporter = OTLPSpanExporter(
        endpoint=f"{base}/v1/traces", headers=dict(headers or {}), timeout=timeout_s
    )
    processor = BatchSpanProcessor(exporter, max_export_batch_size=512)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("streamrec")
    meter_provider, histograms = (
        _metrics(base, resource, headers, timeout_s) if metrics else (None, None)
    )
    sent = 0
    try:
        for row in _rows(store, filters, stream_ids):
            started = store.event(row["stream_id"], 0)
            payload = started.model() if started is not None else None
            request = getattr(payload, "request", None)
            request = request if isinstance(request, dict) else {}
            attrs = span_attributes(row, request)
            if content:
                attrs.update(_content(store, row["stream_id"]))
            model = row.get("requested_model") or row.get("model") or ""
            ids.next = _ids(row["stream_id"])
            span = tracer.start_span(
                f"{attrs['gen_ai.operation.name']} {model}".strip(),
                kind=SpanKind.CLIENT,
                start_time=_ns(row["started_at"]),
                attributes=attrs,
            )
            if "error.type" in attrs:
                error = json.loads(row["error"]) if row.get("error") else {}
                span.set_status(
                    Status(StatusCode.ERROR, str(error.get("message") or attrs["error.type"]))
                )
            end = row.get("ended_at") or row["started_at"]
            span.end(end_time=_ns(end))
            if histograms is not None:
                common = {
                    k: attrs[k]
                    for k in (
                        "gen_ai.operation.name",
                        "gen_ai.provider.name",
                        "gen_ai.request.model",
                        "gen_ai.response.model",
                        "error.type",
                    )
                    if k in attrs
                }
                if row.get("duration_ns") is not None:
                    histograms[0].record(row["duration_ns"] / 1e9, common)
                if row.get("ttft_ns") is not None:
                    histograms[1].record(row["ttft_ns"] / 1e9, common)
            sent += 1
    finally:
        flushed = provider.force_flush(int(timeout_s * 1000))
        provider.shutdown()
        if meter_provider is not None:
            meter_provider.force_flush(int(timeout_s * 1000))
            meter_provider.shutdown()
    if not flushed:
        raise StoreError(f"the OTLP endpoint {base} did not take the spans in {timeout_s:g} s")
    return sent


def _metrics(
    base: str, resource: Any, headers: Mapping[str, str] | None, timeout_s: float
) -> tuple[Any, tuple[Any, Any]]:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(
            endpoint=f"{base}/v1/metrics", headers=dict(headers or {}), timeout=timeout_s
        ),
        export_interval_millis=3_600_000,  # exported once, at the end
    )
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("streamrec")
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration"
    )
    ttft = meter.create_histogram(
        "gen_ai.client.operation.time_to_first_chunk",
        unit="s",
        description="Time to receive the first chunk of a streamed response",
    )
    return provider, (duration, ttft)


def _rows(
    store: Store, filters: Filters | None, stream_ids: list[str] | None
) -> Iterator[dict[str, Any]]:
    rows = store.streams(filters=filters or Filters())
    wanted = set(stream_ids) if stream_ids else None
    for row in reversed(rows):  # oldest first
        if wanted is not None and row["stream_id"] not in wanted:
            continue
        if row["status"] == "recording" or row.get("started_at") is None:
            continue
        yield row


def _content(store: Store, stream_id: str) -> dict[str, str]:
    """``gen_ai.input.messages`` and ``gen_ai.output.messages`` as the conventions' JSON."""
    state = store.state(stream_id)
    output: dict[str, Any] = {"role": "assistant", "parts": []}
    if state.content:
        output["parts"].append({"type": "text", "content": state.content})
    for tool in state.tool_calls:
        output["parts"].append(
            {"type": "tool_call", "id": tool.id, "name": tool.name, "arguments": tool.args}
        )
    if state.finish_reasons:
        output["finish_reason"] = state.finish_reasons[0]
    return {
        "gen_ai.input.messages": json.dumps(state.messages, default=str, ensure_ascii=False),
        "gen_ai.output.messages": json.dumps([output], default=str, ensure_ascii=False),
    }
