"""``@streamrec.recorded`` over Mirascope 1.25.7 calls, in Mirascope's own venv (old SDKs):
recorded once against the local upstream, then replayed offline into Mirascope's genuine
``OpenAIStream`` / ``AnthropicStream``, with no key, no upstream request, the same content."""

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

    from mirascope.core import anthropic, openai

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

    out = {}
    for name, stream in (("openai", recommend("fantasy")), ("anthropic", describe("mystery"))):
        text = "".join(chunk.content for chunk, _ in stream)
        out[name] = {
            "type": type(stream).__name__,
            "text": text,
            "content": stream.content,
            "input_tokens": stream.input_tokens,
            "output_tokens": stream.output_tokens,
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
        "OPENAI_API_KEY": "sk-live",
        "ANTHROPIC_API_KEY": "sk-ant-live",
    }
    live = _run(python, tmp_path, db, "record", live_env)
    assert len(upstream.requests) == 2
    upstream.clear_requests()
    offline = _run(python, tmp_path, db, "replay", base)  # no key, no base URL of its own
    assert upstream.requests == []
    assert offline == live
    assert offline["openai"] == {**live["openai"], "type": "OpenAIStream"}  # type: ignore[dict-item]
    assert offline["anthropic"]["type"] == "AnthropicStream"  # type: ignore[index]
    assert offline["openai"]["content"] == "Echo: Recommend a fantasy book"  # type: ignore[index]
    with Store(db) as store:
        assert sorted(r["api"] for r in store.streams()) == [
            "anthropic.messages",
            "openai.chat.completions",
        ]
