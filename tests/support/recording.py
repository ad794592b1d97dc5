"""The recording proxy run on a loop of its own thread, for tests that drive it with
blocking clients."""

from __future__ import annotations

from pathlib import Path

from emulator._config import Config
from emulator.record import RecordingProxy
from emulator.testing import ServiceThread


class ProxyThread(ServiceThread):
    """``with ProxyThread(config) as url``: the proxy started, its HTTP base URL; stopped
    on leaving."""

    def __init__(self, config: Config) -> None:
        self.proxy = RecordingProxy(config)
        super().__init__(self.proxy)

    def __enter__(self) -> str:
        self._start()
        return f"http://127.0.0.1:{self.proxy.port}"


def record(out: Path, **config) -> ProxyThread:
    """A proxy recording into ``out`` on a free HTTP port."""
    return ProxyThread(Config(http_port=0, record_out=out, **config))
