"""The pytest plugin as users meet it: an inner pytest run whose application code calls the
openai SDK with no base URL of its own, served from recordings."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from streamrec import Store, record
from tests.upstream import Upstream, echo_text

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "plugin test"}],
    "stream": True,
}

APP_TEST = """
import openai

def ask(prompt):
    client = openai.OpenAI(api_key="sk-not-used", max_retries=0)  # base URL from the environment
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

def test_recorded(streamrec):
    assert ask("plugin test") == EXPECTED
    assert len(streamrec.served) == 1

def test_not_recorded(streamrec):
    try:
        ask("something else")
    except openai.NotFoundError:
        pass
"""


@pytest.fixture
def recorded_db(upstream: Upstream, tmp_path: Path) -> str:
    # set up before `pytester`, whose sys.modules snapshot would drop what this call
    # imports lazily (httpx2 transport modules), leaving later tests with stale classes
    url = f"sqlite:///{tmp_path}/recordings.db"
    with (
        Store(url) as store,
        openai.OpenAI(base_url=upstream.openai_base_url, api_key="sk", max_retries=0) as client,
    ):
        list(
            record(
                client.chat.completions.create(**REQUEST),
                api="openai.chat.completions",
                request=REQUEST,
                store=store,
            )
        )
    return url


def test_replay_mode_serves_recordings_and_fails_tests_with_unrecorded_requests(
    recorded_db: str, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        test_app=APP_TEST.replace("EXPECTED", repr(echo_text("openai.chat.completions", REQUEST)))
    )
    result = pytester.runpytest_subprocess("--streamrec-db", recorded_db, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no recording matches POST /openai/chat/completions*",
            "*messages[[]0[]].content: 'something else' ≠ 'plugin test'",
            "*record it with: pytest --record-mode=new_episodes*test_not_recorded*",
        ]
    )


def test_a_jsonl_export_in_the_repository_is_a_store(
    recorded_db: str, pytester: pytest.Pytester
) -> None:
    from streamrec.store import export_lines

    with Store(recorded_db) as store:
        exported = "".join(line + "\n" for line in export_lines(store))
    pytester.path.joinpath("recordings.jsonl").write_text(exported)
    pytester.makepyfile(
        test_app=APP_TEST.replace("EXPECTED", repr(echo_text("openai.chat.completions", REQUEST)))
    )
    result = pytester.runpytest_subprocess(
        "--streamrec-db", "recordings.jsonl", "-k", "test_recorded"
    )
    result.assert_outcomes(passed=1)
    assert (
        pytester.path.joinpath("recordings.jsonl").read_text() == exported
    )  # replay writes nothing


def test_auto_mode_records_what_is_missing_then_replay_mode_serves_it(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_app=APP_TEST.replace("EXPECTED", repr(echo_text("openai.chat.completions", REQUEST)))
    )
    monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", upstream.openai_base_url)
    store_file = pytester.path / "recordings.jsonl"
    first = pytester.runpytest_subprocess(
        "--streamrec-db", str(store_file), "--streamrec-mode", "auto", "-k", "test_recorded"
    )
    # nothing was recorded before: the call went live through the recording proxy,
    # so `served` (replays) stays empty and the test's own assertion on it fails
    first.assert_outcomes(failed=1)
    assert len(upstream.requests) == 1
    assert store_file.exists() and '"stream.started"' in store_file.read_text()
    upstream.clear_requests()
    second = pytester.runpytest_subprocess("--streamrec-db", str(store_file), "-k", "test_recorded")
    second.assert_outcomes(passed=1)
    assert upstream.requests == []  # replayed, not live


def test_a_mistyped_mode_on_the_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.streamrec("replya")
        def test_it(streamrec):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--streamrec-db", str(pytester.path / "r.db"))
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*streamrec record mode must be one of none, once*replya*"])
