"""`streamrec ui`: the local web view over a store."""

from __future__ import annotations

import click

from ._common import db_option, listen_errors, serving_options, wait_until_interrupted, warn_remote


@click.command("ui")
@db_option
@serving_options(port=8765)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.pass_context
def ui(
    ctx: click.Context,
    host: str,
    port: int,
    open_browser: bool,
    allow_remote: bool,
    allowed_hosts: tuple[str, ...],
) -> None:
    """Serve a read-only web view of the recordings: streams, timelines, state, history.

    Stream list with filters, each stream's chunk timeline, rebuilt state,
    events and in-page replay, and cost/token/latency charts per day and model.
    Listens on loopback unless --allow-remote; stop it with Ctrl-C.
    """
    from .._serving import BackgroundServer
    from ..errors import StreamrecError
    from ..store import Store
    from ..ui import ui_app

    # read only: never create a database, and never write (not even recover's marks)
    store = Store(ctx.find_root().obj.get("db"), create=False, recover=False)
    ctx.call_on_close(store.close)
    # the same bind rules and Host guard (DNS rebinding) as the proxy and replay server
    with listen_errors(host, port, StreamrecError):
        server = BackgroundServer(
            ui_app(store),
            host=host,
            port=port,
            allow_remote=allow_remote,
            allowed_hosts=allowed_hosts,
        )
    warn_remote(host)
    with server:
        click.echo(f"streamrec ui: {server.url}/  (reading {store.display_url}; Ctrl-C stops)")
        if open_browser:
            import webbrowser

            webbrowser.open(f"{server.url}/")
        wait_until_interrupted()
