"""The request journal: what clients sent and what they got, for tests to inspect.

Bounded: it keeps the most recent entries only, and never image bytes (adapters record a
digest, a size and the perceptual hash instead), so a long-running emulator's memory stays
flat. Every entry names its tenant, so parallel test workers sharing one emulator each
query, count and clear their own requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ._faults import NO_FAULTS, FaultPlan
from ._fingerprint import Fingerprint
from ._match import Match
from ._store import MemoryStore, StateStore

#: Emulator decision: the journal keeps the last 1000 requests, each request's record at
#: most 16 KiB of JSON (a bigger one is kept as its digest and size): 16 MiB at the most.
#: Strings over 2048 characters (refused by every API anyway) are kept as their digest,
#: so the rest of such a record stays readable.
JOURNAL_SIZE = 1000
MAX_REQUEST_CHARS = 16 * 1024
MAX_STRING_CHARS = 2048


def _digest(text: str) -> dict[str, Any]:
    raw = text.encode("utf-8", "surrogatepass")
    return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return _digest(value)
    if isinstance(value, dict):
        return {(f"sha256:{_digest(k)['sha256']}" if isinstance(k, str)
                 and len(k) > MAX_STRING_CHARS else k): _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


def image_record(fp: Fingerprint, size: int) -> dict[str, Any]:
    """What the journal keeps of a query image: enough to explain a miss later, no bytes."""
    return {"sha256": fp.sha256, "bytes": size, "format": fp.format, "width": fp.width,
            "height": fp.height, "dhash": f"{fp.dhash:016x}"}


def recorded_fingerprint(image: dict[str, Any] | None) -> Fingerprint | None:
    """The fingerprint an :func:`image_record` describes."""
    if not image or "dhash" not in image:
        return None
    return Fingerprint(image["sha256"], image["format"], image["width"], image["height"],
                       int(image["dhash"], 16))


@dataclass(kw_only=True)
class CallNotes:
    """What an adapter notes of one call for the journal, beyond the request and outcome:
    whose call it is, what was looked up, the query image, the match, and the runtime
    faults chosen for it (transports reset or drip by them). Every adapter's call is one."""

    tenant: str | None = None
    lookup: dict[str, Any] | None = None
    image: dict[str, Any] | None = None  # see image_record
    #: the query image's bytes while the call lasts (for its thumbnail), never journaled
    image_data: bytes | None = field(default=None, repr=False)
    match: Match | None = None
    plan: FaultPlan = NO_FAULTS
    started: float = field(default_factory=time.perf_counter)

    def note(self, **looked_up: Any) -> None:
        """Add to what the call looked up."""
        self.lookup = {**(self.lookup or {}), **looked_up}

    def journal_details(self) -> dict[str, Any]:
        """The journal's fields beyond the request and outcome."""
        return {"tenant": self.tenant, "lookup": self.lookup, "image": self.image,
                "match": self.match.to_json() if self.match else None,
                "faults": self.plan.names, "latency_ms": self.latency_ms()}

    def latency_ms(self) -> float:
        """Milliseconds since the call began."""
        return round((time.perf_counter() - self.started) * 1000, 3)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    at: str
    api: str  # e.g. "yandex.v2.grpc": the vendor, its API version and the transport
    method: str  # the operation, e.g. "SearchByImage", "GET /images-xml"
    request_id: str
    request: dict[str, Any]
    outcome: str  # "OK", a status name, an error code, or CONNECTION_RESET
    vendor: str = ""
    tenant: str | None = None
    #: what the engine looked up: folder, text, url or image id (the parameters that matter)
    lookup: dict[str, Any] | None = None
    image: dict[str, Any] | None = None  # see image_record
    match: dict[str, Any] | None = None  # Match.to_json() of the rule or tier that answered
    faults: tuple[str, ...] = ()  # names of the runtime faults that applied
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as the admin API shows it: its fields, as they are (not copied: they
        are only ever written out)."""
        out = {name: getattr(self, name) for name in _ENTRY_FIELDS}
        out["faults"] = list(self.faults)
        return out


_ENTRY_FIELDS = tuple(f.name for f in fields(JournalEntry))


@dataclass(frozen=True, slots=True)
class JournalFilter:
    """Which entries a query selects; every field given must match (None: any)."""

    tenant: str | None = None
    vendor: str | None = None
    api: str | None = None
    method: str | None = None
    outcome: str | None = None
    rule: str | None = None
    tier: str | None = None
    after: int | None = None  # entries with a larger seq only

    FIELDS = ("tenant", "vendor", "api", "method", "outcome", "rule", "tier")

    def accepts(self, entry: JournalEntry) -> bool:
        match = entry.match or {}
        return all(
            wanted is None or wanted == got for wanted, got in (
                (self.tenant, entry.tenant), (self.vendor, entry.vendor), (self.api, entry.api),
                (self.method, entry.method), (self.outcome, entry.outcome),
                (self.rule, match.get("rule")), (self.tier, match.get("tier")))
        ) and (self.after is None or entry.seq > self.after)


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """A journal entry made once (bounded, checked, and as JSON when the store keeps JSON):
    each call it stands for is it with its own time, latency and number. A kept answer
    holds one, so a repeat does not bound, check or encode its record again."""

    entry: JournalEntry  # seq 0, at "", latency_ms None
    #: the entry as JSON without ``seq``, ``at`` and ``latency_ms``, open at its end (None:
    #: the store keeps objects, not JSON)
    encoded: str | None = None

    def at(self, at: str, latency_ms: float | None) -> tuple[JournalEntry, str | None]:
        """The entry of one call, and its JSON (see ``encoded``)."""
        e = self.entry
        entry = JournalEntry(0, at, e.api, e.method, e.request_id, e.request, e.outcome,
                             e.vendor, e.tenant, e.lookup, e.image, e.match, e.faults,
                             latency_ms)
        if self.encoded is None:
            return entry, None
        latency = "null" if latency_ms is None else repr(float(latency_ms))
        return entry, f'{self.encoded}, "at": "{at}", "latency_ms": {latency}}}'


class _Clock:
    """The journal's timestamps, made once per millisecond (formatting one costs more than
    the rest of a repeated call's entry)."""

    __slots__ = ("_ms", "_text")

    def __init__(self) -> None:
        self._ms, self._text = -1, ""

    def now(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            self._text = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc).replace(
                microsecond=ms % 1000 * 1000).isoformat(timespec="milliseconds")
            self._ms = ms
        return self._text


