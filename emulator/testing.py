"""Running the emulator in-process, for tests: both servers on free ports, in a thread.

    with run_in_thread(Config(http_port=0, grpc_port=0)) as running:
        running.http, running.grpc  # "http://127.0.0.1:PORT", "127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from ._server import Config, Emulator


@dataclass
class Running:
    http: str  # base URL, e.g. http://127.0.0.1:PORT
    grpc: str  # host:port
    emulator: Emulator


class EmulatorThread:
    """Runs one Emulator on its own event loop in a daemon thread."""

    def __init__(self, config: Config) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulator = Emulator(config)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Running:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.emulator.start(), self.loop).result(30)
        except BaseException:
            self._close()
            raise
        host = self.emulator.config.host
        return Running(f"http://{host}:{self.emulator.http_port}",
                       f"{host}:{self.emulator.grpc_port}", self.emulator)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(30)
        self._close()

    def _close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def run_in_thread(config: Config) -> EmulatorThread:
    return EmulatorThread(config)
