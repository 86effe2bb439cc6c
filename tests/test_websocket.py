"""WebSocket streams recorded through the proxy, driven by the openai SDK's own WebSocket clients.

``client.responses.connect()`` (Responses API WebSocket mode) and
``client.realtime.connect()`` (Realtime API) talk to the recording proxy, which
relays to a local upstream speaking the documented events (tests/ws_upstream.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from streamrec import Store
from streamrec.events import EventKind, StoredEvent, utcnow
from streamrec.projection import StreamState, project
from streamrec.providers import Endpoint, ws_frame, ws_stored
from streamrec.recorder import ProxyServer, RecordingProxy
from streamrec.recorder._websocket import ConnectionLog
from tests.upstream import TOOL_CALLS
from tests.ws_upstream import REALTIME_TRANSCRIPT, WSUpstream

SECRET = "sk-test-ws-SECRET"


@pytest.fixture
def live(store: Store) -> list[Any]:
    """The live recordings as each one finishes (their state is what a rebuild must equal)."""
    return []


@pytest.fixture
def proxy(store: Store, ws_upstream: WSUpstream, live: list[Any]) -> Iterator[ProxyServer]:
    app = RecordingProxy(
        store=store,
        upstreams={"openai": ws_upstream.base_url},
        on_finish=live.append,
    )
    with ProxyServer(app) as server:
        yield server


@pytest.fixture
def client(proxy: ProxyServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=SECRET, base_url=proxy.env["OPENAI_BASE_URL"], max_retries=0) as c:
        yield c


def settled(proxy: ProxyServer, store: Store, n: int, timeout: float = 5.0) -> list[StreamState]:
    """The recorded streams' states once ``n`` of them ended and were committed."""
    deadline = time.monotonic() + timeout
    while True:
        store.writer.flush()
        ids = proxy.proxy.stream_ids
        states = [project(store.events(i)) for i in ids]
        done = [s for s in states if s.status != "recording"]
        if len(done) >= n or time.monotonic() > deadline:
            return states
        time.sleep(0.02)


def ask(connection: Any, prompt: str, **kwargs: Any) -> list[bytes]:
    """Send one ``response.create`` and read its events (raw frames) to the terminal one."""
    connection.response.create(model="gpt-4o-mini", input=prompt, **kwargs)
    frames = []
    while True:
        raw = connection.recv_bytes()
        frames.append(raw)
        if json.loads(raw)["type"] in ("response.completed", "response.failed", "error"):
            return frames


def chunks(store: Store, stream_id: str) -> list[StoredEvent]:
    return [e for e in store.events(stream_id) if e.kind is EventKind.CHUNK]


# -- Responses API WebSocket mode -------------------------------------------------------------


def test_one_connection_several_responses_one_stream_each(
    client: openai.OpenAI, proxy: ProxyServer, store: Store, live: list[Any]
) -> None:
    with client.responses.connect() as connection:
        first = ask(connection, "hello there")
        second = ask(
            connection, "and again", previous_response_id=json.loads(first[-1])["response"]["id"]
        )

    states = settled(proxy, store, 2)
    assert [s.status for s in states] == ["completed", "completed"]
    assert [s.content for s in states] == ["Echo: hello there", "Echo: and again"]
    assert all(s.api == "openai.responses" and s.input_tokens == 12 for s in states)
    assert all(s.cost is not None and s.cost > 0 for s in states)
    # the frames the SDK received are the chunks stored, byte for byte, each in its own stream
    for stream_id, frames in zip(proxy.proxy.stream_ids, (first, second), strict=True):
        assert [c.payload.encode() for c in chunks(store, stream_id)] == frames
    # each stream holds its request (the response.create body) and that client frame, in order
    started = [store.events(i)[0].model() for i in proxy.proxy.stream_ids]
    assert [s.request["input"] for s in started] == ["hello there", "and again"]  # type: ignore[union-attr]
    assert "type" not in started[0].request  # type: ignore[union-attr]
    connections = [s.connection for s in started]  # type: ignore[union-attr]
    assert connections[0]["id"] == connections[1]["id"]
    assert [c["index"] for c in connections] == [0, 1]
    assert connections[0]["transport"] == "websocket" and connections[0]["path"] == "/responses"
    second_log = store.events(proxy.proxy.stream_ids[1])
    assert second_log[1].kind is EventKind.CLIENT_MESSAGE
    assert json.loads(second_log[1].payload)["type"] == "response.create"
    assert second_log[1].event == "response.create"
    assert [e.kind for e in second_log[2:-1]] == [EventKind.CHUNK] * len(second)
    # rebuild equals live, and the read model agrees with the log
    assert [r.state.model_dump() for r in live] == [s.model_dump() for s in states]
    assert store.verify() == []


