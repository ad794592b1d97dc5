"""One process, one event loop: the gRPC server and the HTTP app side by side."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from . import _http, _media, admin, yandex
from ._resources import bundled
from .core import FixtureReloader, FixtureStore, Journal, SearchEngine, load_fixtures
from .core._journal import JOURNAL_SIZE
from .core._reload import DEFAULT_INTERVAL_S

log = logging.getLogger("emulator")


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    fixtures: Path | None = None
    rate_limits: bool | None = None  # None: as the fixtures' settings say
    journal_size: int = JOURNAL_SIZE
    #: when set, the admin API needs ``Authorization: Bearer <admin_token>``
    admin_token: str | None = None
    #: seconds between checks of the fixture files for changes; None: no watching
    reload_interval: float | None = DEFAULT_INTERVAL_S


def default_fixtures() -> Path:
    return bundled("fixtures")


class Emulator:
    """Starts and stops both servers; ``http_port``/``grpc_port`` are the bound ports."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.http_port = config.http_port
        self.grpc_port = config.grpc_port
        self._runner: web.AppRunner | None = None
        self._grpc = None
        self._engine: SearchEngine | None = None
        self._reloader: FixtureReloader | None = None

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
        journal = Journal(self.config.journal_size)
        engine = self._engine = SearchEngine(store, journal)
        rate_limits = store.settings.rate_limits if self.config.rate_limits is None \
            else self.config.rate_limits
        app = _http.create_app(yandex.MAX_BODY_BYTES, journal)
        servicer = yandex.mount(app, engine, rate_limits=rate_limits)
        self._reloader = FixtureReloader(engine, directory, self.config.reload_interval)
        admin.mount(app, engine, self._reloader, self.config.admin_token)
        _media.add_routes(app, engine)
        _http.add_fallback(app, _http.ADMIN, _http.admin_error)
        self._grpc, self.grpc_port = await yandex.grpc_server(
            servicer, f"{self.config.host}:{self.config.grpc_port}")
        await self._grpc.start()
        self._runner = _http.VendorRunner(app, access_log=None, handle_signals=False,
                                          max_line_size=_http.MAX_LINE_BYTES,
                                          max_field_size=_http.MAX_LINE_BYTES)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.http_port)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # the bound port (0 in tests)
        engine.public_base_url = f"http://{self.config.host}:{self.http_port}"
        await self._reloader.start()
        app[_http.READY]["ready"] = True

    async def stop(self) -> None:
        if self._reloader is not None:
            await self._reloader.stop()
            self._reloader = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._grpc is not None:
            await self._grpc.stop(grace=0.5)
            self._grpc = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None


async def serve(config: Config) -> None:
    started = time.perf_counter()
    emulator = Emulator(config)
    await emulator.start()
    print(f"image-search-emulator ready in {time.perf_counter() - started:.3f}s: "
          f"HTTP http://{config.host}:{emulator.http_port}  "
          f"gRPC {config.host}:{emulator.grpc_port}  "
          f"fixtures {config.fixtures or default_fixtures()}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emulator.stop()
