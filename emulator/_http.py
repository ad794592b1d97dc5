"""The one aiohttp application: vendor routes, health, and vendor-shaped fallbacks.

aiohttp's own answers (404, 405, 413, 500) are HTML or plain text; every one of them is
replaced here by the owning vendor's error body, so no client ever sees a foreign page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import hdrs, web
from multidict import CIMultiDict
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from aiohttp.web_request import BaseRequest
from yarl import URL

from ._pipeline import ClientGone
from ._guard import GUARD, ConnectionGuard, busy_while_handled
from .core import Journal
from .core._replay import RequestKey

log = logging.getLogger(__name__)

#: Renders a vendor's error for an unrouted request: (request, HTTP status) -> response.
Fallback = Callable[[web.BaseRequest, int], web.Response]

READY = web.AppKey("ready", dict)
FALLBACKS = web.AppKey("fallbacks", list)
JOURNAL = web.AppKey("journal", Journal)
#: The emulator's own endpoints, apart from every vendor's paths.
ADMIN = "/_emulator"


def _fallback_for(app: web.Application, path: str) -> Fallback:
    """The fallback whose path prefix is longest (the app mounts one for ``/``); the
    emulator's own error if none is mounted for the path."""
    best = max((p for p in app[FALLBACKS] if path.startswith(p[0])), key=lambda p: len(p[0]),
               default=None)
    return admin_error if best is None else best[1]


@web.middleware
async def vendor_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _fallback_for(request.app, request.path)(request, exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _fallback_for(request.app, request.path)(request, 500)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY]["ready"]
    store = request.app[READY].get("state")
    problem = store.problem if ready and store is not None else None
    if problem is not None:
        return web.json_response({"status": "unavailable", "reason": problem}, status=503)
    return web.json_response({"status": "ready" if ready else "starting"},
                             status=200 if ready else 503)


class BodyTooLarge(Exception):
    """The body is (or declares itself) over the limit; each vendor answers in its words."""


class BodyUnreadable(Exception):
    """The body is not in its Content-Encoding, or was cut short."""


_CHUNK = 256 * 1024
#: Why a body cannot be read: each vendor answers these in its own words.
BODY_ERRORS = (BodyTooLarge, BodyUnreadable, ClientGone)
#: Where a request keeps its body once read (or why it could not be read).
_BODY: Any = web.RequestKey("body", object) if hasattr(web, "RequestKey") else "emulator.body"


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body (decoded from its Content-Encoding), at most ``limit`` bytes: read
    here, for every vendor, so each answers a bad body in its own format. Read once: a
    second call gives the same bytes, or raises the same error."""
    kept = request.get(_BODY)
    if kept is None:
        try:
            kept = await _read_body(request, limit)
        except BODY_ERRORS as exc:
            kept = exc
        request[_BODY] = kept
    if isinstance(kept, Exception):
        raise kept
    return kept


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge()
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                if request.headers.get(hdrs.CONTENT_ENCODING):
                    _stop_reading(request)
                raise BodyTooLarge()
            parts.append(chunk)
    except RequestPayloadError as exc:
        if request.transport is None or request.transport.is_closing():
            raise ClientGone() from None
        request.content.feed_eof()  # nothing more to read: aiohttp must not drain it again
        raise BodyUnreadable(str(exc)) from None
    except (ConnectionError, asyncio.IncompleteReadError):
        raise ClientGone() from None
    return b"".join(parts)


def _stop_reading(request: web.Request) -> None:
    """Nothing more of this body is read: the connection closes once it is answered.

    aiohttp would otherwise read the rest of it after the answer, to let the client read
    that answer (its lingering close), and for an encoded body that means decoding it: a
    gzip bomb's gigabytes, in one stretch on the event loop (its reads return at once while
    the decoder has more, so the loop never runs anything else; seconds for 256 MiB, much
    longer on a busy machine). A client that has sent its whole body still reads the answer
    when the rest is left unread; one still sending may see the connection reset, as it
    would when aiohttp's lingering ran out of time."""
    request.protocol.pause_reading()  # the transport and the parser: nothing is decoded
    request.content.feed_eof()  # aiohttp's lingering close sees the body ended
    request.protocol.close()  # the connection is not kept alive


async def request_key(request: web.Request, limit: int, owner: object) -> RequestKey | None:
    """Every byte of the request an answer could depend on (method, raw target, raw
    headers, the client's address and the connection's security, the body once read), as
    the key of a kept answer; None when the body cannot be read (that is answered in
    full)."""
    try:
        body = await read_body(request, limit)
    except BODY_ERRORS:
        return None
    return RequestKey((owner, request.method, request.raw_path, request.version,
                       tuple(request.raw_headers), request.remote, request.secure), body)


#: Headers a kept response does not keep: the server sets them anew for every answer.
_FRESH_HEADERS = frozenset({"content-length", "date", "server"})


