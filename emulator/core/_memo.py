"""Rendered answers kept for repeats: a load test sends the same request again and again.

An answer is a pure function of the request and the fixture set when the fixtures' clock is
frozen and no runtime stub answered, so its rendered bytes can be served again. Bounded by
count and by bytes; dropped whole when the fixture set is swapped (a reload).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

#: Emulator decision: at most 512 rendered answers, 16 MiB in all, are kept.
MEMO_ENTRIES = 512
MEMO_BYTES = 16 * 1024 * 1024


class RenderMemo:
    def __init__(self, entries: int = MEMO_ENTRIES, max_bytes: int = MEMO_BYTES) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._store: object | None = None
        self._lock = threading.Lock()

    def _for(self, store: object) -> None:
        """Forget everything rendered from another fixture set."""
        if store is not self._store:
            self._items.clear()
            self._bytes, self._store = 0, store

    def get(self, store: object, key: Hashable) -> bytes | None:
        with self._lock:
            self._for(store)
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, store: object, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return  # one huge answer would push out everything else
        with self._lock:
            self._for(store)
            if key in self._items:
                return
            self._items[key] = body
            self._bytes += len(body)
            while len(self._items) > self.entries or self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
