"""The services every vendor shares, apart from any vendor's decisions."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from typing import TypeVar

from ._faults import FaultBook
from ._fingerprint import Fingerprint, FingerprintCache, NotAnImage
from ._fixtures import FixtureStore
from ._journal import Journal
from ._limits import OFFLOAD_BYTES
from ._placeholder import IMAGES_PATH
from ._pool import CONTROL_THREADS, WorkPool
from ._replay import ReplayCache
from ._served import own_image
from ._store import MemoryStore, StateStore
from ._stubs import StubBook, StubHit, StubQuery
from ._thumbnails import Thumbnails

#: Images under the offload size are hashed on the event loop to look for a cached
#: fingerprint.
INLINE_DIGEST_BYTES = OFFLOAD_BYTES
T = TypeVar("T")


class Services:
    """What every vendor shares: the fixtures, the journal, the runtime stubs and faults,
    the work pool, image fingerprints, the answers kept for repeats and the public base URL.
    It makes no decision of any vendor's."""

    def __init__(self, store: FixtureStore, journal: Journal | None = None,
                 pool: WorkPool | None = None, state: StateStore | None = None) -> None:
        self.store = store
        #: where the control plane's state lives (this process's memory by default)
        self.state = state or (journal.store if journal is not None else MemoryStore())
        self.journal = journal or Journal(store=self.state)
        #: runtime stubs and faults, set through the admin API
        self.stubs = StubBook(self.state)
        #: answers kept for requests that arrive again (the call pipeline's)
        self.replays = ReplayCache()
        self.faults = FaultBook(self.state)
        #: Emulator decision: served image URLs start here; the server sets it to its own
        #: bound address unless a public base URL is configured.
        self.public_base_url = "http://127.0.0.1:8080"
        #: the work pool, which its owner (the running emulator) starts and shuts down
        self.pool = pool or WorkPool()
        #: the control plane's pool (reloads, warm-up, explain, listings), owned the same way
        self.control = WorkPool(CONTROL_THREADS, name="emulator-control")
        self.fingerprints = FingerprintCache()
        #: the journal's query-image thumbnails, drawn in the control pool
        self.thumbnails = Thumbnails(self.control, self.journal.size)

    def warm(self) -> None:
        """What start-up leaves for later: the catalogs' picture fingerprints. CPU work,
        for a worker thread once the server is serving."""
        self.store.warm()

    def public_url(self, path: str) -> str:
        """An absolute URL for one of the emulator's own paths (a served image, say)."""
        return self.public_base_url.rstrip("/") + path

    def now(self) -> dt.datetime:
        return self.store.settings.clock or dt.datetime.now(dt.timezone.utc)

    @property
    def clock_frozen(self) -> bool:
        """Whether :meth:`now` is the fixtures' fixed time (an answer that tells the time
        is then the same on every repeat)."""
        return self.store.settings.clock is not None

    async def in_image_pool(self, work: Callable[..., T], *args) -> T:
        """Run image work (drawing, resizing) in the work pool, off the event loop."""
        return await self.pool.run(work, *args)

    async def fingerprint(self, data: bytes) -> Fingerprint:
        """Decode off the event loop, in the work pool (so at most two decode buffers exist
        at once); a
        repeated image is found by its digest and not decoded again. Raises NotAnImage.

        A small image's digest is taken here, on the loop (about 0.1 ms for 256 KiB), so a
        repeated one costs no trip to the pool; a large one is hashed in the pool too."""
        if len(data) <= INLINE_DIGEST_BYTES:
            digest = hashlib.sha256(data).hexdigest()
            found = self.fingerprints.cached(digest)
            if found is not None:
                return found
            return await self.in_image_pool(self.fingerprints.fingerprint, data, digest)
        return await self.in_image_pool(self.fingerprints.fingerprint, data)

    def _own_fingerprint(self, url: str) -> Fingerprint | None:
        base = self.public_base_url.rstrip("/")
        if not url.startswith(base + IMAGES_PATH + "/"):
            return None
        served = own_image(self.store.image_dir, url[len(base):])
        if served is None:
            return None
        try:
            return self.fingerprints.fingerprint(served.body)
        except NotAnImage:
            return None

    async def own_fingerprint(self, url: str) -> Fingerprint | None:
        """The fingerprint of an image the emulator itself serves at ``url`` (a result's
        placeholder or fixture file): drawn or read, never fetched; None for other URLs."""
        if not url.startswith(self.public_base_url.rstrip("/") + IMAGES_PATH + "/"):
            return None  # most URLs: no trip to the pool
        return await self.in_image_pool(self._own_fingerprint, url)

    def peek(self, query: StubQuery) -> StubHit | None:
        """The stub that would answer ``query``, its sequence left as it is (explain)."""
        return self.stubs.match(query, consume=False)
