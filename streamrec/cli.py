"""The ``streamrec`` command: parses, calls the library, prints. No logic a library user lacks.

Errors are mapped in one place (``_Group.invoke``): a ``StreamrecError`` is
one line on stderr and exit 1; bad usage is click's exit 2; a traceback only
with ``--debug``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import click

from .errors import StreamrecError
from .providers import frame_sse
from .store import GROUPS, Store, export_lines, import_lines, stats

__all__ = ["main"]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StreamrecError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"streamrec: error: {exc}", err=True)
            ctx.exit(1)


def _store(ctx: click.Context, *, create: bool = True) -> Store:
    """The store named by --db / $STREAMREC_DB / the default, brought to head on first use."""
    obj = ctx.find_root().obj
    if obj.get("store") is None:
        obj["store"] = Store(obj.get("db"), create=create)
        ctx.call_on_close(obj["store"].close)
    return obj["store"]  # type: ignore[no-any-return]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr while long work runs, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield update
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def _db_option(f: Any) -> Any:
    """--db on every command (it may also come before the command name)."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.find_root().ensure_object(dict)["db"] = value

    return click.option(
        "--db",
        metavar="URL",
        expose_value=False,
        callback=remember,
        help="Database URL or SQLite path (default: $STREAMREC_DB, else .streamrec/streamrec.db).",
    )(f)


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
    ctx.ensure_object(dict)
    ctx.obj["db"] = db
    ctx.obj["debug"] = debug


# -- demo ---------------------------------------------------------------------------------


@main.command()
@_db_option
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Record a sample stream offline, replay it and print its rebuilt state.

    A bundled sample upstream on loopback speaks OpenAI's streaming format; the
    real openai SDK calls it. No API key, no network.
    """
    from .demo import run_demo

    run_demo(_store(ctx, create=True), click.echo)


# -- recording live programs ------------------------------------------------------------

_UPSTREAM_HELP = (
    "Send PROVIDER's calls (openai, anthropic, google) to URL instead of its public API "
    "(repeatable; default: $STREAMREC_UPSTREAM_<PROVIDER>)."
)


def _upstreams(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    from .errors import RecorderError
    from .recorder import parse_upstreams

    try:
        return parse_upstreams(values)
    except RecorderError as exc:
        raise click.BadParameter(str(exc).removeprefix("--upstream ")) from None


def stream_summary(row: dict[str, Any]) -> str:
    """One line about a recorded stream: id, model, status, chunks, tokens, cost."""
    model = row.get("model") or row.get("requested_model") or "?"
    tokens = (
        f"{row['input_tokens']} in / {row['output_tokens']} out tokens"
        if row.get("input_tokens") is not None or row.get("output_tokens") is not None
        else "no usage reported"
    )
    cost = _cost_text(row.get("cost_nanousd")) or "cost unknown"
    return (
        f"streamrec: {row['stream_id']}  {model}  {row['status']}  "
        f"{row['chunk_count']} chunks  {tokens}  {cost}"
    )


def _recording_options(f: Any) -> Any:
    """--name, --tag and --upstream, shared by `record` and `proxy`."""
    f = click.option(
        "--upstream",
        "upstreams",
        multiple=True,
        metavar="PROVIDER=URL",
        callback=_upstreams,
        help=_UPSTREAM_HELP,
    )(f)
    f = click.option("--tag", "tags", multiple=True, help="Tag every recorded call (repeatable).")(
        f
    )
    return click.option("--name", help="Record every call under this name.")(f)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_db_option
@_recording_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def record(
    ctx: click.Context,
    name: str | None,
    tags: tuple[str, ...],
    upstreams: dict[str, str],
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with a recording proxy in front of the LLM providers.

    \b
        streamrec record -- python app.py

    COMMAND gets OPENAI_BASE_URL, ANTHROPIC_BASE_URL and GOOGLE_GEMINI_BASE_URL
    pointing at a proxy on a free loopback port; every call streams through it
    to the real provider (or to the base URL COMMAND already had) and is
    recorded. Exits with COMMAND's exit code; prints one line per recorded
    stream on stderr.
    """
    from .recorder import run_recorded

    store = _store(ctx)
    try:
        run = run_recorded(command, store=store, upstreams=upstreams, name=name, tags=tags)
    except FileNotFoundError:
        click.echo(f"streamrec: error: command not found: {command[0]}", err=True)
        ctx.exit(127)
    except PermissionError:
        click.echo(f"streamrec: error: cannot run {command[0]}: permission denied", err=True)
        ctx.exit(126)
    if not run.stream_ids:
        click.echo("streamrec: no LLM calls were recorded", err=True)
    for stream_id in run.stream_ids:
        click.echo(stream_summary(store.stream(stream_id)), err=True)
    ctx.exit(run.returncode)


