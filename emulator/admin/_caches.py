"""``/_emulator/caches``: what the emulator keeps for repeated requests, and how it serves."""

from __future__ import annotations

from aiohttp import web

from ._common import state


async def cache_status(request: web.Request) -> web.Response:
    """The replay cache's bounds, size and counts (hits are repeats answered from it)."""
    return web.json_response({"replay": state(request).engine.replays.stats()})
