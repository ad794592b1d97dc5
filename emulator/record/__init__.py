"""``image-search-emulator record``: a recording proxy in front of the real vendors' HTTP
and gRPC APIs, writing what they answer as ordinary fixtures (see docs/recording.md)."""

from __future__ import annotations

import asyncio
import logging

from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from .._config import Config
from ._check import CheckError, find_secrets
from ._grpc import GrpcForwarder, GrpcServer, started
from ._pictures import PictureFetcher
from ._proxy import Recorder, client_context
from ._redact import Redactor
from ._writer import Exchange, Session, clean_png

log = logging.getLogger("emulator.record")


def _without_userinfo(url: str) -> str:
    """The upstream as the provenance names it: never a ``user:password@`` in it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class RecordingProxy:
    """The proxy on ``config.host:config.http_port`` (0: a free port), writing to
    ``config.record_out``."""

    def __init__(self, config: Config) -> None:
        if config.record_out is None:
            raise ValueError("record_out (--record-out DIR) is required")
        upstreams = {k: _without_userinfo(v) for k, v in (
            ("yandex", config.yandex_upstream), ("doofinder", config.doofinder_upstream),
            ("yandex_grpc", config.yandex_grpc_upstream)) if v}
        self.config = config
        session = Session(config.record_out, upstreams, Redactor())
        if config.record_thumbnails:
            session.pictures = PictureFetcher(client_context(config.upstream_ca),
                                              session.store_picture)
        self.recorder = Recorder(config, session)
        self.runner: web.AppRunner | None = None
        self.port = 0
        grpc_side = started(config, self.recorder.session, self.recorder.pool)
        self.forwarder: GrpcForwarder | None = grpc_side[0] if grpc_side else None
        self.grpc: GrpcServer | None = grpc_side[1] if grpc_side else None

    async def start(self) -> None:
        await self.recorder.start()
        self.runner = web.AppRunner(self.recorder.app(), access_log=None)
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
        await self.recorder.stop()


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
    print(f"image-search-emulator recording: http://{config.url_host()}:{proxy.port} -> "
          f"yandex {config.yandex_upstream or '-'}, doofinder {config.doofinder_upstream or '-'}"
          f"{_grpc_line(config, proxy)}; writing {config.record_out}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await proxy.stop()


__all__ = ["CheckError", "Exchange", "RecordingProxy", "Session", "clean_png", "find_secrets",
           "serve"]
