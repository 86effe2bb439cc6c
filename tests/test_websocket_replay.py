"""WebSocket streams replayed offline: the replay server answers the openai SDK's own WebSocket
clients from recordings, frame for frame, with the upstream stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from streamrec import Store
from streamrec._serving import BackgroundServer
from streamrec.cli import main
from streamrec.events import EventKind, StoredEvent, utcnow
from streamrec.projection import project
from streamrec.recorder import ProxyServer, RecordingProxy
from streamrec.replay import Matcher, replay_app
from streamrec.store import summary_row
from tests.test_websocket import ask, converse, user_text
from tests.ws_upstream import WSUpstream

KEY = "sk-test-replay"


def record(store: Store, session: Callable[[openai.OpenAI], Any]) -> tuple[list[str], Any]:
    """Run ``session`` against a private upstream through the recording proxy, then stop both."""
    with WSUpstream() as upstream:
        proxy = RecordingProxy(
            store=store, upstreams={"openai": f"http://127.0.0.1:{upstream.port}/v1"}
        )
        with (
            ProxyServer(proxy) as server,
            openai.OpenAI(api_key=KEY, base_url=server.env["OPENAI_BASE_URL"], max_retries=0) as c,
        ):
            result = session(c)
            deadline = time.monotonic() + 5
            while proxy.active and time.monotonic() < deadline:
                time.sleep(0.01)
    store.writer.flush()
    return list(proxy.stream_ids), result


@pytest.fixture
def served(store: Store) -> Iterator[tuple[openai.OpenAI, Matcher]]:
    """An SDK client pointed at the replay server (nothing else is listening)."""
    matcher = Matcher(store)
    with (
        BackgroundServer(replay_app(store, matcher=matcher)) as server,
        openai.OpenAI(api_key=KEY, base_url=server.url + "/openai/v1", max_retries=0) as client,
    ):
        yield client, matcher


def two_responses(client: openai.OpenAI) -> list[list[bytes]]:
    with client.responses.connect() as connection:
        first = ask(connection, "hello there")
        previous = json.loads(first[-1])["response"]["id"]
        return [first, ask(connection, "[tools] and then", previous_response_id=previous)]


def test_responses_replay_frame_for_frame_offline(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    ids, live = record(store, two_responses)
    client, matcher = served
    assert two_responses(client) == live  # same frames, same bytes, same order
    assert matcher.served == ids and matcher.misses == []


def test_an_unmatched_response_create_gets_the_error_event_and_the_socket_stays_open(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    record(store, two_responses)
    client, matcher = served
    with client.responses.connect() as connection:
        missed = ask(connection, "never recorded")
        again = ask(connection, "hello there")
    error = json.loads(missed[-1])
    assert error["type"] == "error" and error["status"] == 404
    assert error["error"]["code"] == "streamrec_no_recording"
    assert (
        "no recording matches response.create on WebSocket /openai/v1/responses"
        in error["error"]["message"]
    )
    assert "streamrec record" in error["error"]["message"]
    assert matcher.misses == [error["error"]["message"]]
    assert json.loads(again[-1])["type"] == "response.completed"


def test_a_recorded_drop_drops_again(store: Store, served: tuple[openai.OpenAI, Matcher]) -> None:
    def dropped(client: openai.OpenAI) -> list[bytes]:
        frames: list[bytes] = []
        with pytest.raises(ConnectionClosedError), client.responses.connect() as connection:
            connection.response.create(model="gpt-4o-mini", input="[drop] mid-way")
            while True:
                frames.append(connection.recv_bytes())
        return frames

    (stream_id,), live = record(store, dropped)
    assert project(store.events(stream_id)).status == "failed"
    client, _ = served
    assert dropped(client) == live


def realtime_session(client: openai.OpenAI) -> list[bytes]:
    with client.realtime.connect(model="gpt-realtime") as connection:
        frames = [connection.recv_bytes()]  # session.created
        connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        frames.append(connection.recv_bytes())
        frames += converse(connection, "hi")
        frames += converse(connection, "[tools] weather?")
        return frames


def test_a_realtime_session_replays_as_its_script(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    (stream_id,), live = record(store, realtime_session)
    state = project(store.events(stream_id))
    assert (
        state.content == "Hello there! How can I help you today?"
    )  # text mode: output_text deltas
    client, matcher = served
    assert realtime_session(client) == live
    assert matcher.served == [stream_id]


def test_a_session_the_server_closed_is_closed_again_with_its_code(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    def hung_up(client: openai.OpenAI) -> tuple[list[bytes], int]:
        frames: list[bytes] = []
        with (
            pytest.raises(ConnectionClosedError) as closed,
            client.realtime.connect(model="gpt-realtime") as connection,
        ):
            connection.conversation.item.create(item=user_text("[hangup] bye"))
            while True:
                frames.append(connection.recv_bytes())
        assert closed.value.rcvd is not None
        return frames, closed.value.rcvd.code

    (stream_id,), live = record(store, hung_up)
    state = project(store.events(stream_id))
    assert live[1] == 3000 and state.status == "failed"
    assert state.provider_data["close"] == {
        "code": 3000,
        "reason": "invalid_request_error.session_expired",
    }
    assert state.unknown_events == 0
    client, _ = served
    assert hung_up(client) == live


def test_a_refused_realtime_session_is_recorded_and_refused_again(store: Store) -> None:
    def refused(client: openai.OpenAI) -> tuple[int, bytes]:
        anonymous = openai.OpenAI(
            api_key="", base_url=str(client.base_url), _enforce_credentials=False
        )
        with (
            pytest.raises(InvalidStatus) as caught,
            anonymous.realtime.connect(model="gpt-realtime"),
        ):
            pass
        return caught.value.response.status_code, caught.value.response.body or b""

    (stream_id,), live = record(store, refused)
    state = project(store.events(stream_id))
    assert live[0] == 401 and state.status == "failed"
    assert state.error is not None and state.error["status_code"] == 401
    with (
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(api_key=KEY, base_url=server.url + "/v1") as client,
    ):
        assert refused(client) == live


def test_credentials_in_client_frames_are_never_stored_and_the_script_still_matches(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    token = "sk-proj-mcpSECRETabcdefghijklmnop"
    tool = {
        "type": "mcp",
        "server_label": "docs",
        "server_url": "https://mcp.example.com",
        "authorization": token,
        "headers": {"Authorization": f"Bearer {token}"},
    }

    def session(client: openai.OpenAI) -> list[bytes]:
        with client.realtime.connect(model="gpt-realtime") as connection:
            frames = [connection.recv_bytes()]
            connection.session.update(session={"type": "realtime", "tools": [tool]})
            frames.append(connection.recv_bytes())
            return frames + converse(connection, f"my key is {token}")

    (stream_id,), live = record(store, session)
    sent = [e.payload for e in store.events(stream_id) if e.kind is EventKind.CLIENT_MESSAGE]
    assert len(sent) == 3 and not any("mcpSECRET" in text for text in sent)
    assert json.loads(sent[0])["session"]["tools"][0]["server_url"] == "https://mcp.example.com"
    client, matcher = served
    assert session(client) == live  # matched on the frames as scrubbed the same way
    assert matcher.misses == []


def test_a_realtime_message_off_the_script_gets_an_error_event(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    record(store, realtime_session)
    client, matcher = served
    with client.realtime.connect(model="gpt-realtime") as connection:
        connection.recv_bytes()
        connection.session.update(session={"type": "realtime", "instructions": "other"})
        error = json.loads(connection.recv_bytes())
    assert error["type"] == "error" and error["error"]["code"] == "streamrec_no_recording"
    assert "client message #1 ('session.update')" in error["error"]["message"]
    assert "differs in session" in error["error"]["message"]
    assert matcher.misses == [error["error"]["message"]]


def test_a_realtime_session_with_no_recording_is_refused_with_a_404(
    store: Store, served: tuple[openai.OpenAI, Matcher]
) -> None:
    record(store, realtime_session)
    client, matcher = served
    with pytest.raises(InvalidStatus) as refused, client.realtime.connect(model="gpt-other"):
        pass
    assert refused.value.response.status_code == 404
    assert b"no recording matches Realtime session" in refused.value.response.body
    assert len(matcher.misses) == 1


def test_recorded_timing_is_kept_scaled_or_dropped(store: Store) -> None:
    """Three frames recorded 60 ms apart: speed 1 takes ~120 ms, speed 2 ~60 ms, 0 none."""
    request = {"model": "gpt-4o-mini", "input": "timed"}
    started = json.dumps(
        {"provider": "openai", "api": "openai.responses", "model": "gpt-4o-mini", "request": request,
         "fingerprint": __import__("streamrec").events.request_fingerprint("openai.responses", request)}
    )  # fmt: skip
    frames = [
        {"type": "response.created", "response": {"id": "resp_t", "status": "in_progress"}},
        {"type": "response.output_text.delta", "delta": "x", "output_index": 0, "content_index": 0},
        {"type": "response.completed", "response": {"id": "resp_t", "status": "completed"}},
    ]
    events = [
        StoredEvent(
            "01a2aaaa-0000-7000-8000-000000000001", 0, EventKind.STARTED, 0, utcnow(), started
        )
    ]
    for i, frame in enumerate(frames, 1):
        events.append(
            StoredEvent(events[0].stream_id, i, EventKind.CHUNK, (i - 1) * 60_000_000, utcnow(),
                        json.dumps(frame), frame["type"])
        )  # fmt: skip
    events.append(
        StoredEvent(events[0].stream_id, 4, EventKind.COMPLETED, 120_000_000, utcnow(), "{}")
    )
    store.append(events, [summary_row(project(events), 4)])
    for speed, low, high in ((1.0, 0.11, 0.5), (2.0, 0.05, 0.1), (0.0, 0.0, 0.05)):
        with (
            BackgroundServer(replay_app(store, speed=speed)) as server,
            openai.OpenAI(api_key=KEY, base_url=server.url + "/v1") as client,
            client.responses.connect() as connection,
        ):
            connection.response.create(model="gpt-4o-mini", input="timed")
            t0 = time.monotonic()
            received = [connection.recv_bytes() for _ in frames]
            elapsed = time.monotonic() - t0
        assert [json.loads(r) for r in received] == frames
        assert low <= elapsed < high + 0.1, (speed, elapsed)


# -- whole programs, through the CLI -----------------------------------------------------------

PROGRAM = textwrap.dedent(
    """
    import openai

    client = openai.OpenAI(api_key="sk-test-program-SECRET", max_retries=0)
    with client.responses.connect() as connection:
        for prompt in ("first question", "second question"):
            connection.response.create(model="gpt-4o-mini", input=prompt)
            text = ""
            for event in connection:
                if event.type == "response.output_text.delta":
                    text += event.delta
                if event.type == "response.completed":
                    break
            print("responses:", text)
    with client.realtime.connect(model="gpt-realtime") as connection:
        connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
        )
        connection.response.create()
        transcript = ""
        for event in connection:
            if event.type == "response.output_audio_transcript.delta":
                transcript += event.delta
            if event.type == "response.done":
                break
        print("realtime:", transcript)
    """
)
CLI = [sys.executable, "-m", "streamrec"]


def test_a_program_recorded_over_websockets_runs_again_offline(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_BASE_URL")}
    db = f"sqlite:///{tmp_path}/ws.db"
    script = tmp_path / "app.py"
    script.write_text(PROGRAM)
    with WSUpstream() as upstream:
        recorded = subprocess.run(
            [*CLI, "--db", db, "record", f"--upstream=openai=http://127.0.0.1:{upstream.port}/v1",
             "--", sys.executable, str(script)],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    expected = ["responses: Echo: first question", "responses: Echo: second question",
                "realtime: Hello there! How can I help you today?"]  # fmt: skip
    assert recorded.stdout.splitlines() == expected
    assert recorded.stderr.count(" completed ") == 3, recorded.stderr  # one line per stream
    with Store(db) as store:
        rows = store.streams()
        assert sorted(r["api"] for r in rows) == ["openai.realtime", *["openai.responses"] * 2]
        assert all(r["cost_nanousd"] for r in rows)
        text = "\n".join(e.payload for r in rows for e in store.events(r["stream_id"]))
        assert "SECRET" not in text
    # the upstream is gone: the same program runs from the recordings
    replayed = subprocess.run(
        [*CLI, "--db", db, "replay", "--serve", "--", sys.executable, str(script)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == expected
    assert replayed.stderr.count("replayed ") == 3
    # `streamrec replay ID` prints a WebSocket stream's text like any other's
    for row in rows:
        shown = CliRunner().invoke(main, ["--db", db, "replay", row["stream_id"]])
        assert shown.exit_code == 0, shown.output
        assert shown.stdout.strip() in [line.split(": ", 1)[1] for line in expected]


# -- the pytest plugin -----------------------------------------------------------------------

APP_TEST = """
import openai

