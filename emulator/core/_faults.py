"""Runtime faults: latency, vendor errors at a rate, connection resets, slow-dripped bodies
and quotas, for one tenant, vendor, transport or operation.

The core decides what happens to a call (a :class:`FaultPlan`); adapters carry it out in
their vendor's terms: the error in the vendor's format, a reset or a drip on the transport.
Every random draw comes from the fault's own seeded generator, so a run of the same
requests in the same order sees the same faults.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any

from ._numbers import whole
from ._ratelimit import Quota, RateLimiter
from ._rules import ErrorKind, Fault
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
    quota: RateLimiter | None = None
    times: int | None = None  # only the first N matching calls
    seed: int = DEFAULT_SEED
    seen: int = 0
    hits: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

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
        quota=RateLimiter((Quota(int(quota["limit"]), quota.get("window_s", math.inf)),))
        if quota else None,
        times=whole(raw.get("times")), seed=int(raw.get("seed", DEFAULT_SEED)))


class FaultError(ValueError):
    """A fault that cannot be added."""


class FaultBook:
    """Every runtime fault, of every tenant; :meth:`plan` decides a call's fate."""

    def __init__(self) -> None:
        self._faults: dict[str, FaultSpec] = {}
        self._seq = itertools.count(1)
        #: changes with every write (add, remove, clear): what answers were kept for
        self.version = 0

    def add(self, spec: FaultSpec) -> FaultSpec:
        if len(self._faults) >= MAX_FAULTS:
            raise FaultError(f"at most {MAX_FAULTS} faults at once: delete some first")
        number = next(self._seq)
        spec.id = spec.id or f"fault-{number}"
        if spec.id in self._faults:
            raise FaultError(f"a fault with id {spec.id!r} exists")
        spec.name = spec.name or spec.id
        self._faults[spec.id] = spec
        self.version += 1
        return spec

    def listed(self, tenant: str | None = None) -> list[FaultSpec]:
        return [f for f in self._faults.values() if tenant is None or f.tenant == tenant]

    def remove(self, fault_id: str, tenant: str | None = None) -> bool:
        spec = self._faults.get(fault_id)
        if spec is None or (tenant is not None and spec.tenant != tenant):
            return False
        del self._faults[fault_id]
        self.version += 1
        return True

    def clear(self, tenant: str | None = None) -> None:
        for spec in self.listed(tenant):
            del self._faults[spec.id]
        self.version += 1

    def may_target(self, target: FaultTarget) -> bool:
        """Whether any fault still in force targets the call (nothing is drawn or
        counted): a call that no fault may target has no plan to make."""
        return any(not spec.spent and spec.targets(target) for spec in self._faults.values())

    def plan(self, target: FaultTarget) -> FaultPlan:
        """Every fault that targets the call applies, oldest first: latencies add up, the
        first error (a quota's, or a drawn one) is answered, any reset resets."""
        if not self._faults:
            return NO_FAULTS
        delay, error, reset, drip, names, error_by = 0.0, None, False, None, [], None
        for spec in list(self._faults.values()):
            if spec.spent or not spec.targets(target):
                continue
            spec.seen += 1
            if spec.quota is not None and not spec.quota.allow(""):
                if error is None:
                    error, error_by = RATE_LIMITED, spec.name
                spec.hits += 1
                names.append(spec.name)
                continue
            if spec.quota is not None or spec.rng.random() >= spec.rate:
                continue
            spec.hits += 1
            names.append(spec.name)
            if spec.latency is not None:
                delay += spec.latency.draw(spec.rng)
            if error is None and spec.error is not None:
                error, error_by = spec.error, spec.name
            reset = reset or spec.reset
            drip = drip or spec.drip
        return FaultPlan(delay, error, reset, drip, tuple(names), error_by)
