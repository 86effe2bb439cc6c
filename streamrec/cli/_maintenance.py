"""Portability and maintenance: export/import, rebuild, verify, recover, db."""

from __future__ import annotations

from typing import Any

import click

from ..errors import StoreError
from ..store import READER_ROLE, Store, export_lines, import_lines
from ._common import REFS, db_option, json_option, open_store, print_json, stream_refs
from ._common import progress as progress_bar
from ._filters import filter_options, filters_from, parse_meta


@click.command(context_settings=REFS)
@db_option
@click.argument("stream_ids", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write here (default: stdout).",
)
@filter_options
@click.option(
    "--otlp",
    metavar="URL",
    help="Send one OpenTelemetry GenAI span per stream to this OTLP/HTTP collector "
    "(http://localhost:4318) instead of writing JSONL (needs streamrec[otel]).",
)
@click.option("--content", is_flag=True, help="With --otlp: include the messages in the spans.")
@click.option(
    "--metrics",
    is_flag=True,
    help="With --otlp: also send the duration and time-to-first-chunk histograms.",
)
@click.option(
    "--otlp-header",
    "otlp_headers",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --otlp: an HTTP header for the collector (repeatable).",
)
@click.pass_context
def export(
    ctx: click.Context,
    /,
    stream_ids: tuple[str, ...],
    output: Any,
    otlp: str | None,
    content: bool,
    metrics: bool,
    otlp_headers: tuple[str, ...],
    **options: Any,
) -> None:
    """Export streams (all, the given ids, or those the filters match) as JSONL events, one per line.

    With --otlp URL, send them to an OpenTelemetry collector as GenAI client
    spans instead (their recorded times, models, tokens, time to first chunk,
    error status; messages only with --content).
    """
    if (content or metrics or otlp_headers) and not otlp:
        raise click.UsageError("--content, --metrics and --otlp-header go with --otlp")
    stream_refs(*stream_ids)
    store = open_store(ctx)
    filters = filters_from(options)
    ids: list[str] | None = [store.resolve(s) for s in stream_ids] or None
    if filters:
        chosen = {r["stream_id"] for r in store.streams(filters=filters)}
        ids = sorted(chosen & set(ids) if ids else chosen)
        if not ids:
            click.echo("no streams match these filters", err=True)
            return
    if otlp:
        from ..store import export_otlp

        sent = export_otlp(
            store,
            otlp,
            stream_ids=ids,
            content=content,
            metrics=metrics,
            headers=parse_meta(otlp_headers, "--otlp-header"),
        )
        click.echo(f"sent {sent} span(s) to {otlp}", err=True)
        return
    for line in export_lines(store, ids):
        output.write(line + "\n")


@click.command("import")
@db_option
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@json_option("Print what was imported as JSON.")
@click.pass_context
def import_cmd(ctx: click.Context, source: Any, as_json: bool) -> None:
    """Import streams from a JSONL export (streams already present are skipped)."""
    imported, skipped = import_lines(open_store(ctx, create=True), source)
    if as_json:
        print_json({"imported": imported, "skipped": skipped})
    else:
        click.echo(f"imported {len(imported)} stream(s), skipped {len(skipped)} already present")


@click.command(context_settings=REFS)
@db_option
@click.argument("stream_ids", nargs=-1)
@json_option("Print the count as JSON.")
@click.pass_context
def rebuild(ctx: click.Context, stream_ids: tuple[str, ...], as_json: bool) -> None:
    """Recompute the `streams` read model from the event log alone."""
    stream_refs(*stream_ids)
    store = open_store(ctx)
    ids = [store.resolve(s) for s in stream_ids] if stream_ids else None
    with progress_bar("rebuilding") as progress:
        count = store.rebuild(ids, progress=progress)
    if as_json:
        print_json({"rebuilt": count})
    else:
        click.echo(f"rebuilt {count} stream(s)")


@click.command(context_settings=REFS)
@db_option
@click.argument("stream_ids", nargs=-1)
@json_option("Print the problems as JSON.")
@click.pass_context
def verify(ctx: click.Context, stream_ids: tuple[str, ...], as_json: bool) -> None:
    """Check the log (gapless seq, a start per stream) and that the read model matches it. Exit 1 on problems."""
    stream_refs(*stream_ids)
    store = open_store(ctx)
    ids = [store.resolve(s) for s in stream_ids] if stream_ids else None
    with progress_bar("verifying") as progress:
        problems = store.verify(ids, progress=progress)
    if as_json:
        print_json({"ok": not problems, "problems": problems})
    else:
        for p in problems:
            click.echo(p)
        click.echo("ok" if not problems else f"{len(problems)} problem(s)", err=bool(problems))
    if problems:
        ctx.exit(1)


@click.command()
@db_option
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds without a new event after which a stream recorded on another host is taken as dead.",
)
@json_option("Print the recovered ids as JSON.")
@click.pass_context
def recover(ctx: click.Context, older_than: float, as_json: bool) -> None:
    """Mark streams whose recorder died as interrupted (what was committed stays replayable)."""
    store = Store(ctx.find_root().obj.get("db"), create=False, recover=False)
    ctx.call_on_close(store.close)
    ids = store.recover(older_than_s=older_than)
    if as_json:
        print_json({"interrupted": ids})
    else:
        click.echo(f"marked {len(ids)} stream(s) interrupted")
        for i in ids:
            click.echo(f"  {i}")


@click.group()
def db() -> None:
    """Schema management (Alembic migrations shipped with streamrec)."""


@db.command()
@db_option
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create the schema or bring it to the newest revision.

    On PostgreSQL also create the login role `streamrec sql` runs as
    (streamrec_reader: cluster-wide, no rights but SELECT) and let it read
    this schema. No other command creates a role.
    """
    store = Store(ctx.find_root().obj.get("db"), create=True, migrate=True)
    ctx.call_on_close(store.close)
    click.echo(f"{store.display_url} is at revision {store.revision()}")
    try:
        schema = store.grant_reader()
    except StoreError as exc:  # no CREATEROLE right: the schema is fine, `sql` will refuse
        click.echo(f"streamrec: warning: {exc}; `streamrec sql` will refuse to run", err=True)
    else:
        if schema is not None:
            click.echo(f"`streamrec sql` reads schema {schema} as role {READER_ROLE}")


@db.command()
@db_option
@json_option("Print as JSON.")
@click.pass_context
def current(ctx: click.Context, as_json: bool) -> None:
    """Print the schema revision of the database and the newest one streamrec knows."""
    from ..migrations import head_revision

    store = open_store(ctx)
    rev, head = store.revision(), head_revision()
    if as_json:
        print_json(
            {"url": store.display_url, "revision": rev, "head": head, "up_to_date": rev == head}
        )
    else:
        click.echo(f"{rev} (head: {head})")