def test_secrets_reach_the_upstream_but_not_the_store(
    client: openai.OpenAI, ws_upstream: WSUpstream, proxy: ProxyServer, store: Store
) -> None:
    with client.responses.connect() as connection:
        ask(connection, "hello")
    settled(proxy, store, 1)
    assert ws_upstream.handshakes[-1]["authorization"] == f"Bearer {SECRET}"
    assert ws_upstream.handshakes[-1]["user-agent"].startswith("OpenAI/Python")
    dumped = "\n".join(e.payload for i in store.stream_ids() for e in store.events(i))
    assert SECRET not in dumped


def test_x_streamrec_headers_on_the_upgrade_attribute_every_stream_and_stay_here(
    client: openai.OpenAI, ws_upstream: WSUpstream, proxy: ProxyServer, store: Store
) -> None:
    headers = {"x-streamrec-name": "ws-run", "x-streamrec-user": "alice"}
    with client.responses.connect(extra_headers=headers) as connection:
        ask(connection, "one")
        ask(connection, "two")
    states = settled(proxy, store, 2)
    assert [(s.name, s.metadata.get("user")) for s in states] == [("ws-run", "alice")] * 2
    assert not any(k.startswith("x-streamrec") for k in ws_upstream.handshakes[-1])


def test_tool_calls_over_websocket_fold_like_sse(
    client: openai.OpenAI, proxy: ProxyServer, store: Store
) -> None:
    with client.responses.connect() as connection:
        ask(connection, "[tools] weather?")
    (state,) = settled(proxy, store, 1)
    assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
        (name, args, True) for name, args in TOOL_CALLS
    ]
    assert state.finish_reasons == ["completed"]


def test_an_error_event_ends_its_response_as_failed_and_the_connection_goes_on(
    client: openai.OpenAI, proxy: ProxyServer, store: Store
) -> None:
    with client.responses.connect() as connection:
        failed = ask(connection, "[error]")
        ask(connection, "after the error")
    states = settled(proxy, store, 2)
    assert json.loads(failed[-1])["type"] == "error"
    assert [s.status for s in states] == ["failed", "completed"]
    assert states[0].error is not None and states[0].error["type"] == "model_not_found"


def test_a_dropped_connection_fails_the_open_response_and_keeps_what_arrived(
    client: openai.OpenAI, proxy: ProxyServer, store: Store
) -> None:
    received = []
    with (
        pytest.raises(ConnectionClosedError),
        client.responses.connect() as connection,
    ):
        connection.response.create(model="gpt-4o-mini", input="[drop] cut me off")
        while True:
            received.append(connection.recv_bytes())
    (state,) = settled(proxy, store, 1)
    assert state.status == "failed"
    assert "upstream closed the WebSocket" in state.error["message"]  # type: ignore[index]
    assert state.content == "Echo: [drop]"  # the two deltas that arrived
    assert [c.payload.encode() for c in chunks(store, proxy.proxy.stream_ids[0])] == received


def test_the_client_leaving_mid_response_leaves_it_interrupted(
    client: openai.OpenAI, proxy: ProxyServer, store: Store, ws_upstream: WSUpstream
) -> None:
    with client.responses.connect() as connection:
        connection.response.create(model="gpt-4o-mini", input="[drop] cut me off")
        connection.recv_bytes()  # response.created, then hang up
    (state,) = settled(proxy, store, 1)
    assert state.status in ("interrupted", "failed")  # whichever end noticed first


