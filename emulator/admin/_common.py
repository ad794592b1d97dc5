"""What every admin endpoint shares: the token check, the tenant, JSON in and out, errors."""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..core import (FAULTS, OFFLOAD_BYTES, STUBS, TENANT_HEADER, FixtureReloader, RuleSearch,
                    StoreUnavailable)
from ..core._fixtures import _json_path as json_path
from ._params import ParameterError, parameters
from ._spec import message, validator

if TYPE_CHECKING:
    from ._stream import JournalStreams


@dataclass
class AdminState:
    engine: RuleSearch
    reloader: FixtureReloader
    streams: JournalStreams
    token: str | None = None
    #: worker processes that each keep their own state (``--workers N``, ``--state
    #: memory``): the control plane refuses what it would do to one of them only
    split_workers: int | None = None
    #: where the emulator's own gRPC server listens (host:port), once it does
    grpc_target: str | None = None


STATE = web.AppKey("admin", AdminState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminError(Exception):
    """An admin request that cannot be carried out: the HTTP status and the reason."""

    def __init__(self, status: int, message: str, place: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.place = status, message, place


def error_response(status: int, message: str, place: str | None = None) -> web.Response:
    body = {"error": message} if place is None else {"error": message, "place": place}
    return web.json_response(body, status=status)


def _authorized(request: web.Request, token: str | None) -> bool:
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def split_refusal(workers: int) -> str:
    """Emulator decision: with several workers and no shared store, what would act on (or
    list) one worker's state is refused, never answered for a part of it."""
    return (f"this emulator runs {workers} worker processes with --state memory: each keeps "
            "its own stubs, faults, quotas and journal, so this would act on (or list) one "
            "of them only. Run with --state redis://host:port/db to share them (see "
            "docs/control-plane.md#shared-state), or with --workers 1")


def endpoint(handler: Handler, method: str, path: str, *, shared: bool = False,
             stateful: bool = True) -> Handler:
    """The token check, the query and header parameters as the document declares them for
    the operation, and AdminError as its JSON error.

    Emulator decision: a query parameter the operation does not declare is refused, not
    ignored: a misspelt filter would count every request, and a misspelt ``tenant`` would
    clear every tenant's stubs."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        admin = request.app[STATE]
        if not _authorized(request, admin.token):
            return error_response(401, "admin token required: Authorization: Bearer <token>")
        try:
            parameters(method, path).check(request)
            if shared and admin.split_workers:
                raise AdminError(409, split_refusal(admin.split_workers))
            if stateful:  # never answered from a copy the store may have moved past
                admin.engine.state.check()
            return await handler(request)
        except ParameterError as exc:
            return error_response(400, str(exc))
        except AdminError as exc:
            return error_response(exc.status, exc.message, exc.place)
        except StoreUnavailable as exc:
            return error_response(503, str(exc))

    return guarded


def state(request: web.Request) -> AdminState:
    return request.app[STATE]


async def settled(request: web.Request, *books: str) -> None:
    """After a write: returns once every live replica serves it (see
    ``StateStore.wait_applied``); at once with the memory store."""
    engine = state(request).engine
    versions = {STUBS: engine.stubs.version, FAULTS: engine.faults.version}
    for book in books or (STUBS, FAULTS):
        await engine.state.wait_applied(book, versions[book])


def tenant_of(request: web.Request) -> str | None:
    """The tenant the admin call acts for: the X-Emulator-Tenant header, else ?tenant=;
    None (neither given) acts for every tenant.

    Contract (the admin API's document): both have ``minLength: 1``, so an empty one is
    refused (400) before the handler runs, never read as "no tenant"."""
    tenant = request.headers.get(TENANT_HEADER, request.query.get("tenant"))
    if tenant == "":  # only where an operation declares no tenant (none does): a safety net
        raise AdminError(400, "the tenant must not be empty")
    return tenant


def integer_param(request: web.Request, name: str) -> int | None:
    """A query integer, once :func:`endpoint` has checked it against the document's schema
    (ASCII digits, within the schema's minimum and maximum)."""
    if name not in request.query:
        return None
    return int(request.query[name].lstrip("0") or "0")  # int() counts leading zeros as digits


async def read_json(request: web.Request, schema: str) -> dict[str, Any]:
    """The body as JSON, checked against a schema of the admin API's OpenAPI document."""
    raw = await request.read()
    try:  # a stub's image can make a large body: parsed off the event loop
        data = await state(request).engine.control.run(json.loads, raw) \
            if len(raw) >= OFFLOAD_BYTES else json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdminError(400, f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise AdminError(400, "the body is not JSON: nested too deep") from None
    error = validator(schema).best_error(data)
    if error is not None:
        raise AdminError(400, message(error), json_path(error.absolute_path))
    return data


async def json_reply(request: web.Request, build: Callable[[], Any],
                     status: int = 200) -> web.Response:
    """Up to 16 MiB of journal JSON: the body built and written in the control pool, not
    on the event loop."""
    data = await state(request).engine.control.run(
        lambda: json.dumps(build(), ensure_ascii=False).encode())
    return web.Response(body=data, status=status, content_type="application/json")
