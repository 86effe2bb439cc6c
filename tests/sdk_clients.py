"""One streaming call per SDK and api, sync or async, for the proxy and transport tests.

Each call returns the text the SDK produced. With no ``base_url`` the SDKs read
their base-URL environment variables, exactly as under ``streamrec record``.
Keys are fake but distinctive, so tests can look for them in the store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import types

from tests.upstream import SCENARIO_HEADER

KINDS = ("openai_chat", "openai_responses", "anthropic", "google")
API_OF = {
    "openai_chat": "openai.chat.completions",
    "openai_responses": "openai.responses",
    "anthropic": "anthropic.messages",
    "google": "google.generate_content",
}
OPENAI_KEY = "sk-test-openai-SECRET"
ANTHROPIC_KEY = "sk-ant-test-SECRET"
GOOGLE_KEY = "AIza-test-google-SECRET"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY)


def call(
    kind: str,
    mode: str,
    prompt: str,
    *,
    scenario: str | None = None,
    base_url: str | None = None,
    http_client: Any = None,
) -> str:
    """Make one streaming call of ``kind`` (see KINDS) in ``mode`` (sync/async); its text."""
    headers = {SCENARIO_HEADER: scenario} if scenario else {}
    if mode == "sync":
        return _SYNC[kind](prompt, headers, base_url, http_client)
    return asyncio.run(
        acall(kind, prompt, scenario=scenario, base_url=base_url, http_client=http_client)
    )


async def acall(
    kind: str,
    prompt: str,
    *,
    scenario: str | None = None,
    base_url: str | None = None,
    http_client: Any = None,
) -> str:
    """``call`` in async mode, on the running loop (an async ``http_client`` must live on it)."""
    headers = {SCENARIO_HEADER: scenario} if scenario else {}
    return await _ASYNC[kind](prompt, headers, base_url, http_client)


def _openai_kwargs(
    headers: dict[str, str], base_url: str | None, http_client: Any
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"api_key": OPENAI_KEY, "max_retries": 0, "default_headers": headers}
    if base_url:
        kwargs["base_url"] = base_url
    if http_client is not None:
        kwargs["http_client"] = http_client
    return kwargs


def _openai_chat(prompt: str, headers: dict[str, str], base_url: str | None, http: Any) -> str:
    with openai.OpenAI(**_openai_kwargs(headers, base_url, http)) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


async def _aopenai_chat(
    prompt: str, headers: dict[str, str], base_url: str | None, http: Any
) -> str:
    async with openai.AsyncOpenAI(**_openai_kwargs(headers, base_url, http)) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


def _openai_responses(prompt: str, headers: dict[str, str], base_url: str | None, http: Any) -> str:
    with openai.OpenAI(**_openai_kwargs(headers, base_url, http)) as client:
        stream = client.responses.create(model="gpt-4o-mini", input=prompt, stream=True)
        return "".join(e.delta for e in stream if e.type == "response.output_text.delta")


async def _aopenai_responses(
    prompt: str, headers: dict[str, str], base_url: str | None, http: Any
) -> str:
    async with openai.AsyncOpenAI(**_openai_kwargs(headers, base_url, http)) as client:
        stream = await client.responses.create(model="gpt-4o-mini", input=prompt, stream=True)
        return "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])


def _anthropic_kwargs(headers: dict[str, str], base_url: str | None, http: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "api_key": ANTHROPIC_KEY,
        "max_retries": 0,
        "default_headers": headers,
    }
    if base_url:
        kwargs["base_url"] = base_url
    if http is not None:
        kwargs["http_client"] = http
    return kwargs


_CLAUDE = {"model": "claude-haiku-4-5", "max_tokens": 64}


def _anthropic(prompt: str, headers: dict[str, str], base_url: str | None, http: Any) -> str:
    with (
        anthropic.Anthropic(**_anthropic_kwargs(headers, base_url, http)) as client,
        client.messages.stream(messages=[{"role": "user", "content": prompt}], **_CLAUDE) as stream,
    ):
        return "".join(stream.text_stream)


async def _aanthropic(prompt: str, headers: dict[str, str], base_url: str | None, http: Any) -> str:
    async with anthropic.AsyncAnthropic(**_anthropic_kwargs(headers, base_url, http)) as client:
        stream = await client.messages.create(
            messages=[{"role": "user", "content": prompt}], stream=True, **_CLAUDE
        )
        return "".join(
            [
                e.delta.text
                async for e in stream
                if e.type == "content_block_delta" and e.delta.type == "text_delta"
            ]
        )


def _google_client(
    headers: dict[str, str], base_url: str | None, http: Any, ahttp: Any
) -> genai.Client:
    options: dict[str, Any] = {"headers": headers}
    if base_url:
        options["base_url"] = base_url
    if http is not None:
        options["httpx_client"] = http
    if ahttp is not None:
        options["httpx_async_client"] = ahttp
    return genai.Client(api_key=GOOGLE_KEY, http_options=types.HttpOptions(**options))


def _google(prompt: str, headers: dict[str, str], base_url: str | None, http: Any) -> str:
    with _google_client(headers, base_url, http, None) as client:
        stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents=prompt)
        return "".join(c.text or "" for c in stream)


async def _agoogle(prompt: str, headers: dict[str, str], base_url: str | None, http: Any) -> str:
    async with _google_client(headers, base_url, None, http).aio as client:
        stream = await client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=prompt
        )
        return "".join([c.text or "" async for c in stream])


_SYNC = {
    "openai_chat": _openai_chat,
    "openai_responses": _openai_responses,
    "anthropic": _anthropic,
    "google": _google,
}
_ASYNC = {
    "openai_chat": _aopenai_chat,
    "openai_responses": _aopenai_responses,
    "anthropic": _aanthropic,
    "google": _agoogle,
}