def test_an_upstream_refusal_reaches_the_client_unchanged(proxy: ProxyServer, store: Store) -> None:
    # no key: the SDK sends no Authorization and the upstream answers 401
    with (
        openai.OpenAI(
            api_key="", base_url=proxy.env["OPENAI_BASE_URL"], _enforce_credentials=False
        ) as anonymous,
        pytest.raises(InvalidStatus) as refused,
        anonymous.responses.connect(),
    ):
        pass
    assert refused.value.response.status_code == 401
    assert b"Missing bearer" in refused.value.response.body
    assert store.stream_ids() == []


def test_an_unreachable_upstream_is_a_502(store: Store) -> None:
    app = RecordingProxy(store=store, upstreams={"openai": "http://127.0.0.1:9"})
    with (
        ProxyServer(app) as server,
        openai.OpenAI(api_key=SECRET, base_url=server.env["OPENAI_BASE_URL"]) as c,
        pytest.raises(InvalidStatus) as refused,
        c.responses.connect(),
    ):
        pass
    assert refused.value.response.status_code == 502
    assert b"could not open a WebSocket" in refused.value.response.body


def test_concurrent_connections_are_recorded_apart(
    client: openai.OpenAI, proxy: ProxyServer, store: Store
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def converse_twice(n: int) -> list[str]:
        with client.responses.connect() as connection:
            return [
                json.loads(ask(connection, f"client {n} turn {turn}")[-1])["response"]["id"]
                for turn in (1, 2)
            ]

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(converse_twice, range(4)))
    states = settled(proxy, store, 8)
    assert sorted(s.id for s in states if s.id) == sorted(i for pair in ids for i in pair)
    for state in states:
        n, turn = state.messages[0]["content"].split()[1::2]
        assert state.status == "completed" and state.content == f"Echo: client {n} turn {turn}"
    by_connection: dict[str, list[int]] = {}
    for stream_id in proxy.proxy.stream_ids:
        connection = store.events(stream_id)[0].model().connection  # type: ignore[union-attr]
        by_connection.setdefault(connection["id"], []).append(connection["index"])
    assert sorted(by_connection.values()) == [[0, 1]] * 4


def test_concurrent_lanes_are_told_apart() -> None:
    """Events of two responses interleaved on one connection go to their own stream."""
    log = ConnectionLog(
        Endpoint("openai", "openai.responses"), path="/v1/responses", query="", store=None
    )

    def event(lane: str, type_: str, **fields: Any) -> str:
        return json.dumps({"type": type_, "stream_id": lane, **fields})

    def response(lane: str, status: str = "in_progress") -> dict[str, Any]:
        return {"id": f"resp_{lane}", "model": "gpt-4o-mini", "status": status, "output": []}

    log.client(json.dumps({"type": "response.create", "stream_id": "a", "input": "A"}))
    log.client(json.dumps({"type": "response.create", "stream_id": "b", "input": "B"}))
    log.server(event("b", "response.created", response=response("b")))
    log.server(event("a", "response.created", response=response("a")))
    log.server(event("a", "response.completed", response=response("a", "completed")))
    log.server(event("b", "response.completed", response=response("b", "completed")))
    a, b = (r.state for r in log.recordings)
    assert (a.id, a.status, b.id, b.status) == ("resp_a", "completed", "resp_b", "completed")
    assert a.messages == [{"role": "user", "content": "A"}]


# -- Realtime ---------------------------------------------------------------------------------


def user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def converse(connection: Any, text: str) -> list[bytes]:
    """One user turn and the response to it; the raw frames up to ``response.done``."""
    connection.conversation.item.create(item=user_text(text))
    connection.response.create()
    frames = []
    while True:
        raw = connection.recv_bytes()
        frames.append(raw)
        if json.loads(raw)["type"] == "response.done":
            return frames


