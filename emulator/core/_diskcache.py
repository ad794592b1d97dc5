"""What start-up would work out again on every launch, kept on disk between runs.

Only pure functions of their inputs are kept (a fixture file's schema verdict, a generated
catalog's products), each under the SHA-256 of everything it depends on, so an entry can
never be stale, only unused. A cache that cannot be read or written (a read-only
container, a full disk) is simply not used: never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

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


#: A data entry: this tag, then the BLAKE2b digest of the marshalled value, then the value.
_DATA_TAG = b"emulator-marshal-1\n"
_DATA_DIGEST = 16


def data_key(*parts: bytes) -> str:
    """:func:`key_of` for an entry :func:`store_data` writes: marshal's format is the running
    Python's, so the key names it too."""
    return key_of(_DATA_TAG, sys.version.encode(), str(marshal.version).encode(), *parts)


def load_data(kind: str, key: str) -> Any:
    """A value :func:`store_data` kept, or None (none kept, or bytes it did not write: the
    digest is checked before the value is read, so a damaged entry is never unmarshalled)."""
    raw = load(kind, key)
    if raw is None or not raw.startswith(_DATA_TAG):
        return None
    body = memoryview(raw)[len(_DATA_TAG):]
    digest, payload = bytes(body[:_DATA_DIGEST]), body[_DATA_DIGEST:]
    if hashlib.blake2b(payload, digest_size=_DATA_DIGEST).digest() != digest:
        return None
    try:
        return marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None


def store_data(kind: str, key: str, value: Any) -> None:
    """Keep plain data (dicts, lists, tuples, texts, bytes, numbers, None) in marshal's form, which reads
    back two to three times faster than JSON. Equal texts are written once (marshal
    refers back to an object it has written), so they are one object again when read:
    100,000 products' field names and repeated values take their memory once."""
    payload = marshal.dumps(_shared(value, {}))
    store(kind, key, _DATA_TAG + hashlib.blake2b(payload, digest_size=_DATA_DIGEST).digest()
          + payload)


def _shared(value: Any, texts: dict[str, str]) -> Any:
    """``value`` with each text that occurs more than once the one object."""
    if isinstance(value, str):
        return texts.setdefault(value, value)
    if isinstance(value, dict):
        return {_shared(k, texts): _shared(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_shared(v, texts) for v in value]
    if isinstance(value, tuple):
        return tuple(_shared(v, texts) for v in value)
    return value
