"""Recording live streams: iterator wrappers, httpx transports and the HTTP proxy."""

from ._exchange import Exchange, UpstreamStatusError, open_exchange
from ._proxy import STREAM_ID_HEADER, ProxyServer, RecordingProxy, proxy_app
from ._recording import Recording
from ._redact import Redact, is_secret_key, scrub
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
    "ProxyServer",
    "RecordedRun",
    "RecordedStream",
    "Recording",
    "RecordingProxy",
    "RecordingTransport",
    "Redact",
    "SSESplitter",
    "UpstreamStatusError",
    "client_env",
    "is_secret_key",
    "open_exchange",
    "parse_upstreams",
    "proxy_app",
    "record",
    "resolve_upstreams",
    "run_command",
    "run_recorded",
    "scrub",
    "to_wire",
]
