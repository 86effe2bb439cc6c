"""The plugin in a project that never asked for it (inert), and beside cassetter.

Installed, the plugin loads in every pytest session of the environment; it must
change nothing there until the session asks for streamrec. Beside cassetter (which
registers ``--record-mode`` but not ``--block-network``), pytest must start, each
flag must exist once, and ``--record-mode`` must drive both plugins or, with ini
``streamrec_shared_flags = false``, cassetter alone. pytest-recording beside
streamrec is covered in test_pytest_record_modes.py (our own environment has it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.upstream import Upstream

# a module that never mentions the plugin: what it saw at import time and in its test
PROBE = """
import json, os, socket

def state():
    return {
        "base_url": os.environ.get("OPENAI_BASE_URL"),
        "key": os.environ.get("OPENAI_API_KEY"),
        # streamrec's guard (pytest-recording's --block-network has its own, in tests)
        "guarded": "NetworkGuard" in getattr(socket.socket.connect, "__qualname__", ""),
    }

AT_IMPORT = state()

def test_probe():
    with open(os.environ["PROBE_OUT"], "a") as out:
        out.write(json.dumps({"module": __name__, "import": AT_IMPORT, "test": state()}) + "\\n")
"""
UNTOUCHED = {"base_url": "http://127.0.0.1:9/v1", "key": None, "guarded": False}


def _probes(path: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["module"]: row for row in rows}


@pytest.fixture
def probe(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPENAI_BASE_URL", UNTOUCHED["base_url"])
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("STREAMREC_RECORD_MODE", raising=False)
    out = pytester.path / "probe.jsonl"
    monkeypatch.setenv("PROBE_OUT", str(out))
    pytester.makepyfile(test_a_plain=PROBE)
    return out


def test_the_plugin_is_inert_in_a_session_that_never_asks_for_it(
    pytester: pytest.Pytester, probe: Path
) -> None:
    # pytest-recording is installed here: its --record-mode and --block-network are a VCR
    # user's everyday flags and must not wake streamrec up
    for args in ((), ("--record-mode=once", "--block-network")):
        probe.unlink(missing_ok=True)
        result = pytester.runpytest_subprocess(*args)
        result.assert_outcomes(passed=1)
        assert "streamrec:" not in result.stdout.str()
        seen = _probes(probe)["test_a_plain"]
        assert seen["import"] == seen["test"] == UNTOUCHED, args


@pytest.mark.parametrize(
    ("args", "ini", "reason"),
    [
        (("--streamrec-record-mode=none",), "", "--streamrec-record-mode"),
        # nobody else registered --record-mode: it is streamrec's, and asks for it
        (("-p", "no:recording", "--record-mode=none"), "", "--record-mode"),
        ((), "streamrec_record_mode = none", "ini streamrec_record_mode"),
        ((), "streamrec_recordings_dir = recs", "ini streamrec_recordings_dir"),
    ],
)
def test_a_streamrec_flag_or_ini_setting_starts_it_before_any_test_module_imports(
    pytester: pytest.Pytester, probe: Path, args: tuple[str, ...], ini: str, reason: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"streamrec: active ({reason}), record mode none, SDKs -> http://127.0.0.1:*"]
    )
    seen = _probes(probe)["test_a_plain"]
    assert seen["import"] == seen["test"]
    assert seen["test"]["base_url"].startswith("http://127.0.0.1:")
    assert seen["test"]["base_url"] != UNTOUCHED["base_url"]
    assert seen["test"]["key"] == "sk-streamrec-placeholder" and seen["test"]["guarded"]


def test_started_with_the_session_it_is_there_before_the_first_conftest_imports(
    pytester: pytest.Pytester, probe: Path
) -> None:
    # a conftest.py that imports the application: its module-level client reads the
    # environment before pytest_configure; an ini setting (or a flag) is read before that
    pytester.makeconftest(
        "import os, json\n"
        "AT_IMPORT = os.environ.get('OPENAI_BASE_URL')\n\n"
        "def pytest_sessionfinish(session):\n"
        "    with open(os.environ['PROBE_OUT'] + '.conftest', 'w') as out:\n"
        "        json.dump(AT_IMPORT, out)\n"
    )
    pytester.makeini("[pytest]\nstreamrec_record_mode = none\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    conftest_saw = json.loads(Path(f"{probe}.conftest").read_text())
    assert conftest_saw == _probes(probe)["test_a_plain"]["import"]["base_url"]
    assert conftest_saw != UNTOUCHED["base_url"]
    pytester.makeini("[pytest]\n")
    pytester.runpytest_subprocess("--streamrec-record-mode=none").assert_outcomes(passed=1)
    assert json.loads(Path(f"{probe}.conftest").read_text()) not in (None, UNTOUCHED["base_url"])


def test_a_module_using_the_marker_wakes_it_before_that_module_imports(
    pytester: pytest.Pytester, probe: Path
) -> None:
    # collected (and imported) first, while streamrec sleeps; then the folder whose module
    # uses the marker: streamrec starts when that folder is collected, before the import
    probe_source = (pytester.path / "test_a_plain.py").read_text()
    (pytester.path / "test_a_plain.py").unlink()
    for folder, name, source in (
        ("a", "test_a_plain.py", probe_source),
        (
            "b",
            "test_b_marked.py",
            probe_source + "\nimport pytest\n\npytestmark = pytest.mark.streamrec\n",
        ),
    ):
        (pytester.path / folder).mkdir()
        (pytester.path / folder / name).write_text(source)
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    seen = _probes(probe)
    assert seen["test_a_plain"]["import"] == UNTOUCHED
    marked = seen["test_b_marked"]
    assert marked["import"] == marked["test"] == seen["test_a_plain"]["test"]
    assert marked["import"]["base_url"] != UNTOUCHED["base_url"] and marked["import"]["guarded"]


def test_a_conftest_using_the_marker_wakes_it_before_its_folders_modules_import(
    pytester: pytest.Pytester, probe: Path
) -> None:
    # the test module never names streamrec: its folder's conftest.py marks every test
    source = (pytester.path / "test_a_plain.py").read_text()
    (pytester.path / "test_a_plain.py").unlink()
    (pytester.path / "llm").mkdir()
    (pytester.path / "llm" / "test_c_plain.py").write_text(source)
    (pytester.path / "llm" / "conftest.py").write_text(
        "import pytest\n\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.streamrec)\n"
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    seen = _probes(probe)["test_c_plain"]
    assert seen["import"] == seen["test"]
    assert seen["import"]["base_url"] != UNTOUCHED["base_url"] and seen["import"]["guarded"]


# ------------------------------------------------------------------ beside cassetter

APP = """
import openai
import pytest

