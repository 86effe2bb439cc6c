"""Finding what slipped past redaction: secret-like strings in stored events, and scrubbing them.

Recording removes credentials before an event is built (``_redact``), but a
recording made by an older streamrec, imported from elsewhere, or a chunk in
which a model wrote a key, can still hold one. ``audit_store`` and
``audit_lines`` report each: where (stream, seq, JSON path), what kind, and a
masked excerpt — never the secret itself. ``scrub_store`` and ``scrub_lines``
replace them by ``[redacted]`` in place: the one exception to the log being
append-only, since a stored secret is worse than an edited log.

What counts as secret-like:

* the shapes ``_redact`` knows (provider key prefixes ``sk-``, ``sk-ant-``,
  ``AIza``; ``Bearer …``; JWTs; GitHub, Slack, AWS, Hugging Face tokens;
  ``?key=…``), anywhere in any event;
* a scalar string under a credential-named field (``api_key``, ``password``,
  ``authorization``…) in a JSON payload;
* in requests, headers and failure messages (not in chunks, whose ids,
  signatures and encrypted reasoning are random by design): high-entropy
  tokens, 32+ characters of mixed case and digits at over 4.3 bits a character.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..events import EventKind, request_fingerprint
from ._redact import REDACTED, SECRET_PATTERN, _secret_at_depth

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["Finding", "audit_lines", "audit_store", "scrub_lines", "scrub_store"]

_ENTROPY_BITS = 4.3
_TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{32,128}(?![A-Za-z0-9_\-])")
# where random strings are data, not credentials
_RANDOM_BY_DESIGN = re.compile(
    r"(^|[._\[])(id|[^.\[\]]*[_-]id|ids|fingerprint|signature|encrypted_content|data|"
    r"obfuscation|thought_signature|url|uri|[^.\[\]]*trace[^.\[\]]*|[^.\[\]]*-ray|etag)(\]|$)",
    re.I,
)
_KIND_OF = {
    "sk-ant-": "anthropic key",
    "sk-": "openai-style key",
    "AIza": "google api key",
    "eyJ": "jwt",
    "gh": "github token",
    "github_pat_": "github token",
    "xox": "slack token",
    "AKIA": "aws access key",
    "ASIA": "aws access key",
    "hf_": "hugging face token",
}


@dataclass(frozen=True)
class Finding:
    """One secret-like string: where it is, what it looks like, and a masked excerpt."""

    stream_id: str
    seq: int
    kind: str
    where: str
    """``payload`` or a JSON path in it (``payload.request.metadata.api_key``)."""
    what: str
    """``openai-style key``, ``bearer token``, ``jwt``, ``secret-named field``, ``high-entropy token``…"""
    excerpt: str
    """The first characters and the length: enough to recognise, never enough to use."""

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``."""
        return asdict(self)


def _mask(secret: str) -> str:
    return f"{secret[:4]}…({len(secret)} chars)"


def _pattern_kind(match: re.Match[str]) -> str:
    if match["token"] is None:
        lead = match["lead"].strip().lower()
        if lead.startswith(("bearer", "token")):
            return "bearer token"
        if lead.startswith("basic"):
            return "basic auth"
        return "key in a url"
    token = match["token"]
    for prefix, kind in _KIND_OF.items():
        if token.startswith(prefix):
            return kind
    return "token"


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(text: str) -> Iterator[str]:
    for match in _TOKEN.finditer(text):
        token = match.group()
        if (
            any(c.isdigit() for c in token)
            and any(c.islower() for c in token)
            and any(c.isupper() for c in token)
            and _entropy(token) >= _ENTROPY_BITS
        ):
            yield token


def _walk(value: Any, path: str) -> Iterator[tuple[str, str | None, Any]]:
    """(path, key, value) for every scalar in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from (
                _walk(v, f"{path}.{k}")
                if isinstance(v, dict | list)
                else [(f"{path}.{k}", str(k), v)]
            )
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from (
                _walk(v, f"{path}[{i}]")
                if isinstance(v, dict | list)
                else [(f"{path}[{i}]", None, v)]
            )


def _secrets_in(kind: str, payload: str) -> list[tuple[str, str, str]]:
    """(where, what, secret) for one event's payload."""
    found: list[tuple[str, str, str]] = []
    for match in SECRET_PATTERN.finditer(payload):
        secret = match["token"] or match["value"]
        found.append(("payload", _pattern_kind(match), secret))
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    seen = {s for _, _, s in found}
    # where credentials are sent or echoed: the request, failures, and the response
    # headers kept with a terminal event (random ids there are skipped by name)
    entropy = kind in (EventKind.STARTED.value, EventKind.FAILED.value, EventKind.COMPLETED.value)
    for path, key, value in _walk(data, "payload"):
        if not isinstance(value, str) or not value or value == REDACTED:
            continue
        if key is not None and _secret_at_depth(key) and value not in seen:
            found.append((path, "secret-named field", value))
            seen.add(value)
        elif entropy and not _RANDOM_BY_DESIGN.search(path):
            for token in _high_entropy(value):
                if token not in seen and not any(token in s or s in token for s in seen):
                    found.append((path, "high-entropy token", token))
                    seen.add(token)
    return found


