"""The ASGI app behind ``streamrec ui``: server-rendered pages, small JSON endpoints, a replay feed.

Pages are Jinja2 templates that carry their data as embedded JSON; the
browser draws the charts with the vendored Chart.js and polls the JSON
endpoints to stay current while streams record. Every route only reads.
Handlers that touch the database are plain functions, which Starlette runs in
its thread pool, so a slow query never stalls the replay feed.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import FilterError, StoreError, UnknownStream
from ..replay import replay_async
from ..store import Store
from ._data import (
    SORTS,
    chunk_texts,
    compare_view,
    history_view,
    list_streams,
    payload,
    stream_view,
)
from ._filters import STATUSES, FilterForm

__all__ = ["ui_app"]

_HERE = Path(__file__).parent
#: replay speeds the page offers (0 = instant)
_CHOICES_TTL_S = 60.0
SPEEDS = (("1", "as recorded"), ("2", "2x faster"), ("10", "10x faster"), ("0", "instant"))


def _page_args(request: Request) -> tuple[FilterForm, str, bool, int]:
    params = request.query_params
    form = FilterForm.from_query(params)
    sort = params.get("sort", "started")
    descending = params.get("order", "desc") != "asc"
    try:
        page = max(int(params.get("page", "1")), 1)
    except ValueError:
        page = 1
    return form, sort, descending, page


def ui_app(store: Store) -> Starlette:
    """The web view over ``store`` (read only).

    Serve it with ``BackgroundServer``, whose Host guard keeps other sites' pages
    (DNS rebinding) from reading the recordings through the user's browser.
    """
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        return templates.TemplateResponse(
            request,
            name,
            {"store_url": store.display_url, **context},
            status_code=status,
        )

    def problem(request: Request, message: str, status: int) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return render(request, "error.html", {"message": message}, status)

    def streams_page(request: Request) -> Response:
        try:
            form, sort, descending, page = _page_args(request)
        except FilterError as exc:
            return problem(request, str(exc), 400)
        listing = list_streams(store, form.filters(), sort=sort, descending=descending, page=page)
        return render(
            request,
            "streams.html",
            {
                "listing": listing.as_json(),
                "filters": form,
                "statuses": STATUSES,
                "sorts": list(SORTS),
                "choices": _choices(form),
            },
        )

    def streams_api(request: Request) -> Response:
        try:
            form, sort, descending, page = _page_args(request)
        except FilterError as exc:
            return problem(request, str(exc), 400)
        listing = list_streams(store, form.filters(), sort=sort, descending=descending, page=page)
        return JSONResponse(listing.as_json())

    # the providers, apis and models offered in the filter menus: every one the store holds,
    # from the rollup (a DISTINCT over a million streams would be a full scan), read at
    # most once a minute
    choices: dict[str, Any] = {"at": -_CHOICES_TTL_S, "values": {}}

    def _choices(form: FilterForm) -> dict[str, list[str]]:
        if time.monotonic() - choices["at"] > _CHOICES_TTL_S:
            choices["values"] = {k: set(v) for k, v in store.choices().items()}
            choices["at"] = time.monotonic()
        # what the form asks for is always on offer, recent or not
        return {
            key: sorted(values | ({getattr(form, key)} if getattr(form, key) else set()))
            for key, values in choices["values"].items()
        }

    def stream_page(request: Request) -> Response:
        try:
            view = stream_view(store, request.path_params["stream_id"])
        except UnknownStream as exc:
            return problem(request, str(exc), 404)
        except StoreError as exc:
            return problem(request, str(exc), 400)
        return render(request, "stream.html", {"view": view, "speeds": SPEEDS})

    def stream_api(request: Request) -> Response:
        try:
            return JSONResponse(stream_view(store, request.path_params["stream_id"]))
        except UnknownStream as exc:
            return problem(request, str(exc), 404)
        except StoreError as exc:
            return problem(request, str(exc), 400)

    def payload_api(request: Request) -> Response:
        try:
            found = payload(store, request.path_params["stream_id"], request.path_params["seq"])
        except UnknownStream as exc:
            return problem(request, str(exc), 404)
        if found is None:
            return problem(request, "no such event", 404)
        return JSONResponse(found)

    async def replay_feed(request: Request) -> Response:
        """Server-sent events: the recording replayed by the library, paced at ``speed``.

        Each message names the chunk (its index among the chunks), its size, and
        the output it added (from the projection), which the page prints.
        """
        stream_id = request.path_params["stream_id"]
        try:
            speed = float(request.query_params.get("speed", "1"))
        except ValueError:
            return problem(request, "speed must be a number (0 replays instantly)", 400)
        if speed < 0:
            return problem(request, "speed must be >= 0 (0 replays instantly)", 400)
        try:
            stream_id = store.resolve(stream_id)
        except UnknownStream as exc:
            return problem(request, str(exc), 404)

        texts = await run_in_threadpool(chunk_texts, store, stream_id)

        async def feed() -> AsyncIterator[str]:
            index = 0
            async for raw in replay_async(
                stream_id, store=store, speed=speed, format="raw", raise_errors=False
            ):
                text = texts[index] if index < len(texts) else ""
                message = {"index": index, "bytes": len(raw), "text": text}
                yield f"event: chunk\ndata: {json.dumps(message)}\n\n"
                index += 1
            yield f"event: end\ndata: {json.dumps({'chunks': index})}\n\n"

        return StreamingResponse(
            feed(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store"},
        )

    def compare_page(request: Request) -> Response:
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not a or not b:
            return problem(request, "compare needs two stream ids: /compare?a=ID&b=ID", 400)
        try:
            view = compare_view(store, a, b)
        except UnknownStream as exc:
            return problem(request, str(exc), 404)
        except StoreError as exc:
            return problem(request, str(exc), 400)
        return render(request, "compare.html", {"view": view})

    def history_page(request: Request) -> Response:
        try:
            form = FilterForm.from_query(request.query_params)
        except FilterError as exc:
            return problem(request, str(exc), 400)
        return render(
            request,
            "history.html",
            {
                "filters": form,
                "statuses": STATUSES,
                "choices": _choices(form),
            },
        )

    def history_api(request: Request) -> Response:
        try:
            form = FilterForm.from_query(request.query_params)
        except FilterError as exc:
            return problem(request, str(exc), 400)
        return JSONResponse(_json_ready(history_view(store, form.filters())))

    routes = [
        Route("/", streams_page),
        Route("/api/streams", streams_api),
        Route("/streams/{stream_id}", stream_page),
        Route("/api/streams/{stream_id}", stream_api),
        Route("/api/streams/{stream_id}/events/{seq:int}", payload_api),
        Route("/api/streams/{stream_id}/replay", replay_feed),
        Route("/compare", compare_page),
        Route("/history", history_page),
        Route("/api/history", history_api),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes)


def _json_ready(value: Any) -> Any:
    """``value`` with what JSON cannot hold (datetimes, Decimals) as strings."""
    return json.loads(json.dumps(value, default=str))
