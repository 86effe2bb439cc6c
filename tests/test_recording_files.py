"""Per-test recording files: payloads that are JSON are written as JSON a reviewer can read,
and every payload still comes back byte for byte (replay stays exact)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import example, given
from hypothesis import strategies as st

from streamrec.events import EventKind, StoredEvent
from streamrec.store._portable import _payload, event_line, readable_payload

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
STYLES = st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")])


def _line(payload: str) -> dict[str, object]:
    event = StoredEvent("s", 1, EventKind.CHUNK, 5, datetime.now(timezone.utc), payload, "x")
    parsed: dict[str, object] = json.loads(event_line(event, readable=True))
    return parsed


@given(JSON, STYLES, st.booleans())
@example({"a": 1, "b": [1, 2]}, (",", ": "), False)  # Gemini's spacing
def test_json_payloads_read_as_json_and_come_back_exactly(
    value: object, separators: tuple[str, str], ascii_only: bool
) -> None:
    payload = json.dumps(value, separators=separators, ensure_ascii=ascii_only)
    line = _line(payload)
    assert _payload(line) == payload
    if isinstance(value, (dict, list)):
        assert "json" in line and line["json"] == value


@given(st.text())
@example('{"a":1,"a":2}')  # duplicate keys: JSON would lose one, so it stays text
@example("[DONE]")
@example('{"x": 1.0e5}')
def test_any_payload_comes_back_exactly(payload: str) -> None:
    assert _payload(_line(payload)) == payload
    assert _payload(readable_payload(payload)) == payload
