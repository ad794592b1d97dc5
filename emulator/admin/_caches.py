"""``/_emulator/caches``: what the emulator keeps for repeated requests, and how it serves."""

from __future__ import annotations

from aiohttp import web

from ._common import state


async def cache_status(request: web.Request) -> web.Response:
    """The replay cache's bounds, size and counts (hits are repeats answered from it), and
    each catalog engine's picture table and kept rankings."""
    engine = state(request).engine
    return web.json_response({
        "replay": engine.replays.stats(),
        "catalogs": {hashid: found.catalog.cache_stats()
                     for hashid, found in engine.store.engines.items()}})
