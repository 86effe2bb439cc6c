"""``python -m bench`` runs from a checkout and prints every row (a smoke test, not a benchmark).

``--tiny`` runs each row once on a few chunks: the figures mean nothing, but
every measurement path (the peers, the servers, the proxy, the CLI) is driven
for real, so the benchmark cannot rot between performance sessions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_bench_tiny_prints_every_row_with_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(out.read_text())
    names = " ".join(r["name"] for r in rows)
    for expected in (
        "`record()` extra per chunk",
        "sustained recording into SQLite",
        "eventsourcing",
        "`replay(id)`",
        "`store.state(id)`",
        "bytes on disk",
        "via replay --serve",
        "via in-thread server",
        "recording proxy",
        "`streamrec --version`",
        "`streamrec ls`",
        "`streamrec stats`",
        "replay at speed 1",
    ):
        assert expected in names, expected
    for row in rows:
        if not row["note"].startswith(("PostgreSQL unreachable", "peer failed", "cassetter not")):
            assert row["streamrec"] > 0, row
            assert row["floor"] is None or row["floor"] > 0, row
    assert "| measurement | streamrec | floor / peer | ratio |" in done.stdout
