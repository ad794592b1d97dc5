"""Rendered answers kept for repeats: a load test sends the same request again and again.

An answer is a pure function of the request and the fixture set when the fixtures' clock is
frozen and no runtime stub answered, so its rendered bytes can be served again. Bounded by
count and by bytes; dropped whole when the fixture set is swapped (a reload).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from ._lru import BoundedLRU

#: Emulator decision: at most 512 rendered answers, 16 MiB in all, are kept.
MEMO_ENTRIES = 512
MEMO_BYTES = 16 * 1024 * 1024


class RenderMemo:
    def __init__(self, entries: int = MEMO_ENTRIES, max_bytes: int = MEMO_BYTES) -> None:
        # one huge answer would push out everything else: an eighth of the bytes at most
        self._items: BoundedLRU[bytes] = BoundedLRU(entries, max_bytes, size=len,
                                                    max_item_bytes=max_bytes // 8)
        self._store: object | None = None
        self._lock = threading.Lock()

    def _for(self, store: object) -> None:
        """Forget everything rendered from another fixture set (the lock held)."""
        if store is not self._store:
            self._items.clear()
            self._store = store

    def get(self, store: object, key: Hashable) -> bytes | None:
        with self._lock:
            self._for(store)
            return self._items.get(key)

    def put(self, store: object, key: Hashable, body: bytes) -> None:
        with self._lock:
            self._for(store)
            self._items.put(key, body)
