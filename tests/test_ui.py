"""``streamrec ui`` in process: its JSON endpoints and pages over real stores, and the command.

The browser tests (``test_ui_browser.py``) look at the same pages in Chromium;
these check what the server answers, on SQLite and PostgreSQL, without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from streamrec import SSEEvent, Store, record
from streamrec._serving import BackgroundServer
from streamrec.cli import main
from streamrec.ui import ui_app
from tests.chunks import REQUEST, chunk, record_texts, text_stream, tool_delta


def _record(store: Store, words: list[str], **kwargs: object) -> str:
    return record_texts(store, text_stream(words), **kwargs)


@pytest.fixture
def filled(any_store: Store) -> tuple[Store, list[str]]:
    """Five streams: three named a (one tagged x), two named b; and one that failed."""
    ids = [
        _record(any_store, ["one"], name="a"),
        _record(any_store, ["two", " words"], name="a", tags=["x"]),
        _record(any_store, ["three", " more", " words"], name="a"),
        _record(any_store, ["b1"], name="b"),
        _record(any_store, ["b2"], name="b"),
    ]
    broken = record(
        [SSEEvent(c) for c in text_stream(["cut"])[:2]],
        api="openai.chat.completions",
        request=REQUEST,
        store=any_store,
        name="b",
    )
    for _ in broken:
        break
    broken.close()
    any_store.writer.flush()
    return any_store, [*ids, broken.stream_id]


@pytest.fixture
def client(filled: tuple[Store, list[str]]) -> Iterator[TestClient]:
    store, _ = filled
    with TestClient(ui_app(store)) as c:
        yield c


def _ids(client: TestClient, query: str = "") -> list[str]:
    response = client.get("/api/streams" + query)
    assert response.status_code == 200, response.text
    return [r["stream_id"] for r in response.json()["rows"]]


def test_list_filters_sorts_and_pages_server_side(
    client: TestClient, filled: tuple[Store, list[str]]
) -> None:
    _, ids = filled
    assert _ids(client) == ids[::-1]  # newest first
    assert _ids(client, "?name=a") == ids[:3][::-1]
    assert _ids(client, "?tag=x") == [ids[1]]
    assert _ids(client, "?status=interrupted") == [ids[5]]
    assert _ids(client, "?name=b&status=completed") == [ids[4], ids[3]]
    assert set(_ids(client, "?provider=openai&api=openai.chat.completions")) == set(ids)
    assert set(_ids(client, f"?model={REQUEST['model']}")) == set(ids)
    assert _ids(client, "?provider=anthropic") == []
    # sorted by chunk count, most first, ties newest first
    rows = client.get("/api/streams?sort=chunks&order=desc").json()["rows"]
    counts = [r["chunks"] for r in rows]
    assert counts == sorted(counts, reverse=True)
    assert client.get("/api/streams?sort=chunks&order=asc").json()["rows"][-1]["chunks"] == max(
        counts
    )
    # time filters: everything is from the last hour; nothing from tomorrow on
    assert len(_ids(client, "?since=1h")) == 6
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert _ids(client, f"?since={tomorrow}") == []
    assert len(_ids(client, f"?until={tomorrow}")) == 6


def test_pages_do_not_overlap(client: TestClient, filled: tuple[Store, list[str]]) -> None:
    from streamrec.store import Filters
    from streamrec.ui._data import list_streams

    store, ids = filled
    seen: list[str] = []
    for page in (1, 2, 3):
        listing = list_streams(store, Filters(), page=page, page_size=2)
        seen += [r["stream_id"] for r in listing.rows]
        assert listing.has_next == (page < 3)
    assert seen == ids[::-1]


def test_bad_filters_are_refused_with_what_is_accepted(client: TestClient) -> None:
    response = client.get("/api/streams?since=garbage")
    assert response.status_code == 400
    assert "ISO 8601" in response.json()["error"] and "7d" in response.json()["error"]
    assert client.get("/api/streams?status=done").status_code == 400
    assert "KEY=VALUE" in client.get("/api/streams?meta=user").json()["error"]
    page = client.get("/?since=2026-13-45")
    assert page.status_code == 400 and "is not a valid time" in page.text


def test_stream_view_has_the_state_timeline_and_deltas(store: Store) -> None:
    raw = text_stream(["Hel", "lo"])
    raw.insert(-2, chunk({"tool_calls": [tool_delta(0, id="call_1", name="f", args='{"a": ')]}))
    raw.insert(-2, chunk({"tool_calls": [tool_delta(0, args="1}")]}))
    stream_id = record_texts(store, raw, name="v")
    with TestClient(ui_app(store)) as client:
        view = client.get(f"/api/streams/{stream_id[:13]}").json()
    state = view["state"]
    assert state["content"] == "Hello"
    assert state["tool_calls"][0]["name"] == "f" and json.loads(
        state["tool_calls"][0]["arguments"]
    ) == {"a": 1}
    assert state["cost"] is not None and state["cost_metadata"]["source"] == "genai-prices"
    chunks = [e for e in view["events"] if e["kind"] == "chunk"]
    assert len(view["timeline"]["points"]) == len(chunks) == state["chunk_count"]
    assert [e["delta"].get("content") for e in chunks if "content" in e["delta"]] == ["Hel", "lo"]
    fragments = [t["args"] for e in chunks for t in e["delta"].get("tool_calls", [])]
    assert "".join(fragments) == '{"a": 1}'
    assert any("usage" in e["delta"] for e in chunks)
    points = view["timeline"]["points"]
    assert [p["y"] for p in points] == sorted(p["y"] for p in points)  # cumulative
    assert view["timeline"]["first_chunk"] == points[0]
    assert view["timeline"]["end"]["kind"] == "completed"
    assert view["commands"]["replay"] == f"streamrec replay {stream_id} --speed 1"
    assert view["request"] == REQUEST


def test_raw_payload_on_demand_and_unknown_streams(
    client: TestClient, filled: tuple[Store, list[str]]
) -> None:
    store, ids = filled
    found = client.get(f"/api/streams/{ids[0]}/events/1").json()
    assert found["payload"] == store.events(ids[0])[1].payload
    assert client.get(f"/api/streams/{ids[0]}/events/999").status_code == 404
    assert client.get("/api/streams/nope-nope").status_code == 404
    page = client.get("/streams/nope-nope")
    assert page.status_code == 404 and "nope-nope" in page.text


def test_replay_feed_is_the_library_replay(
    client: TestClient, filled: tuple[Store, list[str]]
) -> None:
    store, ids = filled
    with client.stream("GET", f"/api/streams/{ids[2]}/replay?speed=0") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    messages = [
        (block.split("\n")[0][len("event: ") :], json.loads(block.split("\n")[1][len("data: ") :]))
        for block in body.strip().split("\n\n")
    ]
    chunks = [m for kind, m in messages if kind == "chunk"]
    payloads = [e.payload for e in store.events(ids[2]) if e.kind.value == "chunk"]
    assert [m["index"] for m in chunks] == list(range(len(payloads)))
    assert [m["bytes"] for m in chunks] == [len(p) for p in payloads]
    assert "".join(m["text"] for m in chunks) == store.state(ids[2]).content
    assert messages[-1] == ("end", {"chunks": len(payloads)})
    assert client.get(f"/api/streams/{ids[2]}/replay?speed=-1").status_code == 400


def test_compare_and_history(client: TestClient, filled: tuple[Store, list[str]]) -> None:
    _, ids = filled
    page = client.get(f"/compare?a={ids[0]}&b={ids[1]}")
    assert page.status_code == 200
    # the verdict is streamrec diff's: same request, the answers differ in their content
    assert "of the same request" in page.text and "differ</b> in content" in page.text
    assert '<tr class="differs" data-field="content">' in page.text
    assert '<tr class="same" data-field="model">' in page.text
    assert f"streamrec diff {ids[0]} {ids[1]}" in page.text
    assert client.get("/compare?a=" + ids[0]).status_code == 400
    history = client.get("/api/history").json()
    (row,) = history["rows"]
    assert row["streams"] == 6 and row["interrupted"] == 1 and row["failures"] == 0
    assert history["models"] == ["gpt-4o-mini-2024-07-18"]
    assert history["days"] == [row["day"]] and history["by_day"][0]["streams"] == 6
    assert client.get("/api/history?name=b").json()["rows"][0]["streams"] == 3
    assert client.get("/history").status_code == 200


def test_every_page_renders(client: TestClient, filled: tuple[Store, list[str]]) -> None:
    _, ids = filled
    for path in (
        "/",
        "/?status=failed&sort=cost&order=asc&page=2",
        f"/streams/{ids[1]}",
        "/history",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert "<!doctype html>" in response.text
    chart = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]


def test_foreign_host_headers_are_refused(store: Store) -> None:
    """DNS rebinding: a page on another name must not read the recordings through the browser."""
    with BackgroundServer(ui_app(store)) as server:
        assert httpx.get(server.url + "/api/streams").status_code == 200
        local = {"host": f"localhost:{server.port}"}
        assert httpx.get(server.url + "/api/streams", headers=local).status_code == 200
        foreign = {"host": f"evil.example:{server.port}"}
        assert httpx.get(server.url + "/api/streams", headers=foreign).status_code == 421


def test_the_command(tmp_path: Path, store: Store) -> None:
    db = tmp_path / "ui.db"
    db_url = store.url
    result = CliRunner().invoke(main, ["ui", "--db", str(db)])
    assert result.exit_code == 1 and "not a streamrec database" in result.stderr
    result = CliRunner().invoke(main, ["ui", "--db", db_url, "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "--allow-remote" in result.stderr


def test_the_command_serves_the_store(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/served.db"
    with Store(db) as store:
        stream_id = _record(store, ["served"], name="served")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamrec", "--db", db, "ui", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("streamrec ui: http://127.0.0.1:"), line
        url = line.split()[2]
        rows = httpx.get(url + "api/streams", timeout=10).json()["rows"]
        assert [r["stream_id"] for r in rows] == [stream_id]
    finally:
        process.terminate()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill() if process.poll() is None else None
        process.communicate()
    assert process.returncode in (0, -15)


def test_history_figures_are_the_stats_figures(any_store: Store) -> None:
    """The charts' numbers are ``Store.stats`` by day and model, with the page's filters."""
    from tests.history_data import populate

    ids = populate(any_store)
    with TestClient(ui_app(any_store)) as client:
        history = client.get("/api/history").json()
        carol = client.get("/api/history?meta=user%3Dcarol").json()
        listed = client.get("/api/streams?meta=user%3Dcarol").json()["rows"]
    assert history["days"] == ["2026-11-02", "2026-11-03", "2026-11-10", "2026-12-01"]
    assert history["models"] == ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"]
    mini = next(r for r in history["rows"] if r["model"] == "gpt-4o-mini-2024-07-18")
    expected = any_store.stats(["day", "model"], model="gpt-4o-mini-2024-07-18")[0]
    assert mini["streams"] == 20 and mini["ttft_ms_p50"] == expected["ttft_ms_p50"] == 100
    assert mini["cost"] == str(expected["cost"]) and mini["cache_savings"] == str(
        expected["cache_savings"]
    )
    assert {r["model"] for r in carol["rows"]} == {"gpt-4o-2024-08-06"}
    assert carol["days"] == ["2026-11-03", "2026-11-10", "2026-12-01"]
    assert {r["stream_id"] for r in listed} == set(ids["gpt-4o"])
    assert {json.dumps(r["meta"]) for r in listed} == {'{"user": "carol"}'}


def test_recorded_text_is_shown_as_text_never_markup(store: Store) -> None:
    """A model's output is untrusted: a tag in it must reach the page escaped."""
    evil = '<img src=x onerror="alert(1)"></script><script>alert(2)</script>'
    stream_id = _record(store, [evil], name=evil, tags=[evil])
    with TestClient(ui_app(store)) as client:
        for path in (f"/streams/{stream_id}", "/", f"/compare?a={stream_id}&b={stream_id}"):
            page = client.get(path, params={"name": evil}).text
            assert "<img src=x" not in page and "<script>alert" not in page, path