def ask(prompt):
    client = openai.OpenAI(api_key="sk-not-used", max_retries=0)  # base URL from the environment
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input=prompt)
        text = ""
        for event in connection:
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type in ("response.completed", "error"):
                return text, event.type

def test_websocket_app(streamrec):
    assert ask("plugin over websockets") == ("Echo: plugin over websockets", "response.completed")
    assert len(streamrec.served) == (1 if streamrec.mode == "none" else 0)

def test_unrecorded(streamrec):
    if streamrec.mode == "none":
        ask("never recorded")  # the app gets an error event; the plugin fails the test
"""


def test_the_pytest_plugin_records_and_replays_websocket_clients(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded into per-test files (``--streamrec-db`` shares the same server path)."""
    pytester.makepyfile(test_app=APP_TEST)
    store: list[str] = []
    with WSUpstream() as upstream:
        monkeypatch.setenv("STREAMREC_UPSTREAM_OPENAI", f"http://127.0.0.1:{upstream.port}/v1")
        result = pytester.runpytest_subprocess(*store, "--record-mode", "all")
        result.assert_outcomes(passed=2)
    monkeypatch.delenv("STREAMREC_UPSTREAM_OPENAI")
    if not store:  # the recordings sit beside the test, client frames and all
        (recording,) = pytester.path.glob("recordings/*/test_websocket_app.jsonl")
        kinds = [json.loads(line)["kind"] for line in recording.read_text().splitlines()]
        assert "client.message" in kinds
    result = pytester.runpytest_subprocess(*store)  # replay only, the upstream stopped
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*no recording matches response.create on WebSocket*"])


