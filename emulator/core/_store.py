"""Where the control plane's state lives: one small interface, two stores behind it.

The books (runtime stubs, faults, quotas, the journal) keep what they serve from in this
process and ask a :class:`StateStore` for what must agree across processes: their
records and version, counters that move once per call (a stub's step, a fault's ``times``),
quota windows and the journal. :class:`MemoryStore` (the default) keeps it all in this
process; ``emulator.state.RedisStore`` keeps it in Redis (or Valkey), shared by every
process and replica that names the same database. The books never know which they have.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._journal import JournalEntry

#: The books whose records a store keeps.
STUBS, FAULTS = "stubs", "faults"
#: Emulator decision: at most 10,000 quota keys are tracked at once, the least recent
#: dropped (a new key starts a fresh window).
MAX_QUOTA_KEYS = 10_000


class StoreUnavailable(Exception):
    """The state store cannot be reached (or answers too slowly): every vendor answers its
    own "unavailable" error, the admin API says this, ``/readyz`` is not ready."""


class NotNow(Exception):
    """The store cannot answer without a round trip: ask again with ``await``."""


class RecordTaken(Exception):
    """A record with that id exists."""


class BookFull(Exception):
    """The book holds as many records as it may."""


@dataclass(frozen=True, slots=True)
class Quota:
    requests: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A book's records and the version they are at, read at one instant."""

    version: int
    records: tuple[dict[str, Any], ...]


#: What a book is told when another process changed it (it reloads from the store); with
#: True, the store (re)connected and the book must read everything again.
ChangeListener = Callable[[bool], Awaitable[None]]


class StateStore:
    """The interface every store implements. ``shared``: whether other processes see the
    same state (the control plane refuses writes it cannot share, see ``_workers``)."""

    shared = False
    #: whether journal entries are kept as JSON (``journal_add`` is then given the entry's)
    keeps_json = False
    #: how the store is named in logs and the admin API (never a password)
    name = "memory"

    # -- lifecycle and health --------------------------------------------------------
    async def start(self) -> None:
        """Connect, and start following changes made elsewhere."""

    async def close(self) -> None:
        """Disconnect."""

    @property
    def problem(self) -> str | None:
        """What is wrong with the store now (None: it answers)."""
        return None

    def on_health(self, listener: Callable[[str | None], None]) -> None:
        """``listener`` hears of every change of :attr:`problem` (the new one; None: the
        store answers again). A store that cannot fail never calls it."""

    def check(self) -> None:
        """Raises StoreUnavailable when the store is known to be down: the hot path's check,
        with no round trip."""
        if self.problem is not None:
            raise StoreUnavailable(self.problem)

    async def wait_connected(self, timeout: float) -> bool:
        """Whether the store answers, waiting up to ``timeout`` seconds for it."""
        return True

    async def announce(self) -> None:
        """Tell the other replicas about this one now (its fixture digest, say)."""

    def listen(self, book: str, listener: ChangeListener) -> None:
        """``listener`` runs when another process changes ``book`` (or the store came back)."""

    async def info(self) -> dict[str, Any]:
        """What the admin API shows of the store: kind, health, replicas."""
        return {"backend": self.name, "shared": self.shared, "problem": self.problem}

    def applied(self, book: str, version: int) -> None:
        """The book serves ``version`` now (the store tells other replicas)."""

    async def wait_applied(self, book: str, version: int) -> None:
        """Returns once every live replica serves ``version`` of ``book`` (or a bounded
        time has passed)."""

    # -- records of a book -----------------------------------------------------------
    def version(self, book: str) -> int:
        """The version of ``book`` this process serves (no round trip)."""
        raise NotImplementedError

    async def snapshot(self, book: str) -> Snapshot:
        raise NotImplementedError

    async def next_number(self, book: str) -> int:
        """1, 2, 3, ... over every process: a record's order and its default id."""
        raise NotImplementedError

    async def add(self, book: str, record_id: str, record: dict[str, Any],
                  limit: int) -> tuple[int, int]:
        """Stores a new record; returns the book's version before and after. Raises
        RecordTaken or BookFull."""
        raise NotImplementedError

    async def remove(self, book: str, record_ids: Sequence[str]) -> tuple[int, tuple[int, int]]:
        """(records removed, the book's version before and after); their counters go with
        them."""
        raise NotImplementedError

    # -- counters --------------------------------------------------------------------
    def take_now(self, book: str, record_id: str, limit: int | None) -> int | None:
        """:meth:`take` without a round trip, or NotNow."""
        raise NotNow()

    async def take(self, book: str, record_id: str, limit: int | None) -> int | None:
        """Atomically: the record's counter moves on by one and its previous value is
        returned (0 for the first call), unless it is at ``limit`` (None: used up)."""
        raise NotImplementedError

    async def bump(self, book: str, record_id: str, name: str) -> None:
        """A plain counter of a record (a fault's hits) moves on by one."""
        raise NotImplementedError

    async def counters(self, book: str, record_ids: Sequence[str],
                       name: str = "n") -> dict[str, int]:
        raise NotImplementedError

    # -- quotas ----------------------------------------------------------------------
    async def allow(self, scope: str, key: str, quotas: tuple[Quota, ...]) -> bool:
        """Fixed windows, each opened by the first call in it: whether one more call fits
        every quota (and it is counted), over every process sharing the store."""
        raise NotImplementedError

    async def forget_quota(self, scope: str) -> None:
        """Every window of ``scope`` goes (a fault's quota, when the fault is removed)."""
        raise NotImplementedError

    # -- the journal -----------------------------------------------------------------
    async def journal_add(self, entry: JournalEntry, size: int,
                          numbered: Callable[[JournalEntry], None],
                          encoded: str | None = None) -> None:
        """Keeps the entry among the last ``size``; ``numbered`` gets it with its sequence
        number once it has one (or as it is, if it could not be kept). The entry is the
        call's own, made for this call: the store numbers it in place (:func:`number`).
        ``encoded``: the entry as JSON without ``seq``, for a store that ``keeps_json``."""
        raise NotImplementedError

    async def journal_entries(self) -> list[JournalEntry]:
        raise NotImplementedError

    async def journal_clear(self, tenant: str | None) -> None:
        raise NotImplementedError


