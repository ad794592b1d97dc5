"""The recording proxy run on a loop of its own thread, for tests that drive it with
blocking clients."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from emulator._config import Config
from emulator.record import RecordingProxy


class ProxyThread:
    """``with ProxyThread(config) as url``: the proxy started, its HTTP base URL; stopped
    on leaving."""

    def __init__(self, config: Config) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = RecordingProxy(config)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(30)
        return f"http://127.0.0.1:{self.proxy.port}"

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def record(out: Path, **config) -> ProxyThread:
    """A proxy recording into ``out`` on a free HTTP port."""
    return ProxyThread(Config(http_port=0, record_out=out, **config))
