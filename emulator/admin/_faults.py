"""``/_emulator/faults``: latency, vendor errors, resets, drips and quotas, per tenant."""

from __future__ import annotations

from aiohttp import web

from ..core import FAULTS, FaultError, fault_spec_from_json
from ._common import AdminError, read_json, settled, state, tenant_of


async def add_fault(request: web.Request) -> web.Response:
    raw = await read_json(request, "FaultInput")
    try:
        spec = await state(request).engine.faults.add(fault_spec_from_json(raw, tenant_of(request)))
    except FaultError as exc:
        raise AdminError(409, str(exc)) from None
    await settled(request, FAULTS)
    return web.json_response(spec.to_json(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    book = state(request).engine.faults
    faults = await book.counted(book.listed(tenant_of(request)))
    return web.json_response({"faults": [f.to_json() for f in faults]})


async def delete_fault(request: web.Request) -> web.Response:
    if not await state(request).engine.faults.remove(request.match_info["id"], tenant_of(request)):
        raise AdminError(404, f"no fault {request.match_info['id']!r} for this tenant")
    await settled(request, FAULTS)
    return web.Response(status=204)


async def clear_faults(request: web.Request) -> web.Response:
    await state(request).engine.faults.clear(tenant_of(request))
    await settled(request, FAULTS)
    return web.Response(status=204)
