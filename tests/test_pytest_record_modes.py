"""The plugin as a pytest-recording user meets it: record modes, a recording file per test,
a guarded network, clients built at import time, placeholder keys, pytest-recording beside it.

Every case is an inner pytest run (``pytester``, in a subprocess) of a small application
whose module-level ``openai`` client takes its base URL and key from the environment.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.upstream import Upstream

APP = """
import openai
import pytest

CLIENT = openai.OpenAI(max_retries=0)  # built at import time, key and base URL from the env

def ask(prompt):
    stream = CLIENT.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

@pytest.mark.streamrec
def test_paris():
    assert "Paris" in ask("Paris?")

@pytest.mark.streamrec
def test_rome_twice(streamrec):
    assert "Rome" in ask("Rome?") and "Rome" in ask("Rome?")
    assert len(set(streamrec.served or streamrec.recorded)) == 2
"""


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "STREAMREC_UPSTREAM_OPENAI"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(test_app=APP)
    return pytester


def _recordings(pytester: pytest.Pytester) -> dict[str, list[dict[str, object]]]:
    folder = pytester.path / "recordings" / "test_app"
    return {
        p.stem: [json.loads(line) for line in p.read_text().splitlines()]
        for p in sorted(folder.glob("*.jsonl"))
    }


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", f"http://127.0.0.1:{_dead_port()}")


def test_once_records_a_file_per_test_then_none_replays_offline_in_any_selection(
    app: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the program's own OPENAI_BASE_URL is the upstream recording goes to
    monkeypatch.setenv("OPENAI_BASE_URL", upstream.openai_base_url)
    first = app.runpytest_subprocess("--record-mode=once")
    first.assert_outcomes(passed=2)
    assert len(upstream.requests) == 3
    # no key was set: the plugin's placeholder reached the upstream, never a real one
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-streamrec-placeholder"
    files = _recordings(app)
    assert sorted(files) == ["test_paris", "test_rome_twice"]
    chunks = [e for e in files["test_paris"] if e["kind"] == "chunk"]
    # a reviewer reads the chunks as JSON in a diff, not as escaped strings
    assert isinstance(chunks[0]["json"], dict) and "payload" not in chunks[0]
    assert chunks[-1]["payload"] == "[DONE]"
    assert sum(e["kind"] == "stream.started" for e in files["test_rome_twice"]) == 2

    upstream.clear_requests()
    monkeypatch.delenv("OPENAI_BASE_URL")
    _offline(monkeypatch)
    again = app.runpytest_subprocess("--block-network", "-p", "no:randomly")
    again.assert_outcomes(passed=2)
    one = app.runpytest_subprocess("-k", "rome", "--block-network")
    one.assert_outcomes(passed=1, deselected=1)
    assert upstream.requests == []
    assert _recordings(app) == files  # replay writes nothing


def test_none_fails_a_test_without_recordings_with_the_flag_that_records_it(
    app: pytest.Pytester,
) -> None:
    result = app.runpytest_subprocess("-k", "paris")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*no recording matches POST /openai/chat/completions*",
            "*this test's recordings hold no recording of that api and model*",
            '*record it into *recordings/test_app/test_paris.jsonl with: pytest --record-mode=once "test_app.py::test_paris"*',
        ]
    )
    assert not (app.path / "recordings").exists()


def test_recordings_belong_to_their_test(
    app: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    app.runpytest_subprocess("--record-mode=once", "-k", "rome").assert_outcomes(
        passed=1, deselected=1
    )
    _offline(monkeypatch)
    # test_paris finds nothing, though the store of the session holds test_rome_twice's
    result = app.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*this test's recordings hold no recording of that api*",
            "FAILED test_app.py::test_paris*",
        ]
    )


def test_rewrite_replaces_new_episodes_appends_and_unused_recordings_are_reported(
    app: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)

    def started(name: str) -> int:
        return sum(e["kind"] == "stream.started" for e in _recordings(app)[name])

    app.runpytest_subprocess("--record-mode=rewrite").assert_outcomes(passed=2)
    app.runpytest_subprocess("--record-mode=rewrite").assert_outcomes(passed=2)
    assert started("test_paris") == 1 and started("test_rome_twice") == 2  # replaced, not grown
    app.runpytest_subprocess("--record-mode=all", "-k", "paris").assert_outcomes(
        passed=1, deselected=1
    )
    assert started("test_paris") == 1

    # an extra recording the test never asks for: reported, and --streamrec-strict fails on it
    path = app.path / "recordings" / "test_app" / "test_paris.jsonl"
    other = app.path / "recordings" / "test_app" / "test_rome_twice.jsonl"
    path.write_text(path.read_text() + other.read_text())
    _offline(monkeypatch)
    report = app.runpytest_subprocess("-k", "paris")
    report.assert_outcomes(passed=1, deselected=1)
    assert report.ret == 0
    report.stdout.fnmatch_lines(["*streamrec: recordings no test used*", "*test_paris: 01*"])
    strict = app.runpytest_subprocess("-k", "paris", "--streamrec-strict")
    assert strict.ret == 1

    # new_episodes: what is recorded replays, what is new is recorded and appended
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    app.makepyfile(test_app=APP.replace('ask("Paris?")', 'ask("Paris?") + ask("Lyon?")'))
    upstream.clear_requests()
    app.runpytest_subprocess("--record-mode=new_episodes", "-k", "paris").assert_outcomes(
        passed=1, deselected=1
    )
    assert len(upstream.requests) == 1  # only Lyon went to the upstream
    assert started("test_paris") == 4


def test_a_call_that_cannot_reach_the_upstream_is_reported_not_recorded(
    app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _offline(monkeypatch)
    result = app.runpytest_subprocess("--record-mode=once", "-k", "paris")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*calls that could not reach the upstream*", "*test_paris: 01*"])
    assert not (app.path / "recordings").exists()


def test_the_guard_refuses_clients_with_an_explicit_base_url_in_none_mode(
    pytester: pytest.Pytester, upstream: Upstream
) -> None:
    pytester.makepyfile(
        test_direct=f"""
        import openai, pytest

        @pytest.mark.streamrec
        def test_real_provider():
            client = openai.OpenAI(base_url="https://api.openai.com/v1", api_key="sk", max_retries=0)
            with pytest.raises(Exception):
                client.models.list()

        def test_a_local_server_is_this_machine():
            client = openai.OpenAI(base_url="{upstream.openai_base_url}", api_key="sk", max_retries=0)
            client.chat.completions.create(model="m", messages=[])
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    # the application swallowed the error: the test fails all the same, saying why
    result.stdout.fnmatch_lines(
        ["*streamrec blocked a connection to *:443: *test_real_provider replays only*"]
    )
    # --block-network refuses loopback servers streamrec does not run too
    blocked = pytester.runpytest_subprocess("--block-network", "-k", "local")
    blocked.assert_outcomes(failed=1, deselected=1)
    blocked.stdout.fnmatch_lines(["*blocked a connection to 127.0.0.1:*--block-network*"])
    allowed = pytester.runpytest_subprocess(
        "--block-network", "--allowed-hosts=127.0.0.1", "-k", "local"
    )
    allowed.assert_outcomes(passed=1, deselected=1)


