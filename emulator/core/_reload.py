"""Hot reload: fixture changes are picked up while serving, checked, then swapped in whole.

A background task polls the fixture files' sizes and modification times (no dependency, and
it works on every file system, bind mounts included); a reload can also be asked for. The
new set is loaded and validated off the event loop, then replaces ``Services.store``
in one assignment, so a request sees either the old set or the new one, never a mix. A
broken file keeps the last good set; the error is logged and reported by :attr:`status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import Any

from ._fixtures import FILES, IMAGES_DIR, FixtureError, FixtureStore, load_fixtures
from ._services import Services

log = logging.getLogger(__name__)

#: Emulator decision: fixture files are checked for changes once a second.
DEFAULT_INTERVAL_S = 1.0

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(directory: Path) -> Snapshot:
    """(name, size, mtime) of every fixture file and image; a change in any is a change."""
    paths = [directory / name for name in FILES]
    images = directory / IMAGES_DIR
    if images.is_dir():
        paths += sorted(p for p in images.iterdir() if p.is_file())
    out = []
    for path in paths:
        with contextlib.suppress(OSError):
            stat = path.stat()
            out.append((str(path.relative_to(directory)), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def digest(directory: Path) -> str:
    """The SHA-256 of the fixture set's content (every file's name and bytes): replicas
    serving the same set report the same digest, so drift shows."""
    paths = [directory / name for name in FILES]
    images = directory / IMAGES_DIR
    if images.is_dir():
        paths += sorted(p for p in images.iterdir() if p.is_file())
    total = hashlib.sha256()
    for path in paths:
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            name = str(path.relative_to(directory)).encode()
            total.update(len(name).to_bytes(4, "big") + name)
            total.update(hashlib.sha256(data).digest())
    return total.hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _load_warm(directory: Path) -> FixtureStore:
    """Load the fixtures and fingerprint the catalogs' pictures, all before the swap."""
    store = load_fixtures(directory)
    store.warm()
    return store


class FixtureReloader:
    def __init__(self, engine: Services, directory: Path,
                 interval_s: float | None = DEFAULT_INTERVAL_S) -> None:
        self.engine = engine
        self.directory = Path(directory)
        self.interval_s = interval_s
        self.generation = 1
        self.loaded_at = _now()
        self.error: FixtureError | None = None
        self.failed_at: str | None = None
        self._seen: Snapshot | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        #: the content digest of the set being served (see :func:`digest`)
        self.digest = ""

    async def _snapshot(self) -> Snapshot:
        return await self.engine.control.run(snapshot, self.directory)

    async def start(self) -> None:
        """Remember the files as loaded at start-up; poll them if an interval is set."""
        self._seen = await self._snapshot()
        self.digest = await self.engine.control.run(digest, self.directory)
        if self.interval_s:
            self._task = asyncio.create_task(self._watch(), name="fixture-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        interval_s = self.interval_s or DEFAULT_INTERVAL_S  # started only when it is set
        while True:
            await asyncio.sleep(interval_s)
            try:
                if await self._snapshot() != self._seen:
                    await self.reload()
            except Exception:  # the watcher must outlive any one failure
                log.exception("fixture watch failed")

    async def reload(self) -> bool:
        """Load, validate and swap in the fixtures; False (and the error kept) if broken."""
        async with self._lock:
            self._seen = await self._snapshot()
            try:
                store = await self.engine.control.run(_load_warm, self.directory)
            except FixtureError as exc:
                self.error, self.failed_at = exc, _now()
                log.error("fixtures not reloaded, still serving generation %d: %s",
                          self.generation, exc.located(self.directory))
                return False
            self.engine.store = store
            self.digest = await self.engine.control.run(digest, self.directory)
            self.generation += 1
            self.loaded_at, self.error, self.failed_at = _now(), None, None
            log.info("fixtures reloaded from %s (generation %d)", self.directory, self.generation)
            return True

    @property
    def status(self) -> dict[str, Any]:
        store = self.engine.store
        error = None if self.error is None else {
            "file": self.error.file, "place": self.error.place, "reason": self.error.reason,
            "message": self.error.located(self.directory), "at": self.failed_at}
        return {
            "directory": str(self.directory),
            "digest": self.digest,
            "generation": self.generation,
            "loaded_at": self.loaded_at,
            "watching": self._task is not None,
            "interval_s": self.interval_s,
            "documents": len(store.documents),
            "image_rules": len(store.rules.image_rules),
            "query_rules": len(store.rules.query_rules),
            "urls": len(store.urls),
            "error": error,
        }
