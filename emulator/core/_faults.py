"""Runtime faults: latency, vendor errors at a rate, connection resets, slow-dripped bodies
and quotas, for one tenant, vendor, transport or operation.

The core decides what happens to a call (a :class:`FaultPlan`); adapters carry it out in
their vendor's terms: the error in the vendor's format, a reset or a drip on the transport.
Every random draw comes from the fault's own seeded generator, so a run of the same
requests in the same order sees the same faults.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from ._numbers import whole
from ._ratelimit import Quota
from ._rules import ErrorKind, Fault
from ._store import FAULTS, BookFull, NotNow, RecordTaken, SharedBook, StateStore
from ._stubs import fault_from_json

#: A fault's quota spent: each vendor answers its own "too many requests".
RATE_LIMITED = Fault(ErrorKind.RATE_LIMITED)
#: Emulator decision: at most 1000 faults at once, over all tenants.
MAX_FAULTS = 1000
#: Emulator decision: a fault's seed, when the client gives none.
DEFAULT_SEED = 0
#: Emulator decision: no drawn latency exceeds 10 minutes (a fixture rule's longest delay).
MAX_LATENCY_MS = 600_000


@dataclass(frozen=True, slots=True)
class Latency:
    """``fixed`` (ms), ``uniform`` (low, high ms) or ``lognormal`` (median ms, sigma)."""

    distribution: str
    a: float
    b: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.distribution == "fixed":
            value = self.a
        elif self.distribution == "uniform":
            value = rng.uniform(self.a, self.b)
        else:
            value = rng.lognormvariate(math.log(self.a), self.b)
        return min(value, MAX_LATENCY_MS)


@dataclass(frozen=True, slots=True)
class Drip:
    """The body goes out ``chunk_bytes`` at a time, ``interval_ms`` apart."""

    chunk_bytes: int
    interval_ms: int

    def duration_ms(self, size: int) -> int:
        """How long dripping ``size`` bytes takes (for transports that cannot drip)."""
        return max(0, math.ceil(size / self.chunk_bytes) - 1) * self.interval_ms


@dataclass(frozen=True, slots=True)
class FaultTarget:
    """The call faults are chosen for."""

    vendor: str
    api: str  # e.g. "yandex.v2.rest"
    operation: str  # e.g. "SearchByImage"
    tenant: str | None


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What happens to one call: wait ``delay_ms``, then reset, or answer ``error``, or
    answer normally; with ``drip``, the body is sent slowly."""

    delay_ms: float = 0.0
    error: Fault | None = None
    reset: bool = False
    drip: Drip | None = None
    names: tuple[str, ...] = ()
    #: the name of the fault whose error is answered
    error_by: str | None = None


NO_FAULTS = FaultPlan()


@dataclass
class FaultSpec:
    id: str
    name: str
    raw: dict[str, Any]
    tenant: str | None = None
    vendor: str | None = None
    api: str | None = None
    operation: str | None = None
    rate: float = 1.0  # the share of matching calls hit
    latency: Latency | None = None
    error: Fault | None = None
    reset: bool = False
    drip: Drip | None = None
    quota: Quota | None = None
    times: int | None = None  # only the first N matching calls
    seed: int = DEFAULT_SEED
    seq: int = 0
    seen: int = 0
    hits: int = 0
    rng: random.Random = field(init=False)
    _drawn: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self, number: int) -> tuple[bool, float]:
        """Whether the ``number``-th matching call (0 the first) is hit, and its drawn
        latency: the fault's seeded generator as the calls before it left it, whichever
        process served them."""
        if number < self._drawn:
            self.rng, self._drawn = random.Random(self.seed), 0
        hit, delay = False, 0.0
        while self._drawn <= number:
            hit = self.rng.random() < self.rate
            delay = self.latency.draw(self.rng) if hit and self.latency is not None else 0.0
            self._drawn += 1
        return hit, delay

    @property
    def quota_scope(self) -> str:
        return f"fault:{self.id}"

    def targets(self, target: FaultTarget) -> bool:
        return ((self.tenant is None or self.tenant == target.tenant)
                and all(want is None or want == got for want, got in (
                    (self.vendor, target.vendor), (self.api, target.api),
                    (self.operation, target.operation))))

    @property
    def spent(self) -> bool:
        return self.times is not None and self.seen >= self.times

    def to_json(self) -> dict[str, Any]:
        return {**self.raw, "id": self.id, "name": self.name, "tenant": self.tenant,
                "seen": self.seen, "hits": self.hits, "spent": self.spent}

    def to_record(self) -> dict[str, Any]:
        return {"raw": self.raw, "id": self.id, "name": self.name, "tenant": self.tenant,
                "seq": self.seq}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> FaultSpec:
        spec = fault_spec_from_json(record["raw"], record["tenant"])
        spec.id, spec.name, spec.seq = record["id"], record["name"], record["seq"]
        return spec


