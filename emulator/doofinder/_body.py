"""Request bodies: read with the vendor's size limit, parsed as JSON objects, and the
base64 of an image decoded.

Read here, not by aiohttp's ``client_max_size`` (the app's limit, for every vendor), so a
body over Doofinder's limit gets Doofinder's 413 and one just under it is served.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

from aiohttp import web

from .. import _http, _pipeline
from ..core import b64decode_strict
from ._errors import BadRequest, EntityTooLarge

#: Contract: bodies over 8 MB are refused (413); see the pipeline's limit.
MAX_BODY_BYTES = _pipeline.MAX_BODY_BYTES


def check_declared_size(request: web.Request) -> None:
    """A declared body over the limit is refused before anything else, unread."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise EntityTooLarge()


async def read_body(request: web.Request) -> bytes:
    """The whole body (decoded from its Content-Encoding), at most the limit."""
    try:
        return await _http.read_body(request, MAX_BODY_BYTES)
    except _http.BodyTooLarge:
        raise EntityTooLarge() from None
    except _http.BodyUnreadable:
        raise BadRequest() from None


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


def decode_base64(text: str) -> bytes | None:
    """Emulator decision: the standard and URL-safe alphabets, with or without padding,
    line breaks skipped (what encoders emit); None for anything else."""
    if any(c in text for c in " \t\r\n\f\v"):
        text = "".join(text.split())
    try:
        raw = text.rstrip("=").encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(raw) % 4 == 1 or len(text) - len(raw) > 2:
        return None
    try:
        return b64decode_strict(raw + b"=" * (-len(raw) % 4),
                                url_safe=b"-" in raw or b"_" in raw)
    except binascii.Error:
        return None
