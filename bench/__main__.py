"""``python -m bench``: run every row of the performance table and print it.

Sections run in order (``--only`` picks some); each prints its rows as it
finishes, then the whole table is printed as Markdown (what the README and
docs/performance.md quote). ``--json FILE`` also writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests.chunks`, `tests.upstream` and a source checkout
    sys.path.insert(0, str(ROOT))

from bench._harness import Row, Scale, table  # noqa: E402


def _sections() -> dict[str, Callable[[Scale], list[Row]]]:
    from bench import _cli, _proxy, _recorder, _scale, _sdk, _store

    return {
        "recorder": _recorder.rows,
        "store": _store.rows,
        "sdk": _sdk.rows,
        "proxy": _proxy.rows,
        "cli": _cli.rows,
        "scale": _scale.rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few runs (< 1 min)")
    parser.add_argument(
        "--tiny", action="store_true", help="a few chunks, one run: checks that every row runs"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="SECTION",
        help="run only this section (recorder, store, sdk, proxy, cli, scale); repeatable",
    )  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    size = Scale("tiny" if args.tiny else "quick" if args.quick else "full")
    sections = _sections()
    unknown = set(args.only) - set(sections)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    chosen = [s for s in sections if not args.only or s in args.only]
    print(
        f"streamrec benchmarks ({size.name}) on {platform.node()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        flush=True,
    )
    rows: list[Row] = []
    failed = 0
    for name in chosen:
        start = time.perf_counter()
        try:
            got = sections[name](size)
        except Exception:
            failed += 1
            print(f"\n[{name}] FAILED:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            continue
        rows += got
        print(f"\n[{name}] {time.perf_counter() - start:.1f} s", flush=True)
        print(table(got), flush=True)
    print("\nAll rows (ratio: streamrec's rate over the floor's, higher is better):")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