def test_websocket_recordings_export_import_and_verify_on_both_engines(
    any_store: Store, tmp_path: Path
) -> None:
    from streamrec.store import export_lines, import_lines

    (stream_id,), _ = record(any_store, realtime_session)
    assert any_store.verify() == []
    lines = list(export_lines(any_store))
    assert any(json.loads(line)["kind"] == "client.message" for line in lines)
    with Store(f"sqlite:///{tmp_path}/copy.db") as copy:
        assert import_lines(copy, lines) == ([stream_id], [])
        assert copy.verify() == []

        def rows(store: Store) -> list[tuple[Any, ...]]:
            return [(e.seq, e.kind, e.t_ns, e.payload, e.event) for e in store.events(stream_id)]

        assert rows(copy) == rows(any_store)


def test_the_async_clients_record_and_replay_the_same(store: Store) -> None:
    """``AsyncOpenAI``'s WebSocket clients, through the proxy and then the replay server."""
    import asyncio

    async def session(base_url: str) -> list[bytes]:
        async with openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0) as client:
            frames: list[bytes] = []
            async with client.responses.connect() as connection:
                await connection.response.create(model="gpt-4o-mini", input="async hello")
                while not frames or json.loads(frames[-1])["type"] != "response.completed":
                    frames.append(await connection.recv_bytes())
            async with client.realtime.connect(model="gpt-realtime") as connection:
                frames.append(await connection.recv_bytes())
                await connection.conversation.item.create(
                    item={"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": "hi"}]}
                )  # fmt: skip
                await connection.response.create()
                while json.loads(frames[-1])["type"] != "response.done":
                    frames.append(await connection.recv_bytes())
            return frames

    ids, live = record(store, lambda c: asyncio.run(session(str(c.base_url))))
    assert [project(store.events(i)).status for i in ids] == ["completed", "completed"]
    with BackgroundServer(replay_app(store)) as server:
        assert asyncio.run(session(server.url + "/v1")) == live


def test_auto_mode_records_a_new_connection_and_replays_it_next_time(store: Store) -> None:
    from streamrec.recorder import proxy_app

    with WSUpstream() as upstream:
        proxy = proxy_app(store=store, upstreams={"openai": f"http://127.0.0.1:{upstream.port}/v1"})
        matcher = Matcher(store)
        app = replay_app(store, matcher=matcher, fallback=proxy)
        with (
            BackgroundServer(app) as server,
            openai.OpenAI(api_key=KEY, base_url=server.url + "/v1", max_retries=0) as client,
        ):
            live = two_responses(client), realtime_session(client)
            store.writer.flush()
            went_live = len(upstream.received)
            assert went_live == 2 + 5 and matcher.served == []  # both connections recorded
            assert (two_responses(client), realtime_session(client)) == live
            assert len(upstream.received) == went_live  # the second time nothing went live
            assert len(matcher.served) == 3