@dataclass(frozen=True, slots=True)
class KeptResponse:
    """An answer as it can be sent again: status, headers and body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    def of(cls, response: web.Response) -> tuple[KeptResponse, int]:
        """The response kept, and its size in bytes."""
        body = response.body if isinstance(response.body, bytes) else b""
        headers = tuple((k, v) for k, v in response.headers.items()
                        if k.lower() not in _FRESH_HEADERS)
        return cls(response.status, headers, body), len(body) + sum(
            len(k) + len(v) for k, v in headers)

    def revive(self) -> web.Response:
        return web.Response(status=self.status, body=self.body,
                            headers=CIMultiDict(self.headers))


class HttpReplays:
    """An aiohttp adapter's part of answering repeats (see ``Adapter.replay_key``): its
    calls carry their ``request``; bodies are read up to ``max_body_bytes``."""

    max_body_bytes = 0

    async def replay_key(self, call: Any) -> RequestKey | None:
        return await request_key(call.request, self.max_body_bytes, self)

    def keep(self, response: web.Response) -> tuple[KeptResponse, int]:
        return KeptResponse.of(response)

    def revive(self, kept: KeptResponse) -> web.Response:
        return kept.revive()


def allowed_methods(request: web.BaseRequest) -> str:
    """The ``Allow`` value of a 405 for this request's target: the methods its path takes.

    Contract (RFC 9110, section 15.5.6): a 405 response carries ``Allow`` listing the
    target resource's supported methods. For a path the router matched under another method
    these are the methods of every route of that path (aiohttp gathers them); for a path a
    handler matched (an injected 405), those of the handler's own resource."""
    match_info = getattr(request, "match_info", None)
    refused = getattr(match_info, "http_exception", None)
    if isinstance(refused, web.HTTPMethodNotAllowed):
        methods = set(refused.allowed_methods)
    else:
        route = getattr(match_info, "route", None)
        resource = route.resource if route is not None else None
        methods = {r.method for r in resource} if resource is not None else set()
    return ", ".join(sorted(methods))


def admin_error(request: web.BaseRequest, status: int, message: str | None = None) -> web.Response:
    """The emulator's own error body on its own endpoints (a 405 with its ``Allow``)."""
    default = {404: "not found", 405: "method not allowed"}.get(
        status, "bad request" if status < 500 else "internal error")
    headers = {"Allow": allowed_methods(request)} if status == 405 else None
    return web.json_response({"error": message or default}, status=status, headers=headers)


#: The start of an HTTP request: method, then the request target.
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ (/\S*) ")


class _VendorRequestHandler(RequestHandler):
    """aiohttp answers requests it cannot parse (bad request line, headers, chunking,
    encodings) from here, outside every middleware, in plain text: answer in the owning
    vendor's format instead, and log at debug level (a bad client is not our error).

    aiohttp hands this a placeholder request (path "/"), so the target of the request
    line last seen on the connection picks the vendor.
    """

    _target = "/"

    def data_received(self, data: bytes) -> None:
        match = _REQUEST_LINE.match(data)
        if match:
            self._target = match.group(1).decode("latin-1")
        super().data_received(data)

    def handle_error(self, request: BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None):
        self.logger.debug("bad request from %s", request.remote, exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        app = cast(_VendorServer, self._manager).vendor_app
        try:
            with contextlib.suppress(ValueError):
                request = request.clone(rel_url=URL(self._target, encoded=True))
            response = _fallback_for(app, request.path)(request, status)
        except Exception:  # a request too broken to render for: aiohttp's own answer
            return super().handle_error(request, status, exc, message)
        response.force_close()
        return response


class _VendorServer(web.Server):
    vendor_app: web.Application
    guard: ConnectionGuard

    def __call__(self) -> RequestHandler:
        return _VendorRequestHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if not self.guard.opened(handler):
            handler.force_close()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.guard.closed(handler)
        super().connection_lost(handler, exc)


class VendorRunner(web.AppRunner):
    """An AppRunner whose connections answer protocol errors in the vendors' formats, and
    are bounded by the app's :class:`ConnectionGuard` (see :mod:`emulator._guard`)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _VendorServer  # same state, our handler factory
        vendor = cast(_VendorServer, server)
        vendor.vendor_app = self.app
        vendor.guard = self.app[GUARD]
        return vendor


#: Long URLs and headers are the vendors' to refuse (with their own error), not the HTTP
#: parser's: aiohttp's 8 KiB default would answer a long v1 query in plain text.
MAX_LINE_BYTES = 64 * 1024


def create_app(max_body_bytes: int, journal: Journal, guard: ConnectionGuard) -> web.Application:
    app = web.Application(middlewares=[busy_while_handled, vendor_errors],
                          client_max_size=max_body_bytes)
    app[GUARD] = guard
    app[READY] = {"ready": False}
    app[FALLBACKS] = []
    app[JOURNAL] = journal
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def add_fallback(app: web.Application, prefix: str, fallback: Fallback) -> None:
    app[FALLBACKS].append((prefix, fallback))
