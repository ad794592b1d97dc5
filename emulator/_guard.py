"""Bounds on HTTP connections: how long one may take to send its request head, and how
many are served at once, so a slow or idle client cannot hold descriptors for ever.

Every HTTP connection (both listeners of one process share one guard) is *idle* from the
moment it opens, and again from the end of each answer, until its next request reaches
the application; it is *busy* in between. An idle connection that has not sent a whole
request head within ``header_timeout`` seconds is closed, unanswered: no request arrived
to answer, and the target of half a request line cannot be trusted to pick a vendor
(nginx's ``client_header_timeout`` closes the same way).

Emulator decision, at the cap (``max_connections`` open): a new connection closes the
oldest idle one to make room, as nginx reuses idle keep-alive connections when it runs out
of ``worker_connections``; so a flood of idle or half-sent connections never locks a real
client out. When every open connection is busy with a request, the new one is closed at
once, unanswered (a client retries on a closed connection; an answer would need its
request, which is not read).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

log = logging.getLogger(__name__)


class Closable(Protocol):
    """What the guard needs of a connection's handler: aiohttp's ``force_close``."""

    def force_close(self) -> None: ...


class ConnectionGuard:
    """Open HTTP connections, idle ones oldest first, and their header timers."""

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self._open: set[Closable] = set()
        #: idle connections, oldest first (dicts keep insertion order), each with its timer
        self._idle: dict[Closable, asyncio.TimerHandle | None] = {}
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    @property
    def open(self) -> int:
        return len(self._open)

    def opened(self, conn: Closable) -> bool:
        """A connection was accepted; False if it is over the cap and must be closed."""
        if len(self._open) >= self.max_connections:
            if not self._idle:
                self.refused += 1
                log.warning("connection cap (%d) reached, every connection busy: refusing one",
                            self.max_connections)
                return False
            oldest = next(iter(self._idle))
            self.evicted += 1
            log.debug("connection cap (%d) reached: closing the oldest idle connection",
                      self.max_connections)
            self._close(oldest)
        self._open.add(conn)
        self._set_idle(conn)
        return True

    def closed(self, conn: Closable) -> None:
        self._forget(conn)

    def request_started(self, conn: Closable) -> None:
        self._stop_timer(conn)

    def request_finished(self, conn: Closable) -> None:
        if conn in self._open:
            self._set_idle(conn)

    def _set_idle(self, conn: Closable) -> None:
        self._stop_timer(conn)
        timer = None
        if self.header_timeout > 0:
            timer = asyncio.get_running_loop().call_later(self.header_timeout, self._expire, conn)
        self._idle[conn] = timer

    def _expire(self, conn: Closable) -> None:
        if conn in self._idle:
            self.timed_out += 1
            self._close(conn)

    def _close(self, conn: Closable) -> None:
        """Closed now; it no longer counts, though its connection_lost comes later."""
        self._forget(conn)
        conn.force_close()

    def _forget(self, conn: Closable) -> None:
        self._open.discard(conn)
        self._stop_timer(conn)

    def _stop_timer(self, conn: Closable) -> None:
        """The connection is no longer idle: its header timer, if any, is cancelled."""
        timer = self._idle.pop(conn, None)
        if timer is not None:
            timer.cancel()


GUARD = web.AppKey("connection_guard", ConnectionGuard)


@web.middleware
async def busy_while_handled(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
    """A request being handled keeps its connection busy until its answer is written: the
    task running this (aiohttp's one for the request) ends only after the answer is sent."""
    guard = request.app.get(GUARD)
    conn = request.protocol
    task = asyncio.current_task()
    if guard is not None and conn is not None and task is not None:
        guard.request_started(conn)
        task.add_done_callback(lambda _: guard.request_finished(conn))
    return await handler(request)
