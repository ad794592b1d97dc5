"""``/_emulator/stubs``: runtime stubs, in the fixture rules' format, per tenant."""

from __future__ import annotations

from aiohttp import web

from ..core import StubConflict, StubError, stub_from_json
from ..core import STUBS
from ._common import AdminError, read_json, settled, state, tenant_of
from ._images import resolve


async def add_stub(request: web.Request) -> web.Response:
    admin = state(request)
    raw = await read_json(request, "StubInput")
    key, fp = await resolve(admin, raw)
    if "image_base64" in raw and fp is not None:  # bytes are not kept: listed as their digest
        raw = {k: v for k, v in raw.items() if k != "image_base64"} | {"image_sha256": fp.sha256}
    if "url" in raw:
        known = admin.engine.store.urls.get(raw["url"])
        key = known[0] if known else admin.engine.url_key(raw["url"])
    try:
        stub = await admin.engine.stubs.add(stub_from_json(
            raw, tenant_of(request), key=key, fp=fp, scope=raw.get("folder") or raw.get("hashid"),
            alias=raw.get("cbir_id")))  # a Yandex folder or a Doofinder hashid; a CBIR id
    except StubConflict as exc:
        raise AdminError(409, exc.reason, exc.place) from None
    except StubError as exc:
        raise AdminError(400, exc.reason, exc.place) from None
    await settled(request, STUBS)
    return web.json_response(stub.to_json(), status=201)


async def list_stubs(request: web.Request) -> web.Response:
    book = state(request).engine.stubs
    stubs = await book.counted(book.listed(tenant_of(request)))
    return web.json_response({"stubs": [s.to_json() for s in stubs]})


def _stub(request: web.Request):
    stub = state(request).engine.stubs.get(request.match_info["id"], tenant_of(request))
    if stub is None:
        raise AdminError(404, f"no stub {request.match_info['id']!r} for this tenant")
    return stub


async def get_stub(request: web.Request) -> web.Response:
    [stub] = await state(request).engine.stubs.counted([_stub(request)])
    return web.json_response(stub.to_json())


async def delete_stub(request: web.Request) -> web.Response:
    await state(request).engine.stubs.remove(_stub(request).id)
    await settled(request, STUBS)
    return web.Response(status=204)


async def clear_stubs(request: web.Request) -> web.Response:
    await state(request).engine.stubs.clear(tenant_of(request))
    await settled(request, STUBS)
    return web.Response(status=204)
