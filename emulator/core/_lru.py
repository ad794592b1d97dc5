"""The one bounded cache every keep-for-repeats uses: most recently used kept, bounded by
count and, where values have a size, by bytes. Thread-safe (image work runs in pools)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedLRU(Generic[V]):
    def __init__(self, max_entries: int, max_bytes: int | None = None,
                 size: Callable[[V], int] | None = None,
                 max_item_bytes: int | None = None) -> None:
        """``size`` measures a value for ``max_bytes``; a value over ``max_item_bytes``
        (default: ``max_bytes``) is not kept at all."""
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.max_item_bytes = max_bytes if max_item_bytes is None else max_item_bytes
        self._size = size or (lambda value: 0)
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """The bytes of the values kept, as ``size`` measures them."""
        return self._bytes

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: Hashable, value: V) -> None:
        size = self._size(value)
        if self.max_item_bytes is not None and size > self.max_item_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += size
            while len(self._items) > self.max_entries or (
                    self.max_bytes is not None and self._bytes > self.max_bytes):
                _, old = self._items.popitem(last=False)
                self._bytes -= self._size(old)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