@main.command("proxy")
@_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one)."
)
@_recording_options
@click.pass_context
def proxy_cmd(
    ctx: click.Context,
    host: str,
    port: int,
    name: str | None,
    tags: tuple[str, ...],
    upstreams: dict[str, str],
) -> None:
    """Run the recording proxy until interrupted, for programs started elsewhere.

    Prints its URL and the variables to export; then one line per recorded
    stream on stderr as each ends.
    """
    from .errors import RecorderError
    from .recorder import ProxyServer, RecordingProxy, resolve_upstreams
    from .store import summary_row

    store = _store(ctx)

    def finished(recording: Any) -> None:
        click.echo(stream_summary(summary_row(recording.state, -1)), err=True)

    proxy = RecordingProxy(
        store=store,
        upstreams=resolve_upstreams(upstreams),
        name=name,
        tags=tags,
        on_finish=finished,
    )
    try:
        server = ProxyServer(proxy, host=host, port=port)
    except OSError as exc:
        raise RecorderError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with server:
        click.echo(f"streamrec proxy on {server.url}, recording into {store.display_url}")
        if host not in ("127.0.0.1", "::1", "localhost"):
            click.echo(
                "streamrec: warning: listening beyond loopback; anyone who reaches "
                "this port can use the API keys sent through it",
                err=True,
            )
        for var, value in server.env.items():
            click.echo(f"export {var}={value}")
        _wait_until_interrupted()
    store.writer.flush()
    click.echo(f"streamrec proxy stopped; {len(proxy.stream_ids)} call(s) recorded", err=True)


def _wait_until_interrupted() -> None:
    import signal
    import threading

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- listing and inspecting ---------------------------------------------------------------


def _cost_text(nanos: int | None) -> str:
    return "" if nanos is None else f"${Decimal(nanos) / Decimal(10**9):.6f}"


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("tags", "finish_reasons", "error"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    nanos = out.get("cost_nanousd")
    # a JSON number for scripts; cost_nanousd beside it is the exact integer
    out["cost"] = Decimal(nanos) / Decimal(10**9) if nanos is not None else None
    return out


@main.command("ls")
@_db_option
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most N streams.",
)
@click.option(
    "--status",
    type=click.Choice(["recording", "completed", "failed", "interrupted"]),
    help="Only streams in this status.",
)
@click.option("--model", help="Only streams of this (requested or reported) model.")
@click.option("--name", help="Only streams recorded under this name.")
@click.option("--tag", help="Only streams with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def ls(
    ctx: click.Context,
    limit: int,
    status: str | None,
    model: str | None,
    name: str | None,
    tag: str | None,
    as_json: bool,
) -> None:
    """List recorded streams, newest first."""
    rows = _store(ctx).streams(limit=limit, status=status, model=model, name=name, tag=tag)
    if as_json:
        _print_json([_row_json(r) for r in rows])
        return
    if not rows:
        click.echo("no streams recorded yet (try `streamrec demo`)", err=True)
        return
    _table(
        [
            (
                r["stream_id"],
                r["started_at"].strftime("%Y-%m-%d %H:%M:%S") if r["started_at"] else "",
                r["status"],
                r["model"] or r["requested_model"],
                r["chunk_count"],
                r["input_tokens"],
                r["output_tokens"],
                _cost_text(r["cost_nanousd"]),
                r["name"],
            )
            for r in rows
        ],
        ["ID", "STARTED", "STATUS", "MODEL", "CHUNKS", "IN", "OUT", "COST", "NAME"],
    )


