"""``streamrec replay --serve -- CMD``: a program recorded once runs again offline, unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_record_cli import SCRIPT
from tests.upstream import Upstream

CLI = [sys.executable, "-m", "streamrec"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith("_BASE_URL")}


@pytest.fixture
def recorded(tmp_path: Path, upstream: Upstream) -> tuple[str, Path]:
    db = f"sqlite:///{tmp_path}/replay.db"
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    flags = [f"--upstream={p}={upstream.base_url}" for p in ("anthropic", "google")]
    flags.append(f"--upstream=openai={upstream.openai_base_url}")
    done = subprocess.run(
        [*CLI, "--db", db, "record", *flags, "--", sys.executable, str(script), "offline run", "0", "--all"],
        capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return db, script


def test_the_same_program_replays_offline_with_the_same_output(
    recorded: tuple[str, Path], upstream: Upstream
) -> None:
    db, script = recorded
    upstream.clear_requests()
    done = subprocess.run(
        [*CLI, "--db", db, "replay", "--serve", "--", sys.executable, str(script), "offline run", "0", "--all"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "openai: Echo: offline run",
        "anthropic: Echo: offline run",
        "google: Echo: offline run",
    ]
    assert done.stderr.count("replayed ") == 3
    assert upstream.requests == []  # nothing went live


def test_an_unrecorded_request_fails_clearly_and_never_goes_live(
    recorded: tuple[str, Path], upstream: Upstream
) -> None:
    db, script = recorded
    upstream.clear_requests()
    done = subprocess.run(
        [*CLI, "--db", db, "replay", "--serve", "--", sys.executable, str(script), "a new question", "0"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "no recording matches POST /openai/chat/completions" in done.stderr
    assert "streamrec record" in done.stderr
    assert upstream.requests == []


def test_replay_needs_one_id_without_serve(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "--db", str(tmp_path / "x.db"), "replay"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "exactly one STREAM_ID" in done.stderr


def test_an_offline_replay_needs_no_api_key(recorded: tuple[str, Path], tmp_path: Path) -> None:
    db, script = recorded
    keyless = tmp_path / "keyless.py"
    # the same program, but its clients take their keys from the environment, which has none
    keyless.write_text(
        script.read_text()
        .replace('api_key="sk-test-openai-SECRET", ', "")
        .replace('api_key="sk-ant-test-SECRET", ', "")
        .replace('api_key="AIza-test-google-SECRET"', "")
    )
    env = {k: v for k, v in _env().items() if not k.endswith("_API_KEY")}
    done = subprocess.run(
        [*CLI, "--db", db, "replay", "--serve", "--", sys.executable, str(keyless), "offline run", "0", "--all"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "openai: Echo: offline run"


def test_serve_injects_faults(recorded: tuple[str, Path]) -> None:
    db, script = recorded
    done = subprocess.run(
        [*CLI, "--db", db, "replay", "--serve", "--fail-at-chunk", "1", "--", sys.executable, str(script), "offline run", "0"],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert "APIConnectionError" in done.stderr
    assert "streamrec" not in done.stderr.split("Traceback")[0]  # the server printed nothing