def test_a_realtime_session_is_one_stream_with_transcripts_tools_usage_and_cost(
    client: openai.OpenAI, proxy: ProxyServer, store: Store, live: list[Any]
) -> None:
    with client.realtime.connect(model="gpt-realtime") as connection:
        first = connection.recv_bytes()  # session.created
        connection.session.update(session={"type": "realtime", "instructions": "Be brief."})
        connection.recv_bytes()  # session.updated
        frames = [first, *converse(connection, "hi"), *converse(connection, "[tools] weather?")]

    (state,) = settled(proxy, store, 1)
    assert state.api == "openai.realtime" and state.status == "completed"
    assert state.model == "gpt-realtime" and state.requested_model == "gpt-realtime"
    assert state.content == REALTIME_TRANSCRIPT
    assert state.finish_reasons == ["completed", "completed"]
    assert [(t.name, t.args, t.complete) for t in state.tool_calls] == [
        (TOOL_CALLS[0][0], TOOL_CALLS[0][1], True)
    ]
    # usage summed over the two responses; audio kept apart and priced as audio
    assert (state.input_tokens, state.output_tokens) == (100 + 120, 59 + 22)
    assert state.provider_data["audio_tokens"] == {
        "input_audio_tokens": 60,
        "cache_audio_read_tokens": 0,
        "output_audio_tokens": 48,
    }
    # gpt-realtime per million: text in $4, audio in $32, text out $16, audio out $64
    text_in, audio_in, text_out, audio_out = 40 + 120, 60, 11 + 22, 48
    expected = (text_in * 4 + audio_in * 32 + text_out * 16 + audio_out * 64) / Decimal(10**6)
    assert state.cost == expected
    assert [r["content"] for r in state.provider_data["responses"]] == [REALTIME_TRANSCRIPT, ""]
    # what the client sent is in the log, in order with the server's frames
    events = store.events(proxy.proxy.stream_ids[0])
    sent = [json.loads(e.payload)["type"] for e in events if e.kind is EventKind.CLIENT_MESSAGE]
    assert sent == ["session.update", *["conversation.item.create", "response.create"] * 2]
    assert state.client_messages == 5
    assert state.messages == [user_text("hi"), user_text("[tools] weather?")]
    assert state.call_params["session"]["instructions"] == "Be brief."
    kinds = [e.kind for e in events]
    assert kinds[-1] is EventKind.COMPLETED and kinds.count(EventKind.COMPLETED) == 1
    assert kinds.index(EventKind.CLIENT_MESSAGE) > kinds.index(
        EventKind.CHUNK
    )  # session.created first
    received = [c.payload.encode() for c in chunks(store, proxy.proxy.stream_ids[0])]
    assert [f for f in received if f in frames] == frames  # every frame the SDK read, verbatim
    assert [r.state.model_dump() for r in live] == [state.model_dump()]
    assert store.verify() == []


def test_a_realtime_error_event_is_kept_and_a_later_response_recovers(
    client: openai.OpenAI, proxy: ProxyServer, store: Store
) -> None:
    with client.realtime.connect(model="gpt-realtime") as connection:
        connection.recv_bytes()
        connection.send({"type": "output_audio_buffer.clear"})  # our upstream rejects it
        error = json.loads(connection.recv_bytes())
        converse(connection, "hi")
    (state,) = settled(proxy, store, 1)
    assert error["type"] == "error"
    assert state.provider_data["errors"] == [error["error"]]
    assert state.status == "completed" and state.error is None


def test_the_realtime_reducer_reads_the_beta_event_names_too() -> None:
    def ev(seq: int, kind: EventKind, payload: str, event: str | None = None) -> StoredEvent:
        return StoredEvent("s", seq, kind, seq, utcnow(), payload, event)

    started = json.dumps({"provider": "openai", "api": "openai.realtime", "model": "gpt-realtime"})
    done = {
        "type": "response.done",
        "response": {
            "id": "r1",
            "status": "failed",
            "status_details": {"error": {"type": "server_error", "message": "boom"}},
        },
    }
    state = project(
        [
            ev(0, EventKind.STARTED, started),
            ev(1, EventKind.CHUNK, json.dumps({"type": "response.text.delta", "delta": "a"})),
            ev(
                2,
                EventKind.CHUNK,
                json.dumps({"type": "response.audio_transcript.delta", "delta": "b"}),
            ),
            ev(3, EventKind.CHUNK, json.dumps(done)),
            ev(4, EventKind.COMPLETED, "{}"),
        ]
    )
    assert state.content == "ab"
    assert state.status == "failed" and state.error == {"type": "server_error", "message": "boom"}
    assert state.cost is None and state.cost_metadata["reason"]


# -- properties -------------------------------------------------------------------------------


