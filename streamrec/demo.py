"""``streamrec demo``: the whole flow offline, against a bundled sample upstream on loopback.

The sample upstream speaks OpenAI's Chat Completions SSE format; the real
``openai`` SDK calls it through the recording proxy (the path ``streamrec
record`` takes), streamrec records the stream, replays it from the store, and
rebuilds its state, so a newcomer sees every part work without an API key or
a network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from .errors import StreamrecError
from .projection import StreamState
from .providers import frame_sse
from .replay import replay
from .store import Store

__all__ = ["DEMO_REQUEST", "run_demo", "sample_upstream"]

DEMO_MODEL = "gpt-4o-mini"
DEMO_REQUEST: dict[str, Any] = {
    "model": DEMO_MODEL,
    "messages": [{"role": "user", "content": "What's the weather in Paris? Answer briefly."}],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ],
    "stream": True,
    "stream_options": {"include_usage": True},
}
_WORDS = ["Let ", "me ", "check ", "the ", "weather ", "in ", "Paris."]
_ID = "chatcmpl-demo0001"
_CREATED = 1763900000


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_demo",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return json.dumps(body, separators=(",", ":"))


def sample_chunks() -> list[str]:
    """The SSE ``data`` texts the sample upstream sends, in order."""
    chunks = [_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chunk({"content": w}) for w in _WORDS]
    call = {"index": 0, "id": "call_demo1", "type": "function"}
    chunks.append(
        _chunk({"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": ""}}]})
    )
    chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}))
    chunks.append(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}))
    chunks.append(_chunk({}, "tool_calls"))
    usage = {
        "prompt_tokens": 58,
        "completion_tokens": 24,
        "total_tokens": 82,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }
    last = json.loads(_chunk({}))
    last["choices"] = []
    last["usage"] = usage
    chunks.append(json.dumps(last, separators=(",", ":")))
    chunks.append("[DONE]")
    return chunks


def sample_upstream(delay: float = 0.02) -> Any:
    """An ASGI app answering ``POST /v1/chat/completions`` with the sample stream."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def completions(request: Request) -> StreamingResponse:
        await request.body()

        async def frames() -> AsyncIterator[bytes]:
            for data in sample_chunks():
                await asyncio.sleep(delay)
                yield frame_sse("openai.chat.completions", data, None)

        return StreamingResponse(frames(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def run_demo(store: Store, echo: Callable[[str], None]) -> StreamState:
    """Record the sample stream (openai SDK → recording proxy → sample upstream), replay it,
    print its rebuilt state.

    The SDK is pointed at the proxy exactly as ``streamrec record`` points a
    program at it, so the demo walks the path real recordings take.
    """
    try:
        import openai
    except ImportError:
        raise StreamrecError(
            "the demo drives the real openai SDK: pip install 'streamrec[demo]'"
        ) from None
    from ._serving import BackgroundServer
    from .recorder import ProxyServer, Recording, RecordingProxy

    finished: list[Recording] = []
    with BackgroundServer(sample_upstream()) as upstream:
        proxy = RecordingProxy(
            store=store,
            upstreams={"openai": upstream.url + "/v1"},  # a base URL as the SDK takes it
            name="demo",
            on_finish=finished.append,
        )
        with ProxyServer(proxy) as server:
            base_url = server.env["OPENAI_BASE_URL"]
            echo(
                f"1. recording: openai SDK -> streamrec proxy {server.url} -> sample upstream {upstream.url}"
            )
            echo(f"   (the SDK's base URL is {base_url}; events go to {store.display_url})")
            live = []
            with openai.OpenAI(
                base_url=base_url, api_key="sk-demo-not-a-key", max_retries=0
            ) as client:
                for chunk in client.chat.completions.create(**DEMO_REQUEST):
                    if chunk.choices and chunk.choices[0].delta.content:
                        live.append(chunk.choices[0].delta.content)
    store.writer.flush()
    if not finished:
        raise StreamrecError("the demo stream was not recorded (see the warnings above)")
    recording = finished[0]
    echo(f"   live text: {''.join(live)!r}")
    echo(f"   stream id: {recording.stream_id}")
    echo("2. replaying it from the store (raw chunks, byte for byte; from each one's choices on):")
    for data in replay(recording.stream_id, store=store):
        shown = data[data.find('"choices"') :] if '"choices"' in data else data
        echo(f"   {shown[:92]}{'…' if len(shown) > 92 else ''}")
    state = store.state(recording.stream_id)
    echo("3. state rebuilt from the event log alone:")
    for key in (
        "content",
        "model",
        "id",
        "finish_reasons",
        "input_tokens",
        "output_tokens",
        "cost",
        "message_param",
    ):
        echo(f"   {key:15} {getattr(state, key)!r}")
    tools = [(t.name, t.args) for t in state.tool_calls]
    echo(f"   {'tool_calls':15} {tools!r}")
    exclude = {"cost_metadata"}
    same = state.model_dump(exclude=exclude) == recording.state.model_dump(exclude=exclude)
    echo(f"   rebuilt state equals live state: {same}")
    return state
