"""The control plane's state in Redis (or Valkey), shared by every process naming it.

Keys (all under ``emulator:``): ``r:<book>`` (a hash of records), ``v:<book>`` (the book's
version) and ``v`` (the counter versions come from), ``c:<book>`` (counters), ``q:...``
(quota windows, expiring with their window), ``journal`` (a stream capped at the journal's
size) and its ``journal:seq``, ``replicas`` and ``applied:<book>`` (who serves, and which
version each has applied), ``jsync`` and ``jsynced`` (journal barriers and who has
answered each), ``jbatch`` (the last journal batch each replica sent). Every write that
changes a book publishes ``<book> <version>`` on ``emulator:changes``; each process reloads
that book when it hears of a version it has not got, so serving reads nothing from Redis
for what has not changed.

Only commands Valkey also serves: strings, hashes, streams (XADD MAXLEN, XRANGE, XDEL),
SCAN, PUBLISH/SUBSCRIBE and Lua scripts (EVALSHA, falling back to EVAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..core import (FAULTS, STUBS, BookFull, JournalEntry, RecordTaken, Snapshot, StateStore,
                    StoreUnavailable)
from ..core._store import MAX_QUOTA_KEYS, ChangeListener, Quota, number
from . import _scripts

log = logging.getLogger("emulator.state")

T = TypeVar("T")

PREFIX = "emulator:"
CHANNEL = PREFIX + "changes"
BOOKS = (STUBS, FAULTS)
#: Emulator decision: a Redis command that takes longer than this (seconds) is a store
#: that is down: the call is answered "unavailable" rather than left hanging. The time
#: includes the answer's wait for this process's event loop, which on a busy CI machine
#: (load 9-15 on two cores) passed 1 s with Redis answering: healthy calls got 503s.
COMMAND_TIMEOUT = 5.0
#: Emulator decision: connections to Redis per process, at most (a call waits for a free
#: one up to COMMAND_TIMEOUT).
MAX_CONNECTIONS = 64
#: Emulator decision: while the store is down it is tried again this often (seconds), so
#: the emulator is serving again within about this long of Redis coming back.
RETRY_INTERVAL = 0.25
#: Emulator decision: each process says it is alive this often (seconds); one not heard
#: from for REPLICA_TTL is no longer waited for.
HEARTBEAT = 1.0
REPLICA_TTL = 5.0
#: Emulator decision: a replica not heard from for a minute is dropped from the lists.
FORGET_AFTER = 60.0
#: Emulator decision: an admin write returns once every live replica has applied it, or
#: after this long (seconds, logged): the longest a test can see an older state.
APPLY_WAIT = 2.0
APPLY_POLL = 0.002
#: Journal entries sent to Redis in one script call, at most.
JOURNAL_BATCH = 256
#: Emulator decision: a journal entry waits up to 5 ms for others to go with it, and a
#: process sends at most one batch per JOURNAL_INTERVAL (seconds) unless it has a full
#: one: under load, entries wait up to that long (a journal query sends at once what is
#: waiting), and a batch's fixed cost (a script call) is paid that much less often.
JOURNAL_LINGER = 0.005
JOURNAL_INTERVAL = 0.02
#: Emulator decision: at most this many journal entries wait to be sent; beyond, calls are
#: answered "unavailable" (Redis is not keeping up).
MAX_PENDING = 10_000
#: Emulator decision: a window found full is refused here, with no round trip, until
#: this long (seconds) before Redis said it ends: a full window stays full (calls it
#: refuses count nothing) until it ends, or a book changes (a fault and its quota gone),
#: or the store reconnects; each of those forgets every window refused here.
REFUSE_MARGIN = 0.002
#: The pub/sub word for a journal barrier (see RedisStore._journal_barrier).
JOURNAL = "journal"


def redacted(url: str) -> str:
    """The URL as logs and the admin API show it: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = (f"{parts.username}:***@" if parts.username else ":***@") + host + \
        (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class Replica:
    """One process serving from the store, as it last said."""

    id: str
    fixtures: str  # the digest of the fixture set it serves
    seen: float  # unix time of its last heartbeat

    def live(self, now: float) -> bool:
        return now - self.seen < REPLICA_TTL


class RedisStore(StateStore):
    shared = True
    keeps_json = True

    def __init__(self, url: str, *, fixtures_digest: Callable[[], str] = lambda: "") -> None:
        self.url, self.name = url, redacted(url)
        self._fixtures_digest = fixtures_digest
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        pool = aioredis.BlockingConnectionPool.from_url(
            url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 0), max_connections=MAX_CONNECTIONS,
            timeout=COMMAND_TIMEOUT)
        self._client = aioredis.Redis(connection_pool=pool, auto_close_connection_pool=True)
        self._scripts = {name: self._client.register_script(getattr(_scripts, name))
                         for name in ("ADD", "REMOVE", "SNAPSHOT", "TAKE", "ALLOW",
                                      "JOURNAL_ADD", "JOURNAL_CLEAR", "CATCH_UP")}
        self._problem: str | None = f"connecting to {self.name}"
        self._health: list[Callable[[str | None], None]] = []
        self._listeners: dict[str, list[ChangeListener]] = {}
        self._known: dict[str, int] = {}
        self._follower: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._journal_cache: dict[bytes, JournalEntry] = {}
        #: quota windows known to be full: (scope, key) -> until when (monotonic; inf:
        #: a window that never ends), at most MAX_QUOTA_KEYS (the oldest dropped)
        self._full: dict[tuple[str, str], float] = {}
        #: (tenant, entry JSON, the entry, who to tell its number), for the journal, in
        #: order; an entry Redis could not take waits here (told already) until it is back
        self._pending: list[tuple[str, str, JournalEntry,
                                  Callable[[JournalEntry], None] | None]] = []
        self._size = 0
        self._flushing: asyncio.Future | None = None
        self._sent_at = 0.0  # when the last journal batch went (monotonic)
        #: set while a journal query waits for what is queued: batches go at once
        self._hurry = asyncio.Event()
        self._draining = 0
        #: the journal batches sent, and the one Redis did not confirm (its number and
        #: size: sent again as it was, which Redis adds once, see _scripts.JOURNAL_ADD)
        self._batches = 0
        self._unsent: tuple[int, int] | None = None
        #: runs CPU work (parsing a whole journal) off the event loop; the server sets it
        self.offload: Callable[..., Awaitable[Any]] | None = None

    # -- lifecycle and health --------------------------------------------------------
    async def start(self) -> None:
        """Starts following the store; does not wait for it (a store that is down at
        start is reported, and joined as soon as it answers)."""
        self._follower = asyncio.ensure_future(self._follow())

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self._connected.is_set()

    async def close(self) -> None:
        self._closing = True
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._follower
        with contextlib.suppress(RedisError, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self._forget([self.replica_id]), COMMAND_TIMEOUT)
        with contextlib.suppress(Exception):
            await self._client.aclose()

    @property
    def problem(self) -> str | None:
        return self._problem

    def on_health(self, listener: Callable[[str | None], None]) -> None:
        self._health.append(listener)

    def _set_problem(self, problem: str | None) -> None:
        changed = (problem is None) != (self._problem is None)
        self._problem = problem
        if changed:
            for listener in self._health:
                listener(problem)
        if problem is None and self._pending and not self._closing and \
                (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.ensure_future(self._flush())  # what waited for it

    def _down(self, reason: str) -> None:
        if self._problem is None:
            log.error("state store %s unavailable: %s; vendor calls are answered "
                      "unavailable until it is back", self.name, reason)
        self._set_problem(f"state store {self.name} unavailable: {reason}")

    def listen(self, book: str, listener: ChangeListener) -> None:
        self._listeners.setdefault(book, []).append(listener)

    def applied(self, book: str, version: int) -> None:
        self._known[book] = version

    async def _follow(self) -> None:
        """Subscribed to changes: each reloads its book. On any failure the store is down
        until a new subscription has caught every book up."""
        while not self._closing:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                await self._catch_up()
                beat = 0.0
                while not self._closing:
                    if self._problem is not None:  # a command failed: is it back?
                        await self._client.ping()
                        log.info("state store %s answers again", self.name)
                        self._set_problem(None)
                    now = time.monotonic()
                    if now - beat >= HEARTBEAT:
                        await self._heartbeat()
                        beat = now
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=RETRY_INTERVAL)
                    if message is not None:
                        await self._changed(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._down(_reason(exc))
            except Exception as exc:  # never let following end: report and try again
                log.exception("following the state store failed")
                self._down(_reason(exc))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if not self._closing:
                await asyncio.sleep(RETRY_INTERVAL)

    async def _catch_up(self) -> None:
        """After (re)subscribing: what changed meanwhile, and what a store that lost its
        data no longer has, is read again."""
        for script in self._scripts.values():  # a restarted Redis has none of them
            await self._client.script_load(script.script)
        keys = [PREFIX + "v", *(PREFIX + "v:" + b for b in BOOKS)]
        await self._scripts["CATCH_UP"](keys=keys, args=[self._known.get(b, 0) for b in BOOKS])
        self._full.clear()  # a restarted Redis has no windows
        for book in BOOKS:
            for listener in self._listeners.get(book, ()):
                await listener(True)
            await self._report_applied(book)
        await self._heartbeat()
        was_down = self._problem
        self._connected.set()
        self._set_problem(None)
        if was_down is not None:
            log.info("state store %s connected: serving shared state", self.name)

    async def _changed(self, data: bytes) -> None:
        book, _, version = data.decode().partition(" ")
        if book == JOURNAL:  # a journal query elsewhere: send ours, and say so
            with contextlib.suppress(StoreUnavailable):  # and the answer below fails too
                await self._drain()
            await self._client.hset(PREFIX + "jsynced", self.replica_id, int(version))
            return
        if book in self._listeners and int(version or 0) > self._known.get(book, 0):
            self._full.clear()  # a fault (and its quota) may have gone, or come back
            for listener in self._listeners[book]:
                await listener(False)
            await self._report_applied(book)

    async def _report_applied(self, book: str) -> None:
        await self._client.hset(PREFIX + "applied:" + book, self.replica_id,
                                self._known.get(book, 0))

    async def announce(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._heartbeat()

    async def _heartbeat(self) -> None:
        await self._client.hset(PREFIX + "replicas", self.replica_id, json.dumps(
            {"fixtures": self._fixtures_digest(), "seen": time.time()}))
        now = time.time()
        gone = [r.id for r in await self.replicas() if now - r.seen > FORGET_AFTER]
        if gone:  # processes that ended without saying so (killed, say)
            await self._forget(gone)

    async def _forget(self, replica_ids: list[str]) -> None:
        for key in ("replicas", "jsynced", "jbatch", *("applied:" + b for b in BOOKS)):
            await self._client.hdel(PREFIX + key, *replica_ids)

    async def replicas(self) -> list[Replica]:
        raw: Any = await self._call(self._client.hgetall(PREFIX + "replicas"))
        out = []
        for key, value in raw.items():
            data = json.loads(value)
            out.append(Replica(key.decode(), data.get("fixtures", ""), data.get("seen", 0.0)))
        return sorted(out, key=lambda r: r.id)

    async def info(self) -> dict[str, Any]:
        now, replicas, applied = time.time(), [], {}
        if self._problem is None:
            found = await self.replicas()
            for book in BOOKS:
                raw: Any = await self._call(self._client.hgetall(PREFIX + "applied:" + book))
                applied[book] = {k.decode(): int(v) for k, v in raw.items()}
            replicas = [{"id": r.id, "fixtures_digest": r.fixtures, "live": r.live(now),
                         "seconds_since_seen": round(now - r.seen, 3),
                         "versions": {b: applied[b].get(r.id, 0) for b in BOOKS},
                         "this": r.id == self.replica_id} for r in found]
        digests = {r["fixtures_digest"] for r in replicas if r["live"]}
        return {"backend": "redis", "url": self.name, "shared": True, "problem": self._problem,
                "replica": self.replica_id, "replicas": replicas,
                "fixtures_drift": len(digests) > 1}

    async def wait_applied(self, book: str, version: int) -> None:
        deadline = time.monotonic() + APPLY_WAIT
        await self._call(self._report_applied(book))  # this replica made the write
        while True:
            now = time.time()
            live = {r.id for r in await self.replicas() if r.live(now)}
            raw = await self._call(self._client.hgetall(PREFIX + "applied:" + book))
            behind = sorted(r for r in live if int(raw.get(r.encode(), 0)) < version)
            if not behind:
                return
            if time.monotonic() >= deadline:
                log.warning("%s version %d not yet applied by %s after %.1fs", book, version,
                            ", ".join(behind), APPLY_WAIT)
                return
            await asyncio.sleep(APPLY_POLL)

    # -- every command goes through here ---------------------------------------------
    async def _call(self, command: Awaitable[T]) -> T:
        try:
            return await command
        except (RedisError, OSError) as exc:
            self._down(_reason(exc))
            raise StoreUnavailable(self._problem) from None

    # -- records ---------------------------------------------------------------------
    def version(self, book: str) -> int:
        return self._known.get(book, 0)

    async def snapshot(self, book: str) -> Snapshot:
        version, records = await self._call(self._scripts["SNAPSHOT"](
            keys=[PREFIX + "r:" + book, PREFIX + "v:" + book]))
        return Snapshot(int(version), tuple(json.loads(r) for r in records))

    async def next_number(self, book: str) -> int:
        return int(await self._call(self._client.incr(PREFIX + "n:" + book)))

    async def add(self, book: str, record_id: str, record: dict[str, Any],
                  limit: int) -> tuple[int, int]:
        result = await self._call(self._scripts["ADD"](
            keys=[PREFIX + "r:" + book, PREFIX + "v:" + book, PREFIX + "v"],
            args=[record_id, json.dumps(record), limit, CHANNEL, book]))
        if result[0] == -1:
            raise RecordTaken(record_id)
        if result[0] == -2:
            raise BookFull(book)
        return int(result[0]), int(result[1])

    async def remove(self, book: str, record_ids: Sequence[str]) -> tuple[int, tuple[int, int]]:
        result = await self._call(self._scripts["REMOVE"](
            keys=[PREFIX + "r:" + book, PREFIX + "v:" + book, PREFIX + "v",
                  PREFIX + "c:" + book], args=[CHANNEL, book, *record_ids]))
        return int(result[0]), (int(result[1]), int(result[2]))

    # -- counters --------------------------------------------------------------------
    async def take(self, book: str, record_id: str, limit: int | None) -> int | None:
        taken = int(await self._call(self._scripts["TAKE"](
            keys=[PREFIX + "r:" + book, PREFIX + "c:" + book],
            args=[record_id, -1 if limit is None else limit])))
        return None if taken < 0 else taken

    async def bump(self, book: str, record_id: str, name: str) -> None:
        await self._call(self._client.hincrby(PREFIX + "c:" + book, f"{name}:{record_id}", 1))

    async def counters(self, book: str, record_ids: Sequence[str],
                       name: str = "n") -> dict[str, int]:
        if not record_ids:
            return {}
        values = await self._call(self._client.hmget(
            PREFIX + "c:" + book, [f"{name}:{i}" for i in record_ids]))
        return {i: int(v or 0) for i, v in zip(record_ids, values, strict=True)}

    # -- quotas ----------------------------------------------------------------------
    async def allow(self, scope: str, key: str, quotas: tuple[Quota, ...]) -> bool:
        """One script call (every window at once); none while a window it found full
        earlier is still full (see REFUSE_MARGIN)."""
        until = self._full.get((scope, key))
        if until is not None:
            if time.monotonic() < until:
                return False
            del self._full[(scope, key)]
        keys = [f"{PREFIX}q:{scope}:{key}:{i}" for i in range(len(quotas))]
        args = [q.requests for q in quotas] + \
            [0 if q.seconds == float("inf") else max(1, round(q.seconds * 1000)) for q in quotas]
        asked = time.monotonic()  # the window's time left is counted from before the call
        allowed, full_ms = await self._call(self._scripts["ALLOW"](keys=keys, args=args))
        if full_ms:
            self._refuse((scope, key), float("inf") if int(full_ms) < 0 else
                         asked + int(full_ms) / 1000 - REFUSE_MARGIN)
        return int(allowed) == 1

    def _refuse(self, window: tuple[str, str], until: float) -> None:
        if len(self._full) >= MAX_QUOTA_KEYS:
            now = time.monotonic()
            self._full = {k: v for k, v in self._full.items() if v > now}
            if len(self._full) >= MAX_QUOTA_KEYS:
                del self._full[next(iter(self._full))]
        self._full[window] = until

    async def forget_quota(self, scope: str) -> None:
        self._full.clear()
        pattern = _glob_escape(f"{PREFIX}q:{scope}:") + "*"
        keys = [key async for key in self._client.scan_iter(match=pattern, count=500)]
        if keys:
            await self._call(self._client.delete(*keys))

    # -- the journal -----------------------------------------------------------------
    async def journal_add(self, entry: JournalEntry, size: int,
                          numbered: Callable[[JournalEntry], None],
                          encoded: str | None = None) -> None:
        """Queued, and sent to Redis with whatever else is queued (one script call, one
        round trip) while the call's answer goes out: serving does not wait for Redis.
        Journal queries first have every replica send what it has queued (see
        :meth:`_journal_barrier`), so a call answered before a query is in its result."""
        if len(self._pending) >= MAX_PENDING:
            raise StoreUnavailable(f"state store {self.name}: journal writes are not keeping "
                                   f"up ({MAX_PENDING} waiting)")
        if encoded is None:
            data = entry.to_json()
            del data["seq"]
            encoded = json.dumps(data, ensure_ascii=False, default=str)
        self._pending.append((entry.tenant or "", encoded, entry, numbered))
        self._size = size
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush(JOURNAL_LINGER))

    async def _pause(self, seconds: float) -> None:
        """Waits ``seconds`` for more entries to go in the batch (less if a query waits)."""
        if seconds > 0 and not self._hurry.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), seconds)

    async def _flush(self, linger: float = 0.0) -> None:
        keys = [PREFIX + "journal", PREFIX + "journal:seq", PREFIX + "jbatch"]
        sha = self._scripts["JOURNAL_ADD"].sha  # loaded when the store (re)connected
        while self._pending:
            # what arrives meanwhile goes in the same round trip
            if len(self._pending) < JOURNAL_BATCH and self._unsent is None:
                await self._pause(max(linger, self._sent_at + JOURNAL_INTERVAL -
                                      time.monotonic()))
            linger = 0.0
            self._sent_at = time.monotonic()
            if self._unsent is None:  # a new batch; else the one that failed, again
                self._batches += 1
                self._unsent = (self._batches, min(len(self._pending), JOURNAL_BATCH))
            batch_id, size = self._unsent
            batch, self._pending = self._pending[:size], self._pending[size:]
            args: list[Any] = [self._size, self.replica_id, batch_id]
            for tenant, data, _, _ in batch:
                args += (tenant, data)
            try:
                first = int(await self._call(self._client.evalsha(sha, len(keys), *keys,
                                                                  *args)))
            except StoreUnavailable as exc:
                # kept, first in line, until the store answers again (see _set_problem);
                # the log says now what was answered, unnumbered
                log.warning("%d journal entries wait for the state store: %s",
                            len(self._pending) + len(batch), exc)
                for _, _, entry, numbered in batch:
                    if numbered is not None:
                        numbered(entry)
                self._pending[:0] = [(tenant, data, entry, None)
                                     for tenant, data, entry, _ in batch]
                return
            self._unsent = None
            for seq, (_, _, entry, numbered) in enumerate(batch, first):
                number(entry, seq)
                if numbered is not None:
                    numbered(entry)

    async def _drain(self) -> None:
        """Returns once what this process has queued for the journal is in Redis."""
        self._draining += 1
        self._hurry.set()
        try:
            while self._pending or (self._flushing is not None and not self._flushing.done()):
                if self._flushing is None or self._flushing.done():
                    self._flushing = asyncio.ensure_future(self._flush())
                await asyncio.shield(self._flushing)
                if self._pending and self._problem is not None:
                    raise StoreUnavailable(self._problem)  # they wait for the store
        finally:
            self._draining -= 1
            if not self._draining:
                self._hurry.clear()

    async def _journal_barrier(self) -> None:
        """Every live replica sends what it has queued for the journal (asked through
        pub/sub, each answers with the barrier's number); at most APPLY_WAIT."""
        await self._drain()
        token = int(await self._call(self._client.incr(PREFIX + "jsync")))
        await self._call(self._client.publish(CHANNEL, f"{JOURNAL} {token}"))
        deadline = time.monotonic() + APPLY_WAIT
        while True:
            now = time.time()
            live = {r.id for r in await self.replicas() if r.live(now)} - {self.replica_id}
            raw: Any = await self._call(self._client.hgetall(PREFIX + "jsynced"))
            behind = sorted(r for r in live if int(raw.get(r.encode(), 0)) < token)
            if not behind:
                return
            if time.monotonic() >= deadline:
                log.warning("journal entries of %s may be missing: no answer after %.1fs",
                            ", ".join(behind), APPLY_WAIT)
                return
            await asyncio.sleep(APPLY_POLL)

    async def journal_entries(self) -> list[JournalEntry]:
        await self._journal_barrier()
        items: Any = await self._call(self._client.xrange(PREFIX + "journal"))
        new = [(key, fields) for key, fields in items if key not in self._journal_cache]
        if len(new) > 50 and self.offload is not None:
            parsed = await self.offload(_parse_entries, new)
        else:
            parsed = _parse_entries(new)
        cache = {key: self._journal_cache.get(key) or parsed[key] for key, _ in items}
        self._journal_cache = cache  # bounded: only what the stream holds
        return list(cache.values())

    async def journal_clear(self, tenant: str | None) -> None:
        await self._journal_barrier()  # what is on its way is cleared too
        if tenant is None:
            await self._call(self._client.delete(PREFIX + "journal"))
        else:
            await self._call(self._scripts["JOURNAL_CLEAR"](keys=[PREFIX + "journal"],
                                                           args=[tenant]))


def _parse_entries(items: list[tuple[bytes, dict[bytes, bytes]]]) -> dict[bytes, JournalEntry]:
    out = {}
    for key, fields in items:
        data = json.loads(fields[b"e"])
        data["faults"] = tuple(data.get("faults") or ())
        out[key] = JournalEntry(seq=int(fields[b"s"]), **data)
    return out


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
