"""The recording proxy: an aiohttp application that forwards each vendor's HTTP calls to
its upstream, answers the client with exactly what the upstream answered, and hands the
exchange to the :class:`~._writer.Session`.

Contract: what the vendors answer is passed on unchanged (status, body, the vendor's
headers); only hop-by-hop headers (RFC 9110 section 7.6.1) are not.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import zlib
from pathlib import Path

import aiohttp
from aiohttp import web

from .._config import Config
from ..core._limits import MAX_BODY_BYTES, OFFLOAD_BYTES
from ..core._pool import WorkPool
from ..yandex import _render
from ._modes import Index, Indexed, Replayer, effective_mode, not_recorded, request_key, resume
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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Upstream(Exception):
    """An upstream (or the offline emulator) that could not be reached, and why."""


class Recorder:
    """One recording: its upstreams, its directory, its record mode and what it counted."""

    def __init__(self, config: Config, session: Session) -> None:
        self.upstreams = {"yandex": config.yandex_upstream, "doofinder": config.doofinder_upstream}
        self.session = session
        self.ssl = client_context(config.upstream_ca)
        self.pool = WorkPool(threads=1, name="emulator-record")
        self.client: aiohttp.ClientSession | None = None
        self.forwarded = 0
        self.requested_mode = config.record_mode
        self.mode = effective_mode(config.record_mode, session.out)
        self.index = Index()
        self.replayer = Replayer(session.out)
        self.started = _now()
        self.counts = {"forwarded": 0, "recorded": 0, "replayed": 0, "not_recorded": 0,
                       "failed": 0}
        self.last_error: dict[str, str] | None = None

    async def start(self) -> None:
        self.pool.start()
        self.client = aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT),
            connector=aiohttp.TCPConnector(ssl=self.ssl))
        if self.mode == "none":  # nothing is written: the recording is only read
            self.index = await self.pool.run(resume, Session(self.session.out, {}),
                                             self.session.out)
            return
        if self.mode == "new_episodes":
            self.index = await self.pool.run(resume, self.session, self.session.out)
        self.session.extra["index"] = self.index.to_json()
        await self.pool.run(self.session.write)

    async def stop(self) -> None:
        await self.replayer.stop()
        if self.client is not None:
            await self.client.close()
        self.pool.close()

    def status(self) -> dict:
        return {"mode": self.requested_mode, "effective_mode": self.mode,
                "upstreams": {k: v for k, v in self.session.upstreams.items() if v},
                "out": str(self.session.out), "started": self.started,
                "counts": dict(self.counts), "recorded_requests": len(self.index),
                "last_error": self.last_error}

    def _failed(self, message: str) -> None:
        self.counts["failed"] += 1
        self.last_error = {"at": _now(), "message": message}
        log.error("record: %s", message)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def _key(self, request: web.Request, body: bytes) -> str:
        args = (request.method, request.path, list(request.query.items()), body)
        if len(body) >= OFFLOAD_BYTES:
            return await self.pool.run(request_key, *args)
        return request_key(*args)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        vendor = vendor_of(request.path)
        if vendor is None:
            return web.json_response({"error": "not a recorded vendor path"}, status=404)
        try:
            body = await request.read()
        except web.HTTPException as exc:  # over the body limit, a broken chunked body
            return refused(vendor, request, exc.status)
        if self.mode in ("none", "new_episodes"):
            key = await self._key(request, body)
            if key in self.index:
                return await self._replay(vendor, request, body)
            if self.mode == "none":
                self.counts["not_recorded"] += 1
                self.last_error = {"at": _now(), "message": f"{request.method} "
                                   f"{request.raw_path} is not in the recording"}
                log.error("record: %s %s is not in the recording in %s (record mode none); "
                          "not forwarded", request.method, request.path, self.session.out)
                return not_recorded(vendor, request.path, request.method)
        else:
            key = await self._key(request, body)
        base = self.upstreams[vendor]
        if base is None:
            self._failed(f"no {vendor} upstream set (--{vendor}-upstream); {request.method} "
                         f"{request.path} not forwarded")
            return unavailable(vendor, request.path, "no upstream configured")
        try:
            status, answer_body, answer_headers = await self._forward(base, request, body)
        except Upstream as exc:
            self._failed(f"{vendor} upstream {base} unreachable for {request.method} "
                         f"{request.path}: {exc}")
            return unavailable(vendor, request.path, str(exc))
        self.forwarded += 1
        self.counts["forwarded"] += 1
        encoding = {k.lower(): v for k, v in answer_headers}.get("content-encoding", "")
        exchange = Exchange(vendor, request.method, request.path,
                            tuple(request.query.items()), tuple(request.headers.items()),
                            body, status,
                            decoded(answer_body, encoding))
        try:
            kept = await self.pool.run(self.session.add, exchange)
            log.info("record: %s %s -> %d, %s", request.method, request.path, status, kept)
            if not kept.startswith("not written"):
                self.counts["recorded"] += 1
                self.index.add(Indexed(key, request.method, request.path, kept))
                self.session.extra["index"] = self.index.to_json()
                await self.pool.run(self.session.write)
                self.replayer.written()
        except Exception:  # the client still gets the vendor's answer
            log.exception("record: %s %s -> %d could not be written", request.method,
                          request.path, status)
            self.last_error = {"at": _now(), "message": f"{request.method} {request.path}: "
                               "the answer could not be written"}
        return _answer(status, answer_body, answer_headers)

    async def _replay(self, vendor: str, request: web.Request, body: bytes) -> web.StreamResponse:
        """A recorded request, answered by the emulator over the recorded directory."""
        try:
            base = await self.replayer.base_url()
            status, answer_body, answer_headers = await self._forward(base, request, body)
        except Exception as exc:  # a directory that does not load, the emulator gone
            self._failed(f"the recording in {self.session.out} cannot answer "
                         f"{request.method} {request.path}: {exc}")
            return unavailable(vendor, request.path, f"the recording cannot answer: {exc}")
        self.counts["replayed"] += 1
        log.info("record: %s %s -> %d, replayed from the recording", request.method,
                 request.path, status)
        return _answer(status, answer_body, answer_headers)

    async def _forward(self, base: str, request: web.Request,
                       body: bytes) -> tuple[int, bytes, list[tuple[str, str]]]:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        target = base.rstrip("/") + request.raw_path
        assert self.client is not None
        try:
            async with self.client.request(request.method, target, data=body or None,
                                           headers=headers, allow_redirects=False) as answer:
                answer_body = await answer.read()
                # raw: the names as the upstream spelled them
                return answer.status, answer_body, [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers
                    if k.decode("latin-1").lower() not in HOP_BY_HOP]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Upstream(f"{type(exc).__name__}: {exc}" if str(exc)
                           else type(exc).__name__) from None


def _answer(status: int, body: bytes, headers: list[tuple[str, str]]) -> web.Response:
    response = web.Response(body=body, status=status)
    for name, value in headers:
        response.headers.add(name, value)
    return response


async def serve_recorded(replayer: Replayer, vendor: str,
                         request: web.Request) -> web.StreamResponse:
    """Any call answered by the emulator over a written directory (after a recording
    stopped with ``replay``), as ``image-search-emulator --fixtures DIR`` answers it."""
    try:
        body = await request.read()
    except web.HTTPException as exc:
        return refused(vendor, request, exc.status)
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
    try:
        base = await replayer.base_url()
        async with aiohttp.ClientSession(auto_decompress=False) as client, client.request(
                request.method, base + request.raw_path, data=body or None, headers=headers,
                allow_redirects=False) as answer:
            return _answer(answer.status, await answer.read(), [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers
                if k.decode("latin-1").lower() not in HOP_BY_HOP])
    except Exception as exc:  # a directory that does not load
        log.error("record: the recording in %s cannot answer %s %s: %s", replayer.out,
                  request.method, request.path, exc)
        return unavailable(vendor, request.path, f"the recording cannot answer: {exc}")
