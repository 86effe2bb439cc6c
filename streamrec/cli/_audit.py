"""`streamrec audit`: secret-like strings in stored recordings (and `--scrub` to redact them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._common import db_option, json_option, open_store, print_json, table

if TYPE_CHECKING:
    from ..recorder import Finding


@click.command()
@db_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@json_option("Print the findings as JSON.")
@click.option(
    "--scrub",
    is_flag=True,
    help="Replace every finding by [redacted] in place (the one exception to append-only).",
)
@click.pass_context
def audit(ctx: click.Context, file: Path | None, as_json: bool, scrub: bool) -> None:
    """Find secret-like strings (API keys, bearer tokens, JWTs, high-entropy tokens) in recordings.

    \b
        streamrec audit                   # the store (--db / $STREAMREC_DB)
        streamrec audit recordings.jsonl  # an export kept in a repository
        streamrec audit --scrub           # redact what was found, in place

    Requests, chunks, failures and headers are searched; each finding names the
    stream, the event and the JSON path, with a masked excerpt (never the secret).
    Exits 1 when anything is found (after --scrub: when anything is left).
    """
    from ..recorder import audit_lines, audit_store, scrub_lines, scrub_store

    db = ctx.find_root().obj.get("db")
    if file is None and db and str(db).endswith(".jsonl"):
        file = Path(db)
    if file is not None:
        if not file.exists():
            raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
        lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        if scrub:
            scrubbed, found = scrub_lines(lines)
            file.write_text("".join(scrubbed), encoding="utf-8")
            left = audit_lines(scrubbed)
        else:
            found, left = audit_lines(lines), []
        where = str(file)
    else:
        store = open_store(ctx)
        if scrub:
            found = scrub_store(store)
            left = audit_store(store)
        else:
            found, left = audit_store(store), []
        where = store.display_url
    _report(found, left, scrub, where, as_json)
    if left if scrub else found:
        ctx.exit(1)


def _report(
    found: list[Finding], left: list[Finding], scrubbed: bool, where: str, as_json: bool
) -> None:
    if as_json:
        print_json(
            {
                "findings": [f.as_dict() for f in found],
                "count": len(found),
                "scrubbed": scrubbed,
                "remaining": len(left) if scrubbed else len(found),
            }
        )
        return
    if found:
        table(
            [(f.stream_id, f.seq, f.kind, f.where, f.what, f.excerpt) for f in found],
            ["STREAM", "SEQ", "KIND", "WHERE", "WHAT", "EXCERPT"],
        )
    events = len({(f.stream_id, f.seq) for f in found})
    if not found:
        click.echo(f"no secret-like strings in {where}", err=True)
    elif scrubbed:
        click.echo(
            f"redacted {len(found)} secret-like string(s) in {events} event(s) of {where}"
            + (f"; {len(left)} remain" if left else ""),
            err=True,
        )
    else:
        click.echo(
            f"{len(found)} secret-like string(s) in {events} event(s) of {where} "
            "(`streamrec audit --scrub` redacts them)",
            err=True,
        )
