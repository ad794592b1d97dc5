"""Carrying out a call's fault plan on an HTTP connection: a reset, or a slow-dripped body.

Any aiohttp adapter ends its handler with ``return await deliver(request, response, plan)``.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from .core import Drip, FaultPlan


def reset(request: web.Request) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0): the client sees a reset, no answer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _drip(request: web.Request, response: web.Response, drip: Drip) -> web.StreamResponse:
    body = response.body
    if not isinstance(body, (bytes, bytearray)):  # every answer here is rendered bytes
        body = b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    chunk, pause = drip.chunk_bytes, drip.interval_ms / 1000
    try:
        for start in range(0, len(body), chunk):
            if start:
                await asyncio.sleep(pause)
            await stream.write(body[start:start + chunk])
        await stream.write_eof()
    except (ConnectionError, RuntimeError):  # the client went away mid-drip
        pass
    return stream


async def deliver(request: web.Request, response: web.Response,
                  plan: FaultPlan) -> web.StreamResponse:
    """The response as the plan says: unsent (reset), dripped, or as it is."""
    if plan.reset:
        reset(request)
        return response
    if plan.drip is not None:
        return await _drip(request, response, plan.drip)
    return response
