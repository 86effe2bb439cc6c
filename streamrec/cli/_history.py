"""History over the read model: `stats` and read-only `sql`."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from typing import Any

import click

from ._common import db_option, json_option, open_store, print_json, table
from ._filters import filter_options, filters_from

_BY_HELP = (
    "Group by one or more of day, week, month, model, provider, api, name, tag, status, conversation, "
    "or a metadata key (meta.KEY, or KEY when it is not one of those), comma-separated: "
    "--by day,model."
)


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"${value:.6f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _num(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@click.command()
@db_option
@click.option("--by", default="model", show_default=True, metavar="DIM[,DIM…]", help=_BY_HELP)
@filter_options
@json_option("Print a JSON array (every figure).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row (every figure).")
@click.pass_context
def stats_cmd(ctx: click.Context, /, by: str, as_json: bool, as_csv: bool, **options: Any) -> None:
    """Streams, failures, tokens, exact cost, cache savings and latency percentiles per group.

    Percentiles are nearest-rank (the recorded value at rank ceil(p·n/100)), the
    same on SQLite and PostgreSQL; cost sums are exact (nano-dollars).
    """
    from ..errors import FilterError
    from ..store import STAT_FIELDS, parse_by

    if as_json and as_csv:
        raise click.UsageError("--json and --csv exclude each other")
    try:
        names = parse_by(by)
    except FilterError as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None
    rows = open_store(ctx).stats(names, filters=filters_from(options))
    if as_json:
        print_json(rows)
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*names, *STAT_FIELDS])
        for r in rows:
            writer.writerow(["" if r[k] is None else r[k] for k in (*names, *STAT_FIELDS)])
        return
    table(
        [
            (
                *(("(none)" if r[n] is None else r[n]) for n in names),
                r["streams"],
                _pct(r["failure_rate"]),
                r["input_tokens"],
                r["cached_tokens"],
                r["output_tokens"],
                _money(r["cost"]),
                r["unpriced"] or "",
                _pct(r["cache_hit_ratio"]),
                _money(r["cache_savings"]),
                _num(r["ttft_ms_p50"]),
                _num(r["ttft_ms_p95"]),
                _num(r["ttft_ms_p99"]),
                _num(r["duration_ms_p50"]),
                _num(r["duration_ms_p95"]),
                _num(r["output_tokens_per_s"]),
            )
            for r in rows
        ],
        [
            *(n.upper() for n in names),
            "STREAMS",
            "FAILED",
            "IN",
            "CACHED",
            "OUT",
            "COST",
            "UNPRICED",
            "CACHE_HIT",
            "SAVED",
            "TTFT_P50",
            "TTFT_P95",
            "TTFT_P99",
            "DUR_P50",
            "DUR_P95",
            "OUT_TOK/S",
        ],
    )


@click.command()
@db_option
@filter_options
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
@click.option(
    "--prices",
    type=click.Path(exists=True, dir_okay=False),
    help="A JSON price file for private, fine-tuned or self-hosted models (per million tokens; "
    "see the README); other streams are priced by genai-prices.",
)
@json_option("Print the changes as JSON.")
@click.pass_context
def reprice(
    ctx: click.Context, /, dry_run: bool, prices: str | None, as_json: bool, **options: Any
) -> None:
    """Recompute costs from the stored usage with the installed prices (or --prices FILE).

    Lists every stream whose cost changed, old and new, and records the new
    provenance (prices_version) beside each figure.
    """
    from ._common import cost_text, is_jsonl

    if is_jsonl(ctx.find_root().obj.get("db")):
        raise click.UsageError("a JSONL export is read-only here: import it first")
    changes = open_store(ctx, create=False).reprice(
        filters=filters_from(options), prices=prices, dry_run=dry_run
    )
    if as_json:
        print_json({"dry_run": dry_run, "changed": changes})
        return
    if changes:
        table(
            [
                (
                    c["stream_id"],
                    c["model"],
                    cost_text(c["before"]["cost_nanousd"]) or "unknown",
                    cost_text(c["after"]["cost_nanousd"]) or "unknown",
                    c["after"]["prices_version"] or "",
                )
                for c in changes
            ],
            ["ID", "MODEL", "BEFORE", "AFTER", "PRICED_WITH"],
        )
    click.echo(f"{'would change' if dry_run else 'changed'} {len(changes)} stream(s)", err=True)


@click.command()
@db_option
@click.argument("query")
@json_option("Print a JSON array of row objects.")
@click.option("--limit", type=click.IntRange(min=1), help="Return at most N rows.")
@click.pass_context
def sql(ctx: click.Context, query: str, as_json: bool, limit: int | None) -> None:
    """Run a read-only SQL query over the `streams` and `events` tables."""
    columns, rows = open_store(ctx).sql(query, limit=limit)
    if as_json:
        print_json([dict(zip(columns, r, strict=True)) for r in rows])
    else:
        table(rows, columns)
