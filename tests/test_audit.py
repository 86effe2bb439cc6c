"""`streamrec audit` finds secret-like strings that reached a store, and `--scrub` removes them.

Leaks are planted the way an old recording (made before redaction covered a
path) would hold them: the stored events are edited underneath the store.
Real recordings of every provider, through the SDKs, must give no finding
(their ids, signatures and encrypted reasoning are random by design).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import text

from streamrec import SSEEvent, Store, record, replay
from streamrec.cli import main
from streamrec.events import request_fingerprint
from streamrec.recorder import ProxyServer, RecordingProxy, audit_lines, audit_store, scrub_store
from streamrec.store import export_lines
from tests.chunks import chunk, text_stream
from tests.sdk_clients import KINDS, call
from tests.upstream import SCENARIOS, Upstream

OPENAI_KEY = "sk-proj-AUDITopenai0123456789abcdefghijklmnop"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhdWRpdCJ9.AUDITjwtSignature0123456789"
HIGH_ENTROPY = "q8ZrT2vLx9KpW4nBc7YhJ3mFd6GsA1eQ"
BEARER = "Bearer abcDEF0123456789ghiJKL"
PLANTED = (OPENAI_KEY, JWT, HIGH_ENTROPY, "abcDEF0123456789ghiJKL", "hunter2hunter2")
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def _set_payload(store: Store, stream_id: str, seq: int, payload: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET payload = :p WHERE stream_id = :s AND seq = :q"),
            {"p": payload, "s": stream_id, "q": seq},
        )


def plant_leaks(store: Store) -> list[str]:
    """Two recordings holding secrets as an older streamrec might have stored them."""
    first = record(
        [SSEEvent(c) for c in text_stream(["a", "b"])], api="openai", request=REQUEST, store=store
    )
    list(first)
    failing = record(
        [SSEEvent(chunk({"content": "x"}))], api="openai", request=REQUEST, store=store
    )
    list(failing)
    store.writer.flush()
    started = json.loads(store.events(first.stream_id)[0].payload)
    started["request"]["metadata"] = {"api_key": "hunter2hunter2", "note": HIGH_ENTROPY}
    started["request"]["user"] = JWT
    _set_payload(store, first.stream_id, 0, json.dumps(started))
    _set_payload(store, first.stream_id, 2, chunk({"content": f"your key: {OPENAI_KEY}"}))
    failed = json.dumps({"error_type": "AuthenticationError", "message": f"sent {BEARER}"})
    last = store.events(failing.stream_id)[-1].seq
    _set_payload(store, failing.stream_id, last, failed)
    return [first.stream_id, failing.stream_id]


def _dump(store: Store) -> str:
    return "".join(export_lines(store))


def test_audit_finds_planted_secrets_and_scrub_removes_them(url: str) -> None:
    store = Store(url)
    ids = plant_leaks(store)
    found = audit_store(store)
    whats = {(f.stream_id, f.where, f.what) for f in found}
    assert (ids[0], "payload.request.metadata.api_key", "secret-named field") in whats
    assert (ids[0], "payload.request.metadata.note", "high-entropy token") in whats
    assert (ids[0], "payload", "jwt") in whats
    assert (ids[0], "payload", "openai-style key") in whats
    assert (ids[1], "payload", "bearer token") in whats
    assert not any(p in json.dumps([f.as_dict() for f in found]) for p in PLANTED)  # masked
    before = store.state(ids[0]).content
    scrubbed = scrub_store(store)
    assert len(scrubbed) == len(found)
    assert audit_store(store) == []
    dump = _dump(store)
    assert not any(p in dump for p in PLANTED) and "[redacted]" in dump
    # the recordings still work: state rebuilt, verify clean, replayable
    assert store.state(ids[0]).content == before.replace(OPENAI_KEY, "[redacted]")
    assert store.verify() == []
    assert list(replay(ids[0], store=store, format="text"))
    store.close()


def test_real_recordings_of_every_provider_give_no_finding(
    store: Store, upstream: Upstream
) -> None:
    upstreams = {
        "openai": upstream.openai_base_url,
        "anthropic": upstream.base_url,
        "google": upstream.base_url,
    }
    prefix = {
        "openai_chat": "openai_chat",
        "openai_responses": "responses",
        "anthropic": "anthropic",
        "google": "gemini",
    }
    with ProxyServer(RecordingProxy(store=store, upstreams=upstreams)) as proxy:
        for kind in KINDS:
            for name in sorted(SCENARIOS):
                if name.startswith(prefix[kind] + ".") and not name.endswith(".slow"):
                    # an SDK error is what some scenarios model (http_500, error_midstream)
                    with contextlib.suppress(Exception):
                        call(
                            kind, "sync", "audit me", base_url=_base(proxy.env, kind), scenario=name
                        )
    store.writer.flush()
    assert len(store.stream_ids()) >= 30
    assert audit_store(store) == []


def _base(env: dict[str, str], kind: str) -> str:
    var = {"anthropic": "ANTHROPIC_BASE_URL", "google": "GOOGLE_GEMINI_BASE_URL"}.get(
        kind, "OPENAI_BASE_URL"
    )
    return env[var]


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_the_cli_on_a_store_and_on_a_jsonl_export(tmp_path: Path) -> None:
    db = str(tmp_path / "audit.db")
    with Store(db) as store:
        ids = plant_leaks(store)
    found = _run("--db", db, "audit")
    assert found.exit_code == 1
    assert ids[0] in found.stdout and "secret-named field" in found.stdout
    assert "--scrub" in found.stderr
    assert not any(p in found.output for p in PLANTED)
    as_json = json.loads(_run("--db", db, "audit", "--json").stdout)
    assert as_json["count"] == len(as_json["findings"]) >= 5 and as_json["remaining"] > 0

    export = tmp_path / "recordings.jsonl"
    assert _run("--db", db, "export", "-o", str(export)).exit_code == 0
    lines = export.read_text().splitlines()
    assert len(audit_lines(lines)) == as_json["count"]
    assert _run("audit", str(export)).exit_code == 1
    assert _run("--db", str(export), "audit").exit_code == 1
    scrubbed = _run("audit", str(export), "--scrub")
    assert scrubbed.exit_code == 0, scrubbed.output
    assert "redacted" in scrubbed.stderr
    assert not any(p in export.read_text() for p in PLANTED)
    assert _run("audit", str(export)).exit_code == 0
    assert _run("--db", str(tmp_path / "clean.db"), "import", str(export)).exit_code == 0
    with Store(tmp_path / "clean.db") as imported:  # the scrubbed request's own fingerprint
        started = json.loads(imported.events(ids[0])[0].payload)
        assert started["fingerprint"] == request_fingerprint(started["api"], started["request"])

    done = _run("--db", db, "audit", "--scrub")
    assert done.exit_code == 0 and "redacted" in done.stderr
    clean = _run("--db", db, "audit")
    assert clean.exit_code == 0 and "no secret-like strings" in clean.stderr
    assert not any(p in (tmp_path / "audit.db").read_bytes().decode("latin-1") for p in PLANTED)


def test_random_ids_in_recorded_headers_are_not_findings() -> None:
    """Real providers' response headers: request ids and trace ids are random, not secrets."""
    headers = {
        "x-request-id": "req_7c1e4b1d2a0f4e3b9c8d7e6f5a4b3c2d",
        "request-id": "req_011CVabcDEF123ghiJKL456mnoPQRstu",
        "anthropic-organization-id": "4f3c2b1a-0d9e-8f7a-6b5c-4d3e2f1a0b9c",
        "cf-ray": "8f1b2c3d4e5f6a7b-CDG",
        "x-cloud-trace-context": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6;o=1",
        "openai-processing-ms": "123",
        "x-leaked": "Zq8ZrT2vLx9KpW4nBc7YhJ3mFd6GsA1eQ",
    }
    payload = json.dumps({"response": {"status": 401, "headers": headers}, "message": "no"})
    lines = [
        json.dumps(
            {
                "stream_id": "s",
                "seq": 3,
                "kind": kind,
                "t_ns": 0,
                "recorded_at": "",
                "payload": payload,
            }
        )
        for kind in ("stream.failed", "stream.completed")
    ]
    found = audit_lines(lines)
    assert [(f.where, f.what) for f in found] == [
        ("payload.response.headers.x-leaked", "high-entropy token")
    ] * 2
