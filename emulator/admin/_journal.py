"""``/_emulator/requests``: query, count and clear the request journal, per tenant."""

from __future__ import annotations

from aiohttp import web

from ..core import THUMBNAIL_TYPE, JournalFilter, ascii_integer
from ._common import AdminError, integer_param, json_reply, state, tenant_of


def journal_filter(request: web.Request, after: int | None = None) -> JournalFilter:
    """The entries the query selects (``after``: a seq given otherwise than as ``?after=``)."""
    given: dict[str, str | None] = {name: request.query[name] for name in JournalFilter.FIELDS
                                    if name in request.query}
    given["tenant"] = tenant_of(request)
    return JournalFilter(**given, after=integer_param(request, "after") if after is None
                         else after)


async def list_requests(request: web.Request) -> web.Response:
    """Entries oldest first; ``limit`` keeps the most recent."""
    where = journal_filter(request)
    entries = await state(request).engine.journal.entries(integer_param(request, "limit") or None,
                                                          where)
    return await json_reply(request, lambda: {"requests": [e.to_json() for e in entries]})


async def count_requests(request: web.Request) -> web.Response:
    where = journal_filter(request)
    return web.json_response({"count": await state(request).engine.journal.count(where)})


async def clear_requests(request: web.Request) -> web.Response:
    await state(request).engine.journal.clear(tenant_of(request))
    return web.Response(status=204)


async def request_thumbnail(request: web.Request) -> web.Response:
    """The thumbnail of the query image of one kept entry (of the tenant, if one is named)."""
    engine, raw = state(request).engine, request.match_info["seq"]
    seq = ascii_integer(raw)
    entry = None if seq is None else await engine.journal.get(seq, tenant_of(request))
    if entry is None:
        raise AdminError(404, f"no journal entry {raw!r} for this tenant")
    body = await engine.thumbnails.get(entry.image["sha256"]) if entry.image else None
    if body is None:
        raise AdminError(404, f"journal entry {seq} has no query picture kept")
    # a seq names another entry after a restart: the browser asks again every time
    return web.Response(body=body, content_type=THUMBNAIL_TYPE,
                        headers={"Cache-Control": "private, no-cache"})
