"""`streamrec export --otlp`: GenAI spans sent with the OpenTelemetry SDK's OTLP/HTTP exporter to
an in-test receiver that decodes the protobuf, as a collector would."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from streamrec import Store
from streamrec.cli import main
from streamrec.store import Filters, export_otlp

from .history_data import populate

UTC = timezone.utc


class Receiver:
    """An OTLP/HTTP endpoint: POST /v1/traces and /v1/metrics, protobuf bodies."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        self.metrics: list[Any] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                assert self.headers["Content-Type"] == "application/x-protobuf"
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for rs in request.resource_spans:
                        receiver.resources.append(_attrs(rs.resource.attributes))
                        for ss in rs.scope_spans:
                            receiver.spans.extend(ss.spans)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/metrics":
                    request_m = ExportMetricsServiceRequest.FromString(body)
                    for rm in request_m.resource_metrics:
                        for sm in rm.scope_metrics:
                            receiver.metrics.extend(sm.metrics)
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind)


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def history(url: str) -> Iterator[tuple[Store, Any]]:
    store = Store(url)
    ids = populate(store)
    yield store, ids
    store.close()


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1e9)


def test_one_genai_span_per_stream_with_the_conventions_attributes(
    history: tuple[Store, Any], receiver: Receiver
) -> None:
    store, ids = history
    sent = export_otlp(store, receiver.url, filters=Filters.of(name="agent"))
    assert sent == 4 and len(receiver.spans) == 4
    assert receiver.resources[0]["service.name"] == "streamrec"
    spans = {_attrs(s.attributes)["streamrec.stream_id"]: s for s in receiver.spans}
    ok = spans[ids["gpt-4o"][2]]  # 2026-11-10 12:00, ttft 700 ms, 3000 in (1000 cached) / 100 out
    attrs = _attrs(ok.attributes)
    assert ok.name == "chat gpt-4o"
    assert ok.kind == ok.SPAN_KIND_CLIENT
    assert ok.start_time_unix_nano == _ns("2026-11-10T12:00:00")
    assert ok.end_time_unix_nano == _ns("2026-11-10T12:00:00.750")
    assert ok.status.code == ok.status.STATUS_CODE_UNSET
    assert ok.trace_id.hex() == ids["gpt-4o"][2].replace("-", "")
    assert attrs | {"streamrec.stream_id": None} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.response.id": "chatcmpl-hist",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 3000,
        "gen_ai.usage.output_tokens": 100,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "gen_ai.response.time_to_first_chunk": 0.7,
        "gen_ai.conversation.id": ids["gpt-4o"][2],
        "streamrec.stream_id": None,
        "streamrec.status": "completed",
        "streamrec.name": "agent",
        "streamrec.cost_nanousd": 7_250_000,
        "streamrec.meta.user": "carol",
    }
    assert "gen_ai.input.messages" not in attrs  # content only when asked
    failed = spans[ids["gpt-4o"][1]]
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    assert failed.status.message == "slow down"
    assert _attrs(failed.attributes)["error.type"] == "RateLimitError"
    interrupted = spans[ids["gpt-4o"][3]]
    assert interrupted.status.code == interrupted.status.STATUS_CODE_ERROR
    assert _attrs(interrupted.attributes)["error.type"] == "interrupted"


def test_content_and_histograms_when_asked(history: tuple[Store, Any], receiver: Receiver) -> None:
    store, ids = history
    sent = export_otlp(
        store, receiver.url + "/v1/traces", stream_ids=ids["gpt-4o"][:1], content=True, metrics=True
    )
    assert sent == 1
    [span] = receiver.spans
    attrs = _attrs(span.attributes)
    assert json.loads(attrs["gen_ai.input.messages"]) == [{"role": "user", "content": "hi"}]
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "w0w1"}],
            "finish_reason": "stop",
        }
    ]
    by_name = {m.name: m for m in receiver.metrics}
    ttft = by_name["gen_ai.client.operation.time_to_first_chunk"].histogram.data_points[0]
    assert (ttft.count, ttft.sum) == (1, 0.5)
    duration = by_name["gen_ai.client.operation.duration"].histogram.data_points[0]
    assert (duration.count, duration.sum) == (1, 0.55)
    assert by_name["gen_ai.client.operation.duration"].unit == "s"


def test_cli_export_otlp(history: tuple[Store, Any], receiver: Receiver) -> None:
    store, _ = history
    result = CliRunner().invoke(
        main, ["--db", store.url, "export", "--otlp", receiver.url, "--meta", "user=alice"]
    )
    assert result.exit_code == 0, result.output
    assert "sent 10 span(s)" in result.stderr and result.stdout == ""
    assert len(receiver.spans) == 10
    assert {_attrs(s.attributes)["streamrec.meta.user"] for s in receiver.spans} == {"alice"}
    bad = CliRunner().invoke(main, ["--db", store.url, "export", "--content"])
    assert bad.exit_code == 2
