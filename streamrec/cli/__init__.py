"""The ``streamrec`` command: parses, calls the library, prints. No logic a library user lacks.

Errors are mapped in one place (``_Group.invoke``): a ``StreamrecError`` is
one line on stderr and exit 1; bad usage is click's exit 2; a traceback only
with ``--debug``.

Commands live in one module per concern and are imported only when invoked
(``_LAZY``), so ``streamrec --version`` and ``--help`` do not pay for SQLAlchemy,
httpx or the servers.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

import click

__all__ = ["main"]

# command name -> "module:attribute" (modules relative to this package)
_LAZY: dict[str, str] = {
    "demo": "_record:demo",
    "record": "_record:record",
    "proxy": "_record:proxy_cmd",
    "ls": "_inspect:ls",
    "show": "_inspect:show",
    "replay": "_replay:replay_cmd",
    "diff": "_diff:diff_cmd",
    "stats": "_history:stats_cmd",
    "sql": "_history:sql",
    "export": "_maintenance:export",
    "import": "_maintenance:import_cmd",
    "rebuild": "_maintenance:rebuild",
    "verify": "_maintenance:verify",
    "recover": "_maintenance:recover",
    "db": "_maintenance:db",
    "ui": "_ui:ui",
    "rm": "_retention:rm",
    "prune": "_retention:prune",
    "tail": "_tail:tail",
    "reprice": "_history:reprice",
    "audit": "_audit:audit",
}


class _Group(click.Group):
    """The root group: lazy subcommands and the one place errors become exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY:
            module, attr = _LAZY[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(f".{module}", __name__), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # --debug is the root's, but users type it after the subcommand too
        # (`streamrec show X --debug`); never take it from a wrapped command after `--`
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[1:end]:
            at = args.index("--debug")
            args = ["--debug", *args[:at], *args[at + 1 :]]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        from ..errors import StreamrecError

        try:
            return super().invoke(ctx)
        except StreamrecError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"streamrec: error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group)
@click.option(
    "--db",
    metavar="URL",
    envvar=None,
    help="Database URL or SQLite path (default: $STREAMREC_DB, else .streamrec/streamrec.db).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="streamrec")
@click.pass_context
def main(ctx: click.Context, db: str | None, debug: bool) -> None:
    """Record, inspect and replay streaming LLM responses.

    Every chunk of a recorded stream is an event row in SQL (SQLite by default,
    PostgreSQL with --db postgresql://…); state, replay and stats come from that log.
    """
    from ._common import printable_output

    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    ctx.obj["debug"] = debug
    printable_output(ctx)  # recorded bytes that were not UTF-8 print, never raise


def _commands(group: click.Group, prefix: str = "") -> Iterable[tuple[str, click.Command]]:
    """Every command, with its full name (for the docs test)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
