"""Listing and inspecting recordings: `ls` and `show`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from ._common import (
    REFS,
    cost_text,
    db_option,
    json_option,
    open_store,
    print_json,
    row_json,
    stream_refs,
    table,
)
from ._filters import filter_options, filters_from

if TYPE_CHECKING:
    from ..events import StoredEvent
    from ..store import Store


@click.command("ls")
@db_option
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most N streams (says so on stderr when there were more).",
)
@filter_options
@json_option("Print a JSON array.")
@click.option(
    "--watch",
    is_flag=True,
    help="Show the streams in flight (status recording), refreshed until Ctrl-C.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="With --watch: seconds between refreshes.",
)
@click.pass_context
def ls(
    ctx: click.Context,
    /,
    limit: int,
    as_json: bool,
    watch: bool,
    interval: float,
    **options: Any,
) -> None:
    """List recorded streams, newest first, optionally filtered."""
    if watch:
        options["status"] = ("recording",)
        _watch(ctx, limit, interval, filters_from(options))
        return
    filters = filters_from(options)
    store = open_store(ctx)
    rows = store.streams(limit=limit + 1, filters=filters)
    cut = len(rows) > limit
    rows = rows[:limit]
    if as_json:
        print_json([row_json(r) for r in rows])
    elif not rows:
        if filters:
            click.echo("no streams match these filters", err=True)
        else:
            click.echo("no streams recorded yet (try `streamrec demo`)", err=True)
    else:
        table(
            [
                (
                    r["stream_id"],
                    r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r["started_at"] else "",
                    r["status"],
                    r["api"],
                    r["model"] or r["requested_model"],
                    r["chunk_count"],
                    r["input_tokens"],
                    r["output_tokens"],
                    cost_text(r["cost_nanousd"]),
                    r["name"],
                    ",".join(json.loads(r["tags"] or "[]")),
                )
                for r in rows
            ],
            [
                "ID",
                "STARTED",
                "STATUS",
                "API",
                "MODEL",
                "CHUNKS",
                "IN",
                "OUT",
                "COST",
                "NAME",
                "TAGS",
            ],
        )
    if cut:
        click.echo(f"(showing the newest {limit}; more match: raise -n)", err=True)


def _watch(ctx: click.Context, limit: int, interval: float, filters: Any) -> None:
    """Redraw the in-flight streams (chunks so far, age) every ``interval`` s until Ctrl-C."""
    import sys
    import time
    from datetime import datetime, timezone

    store = open_store(ctx)
    clear = sys.stdout.isatty()
    try:
        while True:
            rows = store.streams(limit=limit, filters=filters)
            now = datetime.now(timezone.utc)
            if clear:
                click.echo("\x1b[2J\x1b[H", nl=False)
            click.echo(f"{now:%H:%M:%S}  {len(rows)} stream(s) in flight")
            if rows:
                table(
                    [
                        (
                            r["stream_id"],
                            f"{(now - r['started_at']).total_seconds():.1f}s"
                            if r["started_at"]
                            else "",
                            r["api"],
                            r["model"] or r["requested_model"],
                            r["chunk_count"],
                            r["name"],
                        )
                        for r in rows
                    ],
                    ["ID", "AGE", "API", "MODEL", "CHUNKS", "NAME"],
                )
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


def state_json(store: Store, stream_id: str) -> dict[str, Any]:
    """``show --json``: the StreamState with BaseStream's names at top level, plus the timeline."""
    state = store.state(stream_id)
    data = state.model_dump(mode="json")
    data["cost"] = float(state.cost) if state.cost is not None else None
    data["tool_calls"] = [{**t.model_dump(), "args": t.args} for t in state.tool_calls]
    return data


