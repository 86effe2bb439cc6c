"""A store for the ui tests: streams of every wire format, recorded through the proxy by the real SDKs.

Kept apart so the in-process tests (``test_ui.py``) and the browser tests
(``test_ui_browser.py``) look at the same recordings.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field

import openai

from streamrec import Store
from streamrec.recorder import ProxyServer, RecordingProxy
from tests.history_data import populate
from tests.sdk_clients import KINDS, call
from tests.upstream import Upstream
from tests.ws_upstream import WSUpstream

#: scenario per kind (the upstream's names) -> what the page must show for it
SCENARIOS: dict[str, tuple[str, ...]] = {
    "openai_chat": ("text", "tools", "slow", "error_midstream", "drop", "http_500"),
    "openai_responses": ("text", "tools", "thinking", "error_midstream"),
    "anthropic": ("text", "tools", "thinking", "error_midstream", "drop"),
    "google": ("text", "tools", "thinking", "drop"),
}
_SHORT = {
    "openai_chat": "openai_chat",
    "openai_responses": "responses",
    "anthropic": "anthropic",
    "google": "gemini",
}
_BASE_URL = {
    "openai_chat": "OPENAI_BASE_URL",
    "openai_responses": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "google": "GOOGLE_GEMINI_BASE_URL",
}


@dataclass
class Recorded:
    """The store's URL and the stream id of each (kind, scenario) recorded into it."""

    url: str
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    repeated: tuple[str, str] = ("", "")
    """Two recordings of one request (for the side-by-side view)."""
    realtime: str = ""
    """A Realtime WebSocket session (client frames among the server's)."""
    history: dict[str, list[str]] = field(default_factory=dict)
    """The known multi-day history of ``tests.history_data`` (ids by model)."""

    def every_id(self) -> set[str]:
        """Every stream in the store."""
        history = (i for v in self.history.values() for i in v)
        return {*self.ids.values(), *self.repeated, self.realtime, *history}


def record_every_format(url: str, upstream: Upstream, ws_upstream: WSUpstream) -> Recorded:
    """Record each scenario of each kind, named ``<kind>`` and tagged with the scenario; add history."""
    recorded = Recorded(url)
    with Store(url) as store:
        for kind in KINDS:
            for scenario in SCENARIOS[kind]:
                proxy = RecordingProxy(
                    store=store,
                    upstreams=_upstreams(upstream),
                    name=kind,
                    tags=[scenario],
                )
                with ProxyServer(proxy) as server:
                    # the drop and error scenarios raise in the SDK, by design
                    with contextlib.suppress(Exception):
                        call(
                            kind,
                            "sync",
                            f"ui {scenario}",
                            scenario=f"{_SHORT[kind]}.{scenario}",
                            base_url=server.env[_BASE_URL[kind]],
                        )
                    _settle(store, proxy)
                (recorded.ids[kind, scenario],) = proxy.stream_ids
        # the same request twice: two recordings of it to put side by side
        again = []
        for _ in range(2):
            proxy = RecordingProxy(
                store=store,
                upstreams=_upstreams(upstream),
                name="again",
            )
            with ProxyServer(proxy) as server:
                call(
                    "openai_chat",
                    "sync",
                    "the same question",
                    base_url=server.env["OPENAI_BASE_URL"],
                )
                _settle(store, proxy)
            again.extend(proxy.stream_ids)
        recorded.repeated = (again[0], again[1])
        recorded.realtime = _record_realtime(store, ws_upstream)
        # weeks of history with metadata, for the history page and the metadata filter
        recorded.history = populate(store)
    return recorded


def _record_realtime(store: Store, ws_upstream: WSUpstream) -> str:
    """A Realtime session through the proxy, by the openai SDK's own WebSocket client."""
    proxy = RecordingProxy(store=store, upstreams={"openai": ws_upstream.base_url}, name="realtime")
    with (
        ProxyServer(proxy) as server,
        openai.OpenAI(api_key="sk-ui", base_url=server.env["OPENAI_BASE_URL"]) as client,
        client.realtime.connect(model="gpt-realtime") as connection,
    ):
        connection.recv_bytes()  # session.created
        for text in ("hi", "[tools] weather?"):
            connection.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                }
            )
            connection.response.create()
            while json.loads(connection.recv_bytes())["type"] != "response.done":
                pass
    _settle(store, proxy)
    (stream_id,) = proxy.stream_ids
    return stream_id


def _upstreams(upstream: Upstream) -> dict[str, str]:
    """Each provider's base URL as its SDK takes it (openai's ends in /v1)."""
    return {
        "openai": upstream.openai_base_url,
        "anthropic": upstream.anthropic_base_url,
        "google": upstream.google_base_url,
    }


def _settle(store: Store, proxy: RecordingProxy, timeout: float = 5.0) -> None:
    """Wait until the proxy's recordings have ended and are committed."""
    deadline = time.monotonic() + timeout
    while True:
        store.writer.flush()
        if all(store.stream(i)["status"] != "recording" for i in proxy.stream_ids):
            return
        if time.monotonic() > deadline:
            raise AssertionError("a recording did not end")
        time.sleep(0.02)
