"""A real emulator (both servers) on free ports, in a background loop, and where its files are."""

from __future__ import annotations

import json
from pathlib import Path

from emulator._server import Config
from emulator.testing import EmulatorThread, Running

__all__ = ["FIXTURES", "ROOT", "VENDOR", "Running", "catalog_url", "start"]

ROOT = Path(__file__).resolve().parents[2]
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


def start(fixtures: Path | None = None, **config: object) -> EmulatorThread:
    return EmulatorThread(Config(http_port=0, grpc_port=0, fixtures=fixtures, **config))  # type: ignore[arg-type]