_clock = _Clock()


class Journal:
    """The journal, in its store: the last ``size`` entries (over every process sharing
    the store)."""

    def __init__(self, size: int = JOURNAL_SIZE, store: StateStore | None = None) -> None:
        self.size = size
        self.store = store or MemoryStore()
        self._listeners: list[Callable[[JournalEntry], None]] = []

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> None:
        """Call ``listener`` with every entry as it is recorded (the request log does)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[JournalEntry], None]) -> None:
        self._listeners.remove(listener)

    async def record(self, api: str, method: str, request_id: str, request: dict[str, Any],
                     outcome: str, **details: Any) -> PreparedEntry:
        """``details`` are the optional fields of :class:`JournalEntry` (tenant, match, ...).
        The listeners hear of the entry once the store has numbered it (or could not).
        Returns the entry prepared, for calls that are the same but for time and latency."""
        latency = details.pop("latency_ms", None)
        prepared = self.prepare(api, method, request_id, request, outcome, **details)
        await self.add(prepared, latency)
        return prepared

    async def add(self, prepared: PreparedEntry, latency_ms: float | None) -> None:
        """One call's entry, from one prepared before."""
        entry, encoded = prepared.at(_clock.now(), latency_ms)
        try:
            await self.store.journal_add(entry, self.size, self._tell, encoded)
        except Exception:
            self._tell(entry)  # the log still says what was answered
            raise

    def _tell(self, entry: JournalEntry) -> None:
        for listener in self._listeners:
            listener(entry)

    def announce(self, api: str, method: str, request_id: str, request: dict[str, Any],
                 outcome: str, **details: Any) -> JournalEntry:
        """An entry the store cannot take (it is down): only told to the listeners."""
        entry = self.entry(api, method, request_id, request, outcome, **details)
        for listener in self._listeners:
            listener(entry)
        return entry

    @staticmethod
    def entry(api: str, method: str, request_id: str, request: dict[str, Any], outcome: str,
              **details: Any) -> JournalEntry:
        """The entry as it is kept: bounded, numbered by the store (0 until it is)."""
        latency = details.pop("latency_ms", None)
        return Journal._prepare(api, method, request_id, request, outcome, False,
                                details).at(_clock.now(), latency)[0]

    def prepare(self, api: str, method: str, request_id: str, request: dict[str, Any],
                outcome: str, **details: Any) -> PreparedEntry:
        """The entry, bounded (and encoded, for a store that keeps JSON), without its time,
        latency and number."""
        return self._prepare(api, method, request_id, request, outcome,
                             self.store.keeps_json, details)

    @staticmethod
    def _prepare(api: str, method: str, request_id: str, request: dict[str, Any],
                 outcome: str, encode: bool, details: dict[str, Any]) -> PreparedEntry:
        request = _bounded(request)
        text = json.dumps(request, ensure_ascii=False, default=str)
        if len(text) > MAX_REQUEST_CHARS:
            request = {"truncated": True, **_digest(text)}
            text = json.dumps(request)
        if details.get("lookup"):
            details["lookup"] = _bounded(details["lookup"])
        if "faults" in details:
            details["faults"] = tuple(details["faults"])
        entry = JournalEntry(0, "", api, method, request_id, request, outcome,
                             vendor=api.partition(".")[0], **details)
        if not encode:
            return PreparedEntry(entry)
        rest = entry.to_json()
        for name in ("seq", "at", "latency_ms", "request"):
            del rest[name]
        head = json.dumps(rest, ensure_ascii=False, default=str)[:-1]
        return PreparedEntry(entry, f'{head}, "request": {text}')

    async def entries(self, limit: int | None = None,
                      where: JournalFilter | None = None) -> list[JournalEntry]:
        """The selected entries, oldest first; ``limit`` keeps the most recent ones."""
        items = [e for e in await self.store.journal_entries()
                 if where is None or where.accepts(e)]
        return items[-limit:] if limit else items

    async def get(self, seq: int, tenant: str | None = None) -> JournalEntry | None:
        """The kept entry with this ``seq`` (of this tenant, if one is named)."""
        found = next((e for e in await self.store.journal_entries() if e.seq == seq), None)
        return None if found is None or (tenant is not None and found.tenant != tenant) \
            else found

    async def count(self, where: JournalFilter | None = None) -> int:
        return sum(1 for e in await self.store.journal_entries()
                   if where is None or where.accepts(e))

    async def clear(self, tenant: str | None = None) -> None:
        """Everything, or one tenant's entries only."""
        await self.store.journal_clear(tenant)
