"""One process, one event loop: the gRPC server and the HTTP app side by side."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from aiohttp import web

from . import _http, _logs, _media, _tls, admin, doofinder, state, yandex
from ._pipeline import MAX_BODY_BYTES, Pipeline
from ._config import Config, ConfigError
from ._guard import ConnectionGuard
from ._resources import bundled
from .core._replay import ReplayCache
from .core import (FixtureError, FixtureReloader, FixtureStore, Journal, RuleSearch,
                   StateStore, WorkPool, load_fixtures)

log = logging.getLogger("emulator")

#: Emulator decision: start-up waits this long (seconds) for a shared state store before
#: it serves anyway (not ready, every vendor call "unavailable", until the store answers).
STATE_CONNECT_WAIT = 5.0

__all__ = ["Config", "Emulator", "Endpoints", "default_fixtures", "serve", "start_failure"]


def default_fixtures() -> Path:
    return bundled("fixtures")


def address(host: str, port: int) -> str:
    """``host:port`` as gRPC reads it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Endpoints:
    """Where a running emulator answers, as the ready line tells it."""

    config: Config
    http_port: int
    grpc_port: int
    https_port: int | None = None
    grpc_tls_port: int | None = None
    certificate: Path | None = None

    def describe(self) -> str:
        host = self.config.url_host()
        parts = [f"HTTP http://{host}:{self.http_port}", f"gRPC {host}:{self.grpc_port}"]
        if self.https_port is not None:
            parts += [f"HTTPS https://{host}:{self.https_port}",
                      f"gRPC-TLS {host}:{self.grpc_tls_port}", f"certificate {self.certificate}"]
        parts.append(f"fixtures {self.config.fixtures or default_fixtures()}")
        if self.config.workers > 1:
            parts.append(f"workers {self.config.workers}")
        return "  ".join(parts)


def _warmed(future: asyncio.Future) -> None:
    """The warm-up's end: a failure is logged (the first query would meet it again)."""
    if not future.cancelled() and future.exception() is not None:
        log.error("warm-up failed", exc_info=future.exception())


