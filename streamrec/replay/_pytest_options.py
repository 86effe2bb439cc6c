"""The pytest plugin's flags and ini settings, and whether a session asked for streamrec.

Flags shared with pytest-recording and cassetter. pytest-recording registers
``--record-mode``, ``--block-network`` and ``--allowed-hosts``; cassetter (0.16)
registers ``--record-mode`` only. Two plugins registering one flag stop pytest at
start-up (argparse's "conflicting option string", or pytest's "option dest already
used"), whichever loads first. So streamrec registers its own ``--streamrec-*``
flags with the other plugins, and each shared flag only once every installed
plugin has registered its own (``pytest_load_initial_conftests``, which runs after
the entry-point plugins loaded and before the command line is parsed), and only
if none of them did. A shared flag registered by another plugin is that plugin's;
streamrec reads it too unless ini ``streamrec_shared_flags = false``.

Opting in. Installed, the plugin must change nothing in a project that never asked
for it: no base-URL variables, no placeholder keys, no network guard, no server.
A session opts in, before the first conftest.py is imported, with a
``--streamrec-*`` flag, a shared flag that streamrec registered itself (no other
plugin owns it), a ``streamrec_*`` ini setting or ``$STREAMREC_RECORD_MODE``; later, when a test
module (or conftest) about to be imported uses the marker or the fixtures, or
when a test asks for the ``streamrec`` fixture. A shared flag registered by
pytest-recording or cassetter never opts in: ``pytest --record-mode=once`` is a
VCR user's everyday command, and must not send their SDK calls to streamrec.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pytest

RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
#: the plugin's earlier mode names, kept working
MODE_ALIASES = {"replay": "none", "record": "all", "auto": "new_episodes"}
MODES = tuple(MODE_ALIASES)
#: another plugin's record modes that mean, for streamrec, one of its own
#: (cassetter's ``verify`` replays and checks: replay only)
PEER_MODES = {"verify": "none"}

#: (flag, dest, argparse attributes) of the flags pytest-recording made usual
SHARED_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "--record-mode",
        "record_mode",
        {
            "choices": RECORD_MODES,
            "default": None,
            "help": "Record mode (pytest-recording's meanings): none (default, replay only), "
            "once, new_episodes, all, rewrite.",
        },
    ),
    (
        "--block-network",
        "block_network",
        {
            "action": "store_true",
            "default": False,
            "help": "Refuse every connection but streamrec's servers and --allowed-hosts.",
        },
    ),
    (
        "--allowed-hosts",
        "allowed_hosts",
        {
            "default": None,
            "help": "Hosts (names, addresses or regexes, comma-separated) connections may reach.",
        },
    ),
)
#: the shared flags streamrec registered itself in this session (nobody else did)
OWN_SHARED = pytest.StashKey[frozenset[str]]()

#: ini settings whose presence opts a session in, with their defaults
_OPT_IN_INI = {
    "streamrec_record_mode": "",
    "streamrec_mode": "",
    "streamrec_db": "",
    "streamrec_recordings_dir": "",
    "streamrec_allowed_hosts": [],
    "streamrec_max_age": "",
}
#: the marker, the fixtures as parameters or in usefixtures, the config fixture
_USES_STREAMREC = re.compile(
    rb"\bmark\.streamrec\b|\bstreamrec_config\b|[(,]\s*streamrec\s*[,):=]|[\"']streamrec[\"']"
)


def add_options(parser: pytest.Parser) -> None:
    """Register streamrec's own flags and ini settings (never a shared flag)."""
    group = parser.getgroup("streamrec", "replaying recorded LLM streams")
    group.addoption(
        "--streamrec-record-mode",
        choices=RECORD_MODES,
        default=None,
        help="Record mode for streamrec alone (overrides --record-mode).",
    )
    group.addoption(
        "--streamrec-mode",
        choices=MODES,
        default=None,
        help="Older names: replay (= none), record (= all), auto (= new_episodes).",
    )
    group.addoption(
        "--streamrec-block-network",
        action="store_true",
        default=False,
        help="--block-network for streamrec alone.",
    )
    group.addoption(
        "--streamrec-allowed-hosts", default=None, help="--allowed-hosts for streamrec alone."
    )
    group.addoption(
        "--streamrec-db",
        default=None,
        metavar="URL",
        help="One shared store of recordings (a database URL or a .jsonl export) instead of "
        "a file per test; relative paths are relative to the rootdir.",
    )
    group.addoption(
        "--streamrec-speed",
        type=float,
        default=None,
        help="Replay timing: 0 instant (default), 1 as recorded, N N times faster.",
    )
    group.addoption(
        "--streamrec-strict",
        action="store_true",
        default=False,
        help="Fail the session when a test left recordings unused.",
    )
    group.addoption(
        "--streamrec-max-age",
        default=None,
        metavar="AGE",
        help="Report recordings older than AGE (30d, 12h, 90m); with --streamrec-strict the "
        "session fails on them.",
    )
    group.addoption(
        "--streamrec-record-failures",
        action="store_true",
        default=False,
        help="Keep recordings of calls that could not reach the upstream (dropped by default).",
    )
    parser.addini("streamrec_record_mode", "default record mode of streamrec tests", default="")
    parser.addini("streamrec_mode", "older name of streamrec_record_mode", default="")
    parser.addini("streamrec_db", "one shared store instead of a file per test", default="")
    parser.addini(
        "streamrec_recordings_dir",
        "where per-test recordings go: a directory relative to the rootdir "
        "(default: recordings/ beside each test module)",
        default="",
    )
    parser.addini(
        "streamrec_shared_flags",
        "whether --record-mode/--block-network/--allowed-hosts drive streamrec too",
        type="bool",
        default=True,
    )
    parser.addini("streamrec_allowed_hosts", "hosts streamrec's guard allows", type="args")
    parser.addini("streamrec_max_age", "report recordings older than this (30d, 12h)", default="")


