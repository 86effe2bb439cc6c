"""Attribution: metadata through record(), the transports, the proxy (x-streamrec-* headers,
stripped before forwarding) and `streamrec record --meta`; conversations linked by
previous_response_id and by repeated message prefixes, so a thread's cost is one query."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import openai
import pytest
from click.testing import CliRunner

from streamrec import SSEEvent, Store, record
from streamrec.cli import main
from streamrec.errors import RecorderError
from streamrec.recorder import ProxyServer, RecordingProxy, RecordingTransport
from tests.upstream import Upstream

from .chunks import REQUEST, text_stream
from .history_data import write_stream

UTC = timezone.utc


def _chat(client: openai.OpenAI, text: str = "hi", **kwargs: object) -> str:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,  # type: ignore[arg-type]
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_record_metadata_is_stored_filtered_and_grouped(url: str) -> None:
    with Store(url) as store:
        for user in ("alice", "bob", "alice"):
            stream = record(
                [SSEEvent(c) for c in text_stream(["a"])],
                api="openai.chat.completions",
                request=REQUEST,
                store=store,
                metadata={"user": user, "attempt": 2},
            )
            list(stream)
        row = store.stream(stream.stream_id)
        assert json.loads(row["meta"]) == {"attempt": "2", "user": "alice"}
        assert store.state(stream.stream_id).metadata["user"] == "alice"
        assert len(store.streams(meta={"user": "alice"})) == 2
        assert len(store.streams(meta={"user": "alice", "attempt": "3"})) == 0
        assert [(r["user"], r["streams"]) for r in store.stats("user")] == [
            ("alice", 2),
            ("bob", 1),
        ]
        assert store.rebuild() == 3 and store.verify() == []
        with pytest.raises(RecorderError, match="reserved"):
            record([], api="openai.chat.completions", store=store, metadata={"name": "x"})


def test_proxy_headers_attribute_the_call_and_never_reach_the_provider(
    store: Store, upstream: Upstream
) -> None:
    proxy = RecordingProxy(
        store=store,
        upstreams={"openai": upstream.openai_base_url},
        name="app",
        tags=["ci"],
        metadata={"project": "search"},
    )
    with ProxyServer(proxy) as server:
        client = openai.OpenAI(base_url=f"{server.url}/openai/v1", api_key="sk-x", max_retries=0)
        assert _chat(
            client,
            extra_headers={
                "X-Streamrec-User": "alice",
                "x-streamrec-session": "s-42",
                "x-streamrec-tags": "beta, ui",
                "x-streamrec-name": "checkout",
            },
        ).startswith("Echo")
        _chat(client)  # no headers: the proxy's defaults alone
        client.close()
    store.writer.flush()
    for request in upstream.requests:
        assert not [h for h in request.headers if h.startswith("x-streamrec")], request.headers
    first, second = (store.stream(i) for i in proxy.stream_ids)
    assert (first["name"], json.loads(first["tags"])) == ("checkout", ["ci", "beta", "ui"])
    assert json.loads(first["meta"]) == {"project": "search", "session": "s-42", "user": "alice"}
    assert (second["name"], json.loads(second["tags"])) == ("app", ["ci"])
    assert json.loads(second["meta"]) == {"project": "search"}


def test_transport_headers_attribute_the_call(store: Store, upstream: Upstream) -> None:
    transport = RecordingTransport(httpx.HTTPTransport(), store=store, metadata={"team": "core"})
    with httpx.Client(transport=transport) as http:
        client = openai.OpenAI(
            base_url=upstream.openai_base_url, api_key="sk-x", http_client=http, max_retries=0
        )
        _chat(client, extra_headers={"x-streamrec-user": "bob"})
    [received] = upstream.requests
    assert received.header("x-streamrec-user") is None
    [sid] = transport.stream_ids
    assert json.loads(store.stream(sid)["meta"]) == {"team": "core", "user": "bob"}


def test_cli_record_meta(tmp_path: Path, upstream: Upstream) -> None:
    db = f"sqlite:///{tmp_path}/record.db"
    script = tmp_path / "app.py"
    script.write_text(
        "import openai\n"
        "c = openai.OpenAI(api_key='sk-x', max_retries=0)\n"
        "s = c.chat.completions.create(model='gpt-4o-mini', stream=True,\n"
        "    messages=[{'role': 'user', 'content': 'hi'}],\n"
        "    extra_headers={'x-streamrec-feature': 'search'})\n"
        "print(''.join(x.choices[0].delta.content or '' for x in s if x.choices))\n"
    )
    result = CliRunner().invoke(
        main,
        ["--db", db, "record", "--meta", "user=ci", "--meta", "project=p1",
         f"--upstream=openai={upstream.openai_base_url}", "--", sys.executable, str(script)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert upstream.requests[0].header("x-streamrec-feature") is None
    with Store(db) as store:
        [row] = store.streams()
        assert json.loads(row["meta"]) == {"feature": "search", "project": "p1", "user": "ci"}
    bad = CliRunner().invoke(main, ["--db", db, "record", "--meta", "novalue", "--", "true"])
    assert bad.exit_code == 2


# -- conversations -------------------------------------------------------------------------


def _turns(*texts: str) -> list[dict[str, str]]:
    out = [{"role": "system", "content": "Be brief."}]
    for n, text in enumerate(texts):
        out.append({"role": "user" if n % 2 == 0 else "assistant", "content": text})
    return out


def test_repeated_message_prefixes_link_a_thread(url: str) -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    model = "gpt-4o-mini-2024-07-18"
    with Store(url) as store:

        def turn(n: int, *texts: str) -> str:
            return write_stream(
                store,
                started_at=start + timedelta(minutes=n),
                model=model,
                ttft_ms=10,
                request={"model": "gpt-4o-mini", "messages": _turns(*texts)},
            )

        a1 = turn(0, "plan a trip")
        other = turn(1, "something else")
        a2 = turn(2, "plan a trip", "Where to?", "Paris")
        a3 = turn(3, "plan a trip", "Where to?", "Paris", "When?", "May")
        rows = {r["stream_id"]: r for r in store.streams()}
        assert rows[a1]["conversation_id"] == a1 and rows[a1]["parent_id"] is None
        assert (rows[a2]["conversation_id"], rows[a2]["parent_id"]) == (a1, a1)
        assert (rows[a3]["conversation_id"], rows[a3]["parent_id"]) == (a1, a2)
        assert rows[other]["conversation_id"] == other
        [thread] = [r for r in store.stats("conversation") if r["conversation"] == a1]
        assert (thread["streams"], thread["cost_nanousd"]) == (3, 3 * 210_000)
        assert len(store.streams(conversation=a1)) == 3
        store.grant_reader()  # PostgreSQL: the role `streamrec db upgrade` creates
        _, found = store.sql(
            f"SELECT streams, cost_nanousd FROM conversations WHERE conversation_id = '{a1}'"
        )
        assert found == [(3, 630_000)]


def test_previous_response_id_links_to_the_stream_that_answered(url: str) -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    with Store(url) as store:
        first = write_stream(
            store, started_at=start, model="gpt-4o-mini", ttft_ms=10, response_id="resp_1"
        )
        second = write_stream(
            store,
            started_at=start + timedelta(minutes=1),
            model="gpt-4o-mini",
            ttft_ms=10,
            response_id="resp_2",
            request={
                "model": "gpt-4o-mini",
                "input": "and then?",
                "previous_response_id": "resp_1",
            },
        )
        third = write_stream(
            store,
            started_at=start + timedelta(minutes=2),
            model="gpt-4o-mini",
            ttft_ms=10,
            request={"model": "gpt-4o-mini", "input": "more", "previous_response_id": "resp_2"},
        )
        assert store.stream(second)["parent_id"] == first
        assert store.stream(third)["conversation_id"] == first
