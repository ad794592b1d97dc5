"""``image-search-emulator record``: a recording proxy in front of the real vendors' HTTP
and gRPC APIs, writing what they answer as ordinary fixtures (see docs/recording.md)."""

from __future__ import annotations

import asyncio
import logging

from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from .._config import Config
from ..core._limits import MAX_BODY_BYTES
from . import _admin
from ._check import CheckError, find_secrets
from ._grpc import GrpcForwarder, GrpcServer, started
from ._modes import Replayer
from ._pictures import PictureFetcher
from ._proxy import Recorder, client_context, serve_recorded, unavailable, vendor_of
from ._redact import Redactor
from ._writer import Exchange, Session, clean_png

log = logging.getLogger("emulator.record")


def _without_userinfo(url: str) -> str:
    """The upstream as the provenance names it: never a ``user:password@`` in it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _recorder(config: Config) -> Recorder:
    if config.record_out is None:
        raise ValueError("record_out (--record-out DIR) is required")
    upstreams = {k: _without_userinfo(v) for k, v in (
        ("yandex", config.yandex_upstream), ("doofinder", config.doofinder_upstream),
        ("yandex_grpc", config.yandex_grpc_upstream)) if v}
    session = Session(config.record_out, upstreams, Redactor())
    if config.record_thumbnails:
        session.pictures = PictureFetcher(client_context(config.upstream_ca),
                                          session.store_picture)
    return Recorder(config, session)


class RecordingProxy:
    """The proxy on ``config.host:config.http_port`` (0: a free port), recording into
    ``config.record_out`` from the start when it is set; its control plane
    (``/_emulator/recording``) starts and stops recordings while it runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        #: the recording in progress (started with the proxy when ``record_out`` is set)
        self.recorder = _recorder(config) if config.record_out is not None else None
        #: the last recording's status once stopped
        self.last: dict | None = None
        #: after ``DELETE /_emulator/recording?replay=true``: the written directory, served
        self.serving: Replayer | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0
        # Emulator decision: the gRPC side serves the recording the process starts with, in
        # its record mode (a recording begun from the control plane is HTTP only).
        grpc_side = started(config, self.recorder) if self.recorder is not None else None
        self.forwarder: GrpcForwarder | None = grpc_side[0] if grpc_side else None
        self.grpc: GrpcServer | None = grpc_side[1] if grpc_side else None

    async def begin(self, config: Config) -> None:
        """Starts recording as ``config`` says (its upstreams, ``record_out``, mode)."""
        recorder = _recorder(config)
        try:
            await recorder.start()
        except BaseException:
            await recorder.stop()
            raise
        if self.serving is not None:
            await self.serving.stop()
            self.serving = None
        self.recorder, self.last = recorder, None

    async def end(self, replay: bool = False) -> None:
        """Stops recording; with ``replay``, the written directory answers from then on."""
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        self.last = recorder.status()
        await recorder.stop()
        if replay:
            self.serving = Replayer(recorder.session.out)

    def status(self) -> dict:
        if self.recorder is not None:
            return {"status": "recording", **self.recorder.status()}
        if self.last is None:
            return {"status": "never_started"}
        return {**self.last, "status": "replaying" if self.serving else "stopped"}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        _admin.add_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.recorder is not None:
            return await self.recorder.handle(request)
        vendor = vendor_of(request.path)
        if vendor is None:
            return web.json_response({"error": "not a recorded vendor path"}, status=404)
        if self.serving is not None:
            return await serve_recorded(self.serving, vendor, request)
        log.error("record: no recording in progress; %s %s not forwarded", request.method,
                  request.path)
        return unavailable(vendor, request.path, "no recording in progress")

    async def start(self) -> None:
        if self.recorder is not None:
            await self.recorder.start()
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.http_port)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        if self.forwarder is not None and self.grpc is not None:
            await self.forwarder.start()
            await self.grpc.start()

    async def stop(self) -> None:
        if self.grpc is not None and self.forwarder is not None:
            await self.grpc.stop()
            await self.forwarder.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.end()
        if self.serving is not None:
            await self.serving.stop()


def _grpc_line(config: Config, proxy: RecordingProxy) -> str:
    if proxy.grpc is None:
        return ""
    line = f"; gRPC {config.url_host()}:{proxy.grpc.port}"
    if proxy.grpc.tls_port:
        line += f", gRPC-TLS {config.url_host()}:{proxy.grpc.tls_port} " \
                f"(certificate {proxy.grpc.certificate})"
    return line + f" -> yandex {config.yandex_grpc_upstream}"


async def serve(config: Config) -> None:
    proxy = RecordingProxy(config)
    await proxy.start()
    mode = proxy.recorder.mode if proxy.recorder else None
    print(f"image-search-emulator recording: http://{config.url_host()}:{proxy.port} -> "
          f"yandex {config.yandex_upstream or '-'}, doofinder {config.doofinder_upstream or '-'}"
          f"{_grpc_line(config, proxy)}"
          f"; {f'writing {config.record_out}' if mode else 'idle (POST /_emulator/recording)'}"
          f"{f', record mode {config.record_mode} ({mode})' if mode else ''}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await proxy.stop()


__all__ = ["CheckError", "Exchange", "RecordingProxy", "Session", "clean_png", "find_secrets",
           "serve"]