def state_json(store: Store, stream_id: str) -> dict[str, Any]:
    """``show --json``: the StreamState with BaseStream's names at top level, plus the timeline."""
    state = store.state(stream_id)
    data = state.model_dump(mode="json")
    data["cost"] = float(state.cost) if state.cost is not None else None
    data["tool_calls"] = [{**t.model_dump(), "args": t.args} for t in state.tool_calls]
    return data


@main.command()
@_db_option
@click.argument("stream_id")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the state as JSON (BaseStream attribute names as keys).",
)
@click.option("--events/--no-events", default=True, help="Show the event timeline (text output).")
@click.pass_context
def show(ctx: click.Context, stream_id: str, as_json: bool, events: bool) -> None:
    """Show a stream's rebuilt state and a short timeline."""
    store = _store(ctx)
    stream_id = store.resolve(stream_id)
    if as_json:
        _print_json(state_json(store, stream_id))
        return
    state = store.state(stream_id)
    fields = [
        ("stream_id", state.stream_id),
        ("status", state.status),
        ("name", state.name),
        ("api", state.api),
        ("model", state.model),
        ("id", state.id),
        ("finish_reasons", state.finish_reasons),
        ("input_tokens", state.input_tokens),
        ("cached_tokens", state.cached_tokens),
        ("output_tokens", state.output_tokens),
        ("reasoning_tokens", state.reasoning_tokens),
        (
            "cost",
            f"${state.cost}"
            if state.cost is not None
            else f"unknown ({state.cost_metadata.get('reason')})",
        ),
        ("chunks", state.chunk_count),
        (
            "ttft_ms",
            None
            if state.time_to_first_chunk_ns is None
            else round(state.time_to_first_chunk_ns / 1e6, 3),
        ),
        ("duration_ms", None if state.duration_ns is None else round(state.duration_ns / 1e6, 3)),
    ]
    if state.error:
        fields.append(("error", f"{state.error.get('type')}: {state.error.get('message')}"))
    if state.malformed_chunks:
        fields.append(("malformed", f"{state.malformed_chunks}: {'; '.join(state.problems[:3])}"))
    for key, value in fields:
        click.echo(f"{key:17}{'' if value is None else value}")
    click.echo(f"{'content':17}{state.content!r}")
    if state.thinking:
        click.echo(f"{'thinking':17}{state.thinking!r}")
    for tool in state.tool_calls:
        click.echo(f"{'tool_call':17}{tool.name}({tool.arguments}) id={tool.id}")
    if events:
        click.echo("timeline:")
        stored = store.events(stream_id)
        shown = stored if len(stored) <= 12 else [*stored[:6], None, *stored[-5:]]
        for e in shown:
            if e is None:
                click.echo(f"  … {len(stored) - 11} more events …")
                continue
            text = e.payload if len(e.payload) <= 70 else e.payload[:69] + "…"
            name = f" [{e.event}]" if e.event else ""
            click.echo(f"  {e.seq:>4}  +{e.t_ns / 1e6:9.3f}ms  {e.kind.value:18}{name} {text}")


# -- replay -------------------------------------------------------------------------------


