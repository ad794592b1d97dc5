"""Running the emulator in-process, for tests: both servers on free ports, in a thread.

    with run_in_thread(Config(http_port=0, grpc_port=0)) as running:
        running.http, running.grpc  # "http://127.0.0.1:PORT", "127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ._server import Config, Emulator


T = TypeVar("T")


@dataclass
class Running:
    http: str  # base URL, e.g. http://127.0.0.1:PORT
    grpc: str  # host:port
    emulator: Emulator
    loop: asyncio.AbstractEventLoop | None = None

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``work`` on the emulator's event loop (its books are read there)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServiceThread:
    """Runs a service's ``start`` and ``stop`` on its own event loop in a daemon thread;
    a start that fails stops the loop again."""

    def __init__(self, service: Service) -> None:
        self.loop = asyncio.new_event_loop()
        self.service = service
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def _start(self) -> None:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(30)
        except BaseException:
            self._close()
            raise

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(30)
        self._close()

    def _close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class EmulatorThread(ServiceThread):
    """Runs one Emulator on its own event loop in a daemon thread."""

    def __init__(self, config: Config) -> None:
        self.emulator = Emulator(config)
        super().__init__(self.emulator)

    def __enter__(self) -> Running:
        self._start()
        host = self.emulator.config.host
        return Running(f"http://{host}:{self.emulator.http_port}",
                       f"{host}:{self.emulator.grpc_port}", self.emulator, self.loop)


def run_in_thread(config: Config) -> EmulatorThread:
    return EmulatorThread(config)
