"""``/_emulator/fixtures``: the fixture set being served, and reloading it on demand."""

from __future__ import annotations

from aiohttp import web

from ._common import state


async def fixture_status(request: web.Request) -> web.Response:
    return web.json_response(state(request).reloader.status)


async def reload_fixtures(request: web.Request) -> web.Response:
    """200 with the new status, or 422 with the error while the last good set is served."""
    reloader = state(request).reloader
    ok = await reloader.reload()
    return web.json_response(reloader.status, status=200 if ok else 422)
