"""Conversation links: which earlier stream a new one continues, so a thread's cost is one query.

When a stream starts, its request is matched against what came before:

- OpenAI Responses' ``previous_response_id`` names the parent outright (the
  stream whose ``response_id`` it is);
- otherwise the turns it sends (``messages``, ``input`` or ``contents``, with
  a ``system`` prompt in front) are hashed, and so is every shorter prefix of
  them: an earlier stream that sent exactly such a prefix is the parent (the
  longest prefix wins, then the most recent). A client that resends the whole
  history each turn, as chat clients do, links itself.

The child takes its parent's ``conversation_id``; a stream with no parent
starts its own (its own id). Two unrelated conversations that open with the
same turns are linked to the most recent one: a heuristic, documented as such.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from ._schema import streams

__all__ = ["link", "turns"]


def turns(request: Mapping[str, Any]) -> list[Any]:
    """The conversation a request sends, in order (system prompt first when separate)."""
    out: list[Any] = []
    for key in ("system", "system_instruction", "instructions"):
        if request.get(key):
            out.append({key: request[key]})
    for key in ("messages", "input", "contents"):
        value = request.get(key)
        if isinstance(value, list):
            out += value
            break
        if isinstance(value, str):
            out.append({"role": "user", "content": value})
            break
    return out


def _hash(items: list[Any]) -> str:
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def link(conn: Connection, stream_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """``conversation_id``, ``parent_id`` and ``prompt_hash`` for a stream starting with ``request``."""
    sent = turns(request)
    own = _hash(sent) if sent else None
    parent: Any = None
    previous = request.get("previous_response_id")
    if isinstance(previous, str) and previous:
        parent = conn.execute(
            select(streams.c.stream_id, streams.c.conversation_id)
            .where(streams.c.response_id == previous, streams.c.stream_id != stream_id)
            .order_by(streams.c.stream_id.desc())
            .limit(1)
        ).first()
    if parent is None and len(sent) > 1:
        prefixes = {_hash(sent[:k]): k for k in range(1, len(sent))}
        candidates = conn.execute(
            select(streams.c.stream_id, streams.c.conversation_id, streams.c.prompt_hash).where(
                streams.c.prompt_hash.in_(list(prefixes)), streams.c.stream_id != stream_id
            )
        ).all()
        if candidates:
            parent = max(candidates, key=lambda r: (prefixes[r.prompt_hash], r.stream_id))
    if parent is None:
        return {"conversation_id": stream_id, "parent_id": None, "prompt_hash": own}
    return {
        "conversation_id": parent.conversation_id or parent.stream_id,
        "parent_id": parent.stream_id,
        "prompt_hash": own,
    }
