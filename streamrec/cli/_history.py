"""History over the read model: `stats` and read-only `sql`."""

from __future__ import annotations

import click

from ..store import GROUPS, stats
from ._common import db_option, open_store, print_json, table


@click.command()
@db_option
@click.option(
    "--by",
    type=click.Choice(GROUPS),
    default="model",
    show_default=True,
    help="Group rows by this.",
)
@click.option("--since", metavar="DATE", help="Only streams started at or after DATE (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def stats_cmd(ctx: click.Context, by: str, since: str | None, as_json: bool) -> None:
    """Token and cost totals per model (or provider, day, name, status)."""
    rows = stats(open_store(ctx), by, since=since)
    if as_json:
        print_json(rows)
        return
    table(
        [
            (
                r["group"],
                r["streams"],
                r["chunks"],
                r["input_tokens"],
                r["cached_tokens"],
                r["output_tokens"],
                f"${r['cost']}" if r["cost"] is not None else "",
                r["unpriced"],
                r["mean_ttft_ms"],
            )
            for r in rows
        ],
        [by.upper(), "STREAMS", "CHUNKS", "IN", "CACHED", "OUT", "COST", "UNPRICED", "TTFT_MS"],
    )


@click.command()
@db_option
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of row objects.")
@click.option("--limit", type=click.IntRange(min=1), help="Return at most N rows.")
@click.pass_context
def sql(ctx: click.Context, query: str, as_json: bool, limit: int | None) -> None:
    """Run a read-only SQL query over the `streams` and `events` tables."""
    columns, rows = open_store(ctx).sql(query, limit=limit)
    if as_json:
        print_json([dict(zip(columns, r, strict=True)) for r in rows])
    else:
        table(rows, columns)
