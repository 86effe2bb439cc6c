"""What every command shares: the store it opens, --db, JSON and table output, progress."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..errors import StreamrecError
    from ..store import Store


def open_store(ctx: click.Context, *, create: bool = False, offline_ok: bool = False) -> Store:
    """The store named by --db / $STREAMREC_DB / the default.

    Read commands never create anything (a mistyped path is an error); commands
    that record pass ``create=True`` (a new database is brought to head) and
    ``offline_ok=True`` (a database that is down is written once it is back).
    A ``--db`` that names a JSONL export (``*.jsonl``) is loaded into a
    temporary SQLite store, so every read command works on an export directly.
    """
    from ..store import Store

    obj = ctx.find_root().obj
    if obj.get("store") is None:
        db = obj.get("db")
        if is_jsonl(db):
            obj["store"] = _jsonl_store(ctx, db)
        else:
            obj["store"] = Store(db, create=create, offline_ok=offline_ok)
        ctx.call_on_close(obj["store"].close)
    return obj["store"]  # type: ignore[no-any-return]


def is_jsonl(db: str | None) -> bool:
    """Whether --db names a JSONL export rather than a database."""
    return bool(db) and "://" not in str(db) and str(db).endswith((".jsonl", ".ndjson"))


def _jsonl_store(ctx: click.Context, path: str) -> Store:
    import shutil
    import tempfile
    from pathlib import Path

    from ..errors import StoreError
    from ..store import Store, import_lines

    if not Path(path).is_file():
        raise StoreError(f"no JSONL export at {path}")
    tmp = tempfile.mkdtemp(prefix="streamrec-jsonl-")
    ctx.call_on_close(lambda: shutil.rmtree(tmp, ignore_errors=True))
    store = Store(Path(tmp) / "export.db", recover=False)
    with open(path, encoding="utf-8") as lines:
        import_lines(store, lines)
    return store


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(value: Any) -> None:
    """Pretty JSON on stdout; Decimals as numbers, datetimes as ISO 8601."""
    click.echo(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def write_raw(data: str | bytes) -> None:
    """Recorded text on stdout as the very bytes received.

    Bytes that were not UTF-8 are held as surrogate escapes (``surrogateescape``)
    and go out as themselves; the text stream, which would print them as
    ``\\udcXX`` (see ``printable_output``), is flushed first to keep the order.
    """
    sys.stdout.flush()
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (io.StringIO) holds the escapes as they are
        sys.stdout.write(
            data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
        )
        sys.stdout.flush()
        return
    out.write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))
    out.flush()


def printable_output(ctx: click.Context) -> None:
    """Text output never fails on such bytes: they print as ``\\udcXX`` (in JSON, its escape).

    For the invocation only: a strict stdout and stderr are set back when ``ctx`` closes.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
            ctx.call_on_close(functools.partial(stream.reconfigure, errors="strict"))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """Left-aligned columns, as wide as their widest cell."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None]]:
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


REFS = {"ignore_unknown_options": True}
"""``context_settings`` of a command taking stream ids: click would read ``-2`` (the second
newest stream, see ``Store.resolve``) as an unknown option; with these it hands unknown
options through, and ``stream_refs`` turns every other one back into click's error."""


def stream_refs(*refs: str) -> None:
    """Refuse, as click would have, any ``-x`` among ``refs`` that is not ``-N``."""
    for ref in refs:
        if ref.startswith("-") and not ref[1:].isdigit():
            raise click.NoSuchOption(ref)


def db_option(f: Any) -> Any:
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


def cost_text(nanos: int | None) -> str:
    """Integer nano-dollars as dollars for a table cell ("" when unknown)."""
    return "" if nanos is None else f"${Decimal(nanos) / Decimal(10**9):.6f}"


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    """A read-model row for --json: JSON columns decoded, cost as a number beside the exact nanos."""
    out = dict(row)
    for key in ("tags", "finish_reasons", "error"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    nanos = out.get("cost_nanousd")
    # a JSON number for scripts; cost_nanousd beside it is the exact integer
    out["cost"] = Decimal(nanos) / Decimal(10**9) if nanos is not None else None
    return out


def stream_summary(row: dict[str, Any]) -> str:
    """One line about a recorded stream: id, model, status, chunks, tokens, cost."""
    model = row.get("model") or row.get("requested_model") or "?"
    tokens = (
        f"{row['input_tokens']} in / {row['output_tokens']} out tokens"
        if row.get("input_tokens") is not None or row.get("output_tokens") is not None
        else "no usage reported"
    )
    cost = cost_text(row.get("cost_nanousd")) or "cost unknown"
    return (
        f"streamrec: {row['stream_id']}  {model}  {row['status']}  "
        f"{row['chunk_count']} chunks  {tokens}  {cost}"
    )


def wait_until_interrupted() -> None:
    """Block until Ctrl-C or SIGTERM (the servers' foreground loop)."""
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


def json_option(text: str) -> Callable[[Any], Any]:
    """--json (``as_json``): the command prints JSON instead of text; ``text`` says what."""
    return click.option("--json", "as_json", is_flag=True, help=text)


def serving_options(*, port: int = 0, when: str = "") -> Callable[[Any], Any]:
    """--host, --port, --allow-remote and --allow-host, for the commands that run a server.

    ``port`` is the default port (0: a free one); ``when`` prefixes the help of
    --host and --port where they apply only with another option ("With --serve: ").
    """
    where = f"{when}interface to listen on." if when else "Interface to listen on."
    if port:
        port_help = f"{when}port (0: a free one)." if when else "Port (0: a free one)."
    else:
        port_help = f"{when}port (default: a free one)." if when else "Port (default: a free one)."

    def decorate(f: Any) -> Any:
        f = click.option(
            "--allow-host",
            "allowed_hosts",
            multiple=True,
            metavar="HOST:PORT",
            help="Also answer requests whose Host header is this (repeatable; '*': any).",
        )(f)
        f = click.option(
            "--allow-remote",
            is_flag=True,
            help="Allow listening beyond loopback (anyone who reaches the port can use the server).",
        )(f)
        f = click.option(
            "--port",
            type=click.IntRange(0, 65535),
            default=port,
            show_default=bool(port),
            help=port_help,
        )(f)
        return click.option("--host", default="127.0.0.1", show_default=True, help=where)(f)

    return decorate


@contextlib.contextmanager
def listen_errors(host: str, port: int, error: type[StreamrecError]) -> Iterator[None]:
    """A server that cannot bind (port taken, no such address) is ``error``: one line, exit 1."""
    try:
        yield
    except OSError as exc:
        raise error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def warn_remote(host: str) -> None:
    """The warning a non-loopback bind prints (it needed --allow-remote)."""
    from .._serving import is_loopback

    if not is_loopback(host):
        click.echo(
            f"streamrec: warning: listening on {host}, beyond loopback (--allow-remote): "
            "anyone who reaches this port can use the server and the API keys sent through it",
            err=True,
        )
