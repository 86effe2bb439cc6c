"""Conformance with Mirascope v1: streamrec's rebuilt state against a real ``BaseStream``.

For each scenario the same request is sent twice to the local upstream
(``tests/upstream.py``), which plays one frozen wire to both callers:

(a) through Mirascope 1.25.7 (``@openai.call`` / ``@anthropic.call`` with ``stream=True``)
    in a venv of its own (``mirascope_env.py``), by ``mirascope_runner.py``, which
    prints every ``BaseStream`` attribute as JSON;
(b) through the current SDK in this environment, wrapped by ``streamrec.record``;
    the state is then rebuilt from the store with ``store.state(stream_id)``.

The request of (b) is Mirascope's own ``call_kwargs`` (plus ``stream=True``), and the
test checks that the upstream received the same body twice, so both sides read the
very same wire. Every attribute is then asserted equal, except:

- ``NORMALIZED``: attributes whose representation differs by design (a tool class vs
  its schema, float vs Decimal); compared after a stated normalisation;
- ``DIVERGENCES``: attributes where Mirascope's value departs from the providers'
  documented meaning, per scenario, with both values pinned. They mirror
  ``docs/mirascope-divergences.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.upstream import SCENARIOS as SHARED_SCENARIOS
from tests.upstream import Frame, Upstream
from tests.upstream import Scenario as UpstreamScenario

from . import stub_upstream
from .mirascope_env import MIRASCOPE_VERSION, REPO_ROOT, mirascope_python
from .stub_upstream import ANTHROPIC_MODEL, OPENAI_MODEL, SCENARIO_HEADER, StubUpstream

RUNNER = Path(__file__).with_name("mirascope_runner.py")
DOC = REPO_ROOT / "docs" / "mirascope-divergences.md"
RUNNER_TIMEOUT_S = 120

pytestmark = pytest.mark.slow  # builds (once) the Mirascope venv under .cache/


# ------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    provider: str  # "openai" | "anthropic"
    api: str  # streamrec's wire-format name
    model: str  # requested
    tools: tuple[str, ...] = ()
    prompt: str = "What is the weather in Paris?"
    call_params: dict[str, Any] = field(default_factory=lambda: {"max_tokens": 100})
    messages: tuple[dict[str, Any], ...] = ()  # a whole conversation instead of `prompt`
    wire: str = ""  # stub_upstream's frames to play; default: the same name
    shared: str = ""  # instead: a scenario of tests/upstream.py, frozen for the two calls
    twin: str = ""  # for a shared one: the own scenario whose divergences apply (unpinned)

    @property
    def frames_name(self) -> str:
        return self.wire or self.name


_OA = ("openai", "openai.chat.completions", "gpt-4o-mini")
_GO = ("google", "google.generate_content", "gemini-2.0-flash")
_AN = ("anthropic", "anthropic.messages", ANTHROPIC_MODEL)
_TOOLS = ("get_weather", "get_time")

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("openai_chat.text", *_OA),
        Scenario("openai_chat.usage", *_OA),  # prompt caching: cached_tokens > 0
        Scenario("openai_chat.tools", *_OA, tools=_TOOLS),
        Scenario("openai_chat.tools_no_finish", *_OA, tools=_TOOLS),  # tool call, then [DONE]
        # the turn after a tool call: the last message is the tool result, not a user message
        Scenario(
            "openai_chat.after_tool",
            *_OA,
            tools=_TOOLS,
            wire="openai_chat.text",
            messages=(
                {"role": "user", "content": "What is the weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_weather_1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city": "Paris", "unit": "celsius"}',
                            },
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_weather_1", "content": "18C, sunny"},
            ),
        ),
        Scenario("anthropic.text", *_AN),
        Scenario("anthropic.tools", *_AN, tools=_TOOLS),
        Scenario("anthropic.cache", *_AN),  # cache reads and writes
        Scenario("anthropic.tools_no_args", *_AN, tools=("get_status",)),
        # the shared upstream's own wire (random ids, echoed text, its usage numbers):
        # everything not a divergence must agree; divergences are not pinned there
        Scenario(
            "upstream:openai_chat.text", *_OA, shared="openai_chat.text", twin="openai_chat.text"
        ),
        Scenario(
            "upstream:openai_chat.usage", *_OA, shared="openai_chat.usage", twin="openai_chat.usage"
        ),
        Scenario(
            "upstream:openai_chat.tools",
            *_OA,
            tools=_TOOLS,
            shared="openai_chat.tools",
            twin="openai_chat.tools",
        ),
        Scenario("upstream:anthropic.text", *_AN, shared="anthropic.text", twin="anthropic.text"),
        Scenario(
            "upstream:anthropic.tools",
            *_AN,
            tools=_TOOLS,
            shared="anthropic.tools",
            twin="anthropic.tools",
        ),
        Scenario(
            "upstream:anthropic.cached", *_AN, shared="anthropic.cached", twin="anthropic.cache"
        ),
        # Mirascope's google provider (google-genai, GoogleStream) on the shared upstream's
        # Gemini wires: cumulative usage on every chunk, whole function calls, thought parts
        Scenario("gemini.text", *_GO, call_params={}, shared="gemini.text"),
        Scenario("gemini.tools", *_GO, tools=_TOOLS, call_params={}, shared="gemini.tools"),
        Scenario("gemini.thinking", *_GO, call_params={}, shared="gemini.thinking"),
        Scenario("gemini.cached", *_GO, call_params={}, shared="gemini.cached"),
    )
}

# ------------------------------------------------------------------ what differs

OA_TEXT, OA_USAGE, OA_TOOLS, OA_NOFIN, OA_AFTER = (
    "openai_chat.text",
    "openai_chat.usage",
    "openai_chat.tools",
    "openai_chat.tools_no_finish",
    "openai_chat.after_tool",
)
AN_TEXT, AN_TOOLS, AN_CACHE, AN_NOARGS = (
    "anthropic.text",
    "anthropic.tools",
    "anthropic.cache",
    "anthropic.tools_no_args",
)
GO_TEXT, GO_TOOLS, GO_THINK, GO_CACHE = (
    "gemini.text",
    "gemini.tools",
    "gemini.thinking",
    "gemini.cached",
)
GEMINI = frozenset((GO_TEXT, GO_TOOLS, GO_THINK, GO_CACHE))
# every scenario whose divergences are pinned (the upstream: twins borrow theirs, unpinned)
ALL = frozenset(name for name, s in SCENARIOS.items() if not s.twin)
ANY = object()  # a divergence whose values are not pinned (time, shapes)

_WEATHER_ARGS = {"city": "Paris", "unit": "celsius"}
_OA_WEATHER_CALL = {
    "id": "call_weather_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "celsius"}'},
}
_AN_STATUS_USE = {"type": "tool_use", "id": "toolu_status_1", "name": "get_status", "input": {}}
_TIME_ARGS = {"timezone": "Europe/Paris"}
_GO_ECHO = "Echo: What is the weather in Paris?"
_GO_THOUGHT = (
    "**Echoing the user**\n\nThe user wants an echo. I will repeat their words back, prefixed."
)
_GO_SIGNATURE = "CiQB0e2Kb3dRh+BYdbZvmulSN2Pwwc75DUSw1p1fcW6NBLBqUWaOtzD2"
_GO_CALLS = [("get_weather", _WEATHER_ARGS), ("get_time", _TIME_ARGS)]


@dataclass(frozen=True)
class Divergence:
    """Where Mirascope 1.25.7 and the documented wire meaning (streamrec) differ.

    ``values`` maps a scenario to ``(mirascope, streamrec)``; ``ANY`` leaves a side
    unpinned. Scenarios not in ``values`` must agree.
    """

    why: str
    values: dict[str, tuple[Any, Any]]


def _all(
    mirascope: Any, streamrec: Any, scenarios: frozenset[str] = ALL
) -> dict[str, tuple[Any, Any]]:
    return {s: (mirascope, streamrec) for s in scenarios}


DIVERGENCES: dict[str, Divergence] = {
    "finish_reasons": Divergence(
        "OpenAI: every chunk overwrites it, so the final usage chunk (empty choices) leaves []; "
        "Anthropic: read only from message_start (always null), never from message_delta",
        {
            OA_TEXT: ([], ["stop"]),
            OA_USAGE: ([], ["stop"]),
            OA_TOOLS: ([], ["tool_calls"]),
            OA_NOFIN: ([], None),
            OA_AFTER: ([], ["stop"]),
            AN_TEXT: (None, ["end_turn"]),
            AN_TOOLS: (None, ["tool_use"]),
            AN_CACHE: (None, ["end_turn"]),
            AN_NOARGS: (None, ["tool_use"]),
        },
    ),
    "id": Divergence(
        "Gemini: GoogleCallResponseChunk.id is always None; streamrec keeps the responseId",
        _all(None, ANY, GEMINI),
    ),
    "input_tokens": Divergence(
        "Anthropic input_tokens excludes cache reads and writes; streamrec counts the whole "
        "prompt. Gemini: every chunk's cumulative promptTokenCount is added up",
        {
            AN_CACHE: (10, 2010),
            GO_TEXT: (56, 8),
            GO_TOOLS: (128, 64),
            GO_THINK: (72, 8),
            GO_CACHE: (14420, 2060),
        },
    ),
    "cached_tokens": Divergence(
        "Gemini: None without cachedContentTokenCount, else every chunk's cumulative count added up",
        {GO_TEXT: (None, 0), GO_TOOLS: (None, 0), GO_THINK: (None, 0), GO_CACHE: (14336, 2048)},
    ),
    "output_tokens": Divergence(
        "Anthropic: message_start's output_tokens is added to message_delta's cumulative total; "
        "Gemini: every chunk's cumulative candidatesTokenCount is added up, thoughts left out",
        {
            AN_TEXT: (16, 15),
            AN_TOOLS: (43, 42),
            AN_CACHE: (21, 20),
            AN_NOARGS: (13, 12),
            GO_TEXT: (56, 14),
            GO_TOOLS: (30, 20),
            GO_THINK: (56, 134),
            GO_CACHE: (56, 14),
        },
    ),
    "cost": Divergence(
        "OpenAI cached tokens are charged at the full rate and again at the cache rate; "
        "Anthropic cache writes are never charged and output_tokens is overcounted",
        {
            OA_USAGE: (0.0004467, 0.0001587),
            AN_TEXT: (0.000315, 0.0003),
            AN_TOOLS: (0.00072, 0.000705),
            AN_CACHE: (0.000885, 0.00162),
            AN_NOARGS: (0.00027, 0.000255),
            GO_TEXT: (0.000028, 0.0000064),
            GO_TOOLS: (0.0000248, 0.0000144),
            GO_THINK: (0.0000296, 0.0000544),
            GO_CACHE: (0.002002, 0.000058),
        },
    ),
    "cost_metadata": Divergence(
        "Mirascope's CostMetadata model vs streamrec's genai-prices provenance dict",
        _all(ANY, ANY),
    ),
    "dynamic_config": Divergence(
        "Mirascope's prompt decorator returns {'messages': ...}; streamrec sees only the request",
        _all(ANY, None),
    ),
    "call_params": Divergence(
        "Gemini: Mirascope's call_params are the decorator's (tools go into config on the "
        "wire); streamrec reads the request, where they are {'config': {...}}",
        {GO_TOOLS: ({}, ANY)},
    ),
    "metadata": Divergence(
        "Mirascope's @metadata decorator vs streamrec's recording name and tags",
        _all({}, {"name": None, "tags": []}),
    ),
    "message_param": Divergence(
        "OpenAI: content '' instead of null next to tool calls, and a tool call not closed "
        "by a later chunk is dropped; Anthropic: a tool_use with empty input is dropped",
        {
            OA_TOOLS: (ANY, ANY),  # same tool_calls; content "" vs None (checked below)
            OA_NOFIN: (
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": None, "tool_calls": [_OA_WEATHER_CALL]},
            ),
            AN_NOARGS: (
                {"role": "assistant", "content": []},
                {"role": "assistant", "content": [_AN_STATUS_USE]},
            ),
            # Gemini: thought parts dropped; function calls as SDK objects after a "" text
            GO_THINK: (
                {"role": "model", "parts": [{"text": _GO_ECHO}]},
                {
                    "role": "model",
                    "parts": [{"text": _GO_THOUGHT, "thought": True}, {"text": _GO_ECHO}],
                },
            ),
            GO_TOOLS: (
                ANY,  # checked below: its fields follow the google-genai 1.x FunctionCall model
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"args": _WEATHER_ARGS, "name": "get_weather"},
                            "thoughtSignature": _GO_SIGNATURE,
                        },
                        {"functionCall": {"args": _TIME_ARGS, "name": "get_time"}},
                    ],
                },
            ),
        },
    ),
    "tool_calls": Divergence(
        "OpenAI: a tool call followed directly by [DONE] is never yielded; "
        "Anthropic: a tool_use whose input is empty is never yielded",
        {
            OA_NOFIN: ([], [("get_weather", _WEATHER_ARGS, "call_weather_1")]),
            AN_NOARGS: ([], [("get_status", {}, "toolu_status_1")]),
            GO_TOOLS: (
                [(n, a, None) for n, a in _GO_CALLS],
                [(n, a, f"{n}_{i}") for i, (n, a) in enumerate(_GO_CALLS)],
            ),
        },
    ),
    "tool_message_params": Divergence(
        "follows tool_calls: no message for a tool Mirascope never yielded; Gemini: "
        "Mirascope's snake_case function_response vs the wire's functionResponse",
        {
            OA_NOFIN: ([], ANY),
            AN_NOARGS: ([], ANY),
            GO_TOOLS: (
                [
                    {
                        "role": "user",
                        "parts": [
                            {"function_response": {"name": n, "response": {"result": "output"}}}
                            for n, _ in _GO_CALLS
                        ],
                    }
                ],
                [
                    {
                        "role": "user",
                        "parts": [
                            {"functionResponse": {"name": n, "response": {"result": "output"}}}
                            for n, _ in _GO_CALLS
                        ],
                    }
                ],
            ),
        },
    ),
    "start_time": Divergence(
        "both ms since the epoch; Mirascope's is taken before the request is sent (and never "
        "in async iteration), streamrec's when record() is called",
        _all(ANY, ANY),
    ),
    "end_time": Divergence(
        "both ms since the epoch; Mirascope's after the last chunk (never in async), "
        "streamrec's at stream.completed",
        _all(ANY, ANY),
    ),
    "call_response.finish_reasons": Divergence(
        "OpenAI: [] falls back to 'stop' whatever the stream said; Anthropic: str(None)",
        {
            OA_TOOLS: (["stop"], ["tool_calls"]),
            OA_NOFIN: (["stop"], None),
            AN_TEXT: (["None"], ["end_turn"]),
            AN_TOOLS: (["None"], ["tool_use"]),
            AN_CACHE: (["None"], ["end_turn"]),
            AN_NOARGS: (["None"], ["tool_use"]),
        },
    ),
    "call_response.id": Divergence("as id", _all(None, ANY, GEMINI)),
    "call_response.cached_tokens": Divergence(
        "the rebuilt response's usage drops the cache fields",
        {
            GO_TEXT: (None, 0),
            GO_TOOLS: (None, 0),
            GO_THINK: (None, 0),
            GO_CACHE: (None, 2048),
            OA_TEXT: (None, 0),
            OA_USAGE: (None, 1920),
            OA_TOOLS: (None, 0),
            OA_AFTER: (None, 0),
            AN_TEXT: (None, 0),
            AN_TOOLS: (None, 0),
            AN_CACHE: (None, 1800),
            AN_NOARGS: (None, 0),
        },
    ),
    "call_response.input_tokens": Divergence(
        "as input_tokens",
        {
            AN_CACHE: (10, 2010),
            GO_TEXT: (56, 8),
            GO_TOOLS: (128, 64),
            GO_THINK: (72, 8),
            GO_CACHE: (14420, 2060),
        },
    ),
    "call_response.output_tokens": Divergence(
        "as output_tokens",
        {
            AN_TEXT: (16, 15),
            AN_TOOLS: (43, 42),
            AN_CACHE: (21, 20),
            AN_NOARGS: (13, 12),
            GO_TEXT: (56, 14),
            GO_TOOLS: (30, 20),
            GO_THINK: (56, 134),
            GO_CACHE: (56, 14),
        },
    ),
    "call_response.cost": Divergence(
        "as cost; for OpenAI the rebuilt usage also loses cached_tokens, giving a third value",
        {
            OA_USAGE: (0.0003027, 0.0001587),
            AN_TEXT: (0.000315, 0.0003),
            AN_TOOLS: (0.00072, 0.000705),
            AN_CACHE: (0.000345, 0.00162),
            AN_NOARGS: (0.00027, 0.000255),
            GO_TEXT: (0.000028, 0.0000064),
            GO_TOOLS: (0.0000248, 0.0000144),
            GO_THINK: (0.0000296, 0.0000544),
            GO_CACHE: (0.0014644, 0.000058),
        },
    ),
    "call_response.tools": Divergence(
        "as tool_calls",
        {
            OA_NOFIN: ([], [("get_weather", _WEATHER_ARGS, "call_weather_1")]),
            AN_NOARGS: ([], [("get_status", {}, "toolu_status_1")]),
            GO_TOOLS: (
                [(n, a, None) for n, a in _GO_CALLS],
                [(n, a, f"{n}_{i}") for i, (n, a) in enumerate(_GO_CALLS)],
            ),
        },
    ),
}


def divergence_for(key: str, scenario: Scenario) -> tuple[Any, Any] | None:
    """(mirascope, streamrec) pinned for ``key`` in ``scenario``; None where they must agree."""
    divergence = DIVERGENCES.get(key)
    if divergence is None:
        return None
    if scenario.name in divergence.values:
        return divergence.values[scenario.name]
    if scenario.twin in divergence.values:
        return (ANY, ANY)  # the shared upstream's wire: same divergence, values not pinned
    return None


def _round_cost(value: Any) -> Any:
    return None if value is None else round(float(Decimal(str(value))), 12)


def _tool_name(schema: Any) -> Any:
    if isinstance(schema, dict):
        function = schema.get("function")
        if isinstance(function, dict):
            return function.get("name")
        return schema.get("name")
    return schema


def _without_transport(kwargs: Any) -> Any:
    if not isinstance(kwargs, dict):
        return kwargs
    return {k: v for k, v in kwargs.items() if k not in ("stream", "stream_options")}


# attribute -> (why, normalisation applied to both sides before comparing)
NORMALIZED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "cost": ("Mirascope returns a float, streamrec an exact Decimal", _round_cost),
    "call_response.cost": ("float vs Decimal", _round_cost),
    "tool_types": (
        "Mirascope keeps the tool classes, streamrec the schemas sent",
        lambda v: [_tool_name(t) for t in v or []],
    ),
    "call_kwargs": (
        "Mirascope adds stream_options.include_usage to call_kwargs; streamrec keeps the "
        "transport flags (stream, stream_options) out of call_kwargs",
        _without_transport,
    ),
}

COMPARED = (
    "content",
    "model",
    "id",
    "provider",
    "finish_reasons",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "cost",
    "cost_metadata",
    "messages",
    "call_params",
    "call_kwargs",
    "prompt_template",
    "fn_args",
    "dynamic_config",
    "metadata",
    "user_message_param",
    "message_param",
    "tool_types",
    "start_time",
    "end_time",
    "tool_calls",
    "tool_message_params",
    "call_response.content",
    "call_response.model",
    "call_response.id",
    "call_response.finish_reasons",
    "call_response.input_tokens",
    "call_response.cached_tokens",
    "call_response.output_tokens",
    "call_response.cost",
    "call_response.tools",
)


# ------------------------------------------------------------------ the two sides


@pytest.fixture(scope="session")
def mirascope_py() -> Path:
    return mirascope_python()  # fails (not skips) when the venv cannot be built


@pytest.fixture(scope="module")
def conformance_upstream() -> Iterator[Upstream]:
    """The shared local upstream (tests/upstream.py), an instance of our own."""
    with Upstream() as up:
        yield up


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    """The stdlib-only stub server, for the runner on its own."""
    with StubUpstream() as up:
        yield up


def _sse(event: str | None, data: str) -> bytes:
    return ((f"event: {event}\n" if event else "") + f"data: {data}\n\n").encode()


def register(up: Upstream, scenario: Scenario) -> str:
    """Make the scenario's wire selectable on ``up``; the header value that selects it.

    The wire is computed once and replayed to both callers, so Mirascope and streamrec
    read the same bytes even where a shared scenario draws fresh ids per request.
    """
    frozen: list[Any] = []

    def frames(request: dict[str, Any]) -> list[Any]:
        if not frozen:
            if scenario.shared:
                frozen.extend(SHARED_SCENARIOS[scenario.shared].frames(request))
            else:
                wire = stub_upstream.frames(scenario.frames_name, request)
                frozen.extend(Frame(_sse(event, data)) for event, data in wire)
        return list(frozen)

    name = f"conformance/{scenario.name}/{uuid.uuid4().hex[:8]}"
    up.register(UpstreamScenario(name=name, api=scenario.api, frames=frames))
    return name


def run_mirascope(py: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Run the runner in the Mirascope venv; its JSON output (fails with stderr shown)."""
    proc = subprocess.run(
        [str(py), str(RUNNER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=RUNNER_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, (
        f"mirascope_runner exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
        f"\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
    out: dict[str, Any] = json.loads(proc.stdout)
    assert out["error"] is None, out["error"]
    return out


def runner_request(scenario: Scenario, base_url: str, selector: str) -> dict[str, Any]:
    return {
        "provider": scenario.provider,
        "base_url": base_url + ("/v1" if scenario.provider == "openai" else ""),  # google too
        "model": scenario.model,
        "prompt": scenario.prompt,
        "tools": list(scenario.tools),
        "call_params": dict(scenario.call_params),
        "headers": {SCENARIO_HEADER: selector},
        **({"messages": [dict(m) for m in scenario.messages]} if scenario.messages else {}),
    }


def run_streamrec(
    scenario: Scenario,
    base_url: str,
    selector: str,
    call_kwargs: dict[str, Any],
    fn_args: Any,
    prompt_template: Any,
    tmp_path: Path,
) -> tuple[Any, Any]:
    """The same request through the current SDK, recorded; (stored state, live state)."""
    import streamrec

    headers = {SCENARIO_HEADER: selector}
    request = {**call_kwargs, "stream": True}
    if scenario.provider == "google":
        from google import genai
        from google.genai import types

        request = dict(call_kwargs)  # the method, not a flag, makes it a stream
        options = types.HttpOptions(base_url=base_url, headers=headers)
        client = genai.Client(api_key="g-test", http_options=options)
        source = client.models.generate_content_stream(**request)
    elif scenario.provider == "openai":
        from openai import OpenAI

        client: Any = OpenAI(
            base_url=base_url + "/v1", api_key="sk-test", default_headers=headers, max_retries=0
        )
        source = client.chat.completions.create(**request)
    else:
        from anthropic import Anthropic

        client = Anthropic(
            base_url=base_url, api_key="sk-ant-test", default_headers=headers, max_retries=0
        )
        source = client.messages.create(**request)
    with streamrec.Store(tmp_path / "streamrec.db") as store:
        recorded = streamrec.record(
            source,
            api=scenario.api,
            request=request,
            store=store,
            strict=True,
            prompt_template=prompt_template,
            fn_args=fn_args,
        )
        for _chunk in recorded:
            pass
        live = recorded.state
        stored = store.state(recorded.stream_id)
    client.close()
    return stored, live


def mirascope_view(out: dict[str, Any]) -> dict[str, Any]:
    view = {key: out[key] for key in COMPARED if key in out}
    view["tool_calls"] = [(t["name"], t["args"], t["tool_call_id"]) for t in out["tools"]]
    response = out["call_response"]
    for key in (
        "content",
        "model",
        "id",
        "finish_reasons",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "cost",
    ):
        view[f"call_response.{key}"] = response[key]
    view["call_response.tools"] = [(t["name"], t["args"], t["id"]) for t in response["tools"]]
    return view


def _dump(value: Any) -> Any:
    return json.loads(
        json.dumps(
            value,
            default=lambda o: o.model_dump(mode="json") if hasattr(o, "model_dump") else str(o),
        )
    )


def streamrec_view(state: Any) -> dict[str, Any]:
    view = {
        key: getattr(state, key)
        for key in COMPARED
        if "." not in key and key not in ("tool_calls", "tool_message_params")
    }
    view["cost"] = state.cost
    done = [t for t in state.tool_calls if t.complete]
    view["tool_calls"] = [(t.name, t.args, t.id) for t in done]
    view["tool_message_params"] = (
        _dump(state.tool_message_params([(t, "output") for t in done])) if done else []
    )
    response = state.construct_call_response()
    for key in (
        "content",
        "model",
        "id",
        "finish_reasons",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "cost",
    ):
        view[f"call_response.{key}"] = getattr(response, key)
    view["call_response.tools"] = [(t.name, t.args, t.id) for t in response.tools]
    return {k: _dump(v) if k not in ("cost", "call_response.cost") else v for k, v in view.items()}


def _norm(key: str, value: Any) -> Any:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        value = [list(v) if isinstance(v, tuple) else v for v in value]
    if key in NORMALIZED:
        value = NORMALIZED[key][1](value)
    return value


def _is_epoch_ms(value: Any) -> bool:
    # 2001-09-09 .. 2286-11-20 in milliseconds: seconds or nanoseconds fall outside
    return isinstance(value, (int, float)) and 1e12 <= value < 1e13


# ------------------------------------------------------------------ tests


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_streamrec_state_matches_mirascope(
    name: str, mirascope_py: Path, conformance_upstream: Upstream, tmp_path: Path
) -> None:
    upstream = conformance_upstream
    scenario = SCENARIOS[name]
    selector = register(upstream, scenario)
    out = run_mirascope(mirascope_py, runner_request(scenario, upstream.base_url, selector))
    assert out["mirascope_version"] == MIRASCOPE_VERSION
    stored, live = run_streamrec(
        scenario,
        upstream.base_url,
        selector,
        out["call_kwargs"],
        out["fn_args"],
        out["prompt_template"],
        tmp_path,
    )

    # both sides sent the very same request body, so they read the same wire
    bodies = [r.body for r in upstream.requests if r.header(SCENARIO_HEADER) == selector]
    assert len(bodies) == 2, bodies
    assert bodies[0] == bodies[1]

    ours, theirs = streamrec_view(stored), mirascope_view(out)
    assert streamrec_view(live) | {"start_time": 0, "end_time": 0} == ours | {
        "start_time": 0,
        "end_time": 0,
    }

    mismatches: list[str] = []
    for key in COMPARED:
        mine, expected = _norm(key, ours[key]), _norm(key, theirs[key])
        pinned = divergence_for(key, scenario)
        if pinned is not None:
            pinned_theirs, pinned_ours = pinned
            if pinned_theirs is not ANY and expected != _norm(key, pinned_theirs):
                mismatches.append(
                    f"{key}: Mirascope gave {expected!r}, the doc says {pinned_theirs!r}"
                )
            if pinned_ours is not ANY and mine != _norm(key, pinned_ours):
                mismatches.append(
                    f"{key}: streamrec gave {mine!r}, the documented value is {pinned_ours!r}"
                )
            continue
        if mine != expected:
            mismatches.append(f"{key}: streamrec {mine!r} != Mirascope {expected!r}")
    assert not mismatches, f"{name}:\n  " + "\n  ".join(mismatches)

    # time: both in milliseconds since the epoch, and ordered
    for side in (ours, theirs):
        assert _is_epoch_ms(side["start_time"]) and _is_epoch_ms(side["end_time"]), side
        assert side["end_time"] >= side["start_time"]
    if name == GO_TOOLS:  # Mirascope's own message_param: a "" text, then the SDK's calls
        parts = theirs["message_param"]["parts"]
        assert parts[0] == {"text": ""}
        calls = [(p["function_call"]["name"], p["function_call"]["args"]) for p in parts[1:]]
        assert calls == _GO_CALLS
    if scenario.provider == "google":  # GoogleStream.thinking: the thought parts' text
        assert out["provider_extra"]["thinking"] == stored.thinking
        assert stored.thinking == (_GO_THOUGHT if name == GO_THINK else "")
    if OA_TOOLS in (name, scenario.twin):  # unpinned message_param divergence: only content
        assert theirs["message_param"]["content"] == "" and ours["message_param"]["content"] is None
        assert theirs["message_param"] | {"content": None} == ours["message_param"]


def test_runner_prints_every_basestream_attribute(mirascope_py: Path, stub: StubUpstream) -> None:
    """The runner alone, against the stdlib stub: the output shape the comparison relies on."""
    out = run_mirascope(mirascope_py, runner_request(SCENARIOS[OA_TOOLS], stub.base_url, OA_TOOLS))
    runner_keys = _runner_output_keys()
    assert list(out) == runner_keys
    assert out["content"] == "" and out["model"] == OPENAI_MODEL
    assert [(t["name"], t["args"]) for t in out["tools"]] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_time", {"timezone": "Europe/Paris"}),
    ]
    assert out["tool_types"] == ["get_weather", "get_time"]
    assert out["start_time_present"] and out["end_time_present"]
    assert out["tool_message_params"] == [
        {
            "role": "tool",
            "content": "output",
            "tool_call_id": "call_weather_1",
            "name": "get_weather",
        },
        {"role": "tool", "content": "output", "tool_call_id": "call_time_2", "name": "get_time"},
    ]


def test_mirascope_venv_is_cached(mirascope_py: Path) -> None:
    assert mirascope_python() == mirascope_py
    proc = subprocess.run(
        [
            str(mirascope_py),
            "-c",
            "import openai, anthropic; from importlib.metadata import version; "
            "print(version('mirascope'), openai.__version__, anthropic.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    mirascope_v, openai_v, anthropic_v = proc.stdout.split()
    assert mirascope_v == MIRASCOPE_VERSION
    assert int(openai_v.split(".")[0]) < 2 and anthropic_v.startswith("0.")


def _runner_output_keys() -> list[str]:
    # read OUTPUT_KEYS from the runner's source: it cannot be imported here (it is
    # written for the Mirascope venv) and must not drift from the test's reading of it
    import ast

    tree = ast.parse(RUNNER.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "OUTPUT_KEYS" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError("OUTPUT_KEYS not found in mirascope_runner.py")


def _doc_table(heading: str) -> set[str]:
    """Attribute names (first column, in backticks) of the table under ``## heading``."""
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{DOC.name} has no '## {heading}' section"
    names = set()
    for line in match.group(1).splitlines():
        cell = re.match(r"^\|\s*`([^`]+)`", line)
        if cell:
            names.add(cell.group(1))
    return names


def test_doc_lists_the_same_divergences() -> None:
    assert _doc_table("Divergences") == set(DIVERGENCES)
    assert _doc_table("Compared after normalisation") == set(NORMALIZED)
    assert set(DIVERGENCES) <= set(COMPARED) and set(NORMALIZED) <= set(COMPARED)
