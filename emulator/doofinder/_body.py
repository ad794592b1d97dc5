"""Request bodies: read with the vendor's size limit, parsed as JSON objects, and the
base64 of an image decoded.

Read here, not by aiohttp's ``client_max_size`` (the app's limit, for every vendor), so a
body over Doofinder's limit gets Doofinder's 413 and one just under it is served.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from ._errors import BadRequest, EntityTooLarge

#: Contract: bodies over 8 MB are refused (413). Emulator decision: 8 MiB, as a proxy's
#: ``8m`` means.
MAX_BODY_BYTES = 8 * 1024 * 1024
_CHUNK = 256 * 1024


class ClientGone(Exception):
    """The client closed the connection before its body arrived: nobody to answer."""


def check_declared_size(request: web.Request) -> None:
    """A declared body over the limit is refused before anything else, unread."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise EntityTooLarge()


async def read_body(request: web.Request) -> bytes:
    """The whole body (decoded from its Content-Encoding), at most the limit."""
    check_declared_size(request)
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.read(_CHUNK):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise EntityTooLarge()
            parts.append(chunk)
    except RequestPayloadError:  # not in its Content-Encoding, or cut short
        if request.transport is None or request.transport.is_closing():
            raise ClientGone() from None
        request.content.feed_eof()
        raise BadRequest() from None
    except (ConnectionError, asyncio.IncompleteReadError):
        raise ClientGone() from None
    return b"".join(parts)


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None for an empty body; ``Bad request`` otherwise."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        raise BadRequest() from None
    if not isinstance(value, dict):
        raise BadRequest()
    return value


_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def decode_base64(text: str) -> bytes | None:
    """Emulator decision: the standard and URL-safe alphabets, with or without padding,
    line breaks skipped (what encoders emit); None for anything else."""
    compact = "".join(text.split())
    if not _BASE64.fullmatch(compact):
        return None
    compact = compact.rstrip("=").replace("-", "+").replace("_", "/")
    if len(compact) % 4 == 1:
        return None
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except binascii.Error:
        return None
