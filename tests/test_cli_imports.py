"""What each command imports: nothing heavy that it does not use (the CLI's start time).

Each command runs in a fresh interpreter, as a user's would, and reports which of the
heavy packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamrec import SSEEvent, Store, record

from .chunks import text_stream

HEAVY = (
    "sqlalchemy",
    "sqlalchemy.dialects.postgresql",
    "alembic",
    "pydantic",
    "genai_prices",
    "httpx",
    "starlette",
    "uvicorn",
    "jinja2",
)

_RUN = """
import json, sys
from streamrec.cli import main
try:
    main(sys.argv[1:], prog_name="streamrec", standalone_mode=False)
finally:
    heavy = json.loads(sys.stdin.read())
    print("\\n" + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def _imported(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *args],
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("imports") / "s.db"
    with Store(path) as store:
        list(record((SSEEvent(c) for c in text_stream(["a", "b"])), api="openai", store=store))
    return str(path)


def test_version_imports_none_of_them() -> None:
    assert _imported("--version") == []


def test_ls_on_sqlite_imports_sqlalchemy_only(db: str) -> None:
    assert _imported("--db", db, "ls") == ["sqlalchemy"]


def test_text_replay_does_not_price_the_stream(db: str) -> None:
    # the text it prints is folded as it goes (pydantic), never priced (genai-prices)
    assert _imported("--db", db, "replay", "-1") == ["pydantic", "sqlalchemy"]


def test_the_read_commands_never_import_the_web_stack(db: str) -> None:
    for args in (["stats"], ["show", "-1"], ["sql", "SELECT count(*) FROM streams"]):
        assert not set(_imported("--db", db, *args)) & {"starlette", "uvicorn", "jinja2"}, args
