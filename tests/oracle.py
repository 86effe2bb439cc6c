"""The providers' own stream accumulators as the test oracle for the projection.

A list of wire events is served over the local upstream (``tests/upstream.py``)
to the provider's SDK streaming helper, through a ``RecordingTransport``: the SDK
accumulates the bytes it received the way it documents (openai
``chat.completions.stream(...).get_final_completion()``, ``responses.stream(...)
.get_final_response()``, anthropic ``messages.stream(...).get_final_message()``,
google-genai's chunks concatenated as its chat history records them), while the
very same bytes are recorded by streamrec and projected from the store. Tests then
compare the two field by field; where they differ, the test says which side is
right and docs/sdk-divergences.md says why.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as gtypes
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from streamrec import RecordingTransport, Store, StreamState
from tests.upstream import (
    API_ANTHROPIC,
    API_GOOGLE,
    API_OPENAI_CHAT,
    API_OPENAI_RESPONSES,
    SCENARIO_HEADER,
    Frame,
    Scenario,
    Upstream,
    gemini_data,
    sse_data,
    sse_event,
)

_names = itertools.count()

#: what a test gives for one wire event: a JSON object, or raw ``data`` text (``[DONE]``)
Wire = dict[str, Any] | str


def _frames(api: str, events: Sequence[Wire]) -> list[Frame]:
    out = []
    for event in events:
        if isinstance(event, str):
            out.append(Frame(b"data: " + event.encode() + b"\n\n"))
        elif api in (API_ANTHROPIC, API_OPENAI_RESPONSES):
            out.append(sse_event(event["type"], event))
        elif api == API_GOOGLE:
            out.append(gemini_data(event))
        else:
            out.append(sse_data(event))
    return out


@dataclass
class Run:
    """What the SDK built from a served stream, and what streamrec projected from it."""

    sdk: Any
    state: StreamState
    chunks: list[Any] = field(default_factory=list)
    error: BaseException | None = None


class Oracle:
    """Serves a stream to an SDK helper and projects the recording of the same bytes."""

    def __init__(self, upstream: Upstream, store: Store) -> None:
        self.upstream = upstream
        self.store = store

    def _serve(self, api: str, events: Sequence[Wire]) -> dict[str, str]:
        name = f"oracle-{next(_names)}"
        frames = _frames(api, events)
        self.upstream.register(Scenario(name=name, api=api, frames=lambda req: list(frames)))
        return {SCENARIO_HEADER: name}

    def _run(
        self,
        package: Any,
        api: str,
        events: Sequence[Wire],
        call: Callable[[Any, dict[str, str]], Any],
        *,
        expect_error: bool = False,
    ) -> Run:
        headers = self._serve(api, events)
        transport = RecordingTransport(package.HTTPTransport(), store=self.store)
        error: BaseException | None = None
        sdk: Any = None
        with package.Client(transport=transport, timeout=10) as http:
            try:
                sdk = call(http, headers)
            except Exception as exc:
                if not expect_error:
                    raise
                error = exc
        [stream_id] = transport.stream_ids
        run = Run(sdk=sdk, state=self.store.state(stream_id), error=error)
        if isinstance(sdk, tuple):
            run.sdk, run.chunks = sdk
        return run

    # -- one helper per wire format ----------------------------------------------------

    def _openai(self, http: Any, headers: dict[str, str]) -> openai.OpenAI:
        """The OpenAI SDK client, on the recording transport ``http``, aimed at the upstream."""
        return openai.OpenAI(
            api_key="sk-test",
            base_url=self.upstream.openai_base_url,
            http_client=http,
            max_retries=0,
            default_headers=headers,
        )

    def chat(self, chunks: Sequence[Wire], *, expect_error: bool = False, **request: Any) -> Run:
        """``client.chat.completions.stream(...).get_final_completion()``."""
        request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]} | (
            request
        )

        def call(http: Any, headers: dict[str, str]) -> Any:
            client = self._openai(http, headers)
            with client.chat.completions.stream(**request) as stream:
                return stream.get_final_completion()

        return self._run(httpx2, API_OPENAI_CHAT, chunks, call, expect_error=expect_error)

    def responses(self, events: Sequence[Wire], *, final: bool = True, **request: Any) -> Run:
        """``client.responses.stream(...).get_final_response()``; without ``final`` (a stream
        that ends incomplete or failed, which the helper gives no final response for) the
        response its terminal event carried, as typed by the SDK."""
        request = {"model": "gpt-4o-mini", "input": "hi"} | request

        def call(http: Any, headers: dict[str, str]) -> Any:
            client = self._openai(http, headers)
            with client.responses.stream(**request) as stream:
                seen = list(stream)
                if final:
                    return stream.get_final_response(), seen
                terminal = [e for e in seen if e.type in ("response.incomplete", "response.failed")]
                return (terminal[-1].response if terminal else None), seen

        return self._run(httpx2, API_OPENAI_RESPONSES, events, call)

    def anthropic(
        self,
        events: Sequence[Wire],
        *,
        beta: bool = False,
        betas: Sequence[str] = (),
        expect_error: bool = False,
        **request: Any,
    ) -> Run:
        """``client.messages.stream(...).get_final_message()`` (``client.beta.messages`` for
        the blocks only the beta types know: compaction, fallback, usage.iterations)."""
        request = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "hi"}],
        } | request

        def call(http: Any, headers: dict[str, str]) -> Any:
            client = anthropic.Anthropic(
                api_key="sk-ant-test",
                base_url=self.upstream.anthropic_base_url,
                http_client=http,
                max_retries=0,
                default_headers=headers,
            )
            if beta or betas:
                kwargs = {"betas": list(betas)} if betas else {}
                with client.beta.messages.stream(**request, **kwargs) as stream:
                    return stream.get_final_message()
            with client.messages.stream(**request) as stream:
                return stream.get_final_message()

        return self._run(httpx2, API_ANTHROPIC, events, call, expect_error=expect_error)

    def gemini(self, chunks: Sequence[Wire], **config: Any) -> Run:
        """``client.models.generate_content_stream``: the chunks as the SDK typed them, and
        their accumulation as google-genai's chat records a turn (every chunk's parts, in
        order, unmerged; the last usage, finish reason, model version and response id)."""

        def call(http: Any, headers: dict[str, str]) -> Any:
            client = genai.Client(
                api_key="AIza-test",
                http_options=gtypes.HttpOptions(
                    base_url=self.upstream.google_base_url, httpx_client=http, headers=headers
                ),
            )
            got = list(
                client.models.generate_content_stream(
                    model="gemini-2.5-flash",
                    contents="hi",
                    config=gtypes.GenerateContentConfig(**config) if config else None,
                )
            )
            return accumulate_gemini(got), got

        return self._run(httpx, API_GOOGLE, chunks, call)


def accumulate_gemini(chunks: list[gtypes.GenerateContentResponse]) -> dict[str, Any]:
    """google-genai's documented reading of a stream: ``chunk.text`` joined, the parts of
    every chunk's first candidate in order (``Chat.record_history`` keeps each chunk's
    content as it came), the function calls of every chunk, the last non-empty value of
    the per-response fields."""
    parts: list[gtypes.Part] = []
    out: dict[str, Any] = {
        "text": "",
        "function_calls": [],
        "finish_reason": None,
        "usage": None,
        "model_version": None,
        "response_id": None,
        "candidate": {},
        "prompt_feedback": None,
    }
    for chunk in chunks:
        first = chunk.candidates[0] if chunk.candidates else None
        for part in (first.content.parts if first and first.content else None) or ():
            parts.append(part)
            if part.text is not None and not part.thought:
                out["text"] += part.text
        out["function_calls"] += chunk.function_calls or []
        if chunk.candidates:
            candidate = chunk.candidates[0]
            if candidate.finish_reason:
                out["finish_reason"] = candidate.finish_reason.value
            for key in ("grounding_metadata", "url_context_metadata", "citation_metadata"):
                if getattr(candidate, key) is not None:
                    out["candidate"][key] = getattr(candidate, key)
            if candidate.safety_ratings:
                out["candidate"]["safety_ratings"] = candidate.safety_ratings
        for key, attr in (
            ("usage", "usage_metadata"),
            ("model_version", "model_version"),
            ("response_id", "response_id"),
            ("prompt_feedback", "prompt_feedback"),
        ):
            if getattr(chunk, attr) is not None:
                out[key] = getattr(chunk, attr)
    out["parts"] = parts
    return out


def dump(model: Any) -> Any:
    """An SDK object as JSON: the fields the wire set or the accumulator assigned, with
    null top-level members left out (as ``drop_none`` leaves them out of ours)."""
    if hasattr(model, "model_dump"):
        return drop_none(json.loads(model.model_dump_json(by_alias=True, exclude_unset=True)))
    return model


def drop_none(value: Any) -> Any:
    """``value`` without its null members, one level deep (a null nested in a tool's
    input is data; a null field of the object itself means absent)."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


@pytest.fixture(scope="module")
def oracle_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per module: a recording per served stream, each under its own id."""
    path = tmp_path_factory.mktemp("oracle") / "oracle.db"
    store = Store(f"sqlite:///{path}")
    yield store
    store.close()


@pytest.fixture
def oracle(upstream: Upstream, oracle_store: Store) -> Oracle:
    """An ``Oracle`` on the shared upstream and the module's store."""
    return Oracle(upstream, oracle_store)


# -- strategies shared by the generated-stream properties ----------------------------


def oracle_settings(max_examples: int) -> settings:
    """A property that drives a real SDK per example: few examples, the same ones every run."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def wire_text(max_size: int) -> st.SearchStrategy[str]:
    """Text any SDK can send and read back: every character UTF-8 encodes (no lone surrogates)."""
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=max_size)


#: a tool call's arguments object
TOOL_ARGS = st.dictionaries(
    st.text(max_size=3), st.integers(-9, 9) | st.text(max_size=3), max_size=2
)


@st.composite
def split(draw: st.DrawFn, text: str, max_cuts: int = 2) -> list[str]:
    """``text`` cut at up to ``max_cuts`` places into non-empty pieces (``[""]`` for no text)."""
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=max_cuts)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a] or [""]
