"""Shared test plumbing: a real emulator (both servers) on free ports, in a background loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator._server import Config
from emulator.testing import EmulatorThread, Running

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: recorded live traffic of the real service (see tests/vendor/README.md)
VENDOR = ROOT / "tests" / "vendor"


def start(fixtures: Path | None = None, **config) -> EmulatorThread:
    return EmulatorThread(Config(http_port=0, grpc_port=0, fixtures=fixtures, **config))


@pytest.fixture(scope="session")
def server() -> Iterator[Running]:
    """The emulator on its built-in default fixtures."""
    with start() as running:
        yield running
