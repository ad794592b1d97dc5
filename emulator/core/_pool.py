"""The thread pools for work that must not run on the event loop: the work pool (decoding
and fingerprinting images, parsing and decoding large bodies, digesting them, catalog work)
and the control pool (reloads, warm-up, explain, journal listings, admin bodies), so the
control plane's long jobs never queue vendor calls behind them.

Owned by the running emulator: started with it, shut down with it (never made at import
time), so a stopped emulator leaves no threads behind.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

#: Emulator decision: two threads, one a core of the machines it is built for; so at most
#: two large buffers (a decoded photo, a parsed 8 MiB body) are being worked on at once.
POOL_THREADS = 2
#: Emulator decision: two threads for the control plane: a reload or the warm-up may hold
#: one for seconds, and an explain or a journal listing still gets the other.
CONTROL_THREADS = 2

T = TypeVar("T")


class WorkPool:
    def __init__(self, threads: int = POOL_THREADS, name: str = "emulator-work") -> None:
        self.threads, self.name = threads, name
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.threads,
                                                thread_name_prefix=self.name)

    def close(self) -> None:
        """Stop taking work; queued work is dropped, running work finishes on its own."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in the pool (started on first use if the owner has not yet)."""
        self.start()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(work, *args))
