"""The one call pipeline: every vendor's every operation, on every transport, goes through
:meth:`Pipeline.run`, written once here.

    admit -> fault plan -> operation (with the runtime-stub step) -> request id -> render
          -> journal -> (the transport delivers, with the plan's drip or reset)

A request that arrives again byte for byte, in the same state, is answered with what its
first arrival produced (:mod:`emulator.core._replay`): its quotas counted again and a
journal entry of its own, unless a runtime fault could target it, which takes the whole
sequence again.

A vendor supplies an :class:`Adapter`: how it admits a call (declared size, access, quota,
in the order its contract gives), its operation (which reads the request into a plain
query and answers it), how it renders an answer and each of its errors, and what its
journal keeps of a request. A transport (an aiohttp route, a gRPC method) makes the
vendor's call object, hands it here, and delivers what comes back.

Nothing here knows a vendor, a wire format or a transport.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .core import (MAX_BODY_BYTES, NO_FAULTS, OFFLOAD_BYTES, CallNotes, Fault, FaultBook,
                   FaultPlan, FaultTarget, Journal, RateLimiter, StoreUnavailable, StubBook,
                   StubClaim, StubHit, StubQuery, Thumbnails, WorkPool, update_framed)
from .core._journal import PreparedEntry
from .core._replay import ENTRY_OVERHEAD, Replay, ReplayCache, RequestKey, StateVersion

log = logging.getLogger(__name__)

__all__ = ["MAX_BODY_BYTES", "OFFLOAD_BYTES", "Adapter", "Call", "ClientGone", "Delivery",
           "Pipeline", "Reset", "request_digest"]

#: What the journal says of a call its fault plan reset.
RESET_OUTCOME = "CONNECTION_RESET"


class Reset(Exception):
    """The call's fault plan resets the connection: the transport drops it unanswered
    (HTTP), or answers what clients see for a reset connection (gRPC)."""


class ClientGone(Exception):
    """The client closed the connection before its request arrived: nobody to answer."""


@dataclass(kw_only=True)
class Call(CallNotes):
    """What the pipeline needs of every vendor's call object (each vendor's adds its own)."""

    api: str = ""  # the journal's API, e.g. "<vendor>.<version>.<transport>"
    operation: str = ""  # the journal's method and a fault's operation
    request_id: str = ""  # derived once (see Pipeline.request_id)
    digest: bytes = b""  # what the request id was derived from
    #: the quotas the call took one from (each repeat takes one again)
    counted: list[tuple[RateLimiter, str]] = field(default_factory=list)
    #: False when the answer depends on more than the request and the state (a rule's
    #: delay, a live clock, a quota's refusal, a runtime stub): it is never replayed
    replayable: bool = True
    #: the stub steps this call has taken (see StubBook.match)
    taken: dict[str, int | None] = field(default_factory=dict)

    async def take(self, limiter: RateLimiter, key: str) -> bool:
        """One of the quota ``key`` of ``limiter``; False (and never replayed) when it has
        none left."""
        if await limiter.allow(key):
            self.counted.append((limiter, key))
            return True
        self.replayable = False
        return False


C = TypeVar("C", bound=Call)
R = TypeVar("R")  # what the transport delivers: an HTTP response, a gRPC reply
A = TypeVar("A")  # the operation's answer, before it is rendered


class Adapter(Generic[C, A, R]):
    """A vendor's part of the pipeline. Errors are the vendor's own exceptions, raised from
    any step and rendered by :meth:`render_error`; any other exception is logged and
    answered as :meth:`internal_error`."""

    #: the vendor's name, as faults and stubs target it
    vendor: str = ""
    #: the vendor's errors: raised from any step, rendered by :meth:`render_error`
    errors: tuple[type[Exception], ...] = ()

    async def admit(self, call: C) -> None:
        """Declared size, access and quota, in the vendor's order (and whatever the
        vendor must read first to know them, such as the folder a body names)."""

    async def operate(self, call: C, pipeline: Pipeline) -> A:
        """The operation: read the request into a plain query, consult runtime stubs with
        ``pipeline.stub`` once that query is known, and answer it."""
        raise NotImplementedError

    def fault_error(self, call: C, fault: Fault, by: str | None) -> Exception:
        """The vendor's exception for an error the fault plan asks for (``by``: the fault)."""
        raise NotImplementedError

    def id_parts(self, call: C) -> tuple[int, Sequence[bytes]]:
        """The digest size and the parts of the call its request id is derived from."""
        raise NotImplementedError

    def set_request_id(self, call: C, digest: bytes) -> None:
        """Set the call's ids from the digest of :meth:`id_parts`."""
        raise NotImplementedError

    def render(self, call: C, answer: A) -> tuple[R, str]:
        """The answer as the transport sends it, and the journal's outcome (``OK``, or the
        code an answer carries)."""
        raise NotImplementedError

    def render_error(self, call: C, error: Exception) -> tuple[R, str]:
        """One of the vendor's errors (or its reset) as sent, and the journal's outcome."""
        raise NotImplementedError

    def internal_error(self) -> Exception:
        """The vendor's error for a failure of the emulator's own."""
        raise NotImplementedError

    def unavailable_error(self) -> Exception:
        """The vendor's "unavailable" error: the state store cannot be reached."""
        raise NotImplementedError

    async def replay_key(self, call: C) -> RequestKey | None:
        """The call's raw request, as a key to its kept answer (reading what it must, such
        as the body); None: never replayed. The key must hold every byte the answer and
        the journal could depend on."""
        return None

    def keep(self, response: R) -> tuple[Any, int]:
        """The response in a form that can be sent again, and its size in bytes."""
        raise NotImplementedError

    def revive(self, kept: Any) -> R:
        """A response to send, from what :meth:`keep` kept."""
        raise NotImplementedError

    def reset_error(self) -> Exception:
        """The vendor's error standing for a reset connection (gRPC answers it)."""
        raise NotImplementedError

    def gone(self, call: C) -> tuple[R, str]:
        """What is left to send when the client has gone, and the journal's outcome."""
        raise NotImplementedError

    def journal_request(self, call: C) -> dict[str, Any]:
        """The journal's record of the request: never image bytes."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Delivery(Generic[R]):
    """What the transport sends, and the fault plan it carries out while sending it."""

    response: R
    plan: FaultPlan


def request_digest(size: int, parts: Sequence[bytes]) -> bytes:
    """Emulator decision: request ids derive from the call itself (framed, so parts cannot
    run into each other): identical requests get identical ids."""
    return update_framed(hashlib.blake2b(digest_size=size), *parts).digest()


class Pipeline:
    """The control plane's books and the pool every call shares, and the one sequence."""

    def __init__(self, faults: FaultBook, stubs: StubBook, journal: Journal,
                 pool: WorkPool, replays: ReplayCache | None = None,
                 store: Callable[[], object] = lambda: None,
                 thumbnails: Thumbnails | None = None) -> None:
        self.faults, self.stubs, self.journal, self.pool = faults, stubs, journal, pool
        self.replays = replays if replays is not None else ReplayCache(0, 0)
        self._store = store  # the fixture set in force
        self.thumbnails = thumbnails

    def version(self) -> StateVersion:
        return StateVersion(self._store(), self.stubs.version, self.faults.version)

    async def offload(self, size: int, work: Any, *args: Any) -> Any:
        """``work(*args)``: in the pool when the input is ``size`` >= OFFLOAD_BYTES."""
        if size >= OFFLOAD_BYTES:
            return await self.pool.run(work, *args)
        return work(*args)

    async def run(self, adapter: Adapter[C, A, R], call: C,
                  ids: Callable[[C], Awaitable[None]] | None = None) -> Delivery[R]:
        """``ids``: called once the call's request id is known, before its answer is
        (a transport that sends the ids ahead of a slow answer)."""
        try:
            return await self._run_or_replay(adapter, call, ids)
        except StoreUnavailable as exc:
            return await self._unavailable(adapter, call, exc)

    async def _unavailable(self, adapter: Adapter[C, A, R], call: C,
                           exc: StoreUnavailable) -> Delivery[R]:
        """The state store is down: the vendor's "unavailable" error, the request logged
        (its journal is in the store, which cannot take it)."""
        log.warning("%s %s: the state store is unavailable (%s): answered as unavailable",
                    call.api, call.operation, exc)
        await self.request_id(adapter, call)
        response, outcome = adapter.render_error(call, adapter.unavailable_error())
        self.journal.announce(call.api, call.operation, call.request_id,
                              adapter.journal_request(call), outcome, **call.journal_details())
        return Delivery(response, NO_FAULTS)

    async def _run_or_replay(self, adapter: Adapter[C, A, R], call: C,
                             ids: Callable[[C], Awaitable[None]] | None) -> Delivery[R]:
        self.journal.store.check()  # no round trip: a store known to be down
        key = await adapter.replay_key(call) if self.replays.enabled else None
        if key is None:
            return (await self._run(adapter, call, ids))[0]
        version = self.version()
        kept = self.replays.get(key, version)
        if kept is not None:
            call.tenant = kept.tenant  # as its admission read it (the key holds all)
            if await self._may_replay(adapter, call, kept):
                return await self._replayed(adapter, call, kept, ids)
        delivery, entry = await self._run(adapter, call, ids)
        if call.replayable and delivery.plan == NO_FAULTS and call.digest \
                and self.version().same(version):
            response, size = adapter.keep(delivery.response)
            self.replays.put(key, version, Replay(
                response, size + key.nbytes + ENTRY_OVERHEAD, call.digest, call.tenant,
                entry, call.lookup, call.image, call.match, tuple(call.counted)))
        return delivery

    async def _may_replay(self, adapter: Adapter[C, A, R], call: C, kept: Replay) -> bool:
        """No fault may target the call, and every quota it takes has one left (a refusal
        takes the whole sequence, which answers it)."""
        if self.faults.may_target(FaultTarget(adapter.vendor, call.api, call.operation,
                                              call.tenant)):
            return False
        for limiter, quota_key in kept.counted:
            if not await call.take(limiter, quota_key):
                return False
        return True

    async def _replayed(self, adapter: Adapter[C, A, R], call: C, kept: Replay,
                        ids: Callable[[C], Awaitable[None]] | None) -> Delivery[R]:
        adapter.set_request_id(call, kept.digest)
        call.digest = kept.digest
        call.lookup, call.image, call.match = kept.lookup, kept.image, kept.match
        if ids is not None:
            await ids(call)
        await self.journal.add(kept.entry, call.latency_ms())
        return Delivery(adapter.revive(kept.response), NO_FAULTS)

    async def _run(self, adapter: Adapter[C, A, R], call: C,
                   ids: Callable[[C], Awaitable[None]] | None,
                   ) -> tuple[Delivery[R], PreparedEntry]:
        """The sequence: what is delivered, and its journal entry (prepared for repeats)."""
        if ids is not None:
            await self.request_id(adapter, call)
            await ids(call)
        try:
            await adapter.admit(call)
            await self._faults(adapter, call)
            answer = await self._operate(adapter, call)
            await self.request_id(adapter, call)
            response, outcome = adapter.render(call, answer)
        except ClientGone:
            await self.request_id(adapter, call)
            response, outcome = adapter.gone(call)
            call.replayable = False
            return Delivery(response, NO_FAULTS), await self._record(adapter, call, outcome)
        except StoreUnavailable:
            raise
        except Exception as exc:
            response, outcome = await self._failed(adapter, call, exc)
        if call.plan.reset:
            outcome = RESET_OUTCOME
        return Delivery(response, call.plan), await self._record(adapter, call, outcome)

    async def _operate(self, adapter: Adapter[C, A, R], call: C) -> A:
        """The operation; a stub step that needs the store's answer is taken, and the
        operation (which asks for its stub before anything else it does) runs again."""
        while True:
            try:
                return await adapter.operate(call, self)
            except StubClaim as claim:
                call.taken[claim.stub.id] = await self.stubs.take(claim.stub)

    async def _failed(self, adapter: Adapter[C, A, R], call: C,
                      exc: Exception) -> tuple[R, str]:
        if isinstance(exc, Reset):
            exc = adapter.reset_error()
        elif not isinstance(exc, adapter.errors):
            log.exception("%s %s failed", call.api, call.operation)
            call.replayable = False
            exc = adapter.internal_error()
        await self.request_id(adapter, call)
        return adapter.render_error(call, exc)

    async def _faults(self, adapter: Adapter[C, A, R], call: C) -> None:
        """The one fault path: the plan's latency waited out, then its reset, then its
        error in the vendor's words."""
        call.plan = plan = await self.faults.plan(FaultTarget(
            adapter.vendor, call.api, call.operation, call.tenant))
        if plan.delay_ms:
            await asyncio.sleep(plan.delay_ms / 1000)
        if plan.reset:
            raise Reset()
        if plan.error is not None:
            raise adapter.fault_error(call, plan.error, plan.error_by)

    def stub_finder(self, call: Call) -> Callable[[StubQuery], StubHit | None]:
        """The one stub path: finds the runtime stub that answers a query, if any (its
        sequence moves on), and notes it as the call's match. Its step's delay, results and
        error are the operation's to answer, as a fixture rule's are."""
        def find(query: StubQuery) -> StubHit | None:
            hit = self.stubs.match(query, taken=call.taken)
            if hit is not None:
                call.match = hit.match
                call.replayable = False  # a sequence steps, a stub's times run out
            return hit

        return find

    async def stub(self, call: Call, query: StubQuery) -> StubHit | None:
        """The stub step for an operation that answers a stub by itself: the stub found
        (see :meth:`stub_finder`), its delay waited out."""
        while True:
            try:
                hit = self.stub_finder(call)(query)
                break
            except StubClaim as claim:
                call.taken[claim.stub.id] = await self.stubs.take(claim.stub)
        if hit is not None and hit.step.delay_ms:
            await asyncio.sleep(hit.step.delay_ms / 1000)
        return hit

    async def request_id(self, adapter: Adapter[C, A, R], call: C) -> None:
        """Derived once, when the call has been read as far as it will be (before it is
        rendered, or earlier by an operation whose answer carries it)."""
        if call.request_id:
            return
        size, parts = adapter.id_parts(call)
        call.digest = await self.offload(sum(map(len, parts)), request_digest, size, parts)
        adapter.set_request_id(call, call.digest)

    async def _record(self, adapter: Adapter[C, A, R], call: C, outcome: str) -> PreparedEntry:
        if self.thumbnails is not None and call.image and call.image_data is not None:
            # begun first, so a reader the entry reaches can already wait for its thumbnail
            self.thumbnails.make(call.image["sha256"], call.image_data)
        call.image_data = None
        return await self.journal.record(call.api, call.operation, call.request_id,
                                         adapter.journal_request(call), outcome,
                                         **call.journal_details())

