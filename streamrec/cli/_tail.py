"""`streamrec tail`: print a stream's chunks as another process records them."""

from __future__ import annotations

import json
from typing import Any

import click

from ._common import REFS, db_option, open_store, stream_refs, write_raw


@click.command(context_settings=REFS)
@db_option
@click.argument("stream_id", required=False)
@click.option(
    "--follow",
    "-f",
    "follow_all",
    is_flag=True,
    help="Follow every stream recorded from now on (until Ctrl-C), one line per event.",
)
@click.option(
    "--show",
    type=click.Choice(["text", "tools", "raw"]),
    default="text",
    show_default=True,
    help="What to print: the text as it grows, tool calls as they complete, or each raw chunk.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=0.2,
    show_default=True,
    help="Seconds between polls on SQLite (PostgreSQL is woken by LISTEN/NOTIFY).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    help="With --follow: stop after this many seconds with nothing new.",
)
@click.pass_context
def tail(
    ctx: click.Context,
    stream_id: str | None,
    follow_all: bool,
    show: str,
    interval: float,
    idle_timeout: float | None,
) -> None:
    """Print a stream's chunks as they are recorded, ending when it ends.

    STREAM_ID is an id, a unique prefix, `latest` or -N (default: the newest
    stream). With --follow, every stream recorded from now on instead.
    """
    from ..projection import Projector
    from ..store._tail import follow

    stream_refs(stream_id or "")
    if follow_all and stream_id:
        raise click.UsageError("give a STREAM_ID or --follow, not both")
    store = open_store(ctx, create=False)
    target = None if follow_all else store.resolve(stream_id or "latest")
    projectors: dict[str, Any] = {}
    shown: dict[str, int] = {}
    try:
        for event in follow(store, target, poll_s=interval, idle_timeout_s=idle_timeout):
            sid = event.stream_id
            projector = projectors.get(sid)
            if projector is None:
                projector = projectors[sid] = Projector(sid)
                if event.seq > 0:
                    # joined mid-stream: fold what came before, print only what follows
                    for earlier in store.events(sid)[: event.seq]:
                        projector.apply(earlier)
                    shown[sid] = len(projector.state.content)
            completed = projector.apply(event)
            prefix = f"{sid[:8]} " if follow_all else ""
            kind = event.kind.value
            if kind == "chunk":
                if show == "raw":
                    name = f"[{event.event}] " if event.event else ""
                    write_raw(f"{prefix}{name}{event.payload}\n")  # the bytes received
                elif show == "tools":
                    for tool in completed:
                        click.echo(f"{prefix}{tool.name}({json.dumps(tool.args)}) id={tool.id}")
                else:
                    content = projector.state.content
                    new = content[shown.get(sid, 0) :]
                    shown[sid] = len(content)
                    if new:
                        click.echo(f"{prefix}{new}" if follow_all else new, nl=follow_all)
                    for tool in completed:
                        end = "" if follow_all else "\n"
                        click.echo(f"{end}{prefix}[tool call] {tool.name}({json.dumps(tool.args)})")
            elif kind == "stream.started":
                if follow_all:
                    state = projector.state
                    model = state.requested_model or ""
                    click.echo(f"{prefix}— started {state.api} {model}".rstrip())
            elif kind in ("stream.completed", "stream.failed", "stream.interrupted"):
                state = projector.state
                if not follow_all and show == "text":
                    click.echo()
                reason = f": {state.error.get('message')}" if state.error else ""
                click.echo(f"{prefix}— {state.status}{reason}", err=not follow_all)
                projectors.pop(sid, None)
                shown.pop(sid, None)
    except KeyboardInterrupt:
        pass
