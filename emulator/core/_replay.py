"""Answers kept for repeated requests: a load test sends the same request again and again.

An answer is a pure function of the request and the state (the fixture set, the runtime
stubs and faults, the clock when frozen), so a request that arrives again byte for byte
can be answered with what the first one produced, without being parsed, decoded or
rendered again. The key is the raw request (:class:`RequestKey`: a hash of part of it,
then a comparison of every byte, so two requests never share an answer by chance); the
state is a :class:`StateVersion`, and a change of it drops every kept answer at once.

What a repeat still costs is what it must: one journal entry, its quotas counted again,
and the full path whenever a runtime fault could target it (see the call pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._journal import PreparedEntry
from ._lru import BoundedLRU
from ._match import Match
from ._ratelimit import RateLimiter

#: Emulator decision: at most 1,024 kept answers and 64 MiB in all; one answer may take an
#: eighth of that (a page of 3 MiB images' journal records is far less; a 3 MiB request is
#: kept as its key, so such a repeat holds its body twice).
REPLAY_ENTRIES = 1024
REPLAY_BYTES = 64 * 1024 * 1024
#: What an entry costs beyond the bytes counted (the objects around them).
ENTRY_OVERHEAD = 512
#: How much of a body its key's hash reads: this much at its start, middle and end.
HASHED_SPAN = 4096


class RequestKey:
    """A raw request as a dictionary key: ``head`` (what is not the body, hashable) and
    ``body``. Its hash reads the body's length and three spans of it (hashing 130 KB would
    take 30 us a repeat); equality compares every byte, so two requests that hash alike
    never share an answer, they only share a bucket."""

    __slots__ = ("_hash", "body", "head")

    def __init__(self, head: tuple[Any, ...], body: bytes) -> None:
        self.head, self.body = head, body
        middle = len(body) // 2
        self._hash = hash((head, len(body), body[:HASHED_SPAN],
                           body[middle:middle + HASHED_SPAN], body[-HASHED_SPAN:]))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, RequestKey) and self._hash == other._hash
                and self.head == other.head and self.body == other.body)

    @property
    def nbytes(self) -> int:
        """The bytes it holds (the body), for the cache's bound."""
        return len(self.body)


@dataclass(frozen=True, slots=True)
class StateVersion:
    """What every kept answer depends on besides its request: the fixture set (the object
    itself, swapped whole by a reload) and the versions of the runtime stubs and faults,
    which change with every write (tenant resets included)."""

    store: object
    stubs: int
    faults: int

    def same(self, other: StateVersion) -> bool:
        return (self.store is other.store and self.stubs == other.stubs
                and self.faults == other.faults)


@dataclass(frozen=True, slots=True)
class Replay:
    """What a call answered and what its repeats must do again.

    ``response``: the transport's answer in a form it can send again; ``digest``: the
    request-id digest; ``tenant``, ``lookup``, ``image``, ``match``: what the call noted;
    ``entry``: its journal entry, ready for each repeat's time and latency; ``counted``:
    the quotas the call took one from, each taken again."""

    response: Any
    size: int
    digest: bytes
    tenant: str | None
    entry: PreparedEntry
    lookup: dict[str, Any] | None
    image: dict[str, Any] | None
    match: Match | None
    counted: tuple[tuple[RateLimiter, str], ...]


def _size(replay: Replay) -> int:
    return replay.size


class ReplayCache:
    """Kept answers by raw request, for one state version at a time. Used on the event
    loop only; bounded by count and bytes (the key's bytes count too)."""

    def __init__(self, max_entries: int = REPLAY_ENTRIES, max_bytes: int = REPLAY_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: BoundedLRU[Replay] = BoundedLRU(
            max_entries, max_bytes, size=_size, max_item_bytes=max_bytes // 8)
        self._version: StateVersion | None = None
        self.hits = self.misses = self.stored = self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def _at(self, version: StateVersion) -> None:
        """Forget every answer of another state."""
        if self._version is None or not self._version.same(version):
            if len(self._items):
                self.dropped += len(self._items)
                self._items.clear()
            self._version = version

    def get(self, key: RequestKey, version: StateVersion) -> Replay | None:
        self._at(version)
        found = self._items.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: RequestKey, version: StateVersion, replay: Replay) -> None:
        self._at(version)
        self._items.put(key, replay)
        self.stored += 1

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self._items), "bytes": self._items.nbytes,
                "max_entries": self.max_entries, "max_bytes": self.max_bytes,
                "hits": self.hits, "misses": self.misses, "stored": self.stored,
                "dropped": self.dropped}