def add_shared_flags(config: pytest.Config, parser: pytest.Parser) -> None:
    """Register each shared flag that no loaded plugin registered (see the module doc)."""
    known = vars(config.known_args_namespace)
    group = parser.getgroup("streamrec", "replaying recorded LLM streams")
    own = set()
    for flag, dest, attrs in SHARED_FLAGS:
        if dest in known:
            continue
        try:
            group.addoption(flag, dest=dest, **attrs)
        except ValueError:  # registered after the first parse, by a plugin of the same group
            continue
        own.add(flag)
    config.stash[OWN_SHARED] = frozenset(own)


def option(config: pytest.Config, name: str) -> Any:
    """A flag's value, or None where no plugin registered it."""
    try:
        return config.getoption(name)
    except ValueError:
        return None


def drives_streamrec(config: pytest.Config, flag: str) -> bool:
    """Whether a shared flag drives streamrec: its own, or a peer's while shared."""
    own = flag in config.stash.get(OWN_SHARED, frozenset())
    return own or bool(config.getini("streamrec_shared_flags"))


def shared_option(config: pytest.Config, flag: str) -> Any:
    """A shared flag's value where it drives streamrec, else None."""
    return option(config, flag) if drives_streamrec(config, flag) else None


def opt_in_reason(config: pytest.Config, parsed: argparse.Namespace) -> str | None:
    """Why this session uses streamrec from its start, or None (it waits for a test);
    ``parsed``: the command line as parsed so far."""
    for dest in (
        "streamrec_record_mode",
        "streamrec_mode",
        "streamrec_block_network",
        "streamrec_allowed_hosts",
        "streamrec_db",
        "streamrec_speed",
        "streamrec_strict",
        "streamrec_max_age",
        "streamrec_record_failures",
    ):
        if getattr(parsed, dest, None) not in (None, False):
            return "--" + dest.replace("_", "-")
    own = config.stash.get(OWN_SHARED, frozenset())
    for flag, dest, _ in SHARED_FLAGS:
        if flag in own and getattr(parsed, dest, None) not in (None, False):
            return flag
    for name, default in _OPT_IN_INI.items():
        if config.getini(name) != default:
            return f"ini {name}"
    if os.environ.get("STREAMREC_RECORD_MODE"):
        return "$STREAMREC_RECORD_MODE"
    return None


def uses_streamrec(path: Path) -> bool:
    """Whether a module's source uses the marker or the fixtures (read before import)."""
    try:
        return _USES_STREAMREC.search(path.read_bytes()) is not None
    except OSError:
        return False


def checked_mode(mode: str) -> str:
    """``mode`` as one of RECORD_MODES (an older name translated), or a usage error."""
    mode = MODE_ALIASES.get(mode, mode)
    if mode not in RECORD_MODES:
        # a typo must never fall through to a mode that makes live calls
        raise pytest.UsageError(
            f"streamrec record mode must be one of {', '.join(RECORD_MODES)} "
            f"(or {', '.join(MODES)}), not {mode!r}"
        )
    return mode


def record_mode(config: pytest.Config) -> str:
    """The session's default record mode, from the flags, ini, environment (default none)."""
    legacy = option(config, "--streamrec-mode") or config.getini("streamrec_mode") or None
    shared = shared_option(config, "--record-mode")
    mode = (
        option(config, "--streamrec-record-mode")
        or (PEER_MODES.get(shared, shared) if shared else None)
        or (MODE_ALIASES.get(legacy) if legacy else None)
        or config.getini("streamrec_record_mode")
        or os.environ.get("STREAMREC_RECORD_MODE")
        or "none"
    )
    return checked_mode(str(mode))
