"""Where the proxy sends each request, and the base URLs that point programs at it.

Which requests are LLM calls, and under which api, is ``streamrec.providers``
(shared with the transports and the replay server).

The proxy gives each provider its own path prefix (``/openai``, ``/anthropic``,
``/google``) in the base URLs it hands to programs: the providers share paths
such as ``GET /v1/models``, so without a prefix the upstream would be a guess.
Requests without a prefix (``curl``, the pytest plugin, a client pointed at the
bare proxy URL) are routed by their path and headers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import httpx

from ..errors import RecorderError
from ..providers import BASE_URL_ENV, DEFAULT_UPSTREAMS

__all__ = [
    "CLIENT_ENV",
    "DEFAULT_UPSTREAMS",
    "PROVIDERS",
    "UPSTREAM_ENV",
    "BadTarget",
    "client_env",
    "parse_upstreams",
    "request_path",
    "resolve_upstreams",
    "split_provider",
    "upstream_url",
]

PROVIDERS = tuple(DEFAULT_UPSTREAMS)
#: streamrec's own override of each provider's upstream
UPSTREAM_ENV: Mapping[str, str] = {p: f"STREAMREC_UPSTREAM_{p.upper()}" for p in PROVIDERS}
#: the variable each SDK reads its base URL from, and the proxy path it is given
#: (the provider's prefix only: the SDK's own paths follow it unchanged)
CLIENT_ENV: Mapping[str, tuple[str, str]] = {
    p: (BASE_URL_ENV[p][0], f"/{p}{BASE_URL_ENV[p][1]}") for p in PROVIDERS
}

_GOOGLE = re.compile(r"/models/[^/:]+:(streamGenerateContent|generateContent)$")


def split_provider(path: str, headers: Mapping[str, str], query: str = "") -> tuple[str, str]:
    """(provider, path without the proxy's provider prefix) for a request the proxy received.

    ``headers`` must have lower-case names.
    """
    for provider in PROVIDERS:
        prefix = f"/{provider}"
        if path == prefix or path.startswith(prefix + "/"):
            return provider, path[len(prefix) :] or "/"
    if _GOOGLE.search(path) or path.startswith(("/v1beta", "/v1alpha", "/upload/")):
        return "google", path
    if "x-goog-api-key" in headers or re.search(r"(^|&)key=", query):
        return "google", path
    if path.startswith(("/v1/messages", "/v1/complete")) or "anthropic-version" in headers:
        return "anthropic", path
    return "openai", path


class BadTarget(ValueError):
    """A request-target the proxy will not forward (answered 400)."""


def request_path(raw_path: bytes | str) -> str:
    """The request's path if it is a plain origin-form target (``/…``); else ``BadTarget``.

    The upstream is always the configured one, so a target that tries to name
    another host (``@host/…``, absolute-form ``http://host/…``, ``//host/…``) or
    to climb out of the upstream's base path (``..``, ``%2e%2e``, backslashes) is
    refused rather than forwarded in some reinterpreted form.
    """
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    if not path.startswith("/") or path.startswith("//"):
        raise BadTarget(f"only origin-form request targets (/path) are proxied, not {path!r}")
    decoded = path
    for _ in range(3):  # double-encoded dots (%252e) are dots to some servers too
        decoded = unquote(decoded)
    segments = decoded.replace("\\", "/").split("/")
    if any(seg in (".", "..") for seg in segments) or any(c in decoded for c in "\r\n\0"):
        raise BadTarget(f"dot segments and control characters are not proxied: {path!r}")
    return path


def upstream_url(base: str, path: str, query: str = "") -> httpx.URL:
    """``base`` (kept exactly: host and path) followed by the request path and query.

    ``path`` must come from ``request_path``. It is set as the URL's path, never
    parsed as part of a URL, so nothing in it can change the host. A version
    segment both end in is not doubled, for clients that send the API's full
    path to an upstream given with it: ``https://openrouter.ai/api/v1`` and
    ``/v1/chat/completions`` give ``https://openrouter.ai/api/v1/chat/completions``.
    """
    url = httpx.URL(base)
    prefix = url.raw_path.split(b"?", 1)[0].rstrip(b"/")
    raw = path.encode("latin-1")
    first = b"/" + raw.lstrip(b"/").split(b"/", 1)[0]
    if first != b"/" and prefix.endswith(first) and raw.startswith(first + b"/"):
        raw = raw[len(first) :]
    target = prefix + raw + (b"?" + query.encode("latin-1") if query else b"")
    out = url.copy_with(raw_path=target)
    if (out.scheme, out.host, out.port) != (url.scheme, url.host, url.port):  # pragma: no cover
        raise BadTarget(f"{path!r} would leave the upstream {base}")
    return out


def parse_upstreams(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["openai=http://…", …]`` (the CLI's ``--upstream``) as a mapping."""
    out: dict[str, str] = {}
    for value in values:
        provider, sep, url = value.partition("=")
        provider = provider.strip().lower()
        if not sep or provider not in PROVIDERS:
            raise RecorderError(
                f"--upstream {value!r}: expected PROVIDER=URL, "
                f"PROVIDER one of {', '.join(PROVIDERS)}"
            )
        out[provider] = _checked(url.strip(), f"--upstream {provider}")
    return out


def resolve_upstreams(
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    inherit_client_env: bool = False,
) -> dict[str, str]:
    """Each provider's upstream: ``overrides``, else (with ``inherit_client_env``) the base URL
    the program would have used, else ``$STREAMREC_UPSTREAM_<P>``, else the default.

    ``streamrec record`` inherits: a program that talks to an OpenAI-compatible
    server (its own ``OPENAI_BASE_URL``, …) keeps talking to it, as the pytest
    plugin's record mode does; recording never changes where a request goes.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for provider in PROVIDERS:
        url = (overrides or {}).get(provider)
        client_var = CLIENT_ENV[provider][0]
        if url is None and inherit_client_env and env.get(client_var):
            url = _checked(env[client_var], client_var)
        if url is None and env.get(UPSTREAM_ENV[provider]):
            url = _checked(env[UPSTREAM_ENV[provider]], UPSTREAM_ENV[provider])
        out[provider] = url or DEFAULT_UPSTREAMS[provider]
    return out


def client_env(proxy_url: str) -> dict[str, str]:
    """The base-URL variables that point each SDK at the proxy at ``proxy_url``."""
    proxy_url = proxy_url.rstrip("/")
    return {var: proxy_url + path for var, path in CLIENT_ENV.values()}


def _checked(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RecorderError(f"{what}: {url!r} is not an http(s) URL")
    return url
