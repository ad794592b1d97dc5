"""Runtime stubs: rules added while serving, in the fixture rules' format, for one tenant.

A stub matches like a fixture rule (an image by digest or look-alike, a URL, an image id,
a query text), within a tenant and optionally one vendor and one scope (a Yandex folder, a
Doofinder hashid). It answers with steps: one outcome, or a sequence ("first UNAVAILABLE,
then OK") for retry tests. Stubs are consulted before fixture rules; any adapter asks
:meth:`StubBook.match` with a plain :class:`StubQuery` and renders the step it gets.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._fingerprint import Fingerprint
from ._match import Match, Tier
from ._numbers import whole
from ._rules import Fault, normalize_text

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

    def step(self) -> StubStep:
        """The step the next matching request gets."""
        if self.hits < len(self.steps):
            return self.steps[self.hits]
        return self.steps[self.hits % len(self.steps) if self.repeat else -1]

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


@dataclass(frozen=True, slots=True)
class StubHit:
    stub: Stub
    step: StubStep
    match: Match


#: (result id, the stub's scope) -> whether the vendor's catalog has that id there.
CatalogCheck = Callable[[str, str | None], bool]


@dataclass
class StubBook:
    """Every runtime stub, of every tenant. ``catalogs`` maps a vendor to a check that a
    result id is in its catalog, within the stub's scope (each adapter registers its own)."""

    catalogs: dict[str, CatalogCheck] = field(default_factory=dict)
    _stubs: dict[str, Stub] = field(default_factory=dict)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    #: changes with every write (add, remove, clear): what answers were kept for
    version: int = 0

    def add(self, stub: Stub) -> Stub:
        """Raises StubError for a duplicate id, too many stubs or an unknown result id."""
        if len(self._stubs) >= MAX_STUBS:
            raise StubConflict("$", f"at most {MAX_STUBS} stubs at once: delete some first")
        stub.seq = next(self._seq)
        if not stub.id:
            stub.id = f"stub-{stub.seq}"
        if stub.id in self._stubs:
            raise StubConflict("$.id", f"a stub with id {stub.id!r} exists")
        self._check_results(stub)
        stub.name = stub.name or stub.id
        self._stubs[stub.id] = stub
        self.version += 1
        return stub

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

    def remove(self, stub_id: str, tenant: str | None = None) -> bool:
        if self.get(stub_id, tenant) is None:
            return False
        del self._stubs[stub_id]
        self.version += 1
        return True

    def listed(self, tenant: str | None = None) -> list[Stub]:
        """A tenant's stubs (all stubs with no tenant), oldest first."""
        return [s for s in self._stubs.values() if tenant is None or s.tenant == tenant]

    def clear(self, tenant: str | None = None) -> None:
        for stub in self.listed(tenant):
            del self._stubs[stub.id]
        self.version += 1

    def visible(self, query: StubQuery) -> list[Stub]:
        """The stubs this caller could be answered by (its tenant's and global ones)."""
        tenant = query.caller.tenant
        return [s for s in self._stubs.values() if s.tenant is None or s.tenant == tenant]

    def match(self, query: StubQuery, *, consume: bool = True) -> StubHit | None:
        """The stub that answers this query, if any; ``consume`` moves its sequence on."""
        best: Stub | None = None
        best_key: tuple[int, int, bool, int] | None = None
        best_close: tuple[int, int | None] = (0, None)
        for stub in self._stubs.values():
            if stub.used_up or not stub.applies_to(query):
                continue
            close = stub.closeness(query)
            if close is None:
                continue
            rank = (stub.priority, close[0], stub.tenant is None, -stub.seq)
            if best_key is None or rank < best_key:
                best, best_key, best_close = stub, rank, close
        if best is None:
            return None
        step = best.step()
        if consume:
            best.hits += 1
        return StubHit(best, step, Match(Tier.STUB, best.name, best_close[1]))


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
