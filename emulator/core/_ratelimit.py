"""Request quotas, for emulating the vendors' rate limits when switched on, and faults'."""

from __future__ import annotations

import time
from collections.abc import Callable

from ._store import MAX_QUOTA_KEYS, Quota, StateStore, Windows

__all__ = ["Quota", "RateLimiter"]


class RateLimiter:
    """Fixed-window counters per key. With a ``store`` the windows are the store's (shared
    by every process on a shared store); without one they are this limiter's own, bounded
    by ``max_keys`` (least recent dropped)."""

    def __init__(self, quotas: tuple[Quota, ...], *, store: StateStore | None = None,
                 scope: str = "", max_keys: int = MAX_QUOTA_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quotas, self.scope, self._store = quotas, scope, store
        self._own = Windows(quotas, max_keys=max_keys, clock=clock) if store is None else None

    async def allow(self, key: str) -> bool:
        if self._own is not None:
            return self._own.allow(key)
        assert self._store is not None
        return await self._store.allow(self.scope, key, self.quotas)
