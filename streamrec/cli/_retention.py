"""Retention: `rm` deletes recordings, `prune` deletes old ones; both print what they remove."""

from __future__ import annotations

from typing import Any

import click

from ._common import (
    REFS,
    cost_text,
    db_option,
    is_jsonl,
    json_option,
    open_store,
    print_json,
    stream_refs,
    table,
)
from ._filters import TimeParam, filter_options, filters_from


def _writable(ctx: click.Context) -> None:
    if is_jsonl(ctx.find_root().obj.get("db")):
        raise click.UsageError(
            "a JSONL export is read-only here: edit the file, or import it first"
        )


def _report(rows: list[dict[str, Any]], verb: str, as_json: bool, dry_run: bool = False) -> None:
    if as_json:
        print_json({"dry_run": dry_run, verb: rows})
        return
    if rows:
        table(
            [
                (
                    r["stream_id"],
                    r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r.get("started_at") else "",
                    r.get("status") or "",
                    r.get("model") or r.get("requested_model") or "",
                    r.get("name") or "",
                    r.get("chunk_count", ""),
                    cost_text(r.get("cost_nanousd")),
                )
                for r in rows
            ],
            ["ID", "STARTED", "STATUS", "MODEL", "NAME", "CHUNKS", "COST"],
        )
    what = "would remove" if dry_run else "removed"
    click.echo(f"{what} {len(rows)} stream(s)", err=True)


@click.command("rm", context_settings=REFS)
@db_option
@click.argument("stream_ids", nargs=-1, required=True)
@json_option("Print what was removed as JSON.")
@click.pass_context
def rm(ctx: click.Context, stream_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete recordings (ids or unique prefixes): their events and read-model rows together."""
    stream_refs(*stream_ids)
    _writable(ctx)
    store = open_store(ctx, create=False)
    ids = [store.resolve(s) for s in stream_ids]  # every id checked before anything goes
    _report(store.remove(ids), "removed", as_json)


@click.command()
@db_option
@click.option(
    "--older-than",
    type=TimeParam(),
    metavar="SPAN|TIME",
    help="Only streams started before this: a span back from now (30d, 12h) or an ISO 8601 time.",
)
@filter_options
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@click.option("--vacuum", is_flag=True, help="Afterwards give the freed space back to the disk.")
@json_option("Print what was removed as JSON.")
@click.pass_context
def prune(
    ctx: click.Context,
    /,
    older_than: Any,
    dry_run: bool,
    vacuum: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Delete the streams that match: `prune --older-than 30d [--status failed] [--name N]`.

    Streams still recording are kept unless --status recording asks for them.
    Deletes in one transaction per batch of streams.
    """
    filters = filters_from(options)
    if older_than is None and not filters:
        raise click.UsageError(
            "prune needs --older-than or a filter (it will not delete everything)"
        )
    _writable(ctx)
    store = open_store(ctx, create=False)
    removed = store.prune(older_than=older_than, filters=filters, dry_run=dry_run)
    _report(removed, "removed", as_json, dry_run)
    if vacuum and not dry_run:
        store.vacuum()