CLIENT = openai.OpenAI(max_retries=0)  # built at import time, key and base URL from the env

@pytest.mark.streamrec
def test_paris():
    stream = CLIENT.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Paris?"}], stream=True
    )
    assert "Paris" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
"""

VCR = """
import os
import httpx
import pytest

@pytest.mark.vcr
def test_vcr_call():
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "VCR?"}]}
    answer = httpx.post(os.environ["VCR_URL"], json=body, timeout=10).json()
    assert "VCR" in answer["choices"][0]["message"]["content"]
"""


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cassetter_py() -> Path:
    from tests.cassetter_env import cassetter_python

    return cassetter_python()  # fails (not skips) when the venv cannot be built


def _pytest(
    python: Path, project: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow  # builds (once) the cassetter venv under .cache/
def test_beside_cassetter_pytest_starts_and_record_mode_drives_both_or_one(
    cassetter_py: Path, upstream: Upstream, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_app.py").write_text(APP)
    (project / "test_vcr.py").write_text(VCR)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_BASE_URL", "_API_KEY")) and not k.startswith(("STREAMREC_", "PYTEST_"))
    }
    env.pop("PYTHONPATH", None)
    env["VCR_URL"] = upstream.openai_base_url + "/chat/completions"
    live = {**env, "STREAMREC_UPSTREAM_OPENAI": upstream.openai_base_url}
    offline = {**env, "STREAMREC_UPSTREAM_OPENAI": f"http://127.0.0.1:{_dead_port()}"}

    # no clash at start-up: --record-mode is cassetter's, --block-network streamrec's
    help_ = _pytest(cassetter_py, project, env, "--help")
    assert help_.returncode == 0, help_.stderr
    flags = re.findall(r"^  (--[a-z-]+)", help_.stdout, re.M)
    assert flags.count("--record-mode") == flags.count("--block-network") == 1
    assert "--record-mode={none,new_episodes,all,once,rewrite,verify}" in help_.stdout
    plugins = _pytest(cassetter_py, project, env, "--co", "-v")
    assert "cassetter-0.16.1" in plugins.stdout and "streamrec-" in plugins.stdout

    # one --record-mode=once records the cassette and the LLM recording
    first = _pytest(cassetter_py, project, live, "--record-mode=once")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (project / "cassettes" / "test_vcr" / "test_vcr_call.yaml").exists()
    recording = project / "recordings" / "test_app" / "test_paris.jsonl"
    assert recording.exists()
    assert len(upstream.requests) == 2
    upstream.clear_requests()

    # offline, network blocked by streamrec's own --block-network: both replay
    again = _pytest(cassetter_py, project, offline, "--block-network")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 passed" in again.stdout and upstream.requests == []
    # cassetter's own mode `verify` is replay only for streamrec
    verify = _pytest(cassetter_py, project, offline, "--record-mode=verify", "-k", "paris")
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # --record-mode for cassetter alone: streamrec stays in none, its own flag drives it
    (project / "pytest.ini").write_text("[pytest]\nstreamrec_shared_flags = false\n")
    recording.unlink()
    alone = _pytest(cassetter_py, project, live, "--record-mode=once")
    assert alone.returncode == 1 and "1 failed, 1 passed" in alone.stdout, alone.stdout
    assert "no recording matches" in alone.stdout
    assert 'with: pytest --streamrec-record-mode=once "test_app.py::test_paris"' in alone.stdout
    own = _pytest(cassetter_py, project, live, "--streamrec-record-mode=once")
    assert own.returncode == 0, own.stdout + own.stderr
    assert recording.exists()

    # a cassetter-only session: streamrec leaves the environment alone
    (project / "test_probe.py").write_text(PROBE)
    out = tmp_path / "probe.jsonl"
    inert = _pytest(
        cassetter_py, project, {**env, "PROBE_OUT": str(out)}, "test_vcr.py", "test_probe.py"
    )
    assert inert.returncode == 0, inert.stdout + inert.stderr
    seen = _probes(out)["test_probe"]
    assert seen["import"] == seen["test"] == {"base_url": None, "key": None, "guarded": False}
