"""Doofinder Search API v6: image search and the search, suggest and stats operations."""

from __future__ import annotations

import functools

from aiohttp import web

from .. import _http
from .._pipeline import Pipeline
from ..core import Services
from ._body import MAX_BODY_BYTES
from ._call import VENDOR
from ._rest import PREFIX, DoofinderApi, add_routes, item_for_dfid, unmatched

__all__ = ["API", "MAX_BODY_BYTES", "VENDOR", "DoofinderApi", "item_for_dfid", "mount"]

#: The mounted API, for tests and the control plane to reach (its limiter, say).
API = web.AppKey("doofinder", DoofinderApi)


def mount(app: web.Application, engine: Services, pipeline: Pipeline, *,
          rate_limits: bool) -> DoofinderApi:
    """Add the ``/6/`` routes, and answer what aiohttp refuses there in the vendor's form."""
    api = DoofinderApi(engine, pipeline, rate_limits=rate_limits)
    app[API] = api
    engine.stubs.catalogs[VENDOR] = functools.partial(has_item, engine)
    add_routes(app, api)
    _http.add_fallback(app, PREFIX, unmatched)
    return api


def has_item(engine: Services, item_id: str, hashid: str | None) -> bool:
    """Whether the engine a stub is scoped to (any engine, for a stub of none) has an item
    of this id: stubs naming others are refused when added."""
    engines = engine.store.engines
    if hashid is None:
        return any(e.catalog.has(item_id) for e in engines.values())
    return hashid in engines and engines[hashid].catalog.has(item_id)
