"""`replay`: one recording re-emitted, or all of them served over the providers' APIs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from ..providers import frame_sse
from ._common import (
    REFS,
    db_option,
    listen_errors,
    open_store,
    serving_options,
    stream_refs,
    wait_until_interrupted,
    warn_remote,
    write_raw,
)


@click.command("replay", context_settings={**REFS, "allow_interspersed_args": True})
@db_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[STREAM_ID | -- CMD…]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "raw", "jsonl", "sse"]),
    default="text",
    show_default=True,
    help="text: the content as it streams; raw: each payload exactly, one per line; "
    "jsonl: one event object per line; sse: the server-sent-events wire text.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="0 replays instantly, 1 with the recorded timing, N N-times faster.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Serve every recording over the providers' HTTP APIs instead; with -- CMD, run CMD "
    "against it (base-URL variables set) and exit with its code.",
)
@click.option(
    "--match-on",
    multiple=True,
    metavar="PATH",
    help="With --serve: only these request paths decide the recording (repeatable).",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="PATH",
    help="With --serve: request paths left out of matching, e.g. metadata, messages[*].name.",
)
@click.option(
    "--ignore-text",
    multiple=True,
    metavar="REGEX",
    help="With --serve: text blanked in every request string before matching (dates, ids).",
)
@click.option(
    "--fail-at-chunk",
    type=click.IntRange(min=0),
    default=None,
    help="Fault: after N chunks, drop the connection (or send the provider's error event, "
    "with --fail-as error).",
)
@click.option("--fail-as", type=click.Choice(["drop", "error"]), default="drop", show_default=True)
@click.option(
    "--rechunk",
    type=int,
    default=None,
    metavar="SEED",
    help="Fault: the same bytes, written in pieces cut at reproducible random offsets.",
)
@click.option(
    "--disconnect-after-ms",
    type=click.FloatRange(min=0),
    default=None,
    help="Fault: drop the connection this many ms into each streamed response.",
)
@click.option(
    "--status",
    "fault_status",
    type=click.IntRange(400, 599),
    default=None,
    help="Fault: answer the first matching request(s) with this HTTP error (429, 500, 529) "
    "and a retry-after, then the recording.",
)
@click.option(
    "--status-times",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --status: how many requests get the error.",
)
@serving_options(when="With --serve: ")
@click.pass_context
def replay_cmd(
    ctx: click.Context,
    args: tuple[str, ...],
    fmt: str,
    speed: float,
    serve: bool,
    host: str,
    port: int,
    allow_remote: bool,
    allowed_hosts: tuple[str, ...],
    match_on: tuple[str, ...],
    ignore: tuple[str, ...],
    ignore_text: tuple[str, ...],
    fail_at_chunk: int | None,
    fail_as: str,
    rechunk: int | None,
    disconnect_after_ms: float | None,
    fault_status: int | None,
    status_times: int,
) -> None:
    """Re-emit a recorded stream, deterministically (or serve recordings with --serve).

    \b
        streamrec replay ID --format raw
        streamrec replay --serve -- python app.py

    With --serve, an unmodified program's SDK calls are answered from the
    recordings that match them; a call with no recording gets a 404 naming it
    and the closest recordings, and the command exits 1 if CMD itself succeeded.
    """
    stream_refs(*args[:1])  # a CMD (after --) cannot start with "-" either
    if serve:
        import re

        from ..replay import Faults, MatchOptions

        try:
            options = MatchOptions.of(match_on or None, ignore, ignore_text)
        except re.error as exc:
            raise click.BadParameter(
                f"not a regular expression: {exc}", param_hint="--ignore-text"
            ) from None
        faults = Faults.of(
            {
                "fail_at_chunk": fail_at_chunk,
                "fail_as": fail_as if fail_at_chunk is not None else None,
                "rechunk": rechunk,
                "disconnect_after_ms": disconnect_after_ms,
                "status": fault_status,
                "status_times": status_times if fault_status is not None else None,
            }
        )
        _serve(ctx, list(args), speed, host, port, allow_remote, allowed_hosts, options, faults)
        return
    if len(args) != 1:
        raise click.UsageError("replay takes exactly one STREAM_ID (or --serve)")
    from ..replay import replay, replay_stream

    stream_id = args[0]
    store = open_store(ctx)
    stream_id = store.resolve(stream_id)
    out = sys.stdout
    if fmt == "text":
        # the projection folds each chunk; print what each one added to the content
        stream = replay_stream(stream_id, store=store, speed=speed, chunks="raw")
        printed = 0
        for _chunk, _tool in stream:
            content = stream.content
            out.write(content[printed:])
            out.flush()
            printed = len(content)
        out.write("\n")
        return
    api = store.stream(stream_id)["api"]
    for sse in replay(stream_id, store=store, speed=speed, format="sse", raise_errors=False):
        if fmt == "raw":  # the bytes received, also those that were not UTF-8
            write_raw(sse.data + "\n")
        elif fmt == "jsonl":
            out.write(json.dumps({"event": sse.event, "data": sse.data}, ensure_ascii=False) + "\n")
            out.flush()
        else:  # framed as the provider frames it on the wire, byte for byte
            write_raw(frame_sse(api, sse.data, sse.event))


def _serve(
    ctx: click.Context,
    command: list[str],
    speed: float,
    host: str,
    port: int,
    allow_remote: bool = False,
    allowed_hosts: tuple[str, ...] = (),
    options: Any = None,
    faults: Any = None,
) -> None:
    from .._serving import BackgroundServer
    from ..errors import ReplayError
    from ..recorder import client_env, run_command
    from ..replay import Matcher, placeholder_keys, replay_app

    store = open_store(ctx)
    matcher = Matcher(store, options=options)
    with listen_errors(host, port, ReplayError):
        server = BackgroundServer(
            replay_app(store, speed=speed, matcher=matcher, faults=faults),
            host=host,
            port=port,
            allow_remote=allow_remote,
            allowed_hosts=allowed_hosts,
        )
    with server:
        warn_remote(host)
        env = client_env(server.url)
        if not command:
            click.echo(f"streamrec replay server on {server.url}, serving {store.display_url}")
            for var, value in env.items():
                click.echo(f"export {var}={value}")
            wait_until_interrupted()
            return
        try:
            # an offline run needs no secret: SDKs that insist on a key get a placeholder
            code = run_command(command, {**os.environ, **placeholder_keys(os.environ), **env})
        except FileNotFoundError:
            click.echo(f"streamrec: error: command not found: {command[0]}", err=True)
            ctx.exit(127)
    for stream_id in matcher.served:
        click.echo(f"replayed {stream_id}", err=True)
    for miss in matcher.misses:
        click.echo(f"streamrec: {miss}", err=True)
    ctx.exit(code if code or not matcher.misses else 1)
