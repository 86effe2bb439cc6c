"""What each provider's HTTP API looks like: endpoint paths, base-URL variables, SSE framing.

The recording proxy, the in-process transport and the replay server all need
the same map from a request to the wire format it speaks; it lives here once.
Imports nothing of ours.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_UPSTREAMS",
    "JSON_ARRAY_API",
    "STREAM_ID_HEADER",
    "WS_BASE64",
    "WS_BINARY",
    "WS_CLOSE",
    "Endpoint",
    "endpoint_for",
    "frame_json_array",
    "frame_sse",
    "json_array_end",
    "request_body",
    "websocket_endpoint_for",
    "ws_frame",
    "ws_stored",
]

#: response header naming the stream a call was recorded under (proxy) or replayed from (server)
STREAM_ID_HEADER = "x-streamrec-stream-id"

#: the variables each SDK reads its base URL from, and the path the proxy adds to its
#: own URL there: none, so what the SDK appends to its base URL (``/chat/completions``,
#: ``/v1/messages``, ``/v1beta/models/…``) is exactly what the upstream base gets
BASE_URL_ENV: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_BASE_URL", ""),
    "anthropic": ("ANTHROPIC_BASE_URL", ""),
    "google": ("GOOGLE_GEMINI_BASE_URL", ""),
}

#: the providers' public base URLs, as each SDK takes its ``base_url`` (openai's ends in /v1)
DEFAULT_UPSTREAMS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com",
}

_GOOGLE = re.compile(
    r"/(?:v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):(?P<method>streamGenerateContent|generateContent)$"
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A recognised provider endpoint: its provider, wire format and (for Google) the model in the path."""

    provider: str
    api: str
    model: str | None = None
    streaming: bool | None = None
    """True/False when the path decides (Google); None when the body's ``stream`` does."""


def endpoint_for(method: str, path: str) -> Endpoint | None:
    """The endpoint a request targets, or None for paths streamrec does not record."""
    if method.upper() != "POST":
        return None
    path = "/" + path.lstrip("/")
    if path.endswith("/chat/completions"):
        return Endpoint("openai", "openai.chat.completions")
    if path.endswith("/responses"):
        return Endpoint("openai", "openai.responses")
    if path.endswith("/v1/messages"):
        return Endpoint("anthropic", "anthropic.messages")
    match = _GOOGLE.search(path)
    if match:
        streaming = match["method"] == "streamGenerateContent"
        return Endpoint("google", "google.generate_content", match["model"], streaming)
    return None


def websocket_endpoint_for(path: str) -> Endpoint | None:
    """The WebSocket endpoint a connection targets, or None for paths streamrec does not record.

    OpenAI's Responses API in WebSocket mode (``/v1/responses``, the same events as
    its SSE twin) and its Realtime API (``/v1/realtime``).
    """
    path = "/" + path.lstrip("/")
    if path.endswith("/responses"):
        return Endpoint("openai", "openai.responses")
    if path.endswith("/realtime"):
        return Endpoint("openai", "openai.realtime")
    return None


def request_body(endpoint: Endpoint, body: Any) -> dict[str, Any]:
    """The request as recorded and matched: the JSON body, with Google's path model folded in."""
    request = dict(body) if isinstance(body, dict) else {}
    if endpoint.model and "model" not in request:
        request["model"] = endpoint.model
    if endpoint.streaming is not None:
        request.setdefault("stream", endpoint.streaming)
    return request


def frame_sse(api: str, data: str, event: str | None) -> bytes:
    """One event framed as the provider frames it on the wire (Gemini ends events with CRLF)."""
    name = f"event: {event}\n" if event else ""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    text = f"{name}{lines}\n"
    if api == "google.generate_content":
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8", "surrogateescape")  # bytes received that were not UTF-8


#: the wire format whose streams come as one JSON array when asked for without ``?alt=sse``
JSON_ARRAY_API = "google.generate_content"


def frame_json_array(index: int, data: str) -> bytes:
    """Element ``index`` of a Gemini stream asked for without ``?alt=sse``: one JSON array,
    its elements separated as Google separates them (``recorder/_json_array.py``)."""
    return (b"[" if index == 0 else b"\n,\r\n") + data.encode("utf-8", "surrogateescape")


def json_array_end(elements: int) -> bytes:
    """What closes that array (an empty one is ``[]``)."""
    return b"\n]" if elements else b"[]"


#: ``event`` of a stored WebSocket frame that was binary: its UTF-8 text, or its bytes in base64
WS_BINARY = "websocket.binary"
WS_BASE64 = "websocket.base64"
#: ``event`` of the close frame a server sent to end a session: ``{"code", "reason"}``
WS_CLOSE = "websocket.close"


def ws_stored(message: str | bytes) -> tuple[str, str | None]:
    """(payload text, event) to store for one WebSocket message, either direction.

    A text frame is stored verbatim with its JSON ``type`` as the event (what the
    same event is named over SSE); a binary frame is marked so that replay sends
    a binary frame with the same bytes.
    """
    if isinstance(message, str):
        return message, _json_type(message)
    try:
        return message.decode("utf-8"), WS_BINARY
    except UnicodeDecodeError:
        return base64.b64encode(message).decode("ascii"), WS_BASE64


def ws_frame(payload: str, event: str | None) -> str | bytes:
    """The WebSocket message a stored frame was: the inverse of ``ws_stored``."""
    if event == WS_BINARY:
        return payload.encode("utf-8")
    if event == WS_BASE64:
        return base64.b64decode(payload)
    return payload


def _json_type(text: str) -> str | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and len(kind) <= 128 else None
