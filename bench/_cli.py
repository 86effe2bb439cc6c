"""The CLI's start and the history query, and replay's timing at speed 1.

CLI figures are the wall time of a fresh process (what a user waits for),
against the interpreter's own start (``python -c pass``) and, for ``stats``,
the same ``GROUP BY`` through raw ``sqlite3`` in process.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ._harness import Row, Scale, interleave, timed

__all__ = ["rows"]


def _wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1e3


def _cli(*args: str) -> list[str]:
    """The installed ``streamrec`` script (what a user runs), else ``python -m streamrec``."""
    script = Path(sys.executable).with_name("streamrec")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "streamrec", *args]


def _small_store(path: Path, streams: int) -> str:
    from streamrec import Store, record

    from ._recorder import sse_chunks

    store = Store(path)
    data = sse_chunks(3)
    for _ in range(streams):
        for _ in record(data, api="openai.chat.completions", store=store):
            pass
    (sid,) = store.stream_ids()[:1]
    store.close()
    return sid


def _clone_streams(path: Path, template: str, count: int) -> None:
    """``count`` read-model rows copied from ``template`` (7 models, distinct ids): a history."""
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(streams)")]
    rest = [c for c in columns if c not in ("stream_id", "model")]
    conn.execute(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO streams (stream_id, model, {", ".join(rest)})
        SELECT printf('bench-%012d', i), 'model-' || (i % 7), {", ".join(rest)}
        FROM n, (SELECT * FROM streams WHERE stream_id = ?)
        """,
        (count, template),
    )
    conn.commit()
    conn.close()


_GROUP_BY = """
SELECT model, COUNT(*), SUM(chunk_count), SUM(input_tokens), SUM(cached_tokens),
       SUM(output_tokens), SUM(reasoning_tokens), SUM(cost_nanousd), COUNT(cost_nanousd),
       AVG(ttft_ns)
FROM streams GROUP BY model ORDER BY model
"""


def _timing(size: Scale) -> list[Row]:
    """Replay at speed 1: the error of every inter-chunk gap, against ``time.sleep`` itself."""
    from streamrec import SSEEvent, Store, record, replay

    gaps = size.pick(10, 60, 400)
    gap = 0.005
    store = Store(Path(tempfile.mkdtemp()) / "timing.db")

    def paced() -> Iterator[SSEEvent]:
        from tests.chunks import chunk

        for i in range(gaps):
            yield SSEEvent(chunk({"content": f"t{i}"}))
            time.sleep(gap)

    stream = record(paced(), api="openai.chat.completions", store=store)
    for _ in stream:
        pass
    recorded = [e.t_ns for e in store.events(stream.stream_id) if e.kind.value == "chunk"]

    def errors(arrivals: list[int]) -> tuple[float, float]:
        rel = [a - arrivals[0] for a in arrivals]
        want = [t - recorded[0] for t in recorded]
        gap_err = [
            abs((rel[i] - rel[i - 1]) - (want[i] - want[i - 1])) / 1e6 for i in range(1, len(rel))
        ]
        ordered = sorted(gap_err)
        return ordered[int(0.99 * (len(ordered) - 1))], abs(rel[-1] - want[-1]) / 1e6

    def ours() -> tuple[float, float]:
        arrivals = [time.monotonic_ns() for _ in replay(stream.stream_id, store=store, speed=1)]
        return errors(arrivals)

    def floor() -> tuple[float, float]:
        start = time.monotonic_ns()
        arrivals = []
        for t in recorded:  # sleep to each recorded deadline: the scheduler's own error
            delay = (start + t - recorded[0] - time.monotonic_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
            arrivals.append(time.monotonic_ns())
        return errors(arrivals)

    runs = size.pick(1, 3, 5)
    a, b = interleave(ours, floor, runs, warmup=0)
    store.close()
    seconds = recorded[-1] / 1e9 - recorded[0] / 1e9
    return [
        Row(
            f"replay at speed 1, p99 error per inter-chunk gap ({gaps} gaps of {gap * 1e3:g} ms)",
            "ms",
            [x[0] for x in a],
            "sleeping to each deadline",
            [x[0] for x in b],
            higher_is_better=False,
            target="≤ 1 ms",
            check=lambda r: r.figure <= 1.0,
        ),
        Row(
            f"replay at speed 1, drift at the end of a {seconds:.1f} s stream",
            "ms",
            [x[1] for x in a],
            "sleeping to each deadline",
            [x[1] for x in b],
            higher_is_better=False,
            target="no drift (≤ 1 ms)",
            check=lambda r: r.figure <= 1.0,
        ),
    ]


def rows(size: Scale) -> list[Row]:
    """``--version``, ``ls`` on a small store, ``stats`` over a large history; replay timing."""
    repeats = size.pick(1, 5, 11)
    tmp = Path(tempfile.mkdtemp())
    small = tmp / "small.db"
    _small_store(small, 20)
    python = [sys.executable, "-c", "pass"]
    a, b = interleave(lambda: _wall(_cli("--version")), lambda: _wall(python), repeats)
    out = [
        Row(
            "`streamrec --version`",
            "ms",
            a,
            "`python -c pass`",
            b,
            higher_is_better=False,
            target="≤ 150 ms",
            check=lambda r: r.figure <= 150,
        )
    ]
    a, b = interleave(lambda: _wall(_cli("--db", str(small), "ls")), lambda: _wall(python), repeats)
    out.append(
        Row(
            "`streamrec ls` on a small store (20 streams)",
            "ms",
            a,
            "`python -c pass`",
            b,
            higher_is_better=False,
            target="≤ 300 ms",
            check=lambda r: r.figure <= 300,
        )
    )
    count = size.pick(1000, 20_000, 1_000_000)
    big = tmp / "history.db"
    template = _small_store(big, 1)
    _clone_streams(big, template, count)

    def raw_stats() -> float:
        conn = sqlite3.connect(big)
        try:
            return timed(lambda: conn.execute(_GROUP_BY).fetchall()) * 1e3
        finally:
            conn.close()

    def in_process() -> float:
        from streamrec import Store
        from streamrec.store import stats

        store = Store(big, create=False)
        try:
            return timed(lambda: stats(store)) * 1e3
        finally:
            store.close()

    stats_runs = size.pick(1, 3, 5)
    a, b = interleave(lambda: _wall(_cli("--db", str(big), "stats")), raw_stats, stats_runs)
    a2, b2 = interleave(in_process, raw_stats, stats_runs)
    label = f"{count // 1000}k" if count < 1_000_000 else f"{count // 1_000_000}M"
    out += [
        Row(
            f"`streamrec stats` over {label} streams, CLI wall time",
            "ms",
            a,
            "sqlite3 GROUP BY in process",
            b,
            higher_is_better=False,
            target="≤ 1 s (for 1M)",
            check=lambda r: r.figure <= 1000,
        ),
        Row(
            f"`stats()` over {label} streams, in process",
            "ms",
            a2,
            "sqlite3 GROUP BY in process",
            b2,
            higher_is_better=False,
            target="",
        ),
    ]
    out += _timing(size)
    return out
