"""Per-folder request quotas, for emulating the vendors' rate limits when switched on."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quota:
    requests: int
    seconds: float


class RateLimiter:
    """Fixed-window counters per key; memory bounded by ``max_keys`` (least recent dropped)."""

    def __init__(self, quotas: tuple[Quota, ...], *, max_keys: int = 10_000, clock=time.monotonic):
        self._quotas = quotas
        self._max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, list[list[float]]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self._clock()
        windows = self._windows.pop(key, None) or [[now, 0] for _ in self._quotas]
        self._windows[key] = windows
        if len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)
        for window, quota in zip(windows, self._quotas, strict=True):
            if now - window[0] >= quota.seconds:
                window[0], window[1] = now, 0
        if any(window[1] >= quota.requests for window, quota in zip(windows, self._quotas, strict=True)):
            return False
        for window in windows:
            window[1] += 1
        return True
