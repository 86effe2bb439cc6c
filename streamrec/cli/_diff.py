"""`diff`: two recordings of the same request side by side, to review a re-record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ._common import REFS, db_option, json_option, open_store, print_json, stream_refs

_SHOW = 70


@click.command("diff", context_settings=REFS)
@db_option
@click.argument("a")
@click.argument("b")
@json_option("The comparison as JSON.")
@click.pass_context
def diff_cmd(ctx: click.Context, a: str, b: str, as_json: bool) -> None:
    """Compare two recordings: the answer (content, tool calls, finish reasons, model,
    status), usage, the event log's shape and the timing profile.

    \b
        streamrec diff 01a2 01b7
        streamrec diff -2 -1                            # the newest against the one before
        streamrec diff old/test_x.jsonl tests/recordings/test_app/test_x.jsonl
        streamrec diff test_x.jsonl:2 other.jsonl:2     # the 2nd recording in each file

    A and B are stream ids (unique prefixes, `latest`, -N for the Nth newest) in --db, or JSONL files (a pytest
    recording, a `streamrec export`), optionally with :N for the Nth recording.
    Exits 0 when the answers are the same (timing aside), 1 when they differ.
    """
    from ..replay._compare import compare_recordings

    stream_refs(a, b)

    store_a, id_a = _resolve(ctx, a)
    store_b, id_b = _resolve(ctx, b)
    result = compare_recordings(store_a, id_a, store_b, id_b)
    if as_json:
        print_json(result)
    else:
        _print(result)
    ctx.exit(0 if result["same"] else 1)


def _resolve(ctx: click.Context, ref: str) -> tuple[Any, str]:
    """(store, stream id) for a stream id in --db, or FILE.jsonl[:N]."""
    path, _, index = ref.rpartition(":") if ref.rpartition(":")[2].isdigit() else (ref, "", "")
    if path.endswith((".jsonl", ".ndjson")):
        import shutil
        import tempfile

        from ..errors import StoreError
        from ..store import Store, import_lines

        if not Path(path).is_file():
            raise StoreError(f"no JSONL file at {path}")
        tmp = tempfile.mkdtemp(prefix="streamrec-diff-")
        ctx.call_on_close(lambda: shutil.rmtree(tmp, ignore_errors=True))
        store = Store(Path(tmp) / "diff.db")
        ctx.call_on_close(store.close)
        with open(path, encoding="utf-8") as lines:
            imported, _ = import_lines(store, lines)
        ids = sorted(imported)
        n = int(index or 1)
        if not 1 <= n <= len(ids):
            raise StoreError(f"{path} holds {len(ids)} recording(s), not a #{n}")
        return store, ids[n - 1]
    store = open_store(ctx)
    return store, store.resolve(ref)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOW else text[: _SHOW - 1] + "…"


def _print(result: dict[str, Any]) -> None:
    pa, pb = result["a"], result["b"]
    click.echo(f"A {pa['stream_id']}  {pa['recorded_at']}  {pa['name'] or ''}".rstrip())
    click.echo(f"B {pb['stream_id']}  {pb['recorded_at']}  {pb['name'] or ''}".rstrip())
    if result["same_request"]:
        click.echo("request: the same")
    else:
        click.echo("request differs (A ≠ B):")
        for d in result["request"]:
            click.echo(f"  {d['path']}: {_short(d['a'])} ≠ {_short(d['b'])}")
    if result["same"]:
        click.echo("answer: the same (content, tool calls, usage, model, events)")
    else:
        click.echo("answer differs (A → B):")
        for field, (va, vb) in result["answer"].items():
            click.echo(f"  {field:<16} {_short(va)}  →  {_short(vb)}")
    timing = "  ".join(f"{field} {va} → {vb}" for field, (va, vb) in result["timing"].items())
    click.echo(f"timing: {timing}")
