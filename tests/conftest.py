"""Shared test plumbing: a real emulator (both servers) on free ports, in a background loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator._server import Config, Emulator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: recorded live traffic of the real service (see tests/vendor/README.md)
VENDOR = ROOT / "tests" / "vendor"


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
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self.loop).result(30)
        host = self.emulator.config.host
        return Running(f"http://{host}:{self.emulator.http_port}",
                       f"{host}:{self.emulator.grpc_port}", self.emulator)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def start(fixtures: Path | None = None, **config) -> EmulatorThread:
    return EmulatorThread(Config(http_port=0, grpc_port=0, fixtures=fixtures, **config))


@pytest.fixture(scope="session")
def server() -> Iterator[Running]:
    """The emulator on its built-in default fixtures."""
    with start() as running:
        yield running
