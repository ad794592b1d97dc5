"""The recording proxy: an aiohttp application that forwards each vendor's HTTP calls to
its upstream, answers the client with exactly what the upstream answered, and hands the
exchange to the :class:`~._writer.Session`.

Contract: what the vendors answer is passed on unchanged (status, body, the vendor's
headers); only hop-by-hop headers (RFC 9110 section 7.6.1) are not.
"""

from __future__ import annotations

import logging
import ssl
import zlib
from pathlib import Path

import aiohttp
from aiohttp import web

from .._config import Config
from ..core._limits import MAX_BODY_BYTES
from ..core._pool import WorkPool
from ..yandex import _render
from ._writer import Exchange, Session

log = logging.getLogger("emulator.record")

HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade", "host",
                        "content-length"))
#: Emulator decision: seconds the upstream has to answer a forwarded call.
UPSTREAM_TIMEOUT = 60.0


def decoded(body: bytes, encoding: str) -> bytes:
    """The answer as the writer reads it: ``gzip`` and ``deflate`` undone (at most
    :data:`MAX_BODY_BYTES` of it; what the client gets is the body as it came)."""
    encoding = encoding.strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    try:
        return zlib.decompressobj(wbits).decompress(body, MAX_BODY_BYTES)
    except zlib.error:
        return body


def vendor_of(path: str) -> str | None:
    if path.startswith("/v2/image/") or path == "/images-xml":
        return "yandex"
    if path.startswith("/6/"):
        return "doofinder"
    return None


def unavailable(vendor: str, path: str, reason: str) -> web.Response:
    """The vendor's "unavailable" answer for an upstream that cannot be reached."""
    if vendor == "yandex" and path == "/images-xml":
        # Contract: yandexsearch XML errors; 20 is "unknown error", as the emulator's own
        # failures on /images-xml are answered.
        body = _render.render_error(20, message=f"Upstream unavailable: {reason}")
        return web.Response(body=body, status=503, content_type="text/xml", charset="utf-8")
    if vendor == "yandex":
        # Contract: google.rpc.Status JSON, 14 UNAVAILABLE is HTTP 503 at the gateway.
        status = {"code": 14, "message": f"upstream unavailable: {reason}", "details": []}
        return web.json_response(status, status=503)
    # Contract: Doofinder's ErrorResponse {"error": text}; 503 is the HTTP phrase.
    return web.json_response({"error": "Service Unavailable"}, status=503)


def refused(vendor: str, request: web.Request, status: int) -> web.Response:
    """What the proxy cannot read or forward, in the vendor's format (each vendor's own
    answer to what its HTTP server refuses)."""
    from ..doofinder import _rest as doofinder_rest
    from ..yandex import _images_xml, _rest as yandex_rest

    if vendor == "doofinder":
        return doofinder_rest.unmatched(request, status)
    if request.path == "/images-xml":
        return _images_xml.unmatched(request, status)
    return yandex_rest.unmatched(request, status)


def client_context(ca: Path | None) -> ssl.SSLContext:
    """Verified TLS to the upstreams: the system's roots, or only those of ``ca``."""
    return ssl.create_default_context(cafile=str(ca) if ca else None)


class Recorder:
    def __init__(self, config: Config, session: Session) -> None:
        self.upstreams = {"yandex": config.yandex_upstream, "doofinder": config.doofinder_upstream}
        self.session = session
        self.ssl = client_context(config.upstream_ca)
        self.pool = WorkPool(threads=1, name="emulator-record")
        self.client: aiohttp.ClientSession | None = None
        self.forwarded = 0

    async def start(self) -> None:
        self.pool.start()
        self.client = aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT),
            connector=aiohttp.TCPConnector(ssl=self.ssl))
        await self.pool.run(self.session.write)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.pool.close()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        vendor = vendor_of(request.path)
        if vendor is None:
            return web.json_response({"error": "not a recorded vendor path"}, status=404)
        base = self.upstreams[vendor]
        if base is None:
            log.error("record: no %s upstream set (--%s-upstream); %s %s not forwarded",
                      vendor, vendor, request.method, request.path)
            return unavailable(vendor, request.path, "no upstream configured")
        try:
            body = await request.read()
        except web.HTTPException as exc:  # over the body limit, a broken chunked body
            return refused(vendor, request, exc.status)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        target = base.rstrip("/") + request.raw_path
        assert self.client is not None
        try:
            async with self.client.request(request.method, target, data=body or None,
                                           headers=headers, allow_redirects=False) as answer:
                answer_body = await answer.read()
                status = answer.status
                encoding = answer.headers.get("Content-Encoding", "")
                # raw: the names as the upstream spelled them
                answer_headers = [(k.decode("latin-1"), v.decode("latin-1"))
                                  for k, v in answer.raw_headers
                                  if k.decode("latin-1").lower() not in HOP_BY_HOP]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.error("record: %s upstream %s unreachable for %s %s: %s", vendor, base,
                      request.method, request.path, reason)
            return unavailable(vendor, request.path, reason)
        self.forwarded += 1
        exchange = Exchange(vendor, request.method, request.path,
                            tuple(request.query.items()), tuple(request.headers.items()),
                            body, status,
                            decoded(answer_body, encoding))
        try:
            kept = await self.pool.run(self.session.add, exchange)
            log.info("record: %s %s -> %d, %s", request.method, request.path, status, kept)
        except Exception:  # the client still gets the vendor's answer
            log.exception("record: %s %s -> %d could not be written", request.method,
                          request.path, status)
        response = web.Response(body=answer_body, status=status)
        for name, value in answer_headers:
            response.headers.add(name, value)
        return response

