"""Run one streamed call through Mirascope v1 and print every ``BaseStream`` attribute as JSON.

Executed by the python of the cached Mirascope venv (see ``mirascope_env.py``), never
imported by the project's own test environment: it may import only the standard
library, Mirascope and the (old) SDKs installed next to it.

Input, a JSON object on stdin::

    {
      "provider": "openai" | "anthropic" | "google",
      "base_url": "http://127.0.0.1:PORT/v1",     # the local upstream
      "model": "gpt-4o-mini",
      "prompt": "Say hello",                         # the user message
      "messages": [{"role": "user", ...}, ...],      # or a whole conversation (provider shape)
      "system": "optional system prompt",
      "prompt_template": "optional {city} template", # with "fn_args": {"city": "Paris"}
      "fn_args": {...},
      "tools": ["get_weather", {"name": ..., "description": ..., "parameters": {JSON schema}}],
      "call_params": {"max_tokens": 50, ...},
      "headers": {"x-upstream-scenario": "openai_chat.text"},
      "tool_outputs": ["output", ...],               # for tool_message_params; default "output"
      "raw_chunks": false                            # true: include each chunk's model_dump
    }

Output, one JSON object on stdout (see ``OUTPUT_KEYS``); exit 0 when the stream was
consumed, 3 when it raised (the JSON then carries ``error`` and the partial state).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import enum
import json
import sys
import traceback
from typing import Any

OUTPUT_KEYS = (
    "mirascope_version",
    "sdk_versions",
    "error",
    "chunk_count",
    "yields",
    "tools",
    # BaseStream attributes
    "content",
    "model",
    "id",
    "finish_reasons",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "cost",
    "cost_metadata",
    "provider",
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
    "tool_schemas",
    "start_time",
    "end_time",
    "start_time_present",
    "end_time_present",
    "provider_extra",
    # derived after the stream
    "call_response",
    "tool_message_params",
)

# The fixed tools the local upstream's "tools" scenarios call (tests/upstream.py's
# TOOL_CALLS). A spec given as a bare name picks one of these; a dict spec builds a
# tool from a JSON schema.
BUILTIN_TOOLS: dict[str, dict[str, Any]] = {
    "get_weather": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name."},
                "unit": {"type": "string", "description": "celsius or fahrenheit."},
            },
            "required": ["city"],
        },
    },
    "get_time": {
        "name": "get_time",
        "description": "Get the current time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "An IANA time zone."}},
            "required": ["timezone"],
        },
    },
    "get_status": {
        "name": "get_status",
        "description": "Get the service status (takes no arguments).",
        "parameters": {"type": "object", "properties": {}},
    },
}

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value`` (pydantic models dumped, anything odd stringified)."""
    if _depth > 50:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value, _depth + 1)
    if isinstance(value, bytes):
        return {"__bytes_b64__": base64.b64encode(value).decode()}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, _depth + 1) for v in value]
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), _depth + 1)
        except Exception:
            try:
                return jsonable(dump(), _depth + 1)
            except Exception:
                return repr(value)
    return str(value)


def _safe(fn: Any) -> Any:
    """``fn()`` made JSON-ready, or ``{"__error__": ...}`` when it raises."""
    try:
        return jsonable(fn())
    except Exception as exc:
        return {"__error__": f"{type(exc).__name__}: {exc}"}


def build_tool(spec: str | dict[str, Any]) -> type:
    """A Mirascope ``BaseTool`` subclass named after the spec (``_name()`` is the class name)."""
    from mirascope.core import BaseTool
    from pydantic import Field, create_model

    if isinstance(spec, str):
        if spec not in BUILTIN_TOOLS:
            raise ValueError(f"unknown builtin tool {spec!r}; known: {sorted(BUILTIN_TOOLS)}")
        spec = BUILTIN_TOOLS[spec]
    name = spec["name"]
    schema = spec.get("parameters") or {"type": "object", "properties": {}}
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for prop, prop_schema in (schema.get("properties") or {}).items():
        py_type = _JSON_TYPES.get(prop_schema.get("type", "string"), Any)
        desc = prop_schema.get("description")
        if prop in required:
            fields[prop] = (py_type, Field(..., description=desc))
        else:
            fields[prop] = (py_type | None, Field(None, description=desc))

    class _CallableTool(BaseTool):
        def call(self) -> str:  # BaseTool.call is abstract
            return f"{self._name()} called with {self.args}"

    return create_model(
        name, __base__=_CallableTool, __doc__=spec.get("description") or name, **fields
    )


