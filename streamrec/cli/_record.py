"""Recording live programs: `demo`, `record` and the standalone `proxy`."""

from __future__ import annotations

from typing import Any

import click

from ._common import (
    db_option,
    listen_errors,
    open_store,
    serving_options,
    stream_summary,
    wait_until_interrupted,
    warn_remote,
)
from ._filters import parse_meta


@click.command()
@db_option
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Record a sample stream offline, replay it and print its rebuilt state.

    A bundled sample upstream on loopback speaks OpenAI's streaming format; the
    real openai SDK calls it. No API key, no network.
    """
    from ..demo import run_demo

    run_demo(open_store(ctx, create=True), click.echo)


# -- recording live programs ------------------------------------------------------------

_UPSTREAM_HELP = (
    "Send PROVIDER's calls (openai, anthropic, google) to URL instead of its public API "
    "(repeatable; default: $STREAMREC_UPSTREAM_<PROVIDER>)."
)


def _upstreams(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    from ..errors import RecorderError
    from ..recorder import parse_upstreams

    try:
        return parse_upstreams(values)
    except RecorderError as exc:
        raise click.BadParameter(str(exc).removeprefix("--upstream ")) from None


def _recording_options(f: Any) -> Any:
    """--name, --tag, --meta and --upstream, shared by `record` and `proxy`."""
    f = click.option(
        "--upstream",
        "upstreams",
        multiple=True,
        metavar="PROVIDER=URL",
        callback=_upstreams,
        help=_UPSTREAM_HELP,
    )(f)
    f = click.option(
        "--meta",
        "meta",
        multiple=True,
        metavar="KEY=VALUE",
        help="Attach metadata to every recorded call (repeatable; per request: x-streamrec-KEY headers).",
    )(f)
    f = click.option("--tag", "tags", multiple=True, help="Tag every recorded call (repeatable).")(
        f
    )
    f = click.option(
        "--durability",
        type=click.Choice(["group", "chunk"]),
        default="group",
        show_default=True,
        help="group: commit in groups (a SIGKILL loses at most the last ~20 ms); "
        "chunk: commit each chunk before passing it on (nothing passed on is lost).",
    )(f)
    return click.option("--name", help="Record every call under this name.")(f)


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@db_option
@_recording_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def record(
    ctx: click.Context,
    name: str | None,
    tags: tuple[str, ...],
    meta: tuple[str, ...],
    upstreams: dict[str, str],
    durability: str,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with a recording proxy in front of the LLM providers.

    \b
        streamrec record -- python app.py
        streamrec record --name nightly --meta user=ci --meta project=search -- python app.py

    COMMAND gets OPENAI_BASE_URL, ANTHROPIC_BASE_URL and GOOGLE_GEMINI_BASE_URL
    pointing at a proxy on a free loopback port; every call streams through it
    to the real provider (or to the base URL COMMAND already had) and is
    recorded. Exits with COMMAND's exit code; prints one line per recorded
    stream on stderr. A request may attribute itself with x-streamrec-name,
    x-streamrec-tags and x-streamrec-KEY headers (stripped before forwarding).
    """
    from ..errors import StoreError
    from ..recorder import run_recorded

    store = open_store(ctx, create=True, offline_ok=True)
    try:
        run = run_recorded(
            command,
            store=store,
            upstreams=upstreams,
            name=name,
            tags=tags,
            metadata=parse_meta(meta),
            durability=durability,
        )
    except FileNotFoundError:
        click.echo(f"streamrec: error: command not found: {command[0]}", err=True)
        ctx.exit(127)
    except PermissionError:
        click.echo(f"streamrec: error: cannot run {command[0]}: permission denied", err=True)
        ctx.exit(126)
    if not run.stream_ids:
        click.echo("streamrec: no LLM calls were recorded", err=True)
    for stream_id in run.stream_ids:
        try:
            click.echo(stream_summary(store.stream(stream_id)), err=True)
        except StoreError as exc:  # the program's run stands; say what happened to its record
            click.echo(f"streamrec: {stream_id} not stored yet: {exc}", err=True)
    ctx.exit(run.returncode)


@click.command("proxy")
@db_option
@serving_options()
@_recording_options
@click.pass_context
def proxy_cmd(
    ctx: click.Context,
    host: str,
    port: int,
    allow_remote: bool,
    allowed_hosts: tuple[str, ...],
    name: str | None,
    tags: tuple[str, ...],
    meta: tuple[str, ...],
    upstreams: dict[str, str],
    durability: str,
) -> None:
    """Run the recording proxy until interrupted, for programs started elsewhere.

    Prints its URL and the variables to export; then one line per recorded
    stream on stderr as each ends.
    """
    from ..errors import RecorderError
    from ..recorder import ProxyServer, RecordingProxy, resolve_upstreams
    from ..store import summary_row

    store = open_store(ctx, create=True, offline_ok=True)

    def finished(recording: Any) -> None:
        click.echo(stream_summary(summary_row(recording.state, -1)), err=True)

    proxy = RecordingProxy(
        store=store,
        upstreams=resolve_upstreams(upstreams),
        name=name,
        tags=tags,
        metadata=parse_meta(meta),
        on_finish=finished,
        durability=durability,
    )
    with listen_errors(host, port, RecorderError):
        server = ProxyServer(
            proxy, host=host, port=port, allow_remote=allow_remote, allowed_hosts=allowed_hosts
        )
    with server:
        click.echo(f"streamrec proxy on {server.url}, recording into {store.display_url}")
        warn_remote(host)
        for var, value in server.env.items():
            click.echo(f"export {var}={value}")
        wait_until_interrupted()
    store.writer.flush()
    click.echo(f"streamrec proxy stopped; {len(proxy.stream_ids)} call(s) recorded", err=True)
