"""Measuring one row: streamrec and its floor (or peer) interleaved in one run, repeated.

A shared machine is noisy, so every figure is the median of repeated runs and
every ratio is taken pairwise (streamrec's run ``i`` against the floor's run
``i``, measured back to back) before its median is taken: background load
that hits one run hits its partner too. The spread printed is the range of
those per-pair ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Row", "Scale", "interleave", "median", "table", "timed"]

T = TypeVar("T")


@dataclass(frozen=True)
class Scale:
    """How big a run is: ``tiny`` (the smoke test: every row runs once, on a few chunks),
    ``quick`` (under a minute) or ``full`` (the sizes the issue's table quotes)."""

    name: str

    def pick(self, tiny: T, quick: T, full: T) -> T:
        return {"tiny": tiny, "quick": quick, "full": full}[self.name]


@dataclass
class Row:
    """One line of the table.

    ``ours`` and ``floor`` are lists of repeated figures in ``unit``;
    ``higher_is_better`` says which way the unit points (chunks/s up, µs down),
    so that ``ratio`` is always streamrec's rate over the floor's: above 1,
    streamrec is ahead. ``target`` is the issue's bar for the ratio (or for the
    figure itself when ``target_on`` is ``"figure"``).
    """

    name: str
    unit: str
    ours: list[float]
    floor_name: str = ""
    floor: list[float] = field(default_factory=list)
    higher_is_better: bool = True
    target: str = ""
    check: Callable[[Row], bool] | None = None
    note: str = ""

    @property
    def figure(self) -> float:
        return median(self.ours)

    @property
    def floor_figure(self) -> float | None:
        return median(self.floor) if self.floor else None

    def ratios(self) -> list[float]:
        if not self.floor:
            return []
        pairs = zip(self.ours, self.floor, strict=False)
        if self.higher_is_better:
            return [o / f for o, f in pairs if f]
        return [f / o for o, f in pairs if o]

    @property
    def ratio(self) -> float | None:
        r = self.ratios()
        return median(r) if r else None

    def spread(self) -> str:
        r = self.ratios()
        if len(r) > 1:
            return f"{min(r):.2f}-{max(r):.2f}"
        if len(self.ours) > 1:
            lo, hi = min(self.ours), max(self.ours)
            return f"{_fmt(lo)}-{_fmt(hi)} {self.unit}"
        return ""

    @property
    def met(self) -> bool | None:
        if self.check is None or (self.note and not self.floor):
            return None  # nothing to compare with (a peer not installed, a database not up)
        return self.check(self)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "streamrec": self.figure,
            "floor_name": self.floor_name,
            "floor": self.floor_figure,
            "ratio": self.ratio,
            "spread": self.spread(),
            "runs": len(self.ours),
            "target": self.target,
            "met": self.met,
            "note": self.note,
        }


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100_000:
        return f"{value / 1000:,.0f}k"
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt(value: float | None, unit: str = "") -> str:
    text = _fmt(value)
    return f"{text} {unit}".strip() if value is not None else text


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(
    ours: Callable[[], float], floor: Callable[[], float], repeats: int, warmup: int = 1
) -> tuple[list[float], list[float]]:
    """Run ``ours`` and ``floor`` alternately ``repeats`` times (after ``warmup`` rounds);
    each returns its own figure for one run."""
    for _ in range(warmup):
        ours()
        floor()
    a: list[float] = []
    b: list[float] = []
    for i in range(repeats):
        # alternate who goes first, so neither always runs on a warmer cache
        if i % 2:
            b.append(floor())
            a.append(ours())
        else:
            a.append(ours())
            b.append(floor())
    return a, b


def table(rows: Sequence[Row], markdown: bool = True) -> str:
    """The rows as a Markdown table (what the README quotes)."""
    head = "| measurement | streamrec | floor / peer | ratio | spread (runs) | target | met |"
    lines = [head, "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        floor = f"{r.floor_name}: {fmt(r.floor_figure, r.unit)}" if r.floor_name else "—"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        spread = f"{r.spread()} ({len(r.ours)})"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.name}{note} | {fmt(r.figure, r.unit)} | {floor} | {ratio} | {spread} "
            f"| {r.target} | {met} |"
        )
    return "\n".join(lines)