@main.command("replay", context_settings={"allow_interspersed_args": True})
@_db_option
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[STREAM_ID | -- CMD…]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "raw", "jsonl", "sse"]),
    default="text",
    show_default=True,
    help="text: the content as it streams; raw: each payload exactly, one per line; "
    "jsonl: one event object per line; sse: the server-sent-events wire text.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="0 replays instantly, 1 with the recorded timing, N N-times faster.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Serve every recording over the providers' HTTP APIs instead; with -- CMD, run CMD "
    "against it (base-URL variables set) and exit with its code.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: interface.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="With --serve: port (default: free)."
)
@click.pass_context
def replay_cmd(
    ctx: click.Context,
    args: tuple[str, ...],
    fmt: str,
    speed: float,
    serve: bool,
    host: str,
    port: int,
) -> None:
    """Re-emit a recorded stream, deterministically (or serve recordings with --serve).

    \b
        streamrec replay ID --format raw
        streamrec replay --serve -- python app.py

    With --serve, an unmodified program's SDK calls are answered from the
    recordings that match them; a call with no recording gets a 404 naming it
    and the closest recordings, and the command exits 1 if CMD itself succeeded.
    """
    if serve:
        _serve(ctx, list(args), speed, host, port)
        return
    if len(args) != 1:
        raise click.UsageError("replay takes exactly one STREAM_ID (or --serve)")
    from .replay import replay, replay_stream

    stream_id = args[0]
    store = _store(ctx)
    stream_id = store.resolve(stream_id)
    out = sys.stdout
    if fmt == "text":
        # the projection folds each chunk; print what each one added to the content
        stream = replay_stream(stream_id, store=store, speed=speed, chunks="raw")
        printed = 0
        for _chunk, _tool in stream:
            content = stream.state.content
            out.write(content[printed:])
            out.flush()
            printed = len(content)
        out.write("\n")
        return
    api = store.stream(stream_id)["api"]
    for sse in replay(stream_id, store=store, speed=speed, format="sse", raise_errors=False):
        if fmt == "raw":
            out.write(sse.data + "\n")
        elif fmt == "jsonl":
            out.write(json.dumps({"event": sse.event, "data": sse.data}, ensure_ascii=False) + "\n")
        else:  # framed as the provider frames it on the wire
            out.write(frame_sse(api, sse.data, sse.event).decode())
        out.flush()


def _serve(ctx: click.Context, command: list[str], speed: float, host: str, port: int) -> None:
    from ._serving import BackgroundServer
    from .errors import ReplayError
    from .recorder import client_env, run_command
    from .replay import Matcher, replay_app

    store = _store(ctx)
    matcher = Matcher(store)
    try:
        server = BackgroundServer(
            replay_app(store, speed=speed, matcher=matcher), host=host, port=port
        )
    except OSError as exc:
        raise ReplayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with server:
        env = client_env(server.url)
        if not command:
            click.echo(f"streamrec replay server on {server.url}, serving {store.display_url}")
            for var, value in env.items():
                click.echo(f"export {var}={value}")
            _wait_until_interrupted()
            return
        try:
            code = run_command(command, {**os.environ, **env})
        except FileNotFoundError:
            click.echo(f"streamrec: error: command not found: {command[0]}", err=True)
            ctx.exit(127)
    for stream_id in matcher.served:
        click.echo(f"replayed {stream_id}", err=True)
    for miss in matcher.misses:
        click.echo(f"streamrec: {miss}", err=True)
    ctx.exit(code if code or not matcher.misses else 1)


# -- history ------------------------------------------------------------------------------


@main.command()
@_db_option
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
    rows = stats(_store(ctx), by, since=since)
    if as_json:
        _print_json(rows)
        return
    _table(
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


main.add_command(stats_cmd, "stats")


@main.command()
@_db_option
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of row objects.")
@click.option("--limit", type=click.IntRange(min=1), help="Return at most N rows.")
@click.pass_context
def sql(ctx: click.Context, query: str, as_json: bool, limit: int | None) -> None:
    """Run a read-only SQL query over the `streams` and `events` tables."""
    columns, rows = _store(ctx).sql(query, limit=limit)
    if as_json:
        _print_json([dict(zip(columns, r, strict=True)) for r in rows])
    else:
        _table(rows, columns)


# -- portability and maintenance ------------------------------------------------------------


@main.command()
@_db_option
@click.argument("stream_ids", nargs=-1)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write here (default: stdout).",
)
@click.pass_context
def export(ctx: click.Context, stream_ids: tuple[str, ...], output: Any) -> None:
    """Export streams (all, or the given ids) as JSONL events, one per line."""
    for line in export_lines(_store(ctx), stream_ids or None):
        output.write(line + "\n")