def audit_store(store: Store) -> list[Finding]:
    """Secret-like strings in every event of ``store``, oldest stream first."""
    return list(_audit_events(store))


def _audit_events(store: Store) -> Iterator[Finding]:
    for stream_id in store.stream_ids():
        for event in store.events(stream_id):
            for where, what, secret in _secrets_in(event.kind.value, event.payload):
                yield Finding(stream_id, event.seq, event.kind.value, where, what, _mask(secret))


def _line_event(line: str) -> tuple[str, int, str, str] | None:
    """(stream id, seq, kind, payload text) of an export line; None for a blank line."""
    if not line.strip():
        return None
    raw = json.loads(line)
    payload = raw.get("payload")
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return str(raw.get("stream_id")), int(raw.get("seq", -1)), str(raw.get("kind")), text


def audit_lines(lines: Iterable[str]) -> list[Finding]:
    """Secret-like strings in a JSONL export (``streamrec export``), line by line."""
    out = []
    for line in lines:
        parsed = _line_event(line)
        if parsed is None:
            continue
        stream_id, seq, kind, payload = parsed
        for where, what, secret in _secrets_in(kind, payload):
            out.append(Finding(stream_id, seq, kind, where, what, _mask(secret)))
    return out


def _scrubbed(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret replaced, in its plain and its JSON-escaped spellings."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        escaped = json.dumps(secret)[1:-1]
        for form in {secret, escaped, json.dumps(escaped)[1:-1]}:
            text = text.replace(form, REDACTED)
    return text


def _refingerprint(payload: str) -> str:
    """A scrubbed ``stream.started`` payload with its fingerprint recomputed from its request."""
    try:
        data = json.loads(payload)
        data["fingerprint"] = request_fingerprint(data["api"], data.get("request") or {})
    except (ValueError, KeyError, TypeError):
        return payload
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _line_refingerprinted(line: str) -> str:
    """An export line of a scrubbed ``stream.started`` with its fingerprint recomputed (in
    place, so the line keeps its formatting)."""
    parsed = _line_event(line)
    if parsed is None:
        return line
    try:
        data: Any = json.loads(parsed[3])
        old = data["fingerprint"]
        new = request_fingerprint(data["api"], data.get("request") or {})
    except (ValueError, KeyError, TypeError):
        return line
    return line.replace(old, new) if isinstance(old, str) and old else line


def scrub_store(store: Store) -> list[Finding]:
    """Redact every finding in place (events rewritten, read model rebuilt); returns them."""
    findings: list[Finding] = []
    changes: dict[tuple[str, int], str] = {}
    for stream_id in store.stream_ids():
        for event in store.events(stream_id):
            found = _secrets_in(event.kind.value, event.payload)
            if not found:
                continue
            payload = _scrubbed(event.payload, [s for _, _, s in found])
            if event.kind is EventKind.STARTED:
                payload = _refingerprint(payload)
            changes[(stream_id, event.seq)] = payload
            findings += [
                Finding(stream_id, event.seq, event.kind.value, w, what, _mask(s))
                for w, what, s in found
            ]
    if changes:
        store.rewrite_payloads(changes)
    return findings


def scrub_lines(lines: Iterable[str]) -> tuple[list[str], list[Finding]]:
    """A JSONL export with every finding redacted (lines otherwise unchanged), and the findings."""
    out, findings = [], []
    for line in lines:
        parsed = _line_event(line)
        if parsed is None:
            out.append(line)
            continue
        stream_id, seq, kind, payload = parsed
        found = _secrets_in(kind, payload)
        if found:
            line = _scrubbed(line, [s for _, _, s in found])
            if kind == EventKind.STARTED.value:
                line = _line_refingerprinted(line)
            findings += [Finding(stream_id, seq, kind, w, what, _mask(s)) for w, what, s in found]
        out.append(line)
    return out, findings
