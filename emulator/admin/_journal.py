"""``/_emulator/requests``: query, count and clear the request journal, per tenant."""

from __future__ import annotations

from aiohttp import web

from ..core import JournalFilter
from ._common import integer_param, json_reply, state, tenant_of


def _filter(request: web.Request) -> JournalFilter:
    given: dict[str, str | None] = {name: request.query[name] for name in JournalFilter.FIELDS
                                    if name in request.query}
    given["tenant"] = tenant_of(request)
    return JournalFilter(**given, after=integer_param(request, "after"))


async def list_requests(request: web.Request) -> web.Response:
    """Entries oldest first; ``limit`` keeps the most recent."""
    where = _filter(request)
    entries = await state(request).engine.journal.entries(integer_param(request, "limit") or None,
                                                          where)
    return await json_reply(request, lambda: {"requests": [e.to_json() for e in entries]})


async def count_requests(request: web.Request) -> web.Response:
    where = _filter(request)
    return web.json_response({"count": await state(request).engine.journal.count(where)})


async def clear_requests(request: web.Request) -> web.Response:
    await state(request).engine.journal.clear(tenant_of(request))
    return web.Response(status=204)
