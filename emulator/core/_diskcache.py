"""What start-up would work out again on every launch, kept on disk between runs.

Only pure functions of their inputs are kept (a fixture file's schema verdict, a generated
catalog's products), each under the SHA-256 of everything it depends on, so an entry can
never be stale, only unused. A cache that cannot be read or written (a read-only
container, a full disk) is simply not used: never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

#: ``EMULATOR_CACHE_DIR`` moves the cache; ``off`` (or empty) turns it off.
CACHE_ENV = "EMULATOR_CACHE_DIR"
OFF = ("", "off", "0", "false", "no")


def cache_dir() -> Path | None:
    """Emulator decision: ``$XDG_CACHE_HOME/image-search-emulator`` (else ``~/.cache/...``)."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in OFF else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "image-search-emulator")


def key_of(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def load(kind: str, key: str) -> bytes | None:
    directory = cache_dir()
    if directory is None:
        return None
    try:
        return (directory / kind / key).read_bytes()
    except OSError:
        return None


def store(kind: str, key: str, data: bytes) -> None:
    """Written whole or not at all (a temporary file renamed into place)."""
    directory = cache_dir()
    if directory is None:
        return
    try:
        folder = directory / kind
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, folder / key)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass
