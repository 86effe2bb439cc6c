"""A cached virtual environment holding Mirascope 1.25.7, for the conformance tests.

Mirascope 1.25.x pins ``openai<2`` and ``anthropic<1``, so it cannot live in the
project's own test environment (which runs the current SDKs). The conformance test
runs Mirascope in a venv of its own, built once under ``<repo>/.cache/`` and reused.

Safe against several processes (pytest-xdist workers, two pytest runs) building at
the same time: an exclusive lock file serialises the build, the venv is built in a
temporary sibling directory and renamed into place only once complete, and a marker
file inside it records that the install finished.

Run as a script to build (or locate) the venv and print the interpreter's path::

    python tests/conformance/mirascope_env.py
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MIRASCOPE_VERSION = "1.25.7"
# Mirascope's extras pull the old SDKs it was written against (openai<2, anthropic<1).
REQUIREMENTS = [f"mirascope[openai,anthropic]=={MIRASCOPE_VERSION}"]
# Optional: installed when it resolves, ignored when it does not.
OPTIONAL_REQUIREMENTS = [f"mirascope[google]=={MIRASCOPE_VERSION}"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
VENV_DIR = CACHE_DIR / f"mirascope-{MIRASCOPE_VERSION}"
_MARKER = ".streamrec-complete"
_LOCK_TIMEOUT_S = 900.0
_PIP_TIMEOUT_S = 900.0


class MirascopeEnvError(RuntimeError):
    """The Mirascope venv could not be built (pip failed, venv creation failed...)."""


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - the project runs on POSIX
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _is_complete(venv: Path) -> bool:
    marker = venv / _MARKER
    if not marker.is_file() or not _venv_python(venv).exists():
        return False
    # A venv records the interpreter it was made from; a cache built by another
    # Python version (or a removed pyenv) is stale.
    return marker.read_text().strip() == _interpreter_tag()


def _interpreter_tag() -> str:
    # The base interpreter (not a venv's python): running pytest from a venv or from
    # the bare interpreter of the same Python must share one cache.
    base = os.path.realpath(sys.base_prefix)
    return f"{MIRASCOPE_VERSION} py{sys.version_info.major}.{sys.version_info.minor} {base}"


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive inter-process lock held on ``path`` (fcntl.flock; POSIX)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MirascopeEnvError(
                        f"timed out after {timeout:.0f}s waiting for the lock {path} "
                        "(another process is building the Mirascope venv)"
                    ) from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env.pop("PYTHONPATH", None)  # keep the main env's packages out of the build
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MirascopeEnvError(f"{what} timed out after {_PIP_TIMEOUT_S:.0f}s: {cmd}") from exc
    return proc


def _build(target: Path, log: list[str]) -> None:
    """Create a venv at ``target`` and install Mirascope into it."""
    proc = _run([sys.executable, "-m", "venv", str(target)], "python -m venv")
    if proc.returncode != 0:
        raise MirascopeEnvError(
            f"`{sys.executable} -m venv {target}` failed ({proc.returncode}):\n{proc.stderr}"
        )
    py = str(_venv_python(target))
    pip = [py, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    proc = _run([*pip, *REQUIREMENTS], "pip install")
    log.append(proc.stdout[-4000:])
    if proc.returncode != 0:
        raise MirascopeEnvError(
            f"pip could not install {' '.join(REQUIREMENTS)} into {target} "
            f"(exit {proc.returncode}); PyPI must be reachable.\n"
            f"--- pip stderr (tail) ---\n{proc.stderr[-4000:]}"
        )
    for req in OPTIONAL_REQUIREMENTS:
        opt = _run([*pip, req], "pip install (optional)")
        log.append(f"optional {req}: exit {opt.returncode}")
    check = _run(
        [
            py,
            "-c",
            "import mirascope, openai, anthropic; print(mirascope.__version__ "
            "if hasattr(mirascope, '__version__') else '')",
        ],
        "import check",
    )
    if check.returncode != 0:
        raise MirascopeEnvError(
            f"Mirascope was installed into {target} but does not import:\n{check.stderr}"
        )
    (target / _MARKER).write_text(_interpreter_tag() + "\n")


def mirascope_python(venv_dir: Path | None = None) -> Path:
    """Return the python of the cached Mirascope venv, building it first if needed.

    Raises :class:`MirascopeEnvError` when the venv cannot be built: the conformance
    test is meant to fail, not skip, where PyPI is reachable (CI).
    """
    venv = Path(venv_dir) if venv_dir is not None else VENV_DIR
    if _is_complete(venv):
        return _venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(venv.parent / f"{venv.name}.lock", _LOCK_TIMEOUT_S):
        if _is_complete(venv):  # another process built it while we waited
            return _venv_python(venv)
        tmp = Path(tempfile.mkdtemp(prefix=f"{venv.name}.building-", dir=venv.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the venv is a plain cache
        log: list[str] = []
        try:
            # Console scripts in bin/ embed the temporary path in their shebang; only
            # `bin/python` (a symlink to the base interpreter, finding pyvenv.cfg next
            # to itself) is used, so the rename below is safe.
            _build(tmp, log)
            if venv.exists():  # stale or half-built leftovers of an older run
                shutil.rmtree(venv)
            os.replace(tmp, venv)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if not _is_complete(venv):
        raise MirascopeEnvError(f"the Mirascope venv at {venv} is incomplete after the build")
    return _venv_python(venv)


if __name__ == "__main__":
    started = time.monotonic()
    path = mirascope_python()
    print(path)
    print(f"ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