@click.command(context_settings=REFS)
@db_option
@click.argument("stream_id")
@json_option("Print the state as JSON (BaseStream attribute names as keys).")
@click.option(
    "--events",
    type=click.Choice(["short", "all", "none"]),
    default="short",
    show_default=True,
    help="The event timeline: its first and last events, every event, or none (text output).",
)
@click.option("--no-events", "no_events", is_flag=True, help="Same as --events none.")
@click.pass_context
def show(ctx: click.Context, stream_id: str, as_json: bool, events: str, no_events: bool) -> None:
    """Show a stream's rebuilt state and its timeline.

    STREAM_ID is an id, a unique prefix, `latest`, or -N for the Nth newest
    (`show -1` is `show latest`). Each chunk row shows what it adds to the one
    before it (the delta text, tool-call fragments, usage), not the JSON both share.
    """
    stream_refs(stream_id)
    if no_events:
        events = "none"
    store = open_store(ctx)
    stream_id = store.resolve(stream_id)
    if as_json:
        print_json(state_json(store, stream_id))
        return
    state = store.state(stream_id)
    fields = [
        ("stream_id", state.stream_id),
        ("status", state.status),
        ("name", state.name),
        ("api", state.api),
        ("model", state.model),
        ("id", state.id),
        ("finish_reasons", state.finish_reasons),
        ("input_tokens", state.input_tokens),
        ("cached_tokens", state.cached_tokens),
        ("output_tokens", state.output_tokens),
        ("reasoning_tokens", state.reasoning_tokens),
        (
            "cost",
            f"${state.cost}"
            if state.cost is not None
            else f"unknown ({state.cost_metadata.get('reason')})",
        ),
        ("chunks", state.chunk_count),
        (
            "ttft_ms",
            None
            if state.time_to_first_chunk_ns is None
            else round(state.time_to_first_chunk_ns / 1e6, 3),
        ),
        ("duration_ms", None if state.duration_ns is None else round(state.duration_ns / 1e6, 3)),
    ]
    if state.client_messages:  # a WebSocket stream: what the client sent is in the log too
        fields.append(("client_messages", state.client_messages))
    if state.error:
        fields.append(("error", f"{state.error.get('type')}: {state.error.get('message')}"))
    if state.malformed_chunks:
        fields.append(("malformed", f"{state.malformed_chunks}: {'; '.join(state.problems[:3])}"))
    for key, value in fields:
        click.echo(f"{key:17}{'' if value is None else value}")
    click.echo(f"{'content':17}{state.content!r}")
    if state.thinking:
        click.echo(f"{'thinking':17}{state.thinking!r}")
    for tool in state.tool_calls:
        flag = f"  NOT RUNNABLE: {tool.problem}" if tool.problem else ""
        click.echo(f"{'tool_call':17}{tool.name}({tool.arguments}) id={tool.id}{flag}")
    if events != "none":
        click.echo("timeline:")
        stored = store.events(stream_id)
        shown = (
            stored if events == "all" or len(stored) <= 12 else [*stored[:6], None, *stored[-5:]]
        )
        differ = _ChunkDiff()
        for e in shown:
            if e is None:
                click.echo(f"  … {len(stored) - 11} more events (--events all) …")
                continue
            # a row shows what differs from the chunk before it, even after elided rows
            for earlier in stored[differ.upto : e.seq]:
                differ.feed(earlier)
            text = differ.feed(e)
            text = text if len(text) <= 120 else text[:119] + "…"
            name = f" [{e.event}]" if e.event else ""
            click.echo(f"  {e.seq:>4}  +{e.t_ns / 1e6:9.3f}ms  {e.kind.value:18}{name} {text}")


class _ChunkDiff:
    """Per chunk, the JSON leaves whose values differ from the previous chunk's (display only)."""

    def __init__(self) -> None:
        self.previous: dict[str, Any] = {}
        self.upto = 0

    def feed(self, event: StoredEvent) -> str:
        self.upto = event.seq + 1
        if event.kind.value != "chunk":
            return event.payload
        try:
            leaves = dict(_leaves(json.loads(event.payload)))
        except ValueError:
            return event.payload  # [DONE], or a malformed chunk: verbatim
        if not leaves or "$" in leaves:
            return event.payload
        # a field going back to null (finish_reason after "stop") is not news
        changed = {
            k: v
            for k, v in leaves.items()
            if self.previous.get(k, _MISSING) != v and (v is not None or k not in self.previous)
        }
        self.previous = leaves
        if not changed:
            return "(same as the previous chunk)"
        # factor out the path every changed leaf shares: "choices.0.delta: content=…"
        parts = [k.split(".") for k in changed]
        shared = 0
        while all(len(p) > shared + 1 and p[shared] == parts[0][shared] for p in parts):
            shared += 1
        head = ".".join(parts[0][:shared]) + ": " if shared else ""
        return head + " ".join(
            f"{'.'.join(p[shared:])}={json.dumps(v, ensure_ascii=False)}"
            for p, v in zip(parts, changed.values(), strict=True)
        )


_MISSING = object()


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for n, item in enumerate(value):
            yield from _leaves(item, f"{path}.{n}" if path else str(n))
    else:
        yield path or "$", value