def _latency(raw: dict[str, Any] | None) -> Latency | None:
    if raw is None:
        return None
    if "fixed_ms" in raw:
        return Latency("fixed", raw["fixed_ms"])
    if "uniform_ms" in raw:
        low, high = raw["uniform_ms"]
        return Latency("uniform", min(low, high), max(low, high))
    return Latency("lognormal", raw["lognormal"]["median_ms"], raw["lognormal"]["sigma"])


def fault_spec_from_json(raw: dict[str, Any], tenant: str | None) -> FaultSpec:
    """A fault from its JSON (already checked against the admin API's schema)."""
    quota = raw.get("quota")
    return FaultSpec(
        id=raw.get("id", ""), name=raw.get("name", ""), raw=raw, tenant=tenant,
        vendor=raw.get("vendor"), api=raw.get("api"), operation=raw.get("operation"),
        rate=raw.get("rate", 1.0), latency=_latency(raw.get("latency")),
        error=fault_from_json(raw["error"]) if "error" in raw else None,
        reset=raw.get("reset", False),
        drip=Drip(int(raw["drip"]["chunk_bytes"]), int(raw["drip"]["interval_ms"]))
        if "drip" in raw else None,
        quota=Quota(int(quota["limit"]), quota.get("window_s", math.inf)) if quota else None,
        times=whole(raw.get("times")), seed=int(raw.get("seed", DEFAULT_SEED)))


class FaultError(ValueError):
    """A fault that cannot be added."""


