"""``@streamrec.recorded`` over Mirascope 1.25.7 calls, in Mirascope's own venv (old SDKs):
recorded once against the local upstream, then replayed offline into Mirascope's genuine
``OpenAIStream`` / ``AnthropicStream`` / ``GoogleStream``, with no key, no upstream request,
the same content, usage and tool calls.

Mirascope's google provider builds a google-genai ``Client`` per call when it is given none,
and google-genai closes a ``Client`` when it is collected: Mirascope keeps only the bound
``generate_content_stream``, so that stream fails ("Cannot send a request, as the client has
been closed"), with or without streamrec. The google call here hands Mirascope a client from
its dynamic config, built inside the call, while ``recorded`` points the SDKs at itself."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from importlib.metadata import requires
from pathlib import Path

import pytest

from streamrec import Store
from tests.upstream import Upstream

from .mirascope_env import REPO_ROOT, _file_lock, mirascope_python

pytestmark = pytest.mark.slow  # builds (once) the Mirascope venv under .cache/

SCRIPT = textwrap.dedent(
    """
    import json, sys

    from google.genai import Client
    from google.genai.types import HttpOptions
    from mirascope.core import BaseTool, anthropic, google, openai, prompt_template

    import streamrec

    db, mode = sys.argv[1], sys.argv[2]

    @streamrec.recorded(mode=mode, store=db)
    @openai.call("gpt-4o-mini", stream=True)
    def recommend(genre: str) -> str:
        return f"Recommend a {genre} book"

    @streamrec.recorded(mode=mode, store=db)
    @anthropic.call("claude-haiku-4-5", stream=True, call_params={"max_tokens": 64})
    def describe(genre: str) -> str:
        return f"Describe {genre} books"

    class get_weather(BaseTool):
        '''Get the current weather in a city.'''

        city: str
        unit: str | None = None

        def call(self) -> str:
            return f"18C in {self.city}"

    class get_time(BaseTool):
        '''Get the current time in a time zone.'''

        timezone: str

        def call(self) -> str:
            return "12:00"

    @streamrec.recorded(mode=mode, store=db)
    @google.call("gemini-2.0-flash", stream=True)
    @prompt_template("Summarize {genre} books")
    def summarize(genre: str) -> google.GoogleDynamicConfig:
        return {"client": Client()}  # built in the call: pointed at streamrec, kept alive

    @streamrec.recorded(mode=mode, store=db)
    @google.call("gemini-2.0-flash", stream=True, tools=[get_weather, get_time])
    @prompt_template("What is the weather in {city}?")
    def weather(city: str) -> google.GoogleDynamicConfig:
        # the local upstream's Gemini function-call wire (recording forwards the header)
        options = HttpOptions(headers={"x-upstream-scenario": "gemini.tools"})
        return {"client": Client(http_options=options)}

    out = {}
    streams = (
        ("openai", recommend("fantasy")),
        ("anthropic", describe("mystery")),
        ("google", summarize("travel")),
        ("google_tools", weather("Paris")),
    )
    for name, stream in streams:
        text, tools = "", []
        for chunk, tool in stream:
            text += chunk.content
            if tool is not None:
                tools.append([tool._name(), tool.args])
        out[name] = {
            "type": type(stream).__name__,
            "text": text,
            "content": stream.content,
            "input_tokens": stream.input_tokens,
            "output_tokens": stream.output_tokens,
            "finish_reasons": [str(getattr(r, "value", r)) for r in stream.finish_reasons or []],
            "cost": stream.cost,
            "tools": tools,
            "message_param": json.loads(json.dumps(stream.message_param, default=lambda o: o.model_dump(mode="json"))),
        }
    print(json.dumps(out))
    """
)


def _with_streamrec_deps(python: Path) -> Path:
    """streamrec's own dependencies in the Mirascope venv (streamrec itself comes from the
    source tree on PYTHONPATH; its optional SDK extras stay Mirascope's old ones)."""
    probe = [str(python), "-c", "import sqlalchemy, alembic, uuid_utils, genai_prices, httpx_sse, starlette, uvicorn"]  # fmt: skip
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    deps = [r for r in requires("streamrec") or [] if "extra" not in r]
    with _file_lock(python.parent.parent.parent / "mirascope-streamrec-deps.lock", 900):
        if subprocess.run(probe, capture_output=True).returncode != 0:
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *deps],
                capture_output=True, text=True, timeout=900,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
    return python


def _run(
    python: Path, tmp_path: Path, db: str, mode: str, env: dict[str, str]
) -> dict[str, object]:
    script = tmp_path / "mirascope_app.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [str(python), str(script), db, mode],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_recorded_records_then_replays_into_genuine_mirascope_streams(
    upstream: Upstream, tmp_path: Path
) -> None:
    python = _with_streamrec_deps(mirascope_python())
    db = f"sqlite:///{tmp_path / 'mirascope.db'}"
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_BASE_URL", "_API_KEY"))}
    base.pop("STREAMREC_DB", None)
    live_env = {
        **base,
        "OPENAI_BASE_URL": upstream.openai_base_url,
        "ANTHROPIC_BASE_URL": upstream.anthropic_base_url,
        "GOOGLE_GEMINI_BASE_URL": upstream.google_base_url,
        "OPENAI_API_KEY": "sk-live",
        "ANTHROPIC_API_KEY": "sk-ant-live",
        "GOOGLE_API_KEY": "g-live",
    }
    live = _run(python, tmp_path, db, "record", live_env)
    assert len(upstream.requests) == 4
    upstream.clear_requests()
    offline = _run(python, tmp_path, db, "replay", base)  # no key, no base URL of its own
    assert upstream.requests == []
    assert offline == live
    assert offline["openai"] == {**live["openai"], "type": "OpenAIStream"}  # type: ignore[dict-item]
    assert offline["anthropic"]["type"] == "AnthropicStream"  # type: ignore[index]
    assert offline["openai"]["content"] == "Echo: Recommend a fantasy book"  # type: ignore[index]
    gemini, tools = offline["google"], offline["google_tools"]
    assert isinstance(gemini, dict) and isinstance(tools, dict)
    assert gemini["type"] == tools["type"] == "GoogleStream"
    assert gemini["content"] == gemini["text"] == "Echo: Summarize travel books"
    assert gemini["finish_reasons"] == ["STOP"]
    # Mirascope's own reading of the wire (it adds up Gemini's cumulative usage; see
    # docs/mirascope-divergences.md), replayed the same
    assert (gemini["input_tokens"], gemini["output_tokens"]) == (32, 20)  # 4 chunks: 4 x 8; 2+4+6+8
    assert gemini["cost"] == pytest.approx(0.0000112)
    assert tools["tools"] == [
        ["get_weather", {"city": "Paris", "unit": "celsius"}],
        ["get_time", {"timezone": "Europe/Paris"}],
    ]
    assert [p.get("function_call", {}).get("name") for p in tools["message_param"]["parts"]] == [
        None,
        "get_weather",
        "get_time",
    ]
    with Store(db) as store:
        assert sorted(r["api"] for r in store.streams()) == [
            "anthropic.messages",
            "google.generate_content",
            "google.generate_content",
            "openai.chat.completions",
        ]
