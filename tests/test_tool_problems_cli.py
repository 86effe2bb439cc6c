"""``streamrec show`` says when a tool call must not be run (cut off or not JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from streamrec import Store
from streamrec.cli import main

from .chunks import chunk, record_texts, tool_delta


def test_show_prints_the_problem_of_a_cut_off_tool_call(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    raw = [
        chunk({"tool_calls": [tool_delta(0, id="call_1", name="f", args='{"a": "b')]}),
        chunk({}, "length"),
        "[DONE]",
    ]
    with Store(db) as store:
        stream_id = record_texts(store, raw)
    result = CliRunner().invoke(main, ["--db", db, "show", stream_id])
    assert result.exit_code == 0, result.output
    assert (
        'tool_call        f({"a": "b) id=call_1  NOT RUNNABLE: '
        "arguments cut off by max_tokens (finish_reason length)"
    ) in result.stdout
    shown = json.loads(CliRunner().invoke(main, ["--db", db, "show", stream_id, "--json"]).stdout)
    assert (
        shown["tool_calls"][0]["problem"]
        == "arguments cut off by max_tokens (finish_reason length)"
    )
    assert shown["tool_problems"]
