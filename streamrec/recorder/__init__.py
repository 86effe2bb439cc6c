"""Recording live streams: iterator wrappers, httpx transports and the HTTP proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import exports

if TYPE_CHECKING:
    from ._audit import Finding, audit_lines, audit_store, scrub_lines, scrub_store
    from ._exchange import Exchange, UpstreamStatusError, open_exchange
    from ._proxy import STREAM_ID_HEADER, ProxyServer, RecordingProxy, proxy_app
    from ._recording import Recording
    from ._redact import Redact, is_secret_key, redact_text, safe_headers, scrub, secret_spans
    from ._routes import (
        CLIENT_ENV,
        DEFAULT_UPSTREAMS,
        UPSTREAM_ENV,
        client_env,
        parse_upstreams,
        resolve_upstreams,
    )
    from ._run import RecordedRun, run_command, run_recorded
    from ._sse import SSESplitter
    from ._stream import RecordedStream, record
    from ._transport import STREAM_ID_EXTENSION, AsyncRecordingTransport, RecordingTransport
    from ._wire import to_wire

__all__ = [
    "CLIENT_ENV",
    "DEFAULT_UPSTREAMS",
    "STREAM_ID_EXTENSION",
    "STREAM_ID_HEADER",
    "UPSTREAM_ENV",
    "AsyncRecordingTransport",
    "Exchange",
    "Finding",
    "ProxyServer",
    "RecordedRun",
    "RecordedStream",
    "Recording",
    "RecordingProxy",
    "RecordingTransport",
    "Redact",
    "SSESplitter",
    "UpstreamStatusError",
    "audit_lines",
    "audit_store",
    "client_env",
    "is_secret_key",
    "open_exchange",
    "parse_upstreams",
    "proxy_app",
    "record",
    "redact_text",
    "resolve_upstreams",
    "run_command",
    "run_recorded",
    "safe_headers",
    "scrub",
    "scrub_lines",
    "scrub_store",
    "secret_spans",
    "to_wire",
]

# imported on first use (see streamrec._lazy): a CLI command pays only for what it touches
__getattr__, __dir__ = exports(
    __name__,
    {
        "CLIENT_ENV": "._routes",
        "DEFAULT_UPSTREAMS": "._routes",
        "STREAM_ID_EXTENSION": "._transport",
        "STREAM_ID_HEADER": "._proxy",
        "UPSTREAM_ENV": "._routes",
        "AsyncRecordingTransport": "._transport",
        "Exchange": "._exchange",
        "Finding": "._audit",
        "ProxyServer": "._proxy",
        "RecordedRun": "._run",
        "RecordedStream": "._stream",
        "Recording": "._recording",
        "RecordingProxy": "._proxy",
        "RecordingTransport": "._transport",
        "Redact": "._redact",
        "SSESplitter": "._sse",
        "UpstreamStatusError": "._exchange",
        "audit_lines": "._audit",
        "audit_store": "._audit",
        "client_env": "._routes",
        "is_secret_key": "._redact",
        "open_exchange": "._exchange",
        "parse_upstreams": "._routes",
        "proxy_app": "._proxy",
        "record": "._stream",
        "redact_text": "._redact",
        "resolve_upstreams": "._routes",
        "run_command": "._run",
        "run_recorded": "._run",
        "safe_headers": "._redact",
        "scrub": "._redact",
        "scrub_lines": "._audit",
        "scrub_store": "._audit",
        "secret_spans": "._redact",
        "to_wire": "._wire",
    },
    globals(),
)
