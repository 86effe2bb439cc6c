"""What each provider's HTTP API looks like: endpoint paths, base-URL variables, SSE framing.

The recording proxy, the in-process transport and the replay server all need
the same map from a request to the wire format it speaks; it lives here once.
Imports nothing of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_UPSTREAMS",
    "STREAM_ID_HEADER",
    "Endpoint",
    "endpoint_for",
    "frame_sse",
    "request_body",
]

#: response header naming the stream a call was recorded under (proxy) or replayed from (server)
STREAM_ID_HEADER = "x-streamrec-stream-id"

#: the variables each SDK reads its base URL from, and the path prefix it expects there
BASE_URL_ENV: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_BASE_URL", "/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", ""),
    "google": ("GOOGLE_GEMINI_BASE_URL", ""),
}

#: the providers' public endpoints (scheme and host; paths come from the request)
DEFAULT_UPSTREAMS: dict[str, str] = {
    "openai": "https://api.openai.com",
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
    return text.encode()
