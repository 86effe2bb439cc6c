"""The replay server when its store cannot answer: a corrupt file, a database gone away.

A client gets streamrec's reason in the providers' error shape (500 for a store that
cannot be read, 503 while the database is away), never a bare "Internal Server Error",
and the server goes on serving: other requests, and this one once the database is back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from websockets.exceptions import InvalidStatus

from streamrec import SSEEvent, Store, record
from streamrec._serving import BackgroundServer
from streamrec.replay import Matcher, MatchOptions, replay_app

from .chunks import text_stream
from .test_trust_databases import tear_events
from .test_trust_outage import Relay, _through
from .test_websocket import ask
from .test_websocket_replay import realtime_session
from .test_websocket_replay import record as record_live

API = "openai.chat.completions"
REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hello"}],
    "stream": True,
}


def _recorded(store: Store, words: int = 2000) -> list[str]:
    chunks = text_stream(["word"] * words)
    list(record((SSEEvent(c) for c in chunks), api=API, request=REQUEST, store=store))
    return chunks


def _data_lines(raw: bytes) -> list[str]:
    return [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]


def test_a_torn_store_answers_500_with_the_reason_and_goes_on_serving(tmp_path: Path) -> None:
    path = tmp_path / "torn.db"
    with Store(path) as store:
        _recorded(store)
    tear_events(path)
    with (
        Store(path, create=False) as store,
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as client,
    ):
        response = httpx.post(f"{server.url}/v1/chat/completions", json=REQUEST)
        assert response.status_code == 500
        error = response.json()["error"]
        assert error["type"] == "streamrec_store_error" and error["code"] == "store_error"
        assert "is not a readable database: database disk image is malformed" in error["message"]
        with pytest.raises(openai.InternalServerError) as caught:
            list(client.chat.completions.create(**REQUEST))
        assert "database disk image is malformed" in caught.value.message
        # the server is still there: a request it has no recording for gets its 404
        other = {**REQUEST, "model": "gpt-4o"}
        assert httpx.post(f"{server.url}/v1/chat/completions", json=other).status_code == 404


def test_a_torn_store_is_an_error_event_on_a_responses_websocket(tmp_path: Path) -> None:
    path = tmp_path / "torn.db"
    request = {"model": "gpt-4o-mini", "input": "hello there", "stream": True}
    with Store(path) as store:
        chunk = json.dumps({"type": "response.completed", "response": {"id": "resp_1"}})
        list(record([SSEEvent(chunk)], api="openai.responses", request=request, store=store))
    tear_events(path)
    with (
        Store(path, create=False) as store,
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key="k", max_retries=0) as client,
        client.responses.connect() as connection,
    ):
        failed = json.loads(ask(connection, "hello there")[-1])
        # the socket stays open: the next request is answered (the store fails it too, since
        # matching reads the recorded requests from the events)
        again = json.loads(ask(connection, "hello there")[-1])
    assert failed["type"] == "error" and failed["status"] == 500
    assert failed["error"]["code"] == "store_error"
    assert "database disk image is malformed" in failed["error"]["message"]
    assert again == failed


@pytest.mark.postgres
def test_a_database_gone_away_is_503_and_the_recording_once_it_is_back(
    pg_url: str, tmp_path: Path
) -> None:
    relay = Relay(("127.0.0.1", 5432))
    try:
        with Store(_through(pg_url, relay)) as store:
            chunks = _recorded(store, words=20)
            with BackgroundServer(replay_app(store)) as server:
                relay.cut()
                response = httpx.post(f"{server.url}/v1/chat/completions", json=REQUEST)
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "store_error"
                relay.up()
                response = httpx.post(f"{server.url}/v1/chat/completions", json=REQUEST)
                assert response.status_code == 200
                assert _data_lines(response.content) == chunks
    finally:
        relay.close()


def test_a_torn_store_refuses_a_realtime_session_with_a_500(tmp_path: Path) -> None:
    path = tmp_path / "torn.db"
    with Store(path) as store:
        record_live(store, realtime_session)
    tear_events(path)
    with (
        Store(path, create=False) as store,
        BackgroundServer(replay_app(store)) as server,
        openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key="k", max_retries=0) as client,
        pytest.raises(InvalidStatus) as refused,
        client.realtime.connect(model="gpt-realtime"),
    ):
        pass
    assert refused.value.response.status_code == 500
    assert b"database disk image is malformed" in refused.value.response.body


def test_auto_modes_front_door_answers_the_store_error_and_does_not_go_live(
    tmp_path: Path,
) -> None:
    """In auto mode a request the store cannot match must not be sent live instead (with an
    option set, matching reads the recorded requests from the torn events table)."""
    path = tmp_path / "torn.db"
    with Store(path) as store:
        _recorded(store)
    tear_events(path)
    went_live: list[str] = []

    def reading(store: Store) -> Matcher:
        return Matcher(store, options=MatchOptions.of(ignore=["temperature"]))

    async def live(scope: Any, receive: Any, send: Any) -> None:
        went_live.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"live"})

    with (
        Store(path, create=False) as store,
        BackgroundServer(replay_app(store, matcher=reading(store), fallback=live)) as server,
    ):
        response = httpx.post(f"{server.url}/v1/chat/completions", json=REQUEST)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "store_error"
    assert went_live == []
