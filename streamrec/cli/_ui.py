"""`streamrec ui`: the local web view over a store."""

from __future__ import annotations

import ipaddress

import click

from ._common import db_option, wait_until_interrupted


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("ui")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback --host (anyone who can reach it reads the recordings).",
)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int, open_browser: bool, allow_remote: bool) -> None:
    """Serve a read-only web view of the recordings: streams, timelines, state, history.

    Stream list with filters, each stream's chunk timeline, rebuilt state,
    events and in-page replay, and cost/token/latency charts per day and model.
    Listens on loopback unless --allow-remote; stop it with Ctrl-C.
    """
    from .._serving import BackgroundServer
    from ..ui import LOOPBACK_HOSTS, ui_app

    remote = not _loopback(host)
    if remote and not allow_remote:
        raise click.UsageError(
            f"--host {host} is not a loopback address: add --allow-remote to serve "
            "the recordings to other machines"
        )
    from ..errors import StreamrecError
    from ..store import Store

    # read only: never create a database, and never write (not even recover's marks)
    store = Store(ctx.find_root().obj.get("db"), create=False, recover=False)
    ctx.call_on_close(store.close)
    allowed = ("*",) if remote else LOOPBACK_HOSTS
    if remote:
        click.echo(
            f"streamrec: warning: serving {store.display_url} to anyone who can reach {host}",
            err=True,
        )
    try:
        server = BackgroundServer(
            ui_app(store, allowed_hosts=allowed),
            host=host,
            port=port,
            allow_remote=remote,
            allowed_hosts=allowed if remote else (),
        )
    except OSError as exc:
        raise StreamrecError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    with server:
        url = server.url if not remote else f"http://{host}:{server.port}"
        click.echo(f"streamrec ui: {url}/  (reading {store.display_url}; Ctrl-C stops)")
        if open_browser:
            import webbrowser

            webbrowser.open(f"{server.url}/")
        wait_until_interrupted()
