"""``streamrec ui`` in a real browser: Debian's headless Chromium driven by Selenium.

Against a store holding streams of every wire format (recorded by the real SDKs
through the proxy): each page loads with no console errors, the timeline has
one point per chunk, filters change the list, the list follows new recordings,
the replay control plays. A full-page screenshot of each page is saved under
``artifacts/ui/`` (gitignored) for a person to look at.

Chromium and chromedriver come from Debian (``apt-get install chromium
chromium-driver``; ``.ci/run`` installs them); Selenium is pointed at
``/usr/bin/chromedriver`` so it never downloads a browser. Without them the tests
skip, except under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamrec import SSEEvent, Store, record
from streamrec._serving import BackgroundServer
from streamrec.ui import ui_app
from tests.chunks import REQUEST, text_stream
from tests.ui_support import Recorded, record_every_format
from tests.upstream import Upstream
from tests.ws_upstream import WSUpstream

ARTIFACTS = Path(__file__).parent.parent / "artifacts" / "ui"
CHROMIUM = os.environ.get("STREAMREC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("STREAMREC_CHROMEDRIVER", "/usr/bin/chromedriver")


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is in the test extra)"
    return None


_MISSING = _browser_missing()
_CI = os.environ.get("CI", "").lower() == "true"
# in CI the browser tests are part of what passing means: there they fail (in the driver
# fixture, with the reason) instead of skipping
pytestmark = pytest.mark.skipif(_MISSING is not None and not _CI, reason=f"no browser: {_MISSING}")


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
    upstream_session: Upstream,
    ws_upstream_session: WSUpstream,
) -> Recorded:
    upstream_session.reset()
    url = f"sqlite:///{tmp_path_factory.mktemp('ui')}/ui.db"
    return record_every_format(url, upstream_session, ws_upstream_session)


@pytest.fixture(scope="module")
def site(recorded: Recorded) -> Iterator[str]:
    store = Store(recorded.url, create=False, recover=False)
    with BackgroundServer(ui_app(store)) as server:
        yield server.url
    store.close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if _MISSING is not None:
        pytest.fail(f"CI=true and the browser tests cannot run: {_MISSING}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def _console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _open(driver: Any, url: str) -> None:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    _wait(driver, lambda: driver.execute_script("return document.readyState") == "complete")


def _wait(driver: Any, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (StaleElementReferenceException, NoSuchElementException):
            value = None  # a page that reloads itself (a stream still recording) is mid-reload
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on {driver.current_url}")
        time.sleep(0.05)


def _screenshot(driver: Any, name: str) -> Path:
    """The whole page, beyond the window's height, as artifacts/ui/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], 8000),
                "scale": 1,
            },
        },
    )
    path = ARTIFACTS / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _rows(driver: Any) -> list[dict[str, str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#rows tr')]"
        ".map(tr => ({id: tr.dataset.id, status: tr.dataset.status}))"
    )


def _chart(driver: Any, selector: str = "window.streamrecTimeline") -> list[dict[str, Any]]:
    return driver.execute_script(
        f"return {selector}.data.datasets.map(d => ({{role: d.role, label: d.label, n: d.data.length,"
        " points: d.data.map(p => p && p.seq !== undefined ? p.seq : null)}))"
    )


def test_streams_page_lists_every_recording_with_no_console_errors(
    driver: Any, site: str, recorded: Recorded
) -> None:
    _open(driver, site + "/")
    rows = _wait(driver, lambda: _rows(driver))
    assert {r["id"] for r in rows} == recorded.every_id()
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert _console_errors(driver) == []
    _screenshot(driver, "streams")


def test_filters_and_sorting_change_the_list(driver: Any, site: str, recorded: Recorded) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _open(driver, site + "/")
    Select(driver.find_element(By.NAME, "status")).select_by_visible_text("failed")
    driver.find_element(By.NAME, "name").send_keys("anthropic")
    driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    _wait(driver, lambda: "status=failed" in driver.current_url)
    rows = _rows(driver)
    failed = {recorded.ids["anthropic", s] for s in ("error_midstream", "drop")}
    assert {r["id"] for r in rows} == failed
    assert {r["status"] for r in rows} == {"failed"}
    _screenshot(driver, "streams-filtered")

    # sort by chunks, most first, through the column header
    _open(driver, site + "/")
    driver.find_element(By.CSS_SELECTOR, "th[data-sort=chunks] a").click()
    _wait(driver, lambda: "sort=chunks" in driver.current_url)
    counts = driver.execute_script(
        "return [...document.querySelectorAll('#rows tr td:nth-child(7)')].map(td => +td.textContent)"
    )
    with Store(recorded.url, create=False, recover=False) as store:
        most = max(r["chunk_count"] for r in store.streams())
    assert counts == sorted(counts, reverse=True) and counts[0] == most
    assert _console_errors(driver) == []

    # a filter that matches nothing says so
    _open(driver, site + "/?tag=no-such-tag")
    assert _rows(driver) == []
    assert driver.find_element(By.ID, "empty").is_displayed()


def test_the_list_follows_streams_as_they_are_recorded(
    driver: Any, site: str, recorded: Recorded
) -> None:
    _open(driver, site + "/?name=live")
    assert _rows(driver) == []
    with Store(recorded.url) as store:
        stream = record(
            [SSEEvent(c) for c in text_stream(["live ", "one"])],
            api="openai.chat.completions",
            request=REQUEST,
            store=store,
            name="live",
        )
        list(stream)
    rows = _wait(driver, lambda: _rows(driver), timeout=20)
    assert [r["id"] for r in rows] == [stream.stream_id]


@pytest.mark.parametrize(
    ("kind", "scenario"),
    [
        ("openai_chat", "tools"),
        ("openai_responses", "thinking"),
        ("anthropic", "tools"),
        ("google", "thinking"),
        ("anthropic", "error_midstream"),
        ("openai_chat", "slow"),
        ("openai_chat", "http_500"),
    ],
)
def test_stream_page_timeline_has_one_point_per_chunk(
    driver: Any, site: str, recorded: Recorded, kind: str, scenario: str
) -> None:
    from selenium.webdriver.common.by import By

    stream_id = recorded.ids[kind, scenario]
    with Store(recorded.url, create=False, recover=False) as store:
        state = store.state(stream_id)
        events = store.events(stream_id)
    _open(driver, f"{site}/streams/{stream_id}")
    datasets = _wait(driver, lambda: _chart(driver))
    chunks = next(d for d in datasets if d["role"] == "chunks")
    assert chunks["n"] == state.chunk_count
    assert chunks["points"] == [e.seq for e in events if e.kind.value == "chunk"]
    roles = {d["role"] for d in datasets}
    assert ("first_chunk" in roles) == (state.chunk_count > 0)
    assert ("failure" in roles) == (state.status in ("failed", "interrupted"))
    # the rebuilt state on the page
    assert driver.find_element(By.ID, "content").text == state.content.strip()
    if state.tool_calls:
        cells = driver.find_elements(By.CSS_SELECTOR, "#tool-calls tbody tr")
        assert len(cells) == len(state.tool_calls)
        assert json.loads(cells[0].find_element(By.CSS_SELECTOR, "pre").text) == (
            state.tool_calls[0].args
        )
    if state.thinking:
        assert driver.find_element(By.ID, "thinking").text == state.thinking.strip()
    if state.error:
        assert state.error["message"] in driver.find_element(By.ID, "problems").text
    # the response head the proxy recorded
    assert "content-type" in driver.find_element(By.ID, "response").text
    # every event listed; a raw payload on demand
    assert len(driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")) == len(events)
    driver.find_element(By.CSS_SELECTOR, "#events button.raw[data-seq='1']").click()
    raw = _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#events tr.payload pre"))
    shown = raw[0].text
    try:
        assert json.loads(shown) == json.loads(events[1].payload)
    except ValueError:
        assert shown == events[1].payload.strip()
    assert _console_errors(driver) == []
    _screenshot(driver, f"stream-{kind}-{scenario}")


def test_replay_control_plays_the_stream_back(driver: Any, site: str, recorded: Recorded) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    stream_id = recorded.ids["openai_chat", "slow"]
    with Store(recorded.url, create=False, recover=False) as store:
        state = store.state(stream_id)
    _open(driver, f"{site}/streams/{stream_id}")
    for speed in ("0", "1"):
        Select(driver.find_element(By.ID, "speed")).select_by_value(speed)
        started = time.monotonic()
        driver.find_element(By.ID, "play").click()
        section = driver.find_element(By.ID, "replay")
        _wait(driver, lambda s=section: s.get_attribute("data-state") == "done")
        took = time.monotonic() - started
        assert int(section.get_attribute("data-played")) == state.chunk_count
        assert driver.find_element(By.ID, "replay-output").text == state.content
        replayed = next(d for d in _chart(driver) if d["role"] == "replayed")
        assert replayed["n"] == state.chunk_count
        if speed == "1":  # on the recorded clock: at least as long as the chunks took
            assert took >= state.time_to_first_chunk_ns / 1e9
    assert _console_errors(driver) == []
    _screenshot(driver, "stream-replayed")


def test_copy_buttons_carry_the_cli_commands(driver: Any, site: str, recorded: Recorded) -> None:
    from selenium.webdriver.common.by import By

    stream_id = recorded.ids["google", "text"]
    _open(driver, f"{site}/streams/{stream_id}")
    button = driver.find_element(By.CSS_SELECTOR, "button[data-command=replay]")
    button.click()
    _wait(driver, lambda: button.get_attribute("data-copied"))
    assert button.get_attribute("data-copied") == f"streamrec replay {stream_id} --speed 1"
    assert _console_errors(driver) == []


def test_side_by_side_of_two_recordings_of_one_request(
    driver: Any, site: str, recorded: Recorded
) -> None:
    from selenium.webdriver.common.by import By

    a, b = recorded.repeated
    _open(driver, f"{site}/streams/{a}")
    driver.find_element(By.CSS_SELECTOR, "#same-request a.compare").click()
    _wait(driver, lambda: "/compare" in driver.current_url)
    assert f"b={b}" in driver.current_url
    assert "same request" in driver.find_element(By.CSS_SELECTOR, "p.meta").text
    fields = {
        tr.get_attribute("data-field"): tr.get_attribute("class")
        for tr in driver.find_elements(By.CSS_SELECTOR, "#compare tbody tr")
    }
    assert fields["content"] == "same" and fields["model"] == "same"
    chunks = [d for d in _chart(driver) if d["role"] == "chunks"]
    assert len(chunks) == 2
    assert _console_errors(driver) == []
    _screenshot(driver, "compare")


def test_history_page_charts_with_the_same_filters(
    driver: Any, site: str, recorded: Recorded
) -> None:
    _open(driver, site + "/history")
    charts = _wait(
        driver,
        lambda: driver.execute_script(
            "return window.streamrecCharts && Object.fromEntries(Object.entries(window.streamrecCharts)"
            ".map(([k, c]) => [k, c.data.datasets.map(d => d.label)]))"
        ),
    )
    with Store(recorded.url, create=False, recover=False) as store:
        models = {r["model"] or "?" for r in store.stats("model")}
    assert "gpt-4o-2024-08-06" in models and "gemini-2.5-flash" in models
    assert set(charts) == {"cost", "tokens", "ttft", "failures", "cache"}
    assert set(charts["cost"]) == models
    assert set(charts["ttft"]) == models | {f"{m} p95" for m in models}
    days = driver.execute_script("return window.streamrecCharts.cost.data.labels")
    assert {"2026-11-02", "2026-11-03", "2026-11-10"} <= set(days)
    assert _console_errors(driver) == []
    _screenshot(driver, "history")

    _open(driver, site + "/history?provider=anthropic")
    labels = _wait(
        driver,
        lambda: driver.execute_script(
            "return window.streamrecCharts && window.streamrecCharts.cost.data.datasets"
            ".map(d => d.label)"
        ),
    )
    assert labels == ["claude-haiku-4-5-20251001"]
    assert _console_errors(driver) == []

    # the metadata filter: carol's streams are the four gpt-4o ones, over three days
    _open(driver, site + "/history?meta=user%3Dcarol")
    found = _wait(
        driver,
        lambda: driver.execute_script(
            "const c = window.streamrecCharts && window.streamrecCharts.cost;"
            "return c && {labels: c.data.labels, models: c.data.datasets.map(d => d.label)}"
        ),
    )
    assert found["models"] == ["gpt-4o-2024-08-06"]
    assert found["labels"] == ["2026-11-03", "2026-11-10", "2026-12-01"]
    _screenshot(driver, "history-filtered")
    _open(driver, site + "/?meta=user%3Dcarol")
    assert {r["id"] for r in _rows(driver)} == set(recorded.history["gpt-4o"])
    assert _console_errors(driver) == []


def test_a_stream_page_follows_its_stream_while_it_records(
    driver: Any, site: str, recorded: Recorded
) -> None:
    from selenium.webdriver.common.by import By

    with Store(recorded.url) as store:
        stream = record(
            [SSEEvent(c) for c in text_stream(["still ", "going"])],
            api="openai.chat.completions",
            request=REQUEST,
            store=store,
            name="in-flight",
        )
        iterator = iter(stream)
        next(iterator)
        store.writer.flush()
        _open(driver, f"{site}/streams/{stream.stream_id}")
        _wait(driver, lambda: driver.find_element(By.ID, "status").text == "recording")
        for _ in iterator:
            pass
    _wait(driver, lambda: driver.find_element(By.ID, "status").text == "completed", timeout=20)
    assert driver.find_element(By.ID, "content").text == "still going"
    assert _console_errors(driver) == []


def test_the_demo_stream_in_the_ui(driver: Any, tmp_path: Path) -> None:
    """The README's promise: `streamrec demo`, then `streamrec ui` shows its timeline and state."""
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    from streamrec.cli import main

    db = f"sqlite:///{tmp_path}/demo.db"
    assert CliRunner().invoke(main, ["--db", db, "demo"]).exit_code == 0
    with Store(db, create=False, recover=False) as store:
        (row,) = store.streams()
        with BackgroundServer(ui_app(store)) as server:
            _open(driver, server.url + "/")
            driver.find_element(By.CSS_SELECTOR, "#rows a").click()
            _wait(driver, lambda: "/streams/" in driver.current_url)
            chunks = next(d for d in _chart(driver) if d["role"] == "chunks")
            assert chunks["n"] == row["chunk_count"]
            assert driver.find_element(By.ID, "content").text == (
                "Let me check the weather in Paris."
            )
            assert "get_weather" in driver.find_element(By.ID, "tool-calls").text
            assert _console_errors(driver) == []
            _screenshot(driver, "demo")


def test_a_realtime_session_marks_the_client_messages(
    driver: Any, site: str, recorded: Recorded
) -> None:
    from selenium.webdriver.common.by import By

    with Store(recorded.url, create=False, recover=False) as store:
        state = store.state(recorded.realtime)
        events = store.events(recorded.realtime)
    _open(driver, f"{site}/streams/{recorded.realtime}")
    datasets = {d["role"]: d for d in _wait(driver, lambda: _chart(driver))}
    assert datasets["chunks"]["n"] == state.chunk_count
    sent = [e.seq for e in events if e.kind.value == "client.message"]
    assert datasets["client_messages"]["points"] == sent and len(sent) == 4
    assert driver.find_element(By.ID, "content").text == state.content.strip()
    assert _console_errors(driver) == []
    _screenshot(driver, "stream-openai-realtime")