def build_function(request: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The undecorated prompt function and the arguments to call it with."""
    from mirascope.core import Messages, prompt_template

    template = request.get("prompt_template")
    if template:
        fn_args = dict(request.get("fn_args") or {})
        params = ", ".join(fn_args)
        namespace: dict[str, Any] = {}
        exec(f"def prompt_fn({params}): ...", namespace)
        fn = prompt_template(template)(namespace["prompt_fn"])
        return fn, fn_args

    messages = request.get("messages")
    if messages:  # a whole conversation, in the provider's own message shape

        def prompt_fn(prompt: str) -> Any:
            return [dict(m) for m in messages]

        return prompt_fn, {"prompt": request.get("prompt", "")}

    system = request.get("system")
    if system:

        def prompt_fn(prompt: str) -> Any:
            return [Messages.System(system), Messages.User(prompt)]

    else:

        def prompt_fn(prompt: str) -> Any:
            return prompt

    return prompt_fn, {"prompt": request.get("prompt", "Hello")}


_KEEP_ALIVE: list[Any] = []


def make_stream(request: dict[str, Any]) -> Any:
    provider = request["provider"]
    model = request["model"]
    headers = dict(request.get("headers") or {})
    call_params = dict(request.get("call_params") or {})
    tools = [build_tool(spec) for spec in request.get("tools") or []] or None
    fn, fn_args = build_function(request)
    kwargs: dict[str, Any]
    if provider == "openai":
        from mirascope.core import openai as m_openai
        from openai import OpenAI

        client = OpenAI(
            base_url=request["base_url"], api_key="sk-test", default_headers=headers, max_retries=0
        )
        decorated = m_openai.call(
            model, stream=True, tools=tools, client=client, call_params=call_params
        )(fn)
    elif provider == "anthropic":
        from anthropic import Anthropic
        from mirascope.core import anthropic as m_anthropic

        client = Anthropic(
            base_url=request["base_url"],
            api_key="sk-ant-test",
            default_headers=headers,
            max_retries=0,
        )
        kwargs = {"stream": True, "tools": tools, "client": client}
        if call_params:
            kwargs["call_params"] = call_params
        decorated = m_anthropic.call(model, **kwargs)(fn)
    elif provider == "google":  # Mirascope's google provider: google-genai, GoogleStream
        from google.genai import Client
        from google.genai.types import HttpOptions
        from mirascope.core import google as m_google

        client = Client(
            api_key="g-test",
            http_options=HttpOptions(base_url=request["base_url"], headers=headers),
        )
        # google-genai's Client closes its HTTP client when collected, and Mirascope keeps
        # only the bound generate_content_stream: the stream needs the Client kept alive
        _KEEP_ALIVE.append(client)
        kwargs = {"stream": True, "tools": tools, "client": client}
        if call_params:
            kwargs["call_params"] = call_params
        decorated = m_google.call(model, **kwargs)(fn)
    else:
        raise ValueError(f"unsupported provider {provider!r} (openai | anthropic | google)")
    return decorated(**fn_args)


def describe_tool(tool: Any, index: int) -> dict[str, Any]:
    tool_call = getattr(tool, "tool_call", None)
    return {
        "name": tool._name(),
        "args": _safe(lambda: tool.args),
        "chunk_index": index,
        "tool_call_id": getattr(tool_call, "id", None),
        "tool_call": _safe(lambda: tool_call),
    }


def collect(stream: Any, request: dict[str, Any], tools: list[Any], error: Any) -> dict[str, Any]:
    """Every BaseStream attribute, read after the stream was consumed (or raised)."""
    out: dict[str, Any] = {}
    for attr in (
        "content",
        "model",
        "id",
        "finish_reasons",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "cost",
        "provider",
        "messages",
        "call_params",
        "prompt_template",
        "fn_args",
        "dynamic_config",
        "metadata",
        "user_message_param",
        "message_param",
        "start_time",
        "end_time",
    ):
        out[attr] = _safe(lambda attr=attr: getattr(stream, attr, None))
    out["cost_metadata"] = _safe(lambda: stream.cost_metadata.model_dump(mode="json"))
    out["call_kwargs"] = _safe(
        lambda: {k: v for k, v in dict(stream.call_kwargs).items() if k != "client"}
    )
    out["tool_types"] = _safe(lambda: [t._name() for t in (stream.tool_types or [])])
    out["tool_schemas"] = _safe(lambda: [t.tool_schema() for t in (stream.tool_types or [])])
    out["start_time_present"] = bool(getattr(stream, "start_time", 0))
    out["end_time_present"] = bool(getattr(stream, "end_time", 0))
    out["provider_extra"] = {
        key: _safe(lambda key=key: getattr(stream, key))
        for key in ("audio_id", "thinking", "signature")
        if hasattr(stream, key)
    }

    def call_response() -> dict[str, Any]:
        resp = stream.construct_call_response()
        return {
            "content": resp.content,
            "finish_reasons": jsonable(resp.finish_reasons),
            "id": resp.id,
            "model": resp.model,
            "usage": jsonable(resp.usage),
            "input_tokens": resp.input_tokens,
            "cached_tokens": resp.cached_tokens,
            "output_tokens": resp.output_tokens,
            "cost": resp.cost,
            "message_param": jsonable(resp.message_param),
            "tools": [
                {
                    "name": t._name(),
                    "args": jsonable(t.args),
                    "id": getattr(t.tool_call, "id", None),
                }
                for t in (resp.tools or [])
            ],
            "response": jsonable(resp.response),
        }

    out["call_response"] = _safe(call_response) if error is None else None
    outputs = list(request.get("tool_outputs") or [])
    pairs = [(t, outputs[i] if i < len(outputs) else "output") for i, t in enumerate(tools)]
    out["tool_message_params"] = _safe(lambda: stream.tool_message_params(pairs)) if pairs else []
    return out


def versions() -> tuple[str | None, dict[str, str | None]]:
    from importlib import metadata

    def v(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    dists = ("openai", "anthropic", "google-genai", "pydantic", "httpx")
    return v("mirascope"), {d: v(d) for d in dists}


def run(request: dict[str, Any]) -> tuple[dict[str, Any], int]:
    mirascope_version, sdk_versions = versions()
    stream = make_stream(request)
    raw = bool(request.get("raw_chunks"))
    yields: list[dict[str, Any]] = []
    tools: list[Any] = []
    tool_rows: list[dict[str, Any]] = []
    error: dict[str, Any] | None = None
    try:
        for index, (chunk, tool) in enumerate(stream):
            row: dict[str, Any] = {
                "index": index,
                "content": _safe(lambda c=chunk: c.content),
                "finish_reasons": _safe(lambda c=chunk: c.finish_reasons),
                "tool": tool._name() if tool is not None else None,
            }
            if raw:
                row["chunk"] = _safe(lambda c=chunk: c.chunk)
            yields.append(row)
            if tool is not None:
                tools.append(tool)
                tool_rows.append(describe_tool(tool, index))
    except Exception as exc:
        error = {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exc(limit=8),
        }
    out: dict[str, Any] = {
        "mirascope_version": mirascope_version,
        "sdk_versions": sdk_versions,
        "error": error,
        "chunk_count": len(yields),
        "yields": yields,
        "tools": tool_rows,
    }
    out.update(collect(stream, request, tools, error))
    return {key: out.get(key) for key in OUTPUT_KEYS}, (0 if error is None else 3)


def main() -> int:
    raw_in = sys.stdin.read()
    try:
        request = json.loads(raw_in)
    except ValueError as exc:
        print(f"mirascope_runner: stdin is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(request, dict) or "provider" not in request or "base_url" not in request:
        print("mirascope_runner: need a JSON object with provider and base_url", file=sys.stderr)
        return 2
    out, code = run(request)
    sys.stdout.write(json.dumps(out, default=str, indent=None, sort_keys=False))
    sys.stdout.write("\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