def test_marker_options_on_a_class_and_the_config_fixture(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makeconftest(
        f"""
        import pytest

        @pytest.fixture
        def streamrec_config():
            return {{"upstreams": {{"openai": "{upstream.openai_base_url}"}}, "ignore": ["metadata"]}}
        """
    )
    pytester.makepyfile(
        test_cls="""
        import openai, pytest

        def ask(tag):
            client = openai.OpenAI(max_retries=0)
            return client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                metadata={"run": tag},
            ).choices[0].message.content

        @pytest.mark.streamrec(record_mode="once")
        class TestGreeting:
            def test_hi(self, streamrec, request):
                assert ask(request.config.getoption("--basetemp") or "x")
                assert streamrec.mode == "once"
        """
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert (pytester.path / "recordings" / "test_cls" / "TestGreeting.test_hi.jsonl").exists()
    upstream.clear_requests()
    # recorded now, so once replays; the metadata differs between runs and is ignored
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
    assert upstream.requests == []


def test_beside_pytest_recording_the_flags_drive_both_or_one(
    app: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytest_recording")
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    result = app.runpytest_subprocess("--record-mode=once", "-k", "paris")
    result.assert_outcomes(passed=1, deselected=1)
    plugins = next(line for line in result.outlines if line.startswith("plugins:"))
    assert "recording-" in plugins and "streamrec-" in plugins  # in either order
    assert (app.path / "recordings" / "test_app" / "test_paris.jsonl").exists()

    (app.path / "recordings" / "test_app" / "test_paris.jsonl").unlink()
    app.makeini("[pytest]\nstreamrec_shared_flags = false\n")
    # --record-mode is pytest-recording's alone now: streamrec stays in none
    alone = app.runpytest_subprocess("--record-mode=once", "-k", "paris")
    alone.assert_outcomes(failed=1, deselected=1)
    own = app.runpytest_subprocess("--streamrec-record-mode=once", "-k", "paris")
    own.assert_outcomes(passed=1, deselected=1)


def test_relative_store_paths_resolve_against_the_rootdir(
    app: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    app.makeini("[pytest]\nstreamrec_db = shared/recordings.jsonl\n")
    (app.path / "sub").mkdir()
    monkeypatch.chdir(app.path / "sub")
    result = app.runpytest_subprocess(str(app.path), "--streamrec-mode=auto", "-k", "paris")
    result.assert_outcomes(passed=1, deselected=1)
    assert Path(app.path / "shared" / "recordings.jsonl").exists()
    assert not (app.path / "sub" / "shared").exists()


def test_marker_faults_engage_the_sdks_handling_on_replay(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    pytester.makepyfile(
        test_faults="""
        import openai, pytest

        def ask(retries):
            client = openai.OpenAI(max_retries=retries)
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            return [c for c in stream]

        @pytest.mark.streamrec(status=429)
        def test_a_429_is_retried(streamrec):
            assert ask(retries=1)
            assert len(streamrec.served) == (0 if streamrec.recording else 2)

        @pytest.mark.streamrec(fail_at_chunk=1)
        def test_a_drop_after_one_chunk(streamrec):
            if streamrec.recording:  # faults apply to replays only
                assert ask(retries=0)
                return
            with pytest.raises(openai.APIConnectionError):
                ask(retries=0)
        """
    )
    pytester.runpytest_subprocess("--record-mode=once").assert_outcomes(passed=2)
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", f"http://127.0.0.1:{_dead_port()}")
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


def test_old_recordings_are_reported_and_diff_reviews_a_re_record(
    app: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    app.runpytest_subprocess("--record-mode=once").assert_outcomes(passed=2)
    folder = app.path / "recordings" / "test_app"
    paris = folder / "test_paris.jsonl"
    started = json.loads(paris.read_text().splitlines()[0])
    assert started["json"]["client"].startswith("OpenAI/Python ")
    old = paris.read_text().replace(started["recorded_at"][:4], "2020", 1)
    (app.path / "old.jsonl").write_text(old)
    paris.write_text(old)
    _offline(monkeypatch)
    report = app.runpytest_subprocess("--streamrec-max-age=30d")
    report.assert_outcomes(passed=2)
    report.stdout.fnmatch_lines(
        [
            "*recordings older than --streamrec-max-age*",
            "*test_paris: 01* days old, recorded 2020-* by OpenAI/Python *, model 'gpt-4o-mini' answered as 'gpt-4o-mini-2024-07-18'*",
        ]
    )
    assert app.runpytest_subprocess("--streamrec-max-age=30d", "--streamrec-strict").ret == 1

    # re-record test_paris and review the change
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    app.runpytest_subprocess("--record-mode=rewrite", "-k", "paris").assert_outcomes(
        passed=1, deselected=1
    )

    # the CLI in a subprocess: importing the store here, under pytester's module snapshot,
    # would leave SQLAlchemy's registries pointing at modules the snapshot then drops
    def diff(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streamrec", "diff", *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    same = diff(str(app.path / "old.jsonl"), str(paris))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "request: the same" in same.stdout and "answer: the same" in same.stdout
    assert "timing: ttft_ms" in same.stdout
    other = diff(str(paris), f"{folder / 'test_rome_twice.jsonl'}:2")
    assert other.returncode == 1
    assert "messages[0].content: 'Paris?' ≠ 'Rome?'" in other.stdout
    assert "content" in other.stdout
    as_json = diff(str(paris), str(paris), "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["same"] is True
