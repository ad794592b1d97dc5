"""Runtime stubs: rules added while serving, in the fixture rules' format, for one tenant.

A stub matches like a fixture rule (an image by digest or look-alike, a URL, an image id,
a query text), within a tenant and optionally one vendor and one scope (a Yandex folder, a
Doofinder hashid). It answers with steps: one outcome, or a sequence ("first UNAVAILABLE,
then OK") for retry tests. Stubs are consulted before fixture rules; any adapter asks
:meth:`StubBook.match` with a plain :class:`StubQuery` and renders the step it gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._fingerprint import Fingerprint
from ._match import Match, Tier
from ._numbers import whole
from ._rules import Fault, normalize_text
from ._store import STUBS, BookFull, NotNow, RecordTaken, SharedBook, StateStore

#: Emulator decision: as in WireMock, priority 1 is the highest and 5 the default; among
#: stubs of equal priority a tenant's own come before global ones, then the newest first.
DEFAULT_PRIORITY = 5
#: Emulator decision: at most 10,000 stubs at once, over all tenants (memory stays bounded).
MAX_STUBS = 10_000


class StubError(ValueError):
    """A stub that cannot be added: where in its JSON, and why."""

    def __init__(self, place: str, reason: str) -> None:
        super().__init__(f"{place}: {reason}")
        self.place, self.reason = place, reason


class StubConflict(StubError):
    """The stub's id is taken, or the book is full."""


class StubClaim(Exception):
    """Serving found ``stub`` and its step needs the store's answer (a round trip): the
    call pipeline takes the step (:meth:`StubBook.take`) and runs the operation again."""

    def __init__(self, stub: Stub) -> None:
        super().__init__(stub.id)
        self.stub = stub


