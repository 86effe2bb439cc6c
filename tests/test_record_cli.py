"""``streamrec record -- CMD`` and ``streamrec proxy``: unmodified programs recorded end to end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from streamrec import Store
from streamrec.cli import main
from tests.sdk_clients import SECRETS
from tests.upstream import Upstream

# a program that knows nothing of streamrec: the SDKs find their base URLs in the environment
SCRIPT = textwrap.dedent(
    """
    import sys

    import anthropic
    import openai
    from google import genai

    prompt = sys.argv[1]
    with openai.OpenAI(api_key="sk-test-openai-SECRET", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},
        )
        print("openai:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    if "--all" in sys.argv:
        with anthropic.Anthropic(api_key="sk-ant-test-SECRET", max_retries=0) as client:
            with client.messages.stream(
                model="claude-haiku-4-5", max_tokens=64,
                messages=[{"role": "user", "content": prompt}],
            ) as stream:
                print("anthropic:", "".join(stream.text_stream))
        with genai.Client(api_key="AIza-test-google-SECRET") as client:
            chunks = client.models.generate_content_stream(model="gemini-2.5-flash", contents=prompt)
            print("google:", "".join(c.text or "" for c in chunks))
    sys.exit(int(sys.argv[2]))
    """
)

SUMMARY = re.compile(
    r"^streamrec: (?P<id>[0-9a-f-]{36})  (?P<model>\S+)  (?P<status>\w+)  (?P<chunks>\d+) chunks  "
    r"(?P<tokens>\d+ in / \d+ out tokens)  (?P<cost>\$\d+\.\d+)$"
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/record.db"


def _upstream_flags(upstream: Upstream) -> list[str]:
    return [
        f"--upstream=openai={upstream.openai_base_url}",
        f"--upstream=anthropic={upstream.base_url}",
        f"--upstream=google={upstream.base_url}",
    ]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_record_runs_the_command_and_exits_with_its_code(
    db: str, script: Path, upstream: Upstream
) -> None:
    result = run(
        "--db", db, "record", "--name", "app", "--tag", "ci", "--tag", "cli",
        *_upstream_flags(upstream), "--", sys.executable, str(script), "hello cli", "3",
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    [line] = result.stderr.splitlines()
    found = SUMMARY.match(line)
    assert found, line
    assert found["model"] == "gpt-4o-mini-2024-07-18"
    assert found["status"] == "completed"
    with Store(db) as store:
        [row] = store.streams()
        assert row["stream_id"] == found["id"]
        assert (row["name"], json.loads(row["tags"])) == ("app", ["ci", "cli"])
        assert row["chunk_count"] == int(found["chunks"])
        assert store.state(found["id"]).content == "Echo: hello cli"
    assert upstream.requests[0].header("authorization") == "Bearer sk-test-openai-SECRET"


def test_record_end_to_end_in_a_subprocess_with_all_three_sdks(
    db: str, script: Path, upstream: Upstream, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_BASE_URL")}
    env["STREAMREC_UPSTREAM_OPENAI"] = upstream.openai_base_url  # the environment override
    command = [
        sys.executable, "-c", "from streamrec.cli import main; main()", "--db", db, "record",
        f"--upstream=anthropic={upstream.base_url}", f"--upstream=google={upstream.base_url}",
        "--", sys.executable, str(script), "from a program", "0", "--all",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "openai: Echo: from a program",
        "anthropic: Echo: from a program",
        "google: Echo: from a program",
    ]
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr
    ids = []
    for line in lines:
        found = SUMMARY.match(line)
        assert found and found["status"] == "completed", line
        ids.append(found["id"])
    # the state as `streamrec show --json` gives it, from the stored events alone
    apis = []
    for stream_id in ids:
        shown = run("--db", db, "show", stream_id, "--json")
        assert shown.exit_code == 0, shown.stderr
        state = json.loads(shown.stdout)
        assert state["content"] == "Echo: from a program"
        assert state["status"] == "completed"
        assert state["input_tokens"] and state["output_tokens"] and state["cost"]
        apis.append(state["api"])
    assert apis == ["openai.chat.completions", "anthropic.messages", "google.generate_content"]
    with Store(db) as store:
        assert store.verify() == []
        stored = "".join(e.payload for i in ids for e in store.events(i))
    assert not any(secret in stored for secret in SECRETS)


def test_a_command_that_records_nothing_says_so(db: str) -> None:
    result = run("--db", db, "record", "--", sys.executable, "-c", "print('no llm here')")
    assert result.exit_code == 0
    assert result.stderr == "streamrec: no LLM calls were recorded\n"


def test_a_command_killed_by_a_signal_exits_as_a_shell_says(db: str) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = run("--db", db, "record", "--", sys.executable, "-c", code)
    assert result.exit_code == 128 + signal.SIGTERM


def test_a_missing_command_is_127_with_one_line(db: str) -> None:
    result = run("--db", db, "record", "--", "no-such-program-streamrec")
    assert result.exit_code == 127
    assert result.stderr == "streamrec: error: command not found: no-such-program-streamrec\n"


@pytest.mark.parametrize(
    "args",
    [
        ["record"],
        ["record", "--upstream", "mistral=http://x", "--", "true"],
        ["proxy", "--upstream", "openai=nope"],
    ],
)
def test_usage_errors_exit_2(db: str, args: list[str]) -> None:
    result = run("--db", db, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_proxy_runs_until_interrupted(db: str, upstream: Upstream, tmp_path: Path) -> None:
    command = [
        sys.executable, "-c", "from streamrec.cli import main; main()", "--db", db, "proxy",
        "--name", "standalone", f"--upstream=openai={upstream.openai_base_url}",
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    ) as proxy:
        try:
            assert proxy.stdout is not None and proxy.stderr is not None
            banner = proxy.stdout.readline()
            assert banner.startswith("streamrec proxy on http://127.0.0.1:"), banner
            exports = dict(
                proxy.stdout.readline().strip().removeprefix("export ").split("=", 1)
                for _ in range(3)
            )
            base = exports["OPENAI_BASE_URL"]
            assert base.endswith("/openai")
            assert set(exports) == {
                "OPENAI_BASE_URL",
                "ANTHROPIC_BASE_URL",
                "GOOGLE_GEMINI_BASE_URL",
            }
            body = {
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "standalone"}],
                "stream_options": {"include_usage": True},
            }
            response = httpx.post(base + "/chat/completions", json=body, timeout=30)
            assert response.status_code == 200
            live = proxy.stderr.readline()  # printed as the stream ends
            found = SUMMARY.match(live.strip())
            assert found and found["id"] == response.headers["x-streamrec-stream-id"], live
        finally:
            proxy.send_signal(signal.SIGINT)
            _, err = proxy.communicate(timeout=30)
    assert proxy.returncode == 0, err
    assert err.strip().endswith("streamrec proxy stopped; 1 call(s) recorded")
    with Store(db) as store:
        [row] = store.streams()
        assert (row["name"], row["status"]) == ("standalone", "completed")


def test_demo_records_through_the_proxy(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "STREAMREC_UPSTREAM_OPENAI"):
        monkeypatch.delenv(var, raising=False)
    result = run("--db", db, "demo")
    assert result.exit_code == 0, result.stderr
    assert "openai SDK -> streamrec proxy http://127.0.0.1:" in result.stdout
    assert "live text: 'Let me check the weather in Paris.'" in result.stdout
    assert "rebuilt state equals live state: True" in result.stdout
    with Store(db) as store:
        [row] = store.streams()
        assert (row["name"], row["status"], row["api"]) == (
            "demo",
            "completed",
            "openai.chat.completions",
        )
        # the request stored is the one the SDK sent over the wire, key removed
        started = store.events(row["stream_id"])[0].payload
        assert '"get_weather"' in started and "sk-demo" not in started
