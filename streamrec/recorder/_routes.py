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
from urllib.parse import urlsplit

from ..errors import RecorderError
from ..providers import BASE_URL_ENV, DEFAULT_UPSTREAMS

__all__ = [
    "CLIENT_ENV",
    "DEFAULT_UPSTREAMS",
    "PROVIDERS",
    "UPSTREAM_ENV",
    "client_env",
    "parse_upstreams",
    "resolve_upstreams",
    "split_provider",
    "upstream_url",
]

PROVIDERS = tuple(DEFAULT_UPSTREAMS)
#: streamrec's own override of each provider's upstream
UPSTREAM_ENV: Mapping[str, str] = {p: f"STREAMREC_UPSTREAM_{p.upper()}" for p in PROVIDERS}
#: the variable each SDK reads its base URL from, and the proxy path it is given
#: (the provider's prefix, then what the SDK expects: ``/v1`` for openai only)
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


def upstream_url(base: str, path: str, query: str = "") -> str:
    """``base`` joined with the request path; a version segment both end in is not doubled.

    So ``https://openrouter.ai/api/v1`` (a base URL as SDKs take it) and
    ``/v1/chat/completions`` give ``https://openrouter.ai/api/v1/chat/completions``.
    """
    base = base.rstrip("/")
    first = "/" + path.lstrip("/").split("/", 1)[0]
    if first != "/" and base.endswith(first) and path.startswith(first + "/"):
        path = path[len(first) :]
    return f"{base}{path}" + (f"?{query}" if query else "")


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
    """Each provider's upstream: ``overrides``, else ``$STREAMREC_UPSTREAM_<P>``, else the default.

    With ``inherit_client_env`` (``streamrec record``), a base URL the program
    would have used (``OPENAI_BASE_URL``, …) comes before the default: recording
    a program that talks to an OpenAI-compatible server keeps talking to it.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for provider in PROVIDERS:
        url = (overrides or {}).get(provider)
        if url is None and env.get(UPSTREAM_ENV[provider]):
            url = _checked(env[UPSTREAM_ENV[provider]], UPSTREAM_ENV[provider])
        client_var = CLIENT_ENV[provider][0]
        if url is None and inherit_client_env and env.get(client_var):
            url = _checked(env[client_var], client_var)
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
