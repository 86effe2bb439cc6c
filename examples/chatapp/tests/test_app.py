"""The application's tests: they run offline from the recordings beside them.

pytest                          # replay only (record mode none), no network, no key
pytest --record-mode=once       # record the tests that have no recording yet
pytest --record-mode=rewrite -k test_summary   # re-record one test
"""

import app
import pytest

pytestmark = pytest.mark.streamrec  # every test here uses its recordings


def test_summary():
    summary = app.summarize("streamrec records LLM streams and replays them offline.")
    print("summary:", summary)
    assert "streamrec" in summary


def test_claude_answers():
    answer = app.ask_claude("What does streamrec do?")
    print("claude:", answer)
    assert "streamrec" in answer


def test_both_providers(streamrec):
    summary, answer = app.compare("Is the network needed to run these tests?")
    print("both:", summary, "|", answer)
    assert summary and answer
    assert len(streamrec.served or streamrec.recorded) == 2
