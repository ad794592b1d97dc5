"""Shared control-plane state: the Redis (or Valkey) store behind ``--state redis://...``.

The books in :mod:`emulator.core` talk to a :class:`~emulator.core.StateStore`; this package
is the one that keeps it in Redis, so every worker and replica serves the same stubs,
faults, quotas and journal. ``--state memory`` (the default) needs none of it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core import MemoryStore, StateStore

__all__ = ["open_store"]


def open_store(state: str, *, fixtures_digest: Callable[[], str] = lambda: "") -> StateStore:
    """The store a ``state`` setting names (the option table has checked it)."""
    if state == "memory":
        return MemoryStore()
    from ._redis import RedisStore  # only a Redis backend needs the client

    return RedisStore(state, fixtures_digest=fixtures_digest)