class Emulator:
    """Starts and stops both servers; ``http_port``/``grpc_port`` are the bound ports, and
    with TLS on ``https_port``/``grpc_tls_port`` too."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.http_port = config.http_port
        self.grpc_port = config.grpc_port
        self.https_port: int | None = None
        self.grpc_tls_port: int | None = None
        #: the certificate the TLS ports serve (a generated one lives while this runs)
        self.certificate: Path | None = None
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self._grpc = None
        self._engine: RuleSearch | None = None
        self._pool: WorkPool | None = None
        self._generated: _tls.GeneratedFiles | None = None
        self._reloader: FixtureReloader | None = None
        self._state: StateStore | None = None

    async def start(self) -> None:
        """Both servers listen when this returns; if either cannot, neither is left running."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        directory = self.config.fixtures or default_fixtures()
        store: FixtureStore = load_fixtures(directory)
        config, self._generated = _tls.with_certificate(self.config)
        pair = (_tls.load(cast(Path, config.tls_cert), cast(Path, config.tls_key))
                if config.tls_enabled else None)
        shared = self._state = state.open_store(
            config.state, fixtures_digest=lambda: self._reloader.digest if self._reloader else "")
        journal = Journal(config.journal_size, store=shared)
        journal.subscribe(_logs.log_request)
        pool = self._pool = WorkPool()
        pool.start()
        engine = self._engine = RuleSearch(store, journal, pool)
        if hasattr(shared, "offload"):
            shared.offload = engine.control.run
        engine.replays = ReplayCache(max_bytes=config.replay_bytes)
        pipeline = Pipeline(engine.faults, engine.stubs, journal, pool, engine.replays,
                            lambda: engine.store, engine.thumbnails)
        rate_limits = store.settings.rate_limits if config.rate_limits is None \
            else config.rate_limits
        guard = ConnectionGuard(config.max_connections, config.header_timeout)
        app = self._app = _http.create_app(MAX_BODY_BYTES, journal, guard)
        servicer = yandex.mount(app, engine, pipeline, rate_limits=rate_limits)
        self._reloader = FixtureReloader(engine, directory, config.reload_interval)
        admin.mount(app, engine, self._reloader, config.admin_token,
                    split_workers=config.workers if config.workers > 1 and not shared.shared
                    else None)
        _media.add_routes(app, engine)
        doofinder.mount(app, engine, pipeline, rate_limits=rate_limits)
        _http.add_fallback(app, _http.ADMIN, _http.admin_error)
        # Emulator decision: a path under no API's prefix is answered as the Yandex REST
        # gateway answers an unknown path (the emulator's first and main API)
        _http.add_fallback(app, "/", yandex.rest_unmatched)
        await shared.start()  # before listening: a store that answers is joined first
        if shared.shared and not await shared.wait_connected(STATE_CONNECT_WAIT):
            log.error("%s; serving: vendor calls are answered unavailable until it answers",
                      shared.problem)
        await self._serve_grpc(servicer, config, pair)
        admin.set_grpc_target(app, f"{config.url_host()}:{self.grpc_port}")
        await self._serve_http(app, config, pair)
        engine.public_base_url = config.public_base_url or \
            f"http://{config.url_host()}:{self.http_port}"
        await self._reloader.start()
        await shared.announce()  # with the fixture set's digest, now it is known
        app[_http.READY]["state"] = shared
        app[_http.READY]["ready"] = True
        # catalog pictures are fingerprinted in the background: ready now, warm soon after
        warming = asyncio.ensure_future(engine.control.run(engine.warm))
        warming.add_done_callback(_warmed)

    async def _serve_grpc(self, servicer, config: Config, pair: _tls.KeyPair | None) -> None:
        """Worker processes (``workers`` > 1) bind the same ports; a lone one must not."""
        server, self.grpc_port = await yandex.grpc_server(
            servicer, address(config.host, config.grpc_port), reuse_port=config.workers > 1,
            limits=yandex.GrpcLimits(config.max_connections, config.header_timeout),
            state=self._state)
        self._grpc = server
        if pair is not None:
            self.grpc_tls_port = yandex.grpc_listen_tls(
                server, address(config.host, config.grpc_tls_port), pair.cert_pem, pair.key_pem)
        await server.start()

    async def _serve_http(self, app: web.Application, config: Config,
                          pair: _tls.KeyPair | None) -> None:
        self._runner = _http.VendorRunner(app, access_log=None, handle_signals=False,
                                          shutdown_timeout=config.shutdown_grace,
                                          max_line_size=_http.MAX_LINE_BYTES,
                                          max_field_size=_http.MAX_LINE_BYTES)
        await self._runner.setup()
        self.http_port = await self._listen(config, config.http_port, None)
        if pair is not None:
            self.https_port = await self._listen(config, config.https_port,
                                                 pair.server_context())
            self.certificate = pair.cert_path

    async def _listen(self, config: Config, port: int, ssl_context) -> int:
        assert self._runner is not None
        site = web.TCPSite(self._runner, config.host, port, ssl_context=ssl_context,
                           reuse_port=config.workers > 1 or None)
        bound = len(self._runner.addresses)
        await site.start()
        return self._runner.addresses[bound][1]  # the new site's bound port (0 in tests)

    async def reload_fixtures(self) -> bool:
        """Load the fixture directory again now (False, the error logged, if broken)."""
        return self._reloader is not None and await self._reloader.reload()

    @property
    def public_base_url(self) -> str | None:
        """Where the URLs of the emulator's own images start (None until started)."""
        return self._engine.public_base_url if self._engine is not None else None

    def endpoints(self) -> Endpoints:
        return Endpoints(self.config, self.http_port, self.grpc_port, self.https_port,
                         self.grpc_tls_port, self.certificate)

    async def stop(self) -> None:
        """Stop listening at once; requests in flight get ``shutdown_grace`` to finish."""
        if self._app is not None:
            self._app[_http.READY]["ready"] = False
        await asyncio.gather(self._stop_http(), self._stop_grpc())
        if self._reloader is not None:
            await self._reloader.stop()
            self._reloader = None
        if self._state is not None:
            await self._state.close()
            self._state = None
        if self._engine is not None:
            self._engine.control.close()
            self._engine = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._generated is not None:
            self._generated.remove()
            self._generated = None

    async def _stop_http(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _stop_grpc(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=self.config.shutdown_grace)
            self._grpc = None


def print_ready(endpoints: Endpoints, seconds: float) -> None:
    print(f"image-search-emulator ready in {seconds:.3f}s: {endpoints.describe()}", flush=True)


async def serve(config: Config,
                on_ready: Callable[[Endpoints, float], None] = print_ready) -> None:
    """Serve until SIGINT or SIGTERM, then stop gracefully."""
    started = time.perf_counter()
    emulator = Emulator(config)
    await emulator.start()
    on_ready(emulator.endpoints(), time.perf_counter() - started)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: requests in flight have %ss to finish", config.shutdown_grace)
    await emulator.stop()


def start_failure(exc: BaseException, config: Config) -> str | None:
    """Why the emulator could not start, for the user; None if ``exc`` is not such a reason."""
    if isinstance(exc, FixtureError):
        return exc.located(config.fixtures or default_fixtures())
    if isinstance(exc, (ConfigError, OSError)):
        return str(exc)
    return None
