"""Doofinder Search API v6: image search and the search, suggest and stats operations."""

from __future__ import annotations

from aiohttp import web

from .. import _http
from ..core import SearchEngine
from ._body import MAX_BODY_BYTES
from ._routes import PREFIX, DoofinderApi, add_routes, unmatched

__all__ = ["API", "MAX_BODY_BYTES", "DoofinderApi", "mount"]

#: The mounted API, for tests and the control plane to reach (its limiter, say).
API = web.AppKey("doofinder", DoofinderApi)


def mount(app: web.Application, engine: SearchEngine, *, rate_limits: bool) -> DoofinderApi:
    """Add the ``/6/`` routes, and answer what aiohttp refuses there in the vendor's form."""
    api = DoofinderApi(engine, rate_limits=rate_limits)
    app[API] = api
    add_routes(app, api)
    _http.add_fallback(app, PREFIX, unmatched)

    async def close(_app: web.Application) -> None:
        api.close()

    app.on_cleanup.append(close)
    return api
