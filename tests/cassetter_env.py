"""A cached venv where cassetter and streamrec are both installed, for the coexistence test.

cassetter's pytest plugin registers ``--record-mode``, as pytest-recording's does, so
the two cannot load in one pytest (our own test environment has pytest-recording):
cassetter gets a venv of its own, built once under ``<repo>/.cache/`` per Python
version and reused. streamrec is installed there editable (``--no-deps -e``, from
this source tree), so its ``pytest11`` entry point is registered as a user's
``pip install streamrec`` registers it, and the tests run the code under test.

Run as a script to build (or locate) the venv and print its interpreter's path::

    python tests/cassetter_env.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import requires
from pathlib import Path

from tests.conformance.mirascope_env import CACHE_DIR, REPO_ROOT, _file_lock

CASSETTER_VERSION = "0.16.1"
VENV_DIR = CACHE_DIR / (
    f"cassetter-{CASSETTER_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"
)
_MARKER = ".streamrec-complete"
_TIMEOUT_S = 900.0


class CassetterEnvError(RuntimeError):
    """The cassetter venv could not be built."""


def _tag() -> str:
    # the base interpreter and the source tree the editable install points at
    return f"{CASSETTER_VERSION} {os.path.realpath(sys.base_prefix)} {REPO_ROOT}"


def _complete(venv: Path) -> bool:
    marker = venv / _MARKER
    return (
        marker.is_file()
        and (venv / "bin" / "python").exists()
        and marker.read_text().strip() == _tag()
    )


def _pip(python: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-input", "--disable-pip-version-check", *args],
        capture_output=True, text=True, timeout=_TIMEOUT_S, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise CassetterEnvError(f"pip install {' '.join(args)} failed:\n{done.stderr[-4000:]}")


def cassetter_python() -> Path:
    """The python of the cached venv (cassetter, pytest, openai, streamrec), built if needed."""
    if _complete(VENV_DIR):
        return VENV_DIR / "bin" / "python"
    with _file_lock(VENV_DIR.parent / f"{VENV_DIR.name}.lock", _TIMEOUT_S):
        if _complete(VENV_DIR):
            return VENV_DIR / "bin" / "python"
        VENV_DIR.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{VENV_DIR.name}.building-", dir=VENV_DIR.parent))
        tmp.chmod(0o755)
        try:
            made = subprocess.run(
                [sys.executable, "-m", "venv", str(tmp)], capture_output=True, text=True
            )
            if made.returncode != 0:
                raise CassetterEnvError(f"python -m venv failed:\n{made.stderr}")
            python = tmp / "bin" / "python"
            deps = [r for r in requires("streamrec") or [] if "extra" not in r]
            # only bin/python is used, so the temporary path in the scripts' shebangs is harmless
            _pip(python, f"cassetter=={CASSETTER_VERSION}", "pytest>=8", "openai>=1.40", *deps)
            _pip(python, "--no-deps", "-e", str(REPO_ROOT))
            (tmp / _MARKER).write_text(_tag() + "\n")
            if VENV_DIR.exists():
                shutil.rmtree(VENV_DIR)
            os.replace(tmp, VENV_DIR)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return VENV_DIR / "bin" / "python"


if __name__ == "__main__":
    started = time.monotonic()
    print(cassetter_python())
    print(f"ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