@given(st.one_of(st.text(), st.binary()))
@example(b"\x00")  # UTF-8 text with a NUL: the store keeps it exactly (its own encoding)
@example(b"\xff\xfe")  # not UTF-8: base64
def test_a_stored_frame_is_the_message_it_was(message: str | bytes) -> None:
    """Text stays text and binary stays binary, with the same bytes (replay sends what came)."""
    payload, event = ws_stored(message)
    back = ws_frame(payload, event)
    assert type(back) is type(message) and back == message


_REALTIME_TYPES = [
    "session.created", "response.created", "response.output_text.delta",
    "response.output_audio_transcript.delta", "response.function_call_arguments.delta",
    "response.function_call_arguments.done", "response.output_item.added",
    "response.output_item.done", "response.done", "error", "rate_limits.updated", "made.up",
]  # fmt: skip
_VALUES = st.one_of(
    st.none(), st.integers(-2, 50), st.text(max_size=5), st.lists(st.integers(0, 3), max_size=2)
)
_USAGE = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": _VALUES,
        "output_tokens": _VALUES,
        "input_token_details": st.dictionaries(
            st.sampled_from(["audio_tokens", "cached_tokens"]), _VALUES
        ),
    },
)
_OUTPUT_ITEM = st.fixed_dictionaries(
    {"type": st.sampled_from(["function_call", "message"])},
    optional={"call_id": _VALUES, "arguments": _VALUES},
)
_RESPONSE = st.fixed_dictionaries(
    {},
    optional={
        "id": _VALUES,
        "status": st.sampled_from(["completed", "failed", "cancelled", 7]),
        "usage": _USAGE,
        "output": st.lists(_OUTPUT_ITEM, max_size=2),
    },
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "delta": _VALUES,
        "arguments": _VALUES,
        "call_id": st.sampled_from(["c1", "c2", 3, None]),
        "item_id": st.sampled_from(["i1", "i2", None]),
        "name": _VALUES,
        "response_id": st.sampled_from(["r1", "r2", None]),
        "response": _RESPONSE,
        "item": _OUTPUT_ITEM,
        "error": st.one_of(st.none(), st.fixed_dictionaries({"message": _VALUES})),
    },
)
_FRAMES = st.lists(st.tuples(st.sampled_from(_REALTIME_TYPES), _FIELDS, st.booleans()), max_size=25)


@given(_FRAMES)
def test_any_realtime_session_projects_without_raising(frames: list[Any]) -> None:
    started = json.dumps({"provider": "openai", "api": "openai.realtime", "model": "gpt-realtime"})
    events = [StoredEvent("s", 0, EventKind.STARTED, 0, utcnow(), started)]
    for type_, fields, from_client in frames:
        kind = EventKind.CLIENT_MESSAGE if from_client else EventKind.CHUNK
        payload = json.dumps({"type": type_, **fields})
        events.append(StoredEvent("s", len(events), kind, len(events), utcnow(), payload, type_))
    events.append(StoredEvent("s", len(events), EventKind.COMPLETED, len(events), utcnow(), "{}"))
    state = project(events)
    assert state.status in ("completed", "failed")
    assert state.chunk_count + state.client_messages == len(frames)
    assert state.cost is None or state.cost >= 0


def test_steering_news_after_a_response_is_kept_without_holding_a_stream_open() -> None:
    log = ConnectionLog(
        Endpoint("openai", "openai.responses"), path="/v1/responses", query="", store=None
    )
    done = {"id": "resp_1", "model": "gpt-4o-mini", "status": "completed", "output": []}
    log.client(json.dumps({"type": "response.create", "input": "A"}))
    log.server(json.dumps({"type": "response.completed", "response": done}))
    log.server(json.dumps({"type": "response.steer.pending", "required_input": []}))
    successor = {**done, "id": "resp_2", "status": "in_progress"}
    log.server(json.dumps({"type": "response.created", "response": successor}))  # by itself
    log.server(
        json.dumps({"type": "response.completed", "response": {**successor, "status": "completed"}})
    )
    first, news, second = (r.state for r in log.recordings)
    assert (first.id, first.status) == ("resp_1", "completed")
    assert (news.status, news.chunk_count, news.unknown_events) == ("completed", 1, 0)
    assert (second.id, second.status, second.messages) == ("resp_2", "completed", [])