@main.command("import")
@_db_option
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
@click.pass_context
def import_cmd(ctx: click.Context, source: Any, as_json: bool) -> None:
    """Import streams from a JSONL export (streams already present are skipped)."""
    imported, skipped = import_lines(_store(ctx, create=True), source)
    if as_json:
        _print_json({"imported": imported, "skipped": skipped})
    else:
        click.echo(f"imported {len(imported)} stream(s), skipped {len(skipped)} already present")


@main.command()
@_db_option
@click.argument("stream_ids", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the count as JSON.")
@click.pass_context
def rebuild(ctx: click.Context, stream_ids: tuple[str, ...], as_json: bool) -> None:
    """Recompute the `streams` read model from the event log alone."""
    store = _store(ctx)
    ids = [store.resolve(s) for s in stream_ids] if stream_ids else None
    with _progress("rebuilding") as progress:
        count = store.rebuild(ids, progress=progress)
    if as_json:
        _print_json({"rebuilt": count})
    else:
        click.echo(f"rebuilt {count} stream(s)")


@main.command()
@_db_option
@click.argument("stream_ids", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def verify(ctx: click.Context, stream_ids: tuple[str, ...], as_json: bool) -> None:
    """Check the log (gapless seq, a start per stream) and that the read model matches it. Exit 1 on problems."""
    store = _store(ctx)
    ids = [store.resolve(s) for s in stream_ids] if stream_ids else None
    with _progress("verifying") as progress:
        problems = store.verify(ids, progress=progress)
    if as_json:
        _print_json({"ok": not problems, "problems": problems})
    else:
        for p in problems:
            click.echo(p)
        click.echo("ok" if not problems else f"{len(problems)} problem(s)", err=bool(problems))
    if problems:
        ctx.exit(1)


@main.command()
@_db_option
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=600.0,
    show_default=True,
    help="Seconds without a new event after which a stream recorded on another host is taken as dead.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the recovered ids as JSON.")
@click.pass_context
def recover(ctx: click.Context, older_than: float, as_json: bool) -> None:
    """Mark streams whose recorder died as interrupted (what was committed stays replayable)."""
    store = Store(ctx.find_root().obj.get("db"), recover=False)
    ctx.call_on_close(store.close)
    ids = store.recover(older_than_s=older_than)
    if as_json:
        _print_json({"interrupted": ids})
    else:
        click.echo(f"marked {len(ids)} stream(s) interrupted")
        for i in ids:
            click.echo(f"  {i}")


@main.group()
def db() -> None:
    """Schema management (Alembic migrations shipped with streamrec)."""


@db.command()
@_db_option
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Create the schema or bring it to the newest revision."""
    store = Store(ctx.find_root().obj.get("db"), create=True, migrate=True)
    ctx.call_on_close(store.close)
    click.echo(f"{store.display_url} is at revision {store.revision()}")


@db.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def current(ctx: click.Context, as_json: bool) -> None:
    """Print the schema revision of the database and the newest one streamrec knows."""
    from .migrations import head_revision

    store = _store(ctx)
    rev, head = store.revision(), head_revision()
    if as_json:
        _print_json(
            {"url": store.display_url, "revision": rev, "head": head, "up_to_date": rev == head}
        )
    else:
        click.echo(f"{rev} (head: {head})")


def _commands(group: click.Group, prefix: str = "") -> Iterable[tuple[str, click.Command]]:
    """Every command, with its full name (for the docs test)."""
    for name, command in sorted(group.commands.items()):
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