#: A call's steps taken so far: stub id -> the step's number (None: the stub is used up).
Taken = dict[str, int | None]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the vendor whose adapter serves the call, and the tenant."""

    vendor: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class StubQuery:
    """What a request looks up, in plain terms; the fields its operation has are set."""

    caller: Caller = Caller()
    scope: str | None = None  # where in the vendor's API (a folder, a search engine)
    key: bytes | None = None  # the image's key (its SHA-256, truncated)
    fingerprint: Fingerprint | None = None
    url: str | None = None
    alias: str | None = None  # an image id the vendor issues
    text: str | None = None


@dataclass(frozen=True, slots=True)
class StubStep:
    """One answer of a stub: result ids (in the vendor's catalog), a fault, a delay."""

    results: tuple[str, ...] | None = None
    fault: Fault | None = None
    delay_ms: int = 0


@dataclass
class Stub:
    id: str
    name: str
    steps: tuple[StubStep, ...]
    raw: dict[str, Any]  # as the client sent it, for listing
    tenant: str | None = None
    vendor: str | None = None
    scope: str | None = None
    priority: int = DEFAULT_PRIORITY
    repeat: bool = False  # after the last step: start again (True) or stay on it
    times: int | None = None  # answers at most this many requests, then no longer matches
    key: bytes | None = None
    fingerprint: Fingerprint | None = None
    url: str | None = None
    alias: str | None = None
    text: str | None = None  # normalized
    hits: int = 0
    seq: int = 0

    @property
    def used_up(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def step(self, number: int | None = None) -> StubStep:
        """The step the ``number``-th matching request gets (0 the first; None: the next)."""
        n = self.hits if number is None else number
        if n < len(self.steps):
            return self.steps[n]
        return self.steps[n % len(self.steps) if self.repeat else -1]

    def applies_to(self, query: StubQuery) -> bool:
        """Tenant, vendor and scope: whether the stub is there for this request at all."""
        return ((self.tenant is None or self.tenant == query.caller.tenant)
                and (self.vendor is None or query.caller.vendor is None
                     or self.vendor == query.caller.vendor)
                and (self.scope is None or self.scope == query.scope))

    def closeness(self, query: StubQuery) -> tuple[int, int | None] | None:
        """(0 exact or 1 look-alike, perceptual distance), or None when the stub's matcher
        does not match the query."""
        if self.text is not None:
            return (0, None) if query.text is not None and normalize_text(query.text) == self.text \
                else None
        if self.alias is not None and query.alias == self.alias:
            return 0, None
        if self.url is not None and query.url == self.url:
            return 0, None
        if self.key is not None and query.key == self.key:
            exact = query.fingerprint is not None and self.fingerprint is not None
            return 0, 0 if exact else None
        if self.fingerprint is not None and query.fingerprint is not None \
                and self.fingerprint.looks_like(query.fingerprint):
            return 1, self.fingerprint.distance(query.fingerprint)
        return None

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "id": self.id, "name": self.name, "tenant": self.tenant,
                "priority": self.priority, "hits": self.hits, "used_up": self.used_up}

    def to_record(self) -> dict[str, Any]:
        """What the store keeps of the stub: enough to make it again in any process."""
        fp = self.fingerprint
        return {"raw": self.raw, "id": self.id, "name": self.name, "tenant": self.tenant,
                "seq": self.seq, "scope": self.scope, "alias": self.alias,
                "key": self.key.hex() if self.key is not None else None,
                "fp": None if fp is None else [fp.sha256, fp.format, fp.width, fp.height,
                                               fp.dhash]}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Stub:
        fp = record["fp"]
        stub = stub_from_json(record["raw"], record["tenant"],
                              key=bytes.fromhex(record["key"]) if record["key"] else None,
                              fp=Fingerprint(*fp) if fp else None, scope=record["scope"],
                              alias=record["alias"])
        stub.id, stub.name, stub.seq = record["id"], record["name"], record["seq"]
        return stub


@dataclass(frozen=True, slots=True)
class StubHit:
    stub: Stub
    step: StubStep
    match: Match


#: (result id, the stub's scope) -> whether the vendor's catalog has that id there.
CatalogCheck = Callable[[str, str | None], bool]


class StubBook(SharedBook):
    """Every runtime stub, of every tenant. ``catalogs`` maps a vendor to a check that a
    result id is in its catalog, within the stub's scope (each adapter registers its own).

    The stubs are kept here, as of :attr:`version`; the store has the truth (its records,
    and each stub's count of answered calls), and a change made by another process reloads
    them (:meth:`reload`)."""

    book = STUBS

    def __init__(self, store: StateStore | None = None) -> None:
        self.catalogs: dict[str, CatalogCheck] = {}
        self._stubs: dict[str, Stub] = {}
        super().__init__(store)


    async def add(self, stub: Stub) -> Stub:
        """Raises StubError for a duplicate id, too many stubs or an unknown result id."""
        if len(self._stubs) >= MAX_STUBS:
            raise StubConflict("$", f"at most {MAX_STUBS} stubs at once: delete some first")
        if stub.id and stub.id in self._stubs:
            raise StubConflict("$.id", f"a stub with id {stub.id!r} exists")
        self._check_results(stub)
        stub.seq = await self.store.next_number(STUBS)
        stub.id = stub.id or f"stub-{stub.seq}"
        stub.name = stub.name or stub.id
        try:
            versions = await self.store.add(STUBS, stub.id, stub.to_record(), MAX_STUBS)
        except RecordTaken:
            raise StubConflict("$.id", f"a stub with id {stub.id!r} exists") from None
        except BookFull:
            raise StubConflict("$", f"at most {MAX_STUBS} stubs at once: delete some first") \
                from None
        await self._applied(versions, lambda: self._stubs.__setitem__(stub.id, stub))
        return stub


    async def reload(self, force: bool = False) -> None:
        """Every stub again from the store (another process changed them)."""
        async with self._lock:
            snapshot = await self.store.snapshot(STUBS)
            if snapshot.version <= self._version and not force:
                return  # nothing new (or older than our own write, made since)
            old = self._stubs
            stubs = {}
            for record in sorted(snapshot.records, key=lambda r: r["seq"]):
                stub = Stub.from_record(record)
                if stub.id in old and not force:
                    stub.hits = old[stub.id].hits
                stubs[stub.id] = stub
            self._stubs, self._version = stubs, snapshot.version
            self.store.applied(STUBS, self._version)

    def _check_results(self, stub: Stub) -> None:
        """A stub for one vendor names ids of its catalog; a stub for every vendor, ids
        that some vendor's catalog has (the others answer without them)."""
        vendors = [stub.vendor] if stub.vendor else list(self.catalogs)
        checks = [self.catalogs[v] for v in vendors if v in self.catalogs]
        for i, step in enumerate(stub.steps):
            for j, doc_id in enumerate(step.results or ()):
                if checks and not any(known(doc_id, stub.scope) for known in checks):
                    place = f"$.sequence[{i}].results[{j}]" if "sequence" in stub.raw \
                        else f"$.results[{j}]"
                    where = f"the {vendors[0]} catalog" if stub.vendor else \
                        "any catalog (" + ", ".join(vendors) + ")"
                    raise StubError(place, f"no document {doc_id!r} in {where}")

    def get(self, stub_id: str, tenant: str | None = None) -> Stub | None:
        stub = self._stubs.get(stub_id)
        return stub if stub is not None and (tenant is None or stub.tenant == tenant) else None

    async def remove(self, stub_id: str, tenant: str | None = None) -> bool:
        if self.get(stub_id, tenant) is None:
            return False
        return await self._remove([stub_id]) > 0

    async def _remove(self, ids: list[str]) -> int:
        if not ids:
            return 0
        removed, versions = await self.store.remove(STUBS, ids)

        def drop() -> None:
            for stub_id in ids:
                self._stubs.pop(stub_id, None)

        if removed:
            await self._applied(versions, drop)
        return removed

    def listed(self, tenant: str | None = None) -> list[Stub]:
        """A tenant's stubs (all stubs with no tenant), oldest first."""
        return [s for s in self._stubs.values() if tenant is None or s.tenant == tenant]

    async def counted(self, stubs: list[Stub]) -> list[Stub]:
        """``stubs`` with the calls each has answered, over every process."""
        hits = await self.store.counters(STUBS, [s.id for s in stubs])
        for stub in stubs:
            stub.hits = max(stub.hits, hits.get(stub.id, 0))
        return stubs

    async def clear(self, tenant: str | None = None) -> None:
        await self._remove([s.id for s in self.listed(tenant)])

    def visible(self, query: StubQuery) -> list[Stub]:
        """The stubs this caller could be answered by (its tenant's and global ones)."""
        tenant = query.caller.tenant
        return [s for s in self._stubs.values() if s.tenant is None or s.tenant == tenant]

    def _ranked(self, query: StubQuery,
                taken: Taken | None = None) -> list[tuple[Stub, tuple[int, int | None]]]:
        found = []
        for stub in self._stubs.values():
            if (stub.used_up and (taken is None or stub.id not in taken)) \
                    or not stub.applies_to(query):
                continue
            close = stub.closeness(query)
            if close is not None:
                found.append(((stub.priority, close[0], stub.tenant is None, -stub.seq),
                              stub, close))
        found.sort(key=lambda f: f[0])
        return [(stub, close) for _, stub, close in found]

    def match(self, query: StubQuery, *, consume: bool = True,
              taken: Taken | None = None) -> StubHit | None:
        """The stub that answers this query, if any; ``consume`` takes its step (each step
        of a sequence is taken once, over every process sharing the store). ``taken``: the
        steps this call has taken already; a step the store must be asked for raises
        :class:`StubClaim`."""
        for stub, close in self._ranked(query, taken):  # a step taken counts, used up or not
            if not consume:
                return StubHit(stub, stub.step(), Match(Tier.STUB, stub.name, close[1]))
            if taken is not None and stub.id in taken:
                number = taken[stub.id]
            else:
                try:
                    number = self.store.take_now(STUBS, stub.id, stub.times)
                except NotNow:
                    raise StubClaim(stub) from None
                self._note(stub, number)
            if number is None:
                continue
            return StubHit(stub, stub.step(number), Match(Tier.STUB, stub.name, close[1]))
        return None

    def _note(self, stub: Stub, number: int | None) -> None:
        if number is None:  # used up, by calls of other processes
            stub.hits = max(stub.hits, stub.times or 0)
        else:
            stub.hits = max(stub.hits, number + 1)

    async def take(self, stub: Stub) -> int | None:
        """The number of the step the call gets (None: the stub is used up)."""
        number = await self.store.take(STUBS, stub.id, stub.times)
        self._note(stub, number)
        return number


def fault_from_json(raw: dict[str, Any]) -> Fault:
    """An ``error`` object of a stub or fault: its vendor fields (checked by the admin
    API's schema) and its ``message``."""
    return Fault.named({k: whole(v) if isinstance(v, float) else v
                        for k, v in raw.items() if k != "message" and v is not None},
                       raw.get("message", ""))


def _step(raw: dict[str, Any]) -> StubStep:
    results = raw.get("results")
    return StubStep(tuple(results) if results is not None else None,
                    fault_from_json(raw["error"]) if "error" in raw else None,
                    int(raw.get("delay_ms", 0)))


def stub_from_json(raw: dict[str, Any], tenant: str | None, *, key: bytes | None = None,
                   fp: Fingerprint | None = None, scope: str | None = None,
                   alias: str | None = None) -> Stub:
    """A stub from its JSON (already checked against the admin API's schema); the caller
    has resolved its image (``image``, ``image_base64`` or ``sha256``) or URL to ``key``
    and ``fp``, and read its vendor's scope and image id fields into ``scope`` and
    ``alias``."""
    steps = tuple(_step(s) for s in raw["sequence"]) if "sequence" in raw else (_step(raw),)
    for i, step in enumerate(steps):
        if step.results is None and step.fault is None and not step.delay_ms:
            place = f"$.sequence[{i}]" if "sequence" in raw else "$"
            raise StubError(place, "a stub answers results, an error or a delay")
    return Stub(
        id=raw.get("id", ""), name=raw.get("name", ""), steps=steps, raw=raw, tenant=tenant,
        vendor=raw.get("vendor"), scope=scope,
        priority=int(raw.get("priority", DEFAULT_PRIORITY)), repeat=raw.get("repeat", False),
        times=whole(raw.get("times")), key=key, fingerprint=fp, url=raw.get("url"),
        alias=alias,
        text=normalize_text(raw["text"]) if "text" in raw else None)
