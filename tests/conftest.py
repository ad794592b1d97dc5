"""Shared test plumbing: a real emulator (both servers) on free ports, in a background loop."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator._server import Config
from emulator.testing import EmulatorThread, Running

# the start-up cache of the test run's own, not the user's (~/.cache/image-search-emulator)
os.environ.setdefault("EMULATOR_CACHE_DIR", tempfile.mkdtemp(prefix="emulator-test-cache-"))

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
#: recorded live traffic of the real service (see tests/vendor/README.md)
VENDOR = ROOT / "tests" / "vendor"


def catalog_url(doc_id: str, base: str = "", fixtures: Path = FIXTURES) -> str:
    """The picture URL the emulator answers for a catalog document: its own recorded
    ``url``, or for a document that names an image file, that file as the emulator serves
    it (at ``base``) at exactly the document's size."""
    doc = next(d for d in json.loads((fixtures / "catalog.json").read_text())["documents"]
               if d["id"] == doc_id)
    if "image" not in doc:
        return doc["url"]
    return f"{base}/_emulator/images/files/{doc['image']}?size={doc['width']}x{doc['height']}"


def start(fixtures: Path | None = None, **config) -> EmulatorThread:
    return EmulatorThread(Config(http_port=0, grpc_port=0, fixtures=fixtures, **config))


@pytest.fixture(scope="session")
def server() -> Iterator[Running]:
    """The emulator on its built-in default fixtures."""
    with start() as running:
        yield running
