"""examples/chatapp proves the CI story end to end: its committed recordings replay offline;
recorded afresh in ``once`` against local upstreams, it then passes in ``none`` with the
upstreams stopped and the network blocked, in any order and one test at a time; and a
re-recorded test gets its new answer, the other tests' recordings untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.upstream import Scenario, Upstream, _chat_text

EXAMPLE = Path(__file__).parent.parent / "examples" / "chatapp"
TESTS = ["test_summary", "test_claude_answers", "test_both_providers"]


def _run(
    cwd: Path, *args: str, upstream: Upstream | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_BASE_URL", "_API_KEY"))}
    env = {k: v for k, v in env.items() if not k.startswith(("STREAMREC_", "PYTEST_"))}
    if upstream is not None:  # the program's own base URLs: recording goes there
        env["OPENAI_BASE_URL"] = upstream.openai_base_url
        env["ANTHROPIC_BASE_URL"] = upstream.anthropic_base_url
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _ok(done: subprocess.CompletedProcess[str], passed: int) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{passed} passed" in done.stdout, done.stdout
    return done.stdout


@pytest.mark.slow
def test_the_example_project_records_once_then_runs_offline(tmp_path: Path) -> None:
    project = tmp_path / "chatapp"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    recordings = project / "tests" / "recordings" / "test_app"

    # as committed: offline, no key, network blocked
    _ok(_run(project, "--block-network"), 3)

    shutil.rmtree(project / "tests" / "recordings")
    with Upstream() as upstream:
        out = _ok(_run(project, "--record-mode=once", upstream=upstream), 3)
        assert len(upstream.requests) == 4
    assert "recordings written" in out
    assert sorted(p.stem for p in recordings.glob("*.jsonl")) == sorted(TESTS)
    before = {p.name: p.read_bytes() for p in recordings.glob("*.jsonl")}

    # the upstream is gone: none mode, network blocked, any order, one at a time
    _ok(_run(project, "--block-network"), 3)
    reverse = [f"tests/test_app.py::{name}" for name in reversed(TESTS)]
    _ok(_run(project, "--block-network", *reverse), 3)
    _ok(_run(project, "--block-network", "-k", "test_claude_answers"), 1)
    assert {p.name: p.read_bytes() for p in recordings.glob("*.jsonl")} == before

    # the provider now answers differently: re-record one test, and it gets the new answer
    with Upstream() as upstream:
        upstream.use(
            Scenario(
                "reworded",
                "openai.chat.completions",
                lambda req: _chat_text(
                    {**req, "messages": [{"role": "user", "content": "streamrec, reworded"}]}
                ),
            )
        )
        _ok(_run(project, "--record-mode=rewrite", "-k", "test_summary", upstream=upstream), 1)
    out = _ok(_run(project, "--block-network", "-k", "test_summary", "-s"), 1)
    assert "summary: Echo: streamrec, reworded" in out
    after = {p.name: p.read_bytes() for p in recordings.glob("*.jsonl")}
    assert after["test_summary.jsonl"] != before["test_summary.jsonl"]
    assert {k: v for k, v in after.items() if k != "test_summary.jsonl"} == {
        k: v for k, v in before.items() if k != "test_summary.jsonl"
    }
