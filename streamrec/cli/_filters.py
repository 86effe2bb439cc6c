"""The filter options history commands share (`ls`, `stats`, `export`, `prune`), parsed once.

A time that means nothing is a usage error (exit 2) naming the accepted forms,
raised while click parses, before any database is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    _TimeBase = click.ParamType[datetime]
else:  # click < 8.2 has no generic ParamType
    _TimeBase = click.ParamType

STATUSES = ("recording", "completed", "failed", "interrupted")


class TimeParam(_TimeBase):
    """``--since``/``--until``: ISO 8601 date or time (UTC when no zone) or a span (7d, 24h, 90m)."""

    name = "TIME"

    def __init__(self, *, end: bool = False) -> None:
        self.end = end

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        from ..errors import FilterError
        from ..store import parse_time

        try:
            return parse_time(str(value), end=self.end)
        except FilterError as exc:
            self.fail(str(exc), param, ctx)


def parse_meta(values: tuple[str, ...], option: str = "--meta") -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict; anything else is a usage error."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = value
    return out


def time_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--since and --until."""
    f = click.option(
        "--until",
        type=TimeParam(end=True),
        help="Only streams started before TIME (a bare date includes that whole day).",
    )(f)
    return click.option(
        "--since",
        type=TimeParam(),
        help="Only streams started at or after TIME: ISO 8601 (UTC when no zone) or 7d, 24h, 90m.",
    )(f)


def filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Every stream filter: time window, status, model, api, provider, name, tag, metadata."""
    for option in reversed(
        [
            click.option(
                "--status",
                type=click.Choice(STATUSES),
                multiple=True,
                help="Only streams in this status (repeatable).",
            ),
            click.option("--model", help="Only streams of this (requested or reported) model."),
            click.option("--api", help="Only streams of this api (e.g. openai.chat.completions)."),
            click.option(
                "--provider", help="Only streams of this provider (openai, anthropic, …)."
            ),
            click.option("--name", help="Only streams recorded under this name."),
            click.option("--tag", help="Only streams with this tag."),
            click.option(
                "--conversation", metavar="ID", help="Only the streams of this conversation."
            ),
            click.option(
                "--meta",
                metavar="KEY=VALUE",
                multiple=True,
                help="Only streams whose metadata KEY is VALUE (repeatable; all must hold).",
            ),
        ]
    ):
        f = option(f)
    return time_options(f)


def filters_from(kwargs: dict[str, Any]) -> Any:
    """A ``store.Filters`` from the options ``filter_options`` added (popped from ``kwargs``)."""
    from ..store import Filters

    return Filters.of(
        since=kwargs.pop("since", None),
        until=kwargs.pop("until", None),
        status=tuple(kwargs.pop("status", ()) or ()),
        model=kwargs.pop("model", None),
        api=kwargs.pop("api", None),
        provider=kwargs.pop("provider", None),
        name=kwargs.pop("name", None),
        tag=kwargs.pop("tag", None),
        meta=parse_meta(tuple(kwargs.pop("meta", ()) or ())),
        conversation=kwargs.pop("conversation", None),
    )
