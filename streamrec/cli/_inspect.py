"""Listing and inspecting recordings: `ls` and `show`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ._common import cost_text, db_option, open_store, print_json, row_json, table
from ._filters import filter_options, filters_from

if TYPE_CHECKING:
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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def ls(ctx: click.Context, /, limit: int, as_json: bool, **options: Any) -> None:
    """List recorded streams, newest first, optionally filtered."""
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


def state_json(store: Store, stream_id: str) -> dict[str, Any]:
    """``show --json``: the StreamState with BaseStream's names at top level, plus the timeline."""
    state = store.state(stream_id)
    data = state.model_dump(mode="json")
    data["cost"] = float(state.cost) if state.cost is not None else None
    data["tool_calls"] = [{**t.model_dump(), "args": t.args} for t in state.tool_calls]
    return data


@click.command()
@db_option
@click.argument("stream_id")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the state as JSON (BaseStream attribute names as keys).",
)
@click.option("--events/--no-events", default=True, help="Show the event timeline (text output).")
@click.pass_context
def show(ctx: click.Context, stream_id: str, as_json: bool, events: bool) -> None:
    """Show a stream's rebuilt state and a short timeline."""
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
        click.echo(f"{'tool_call':17}{tool.name}({tool.arguments}) id={tool.id}")
    if events:
        click.echo("timeline:")
        stored = store.events(stream_id)
        shown = stored if len(stored) <= 12 else [*stored[:6], None, *stored[-5:]]
        for e in shown:
            if e is None:
                click.echo(f"  … {len(stored) - 11} more events …")
                continue
            text = e.payload if len(e.payload) <= 70 else e.payload[:69] + "…"
            name = f" [{e.event}]" if e.event else ""
            click.echo(f"  {e.seq:>4}  +{e.t_ns / 1e6:9.3f}ms  {e.kind.value:18}{name} {text}")