class FaultBook(SharedBook):
    """Every runtime fault, of every tenant; :meth:`plan` decides a call's fate.

    The faults are kept here, as of :attr:`version`; the store has the truth (the records,
    each fault's seen and hit counts, its quota's windows), and a change made by another
    process reloads them."""

    book = FAULTS

    def __init__(self, store: StateStore | None = None) -> None:
        self._faults: dict[str, FaultSpec] = {}
        super().__init__(store)


    async def add(self, spec: FaultSpec) -> FaultSpec:
        if len(self._faults) >= MAX_FAULTS:
            raise FaultError(f"at most {MAX_FAULTS} faults at once: delete some first")
        if spec.id and spec.id in self._faults:
            raise FaultError(f"a fault with id {spec.id!r} exists")
        spec.seq = await self.store.next_number(FAULTS)
        spec.id = spec.id or f"fault-{spec.seq}"
        spec.name = spec.name or spec.id
        try:
            versions = await self.store.add(FAULTS, spec.id, spec.to_record(), MAX_FAULTS)
        except RecordTaken:
            raise FaultError(f"a fault with id {spec.id!r} exists") from None
        except BookFull:
            raise FaultError(f"at most {MAX_FAULTS} faults at once: delete some first") \
                from None
        await self._applied(versions, lambda: self._faults.__setitem__(spec.id, spec))
        return spec


    async def reload(self, force: bool = False) -> None:
        """Every fault again from the store (another process changed them)."""
        async with self._lock:
            snapshot = await self.store.snapshot(FAULTS)
            if snapshot.version <= self._version and not force:
                return
            old, faults = self._faults, {}
            for record in sorted(snapshot.records, key=lambda r: r["seq"]):
                spec = FaultSpec.from_record(record)
                if spec.id in old and not force:
                    spec.seen, spec.hits = old[spec.id].seen, old[spec.id].hits
                faults[spec.id] = spec
            self._faults, self._version = faults, snapshot.version
            self.store.applied(FAULTS, self._version)

    def listed(self, tenant: str | None = None) -> list[FaultSpec]:
        return [f for f in self._faults.values() if tenant is None or f.tenant == tenant]

    async def counted(self, specs: list[FaultSpec]) -> list[FaultSpec]:
        """``specs`` with their seen and hit counts over every process."""
        ids = [s.id for s in specs]
        seen = await self.store.counters(FAULTS, ids)
        hits = await self.store.counters(FAULTS, ids, "hits")
        for spec in specs:
            spec.seen = max(spec.seen, seen.get(spec.id, 0))
            spec.hits = max(spec.hits, hits.get(spec.id, 0))
        return specs

    async def remove(self, fault_id: str, tenant: str | None = None) -> bool:
        spec = self._faults.get(fault_id)
        if spec is None or (tenant is not None and spec.tenant != tenant):
            return False
        return await self._remove([spec]) > 0

    async def _remove(self, specs: list[FaultSpec]) -> int:
        if not specs:
            return 0
        removed, versions = await self.store.remove(FAULTS, [s.id for s in specs])
        for spec in specs:
            if spec.quota is not None:
                await self.store.forget_quota(spec.quota_scope)

        def drop() -> None:
            for spec in specs:
                self._faults.pop(spec.id, None)

        if removed:
            await self._applied(versions, drop)
        return removed

    async def clear(self, tenant: str | None = None) -> None:
        await self._remove(self.listed(tenant))

    def may_target(self, target: FaultTarget) -> bool:
        """Whether any fault still in force targets the call (nothing is drawn or
        counted): a call that no fault may target has no plan to make."""
        return any(not spec.spent and spec.targets(target) for spec in self._faults.values())

    async def _take(self, spec: FaultSpec) -> int | None:
        try:
            number = self.store.take_now(FAULTS, spec.id, spec.times)
        except NotNow:
            number = await self.store.take(FAULTS, spec.id, spec.times)
        spec.seen = max(spec.seen, spec.times or 0) if number is None else \
            max(spec.seen, number + 1)
        return number

    async def _hit(self, spec: FaultSpec) -> None:
        spec.hits += 1
        await self.store.bump(FAULTS, spec.id, "hits")

    async def plan(self, target: FaultTarget) -> FaultPlan:
        """Every fault that targets the call applies, oldest first: latencies add up, the
        first error (a quota's, or a drawn one) is answered, any reset resets. With no
        fault targeting the call, the store is not asked."""
        if not self._faults:
            return NO_FAULTS
        delay, error, reset, drip, names, error_by = 0.0, None, False, None, [], None
        for spec in list(self._faults.values()):
            if spec.spent or not spec.targets(target):
                continue
            number = await self._take(spec)
            if number is None:
                continue
            if spec.quota is not None:
                if not await self.store.allow(spec.quota_scope, "", (spec.quota,)):
                    if error is None:
                        error, error_by = RATE_LIMITED, spec.name
                    await self._hit(spec)
                    names.append(spec.name)
                continue
            hit, drawn = spec.draw(number)
            if not hit:
                continue
            await self._hit(spec)
            names.append(spec.name)
            delay += drawn
            if error is None and spec.error is not None:
                error, error_by = spec.error, spec.name
            reset = reset or spec.reset
            drip = drip or spec.drip
        return FaultPlan(delay, error, reset, drip, tuple(names), error_by)
