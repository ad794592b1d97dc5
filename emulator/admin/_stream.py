"""``/_emulator/requests/stream``: the journal as it grows, as server-sent events.

Contract (WHATWG HTML, "Server-sent events"): ``text/event-stream``, one event per entry
(``id:`` its seq, ``event: request``, ``data:`` its JSON), comment lines as keep-alives,
and a client that reconnects sends the last id it saw as ``Last-Event-ID``; the stream
then begins with the entries kept after it, so nothing is missed or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Iterator

from aiohttp import web

from ..core import Journal, JournalEntry, JournalFilter, ascii_integer
from ._common import AdminError, integer_param, state
from ._journal import journal_filter

#: Emulator decision: at most 16 streams open at once (a page each); one more is a 503.
MAX_STREAMS = 16
#: Emulator decision: a stream that falls 1,000 entries behind (a reader that stopped
#: reading) is ended; its client reconnects with ``Last-Event-ID`` and catches up from the
#: journal, so no stream holds more than this many entries.
MAX_BEHIND = 1000
#: Emulator decision: a comment line every 15 s keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0
#: Emulator decision: clients wait 2 s before they reconnect (the ``retry:`` field).
RETRY_MS = 2000
#: How often a quiet stream looks whether its client has gone (no write would tell).
GONE_CHECK_S = 1.0


class _Reader:
    """One open stream's entries not yet written."""

    def __init__(self) -> None:
        self.entries: deque[JournalEntry] = deque()
        self.wake = asyncio.Event()
        self.ended = False  # behind by too much, or the emulator is stopping

    def add(self, entry: JournalEntry) -> None:
        if len(self.entries) >= MAX_BEHIND:
            self.ended = True
        else:
            self.entries.append(entry)
        self.wake.set()


class JournalStreams:
    """The open streams of one journal: each new entry goes to every one of them."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._readers: set[_Reader] = set()
        journal.subscribe(self._recorded)

    def _recorded(self, entry: JournalEntry) -> None:
        for reader in self._readers:
            reader.add(entry)

    @contextlib.contextmanager
    def reader(self) -> Iterator[_Reader]:
        if len(self._readers) >= MAX_STREAMS:
            raise AdminError(503, f"{MAX_STREAMS} journal streams are open already")
        reader = _Reader()
        self._readers.add(reader)
        try:
            yield reader
        finally:
            self._readers.discard(reader)

    def close(self) -> None:
        """End every stream (the emulator is stopping)."""
        for reader in self._readers:
            reader.ended = True
            reader.wake.set()

    def __len__(self) -> int:
        return len(self._readers)


def _event(entry: JournalEntry) -> bytes:
    data = json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))
    return f"id: {entry.seq}\nevent: request\ndata: {data}\n\n".encode()


def _after(request: web.Request) -> int | None:
    """``?after=``, else the ``Last-Event-ID`` a reconnecting client sends (when it is a seq)."""
    after = integer_param(request, "after")
    if after is None:
        after = ascii_integer(request.headers.get("Last-Event-ID", "").strip())
    return after


async def stream_requests(request: web.Request) -> web.StreamResponse:
    admin = state(request)
    where = journal_filter(request, after=_after(request))
    with admin.streams.reader() as reader:  # taken first: nothing recorded from here is lost
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})  # nginx: pass each event on as it is written
        await response.prepare(request)
        await response.write(f"retry: {RETRY_MS}\n\n".encode())
        backlog = await admin.engine.journal.entries(where=where) if where.after is not None \
            else []
        with contextlib.suppress(ConnectionError):  # the client went away
            await _follow(request, response, reader, where, backlog)
    return response


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _follow(request: web.Request, response: web.StreamResponse, reader: _Reader,
                  where: JournalFilter, backlog: list[JournalEntry]) -> None:
    last, quiet = where.after or 0, 0.0
    while True:
        for entry in backlog:
            if entry.seq > last and where.accepts(entry):
                await response.write(_event(entry))
                last = entry.seq
        if reader.ended:
            return
        reader.wake.clear()
        while not reader.entries and not reader.ended:
            try:
                await asyncio.wait_for(reader.wake.wait(), GONE_CHECK_S)
            except asyncio.TimeoutError:
                if _gone(request):
                    return
                quiet += GONE_CHECK_S
                if quiet >= KEEPALIVE_S:
                    await response.write(b": keep-alive\n\n")
                    quiet = 0.0
        backlog = list(reader.entries)
        reader.entries.clear()