def number(entry: JournalEntry, seq: int) -> None:
    """Gives a new entry its sequence number. Emulator decision: in place, not as a copy
    (copying an entry cost a fifth of a repeated call): a store numbers an entry made for
    the one call it records, before anything else holds it."""
    object.__setattr__(entry, "seq", seq)


class Windows:
    """Fixed-window counters per key, in this process; bounded by ``max_keys``."""

    def __init__(self, quotas: tuple[Quota, ...], *, max_keys: int = MAX_QUOTA_KEYS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._quotas, self._max_keys, self._clock = quotas, max_keys, clock
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
        if any(window[1] >= quota.requests
               for window, quota in zip(windows, self._quotas, strict=True)):
            return False
        for window in windows:
            window[1] += 1
        return True


class MemoryStore(StateStore):
    """This process's own state: nothing to install, nothing shared (the default)."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._counters: dict[tuple[str, str, str], int] = {}
        self._numbers: dict[str, Any] = {}
        self._windows: dict[tuple[str, tuple[Quota, ...]], Windows] = {}
        self._journal: deque[JournalEntry] | None = None
        self._journal_seq = itertools.count(1)
        self._version = itertools.count(1)

    def version(self, book: str) -> int:
        return self._versions.get(book, 0)

    async def snapshot(self, book: str) -> Snapshot:
        return Snapshot(self.version(book), tuple(self._records.get(book, {}).values()))

    async def next_number(self, book: str) -> int:
        return next(self._numbers.setdefault(book, itertools.count(1)))

    def _changed(self, book: str) -> tuple[int, int]:
        before = self.version(book)
        self._versions[book] = after = next(self._version)
        return before, after

    async def add(self, book: str, record_id: str, record: dict[str, Any],
                  limit: int) -> tuple[int, int]:
        records = self._records.setdefault(book, {})
        if record_id in records:
            raise RecordTaken(record_id)
        if len(records) >= limit:
            raise BookFull(book)
        records[record_id] = record
        return self._changed(book)

    async def remove(self, book: str, record_ids: Sequence[str]) -> tuple[int, tuple[int, int]]:
        records = self._records.get(book, {})
        gone = [i for i in record_ids if records.pop(i, None) is not None]
        for key in [k for k in self._counters if k[0] == book and k[1] in gone]:
            del self._counters[key]
        return len(gone), self._changed(book) if gone else (self.version(book),) * 2

    def take_now(self, book: str, record_id: str, limit: int | None) -> int | None:
        key = (book, record_id, "n")
        taken = self._counters.get(key, 0)
        if limit is not None and taken >= limit:
            return None
        self._counters[key] = taken + 1
        return taken

    async def take(self, book: str, record_id: str, limit: int | None) -> int | None:
        return self.take_now(book, record_id, limit)

    async def bump(self, book: str, record_id: str, name: str) -> None:
        key = (book, record_id, name)
        self._counters[key] = self._counters.get(key, 0) + 1

    async def counters(self, book: str, record_ids: Sequence[str],
                       name: str = "n") -> dict[str, int]:
        return {i: self._counters.get((book, i, name), 0) for i in record_ids}

    async def allow(self, scope: str, key: str, quotas: tuple[Quota, ...]) -> bool:
        windows = self._windows.get((scope, quotas))
        if windows is None:
            windows = self._windows[(scope, quotas)] = Windows(quotas)
        return windows.allow(key)

    async def forget_quota(self, scope: str) -> None:
        for key in [k for k in self._windows if k[0] == scope]:
            del self._windows[key]

    async def journal_add(self, entry: JournalEntry, size: int,
                          numbered: Callable[[JournalEntry], None],
                          encoded: str | None = None) -> None:
        if self._journal is None or self._journal.maxlen != size:
            self._journal = deque(self._journal or (), maxlen=size)
        number(entry, next(self._journal_seq))
        self._journal.append(entry)
        numbered(entry)

    async def journal_entries(self) -> list[JournalEntry]:
        return list(self._journal or ())

    async def journal_clear(self, tenant: str | None) -> None:
        if self._journal is None:
            return
        kept = [] if tenant is None else [e for e in self._journal if e.tenant != tenant]
        self._journal.clear()
        self._journal.extend(kept)


class SharedBook:
    """What a book kept here and in a :class:`StateStore` (under ``book``) shares: its
    version, and how its own writes are applied here."""

    book = ""

    def __init__(self, store: StateStore | None) -> None:
        self.store = store or MemoryStore()
        self._version = 0
        self._lock = asyncio.Lock()
        self.store.listen(self.book, self.reload)

    @property
    def version(self) -> int:
        """Changes whenever any process sharing the store adds or removes a record."""
        return self._version

    async def reload(self, force: bool = False) -> None:
        """Every record again from the store (another process changed them)."""
        raise NotImplementedError

    async def _applied(self, versions: tuple[int, int], change: Callable[[], Any]) -> None:
        """Our own write took the book from ``versions[0]`` to ``versions[1]``: made here
        too when this process was at the first; else everything is read again."""
        before, after = versions
        if before == self._version:
            change()
            self._version = after
            self.store.applied(self.book, after)
        else:
            await self.reload()

