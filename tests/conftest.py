"""Fixtures every test folder shares; the plain helpers live in ``tests/support/``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# the start-up cache of the test run's own, not the user's (~/.cache/image-search-emulator)
os.environ.setdefault("EMULATOR_CACHE_DIR", tempfile.mkdtemp(prefix="emulator-test-cache-"))

from support.server import Running, start


@pytest.fixture(scope="session")
def server() -> Iterator[Running]:
    """The emulator on its built-in default fixtures."""
    with start() as running:
        yield running
