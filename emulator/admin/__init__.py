"""The admin API under ``/_emulator/``: journal (and its live stream), stubs, faults,
explain, fixtures, reset; and the web page built on it, at ``/_emulator/ui/``.

Described by the OpenAPI document it serves at ``/_emulator/openapi.json``, which also
checks every request body. Optionally behind an admin token.
"""

from __future__ import annotations

import copy

from aiohttp import web

from .._http import ADMIN
from ..core import FixtureReloader, RuleSearch
from . import _caches, _contents, _explain, _faults, _fixtures, _grpc_call, _journal, _stubs, _ui
from ._common import STATE, AdminState, endpoint, settled, state, tenant_of
from ._stream import JournalStreams, stream_requests
from ._spec import document

PREFIX = ADMIN

__all__ = ["PREFIX", "mount", "set_grpc_target"]


async def openapi(request: web.Request) -> web.Response:
    doc = copy.deepcopy(document())
    doc["servers"] = [{"url": state(request).engine.public_base_url}]
    return web.json_response(doc)


async def reset(request: web.Request) -> web.Response:
    """A tenant's stubs, faults and journal entries (everything with no tenant)."""
    engine, tenant = state(request).engine, tenant_of(request)
    await engine.stubs.clear(tenant)
    await engine.faults.clear(tenant)
    await engine.journal.clear(tenant)
    await settled(request)
    return web.Response(status=204)


async def state_status(request: web.Request) -> web.Response:
    """Where the state lives, its health, and the versions this replica serves."""
    engine = state(request).engine
    info = await engine.state.info()
    info["versions"] = {"stubs": engine.stubs.version, "faults": engine.faults.version}
    return web.json_response(info)


ROUTES = (
    ("GET", "/requests", _journal.list_requests),
    ("DELETE", "/requests", _journal.clear_requests),
    ("GET", "/requests/count", _journal.count_requests),
    ("GET", "/requests/stream", stream_requests),
    ("GET", "/requests/{seq}/thumbnail", _journal.request_thumbnail),
    ("GET", "/stubs", _stubs.list_stubs),
    ("POST", "/stubs", _stubs.add_stub),
    ("DELETE", "/stubs", _stubs.clear_stubs),
    ("GET", "/stubs/{id}", _stubs.get_stub),
    ("DELETE", "/stubs/{id}", _stubs.delete_stub),
    ("GET", "/faults", _faults.list_faults),
    ("POST", "/faults", _faults.add_fault),
    ("DELETE", "/faults", _faults.clear_faults),
    ("DELETE", "/faults/{id}", _faults.delete_fault),
    ("POST", "/explain", _explain.explain_query),
    ("POST", "/grpc/{operation}", _grpc_call.grpc_call),
    ("GET", "/explain/misses", _explain.explain_misses),
    ("GET", "/fixtures", _fixtures.fixture_status),
    ("GET", "/fixtures/contents", _contents.fixture_contents),
    ("GET", "/caches", _caches.cache_status),
    ("POST", "/fixtures/reload", _fixtures.reload_fixtures),
    ("POST", "/reset", reset),
    ("GET", "/state", state_status),
)
#: What reads no control-plane state (answered while the state store is down).
STATELESS = ("/fixtures", "/state", "/caches", "/grpc")
#: What acts on, or lists, state a worker keeps of its own with ``--state memory``.
SHARED = {("GET", "/requests"), ("DELETE", "/requests"), ("GET", "/requests/count"),
          ("POST", "/stubs"), ("DELETE", "/stubs"), ("DELETE", "/stubs/{id}"),
          ("POST", "/faults"), ("DELETE", "/faults"), ("DELETE", "/faults/{id}"),
          ("GET", "/explain/misses"), ("POST", "/reset")}


def mount(app: web.Application, engine: RuleSearch, reloader: FixtureReloader,
          token: str | None = None, *, split_workers: int | None = None) -> None:
    streams = JournalStreams(engine.journal)
    app[STATE] = AdminState(engine, reloader, streams, token, split_workers=split_workers)

    async def end_streams(_: web.Application) -> None:  # before in-flight requests are awaited
        streams.close()

    app.on_shutdown.append(end_streams)
    # the document needs no token, and takes any query (viewers and caches add their own)
    app.router.add_get(f"{PREFIX}/openapi.json", openapi)
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, endpoint(
            handler, method, PREFIX + path, shared=(method, path) in SHARED,
            stateful=not path.startswith(STATELESS)))
    _ui.add_routes(app)


def set_grpc_target(app: web.Application, target: str) -> None:
    """Where the emulator's gRPC server listens, for ``/_emulator/grpc/...``."""
    app[STATE].grpc_target = target
