"""Turning what a client sent into the typed request, for both transports.

gRPC bytes and REST JSON both end as the same protobuf message. Anything that cannot be
represented faithfully (two image sources, bad base64, unknown fields or enum names) is an
INVALID_ARGUMENT, never a silent change.
"""

from __future__ import annotations

import base64
import binascii
import json

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from ._errors import InvalidArgument

#: Field numbers of the ``image`` oneof in ImageSearchByImageRequest (url, data, id).
_IMAGE_ONEOF_FIELDS = {3: "url", 4: "data", 5: "id"}
_IMAGE_ONEOF_JSON = {"url": "url", "data": "data", "id": "id"}


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise DecodeError("truncated varint")
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def top_level_fields(raw: bytes) -> list[int]:
    """Field numbers present at the top level of a serialized message, in wire order."""
    fields, pos = [], 0
    while pos < len(raw):
        tag, pos = _varint(raw, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            _, pos = _varint(raw, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = _varint(raw, pos)
            pos += length
        elif wire_type == 5:
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wire_type}")
        if pos > len(raw):
            raise DecodeError("truncated field")
        fields.append(number)
    return fields


def from_wire(message_type: type, raw: bytes, *, image_oneof: bool = False):
    try:
        if image_oneof:
            sources = {_IMAGE_ONEOF_FIELDS[n] for n in top_level_fields(raw) if n in _IMAGE_ONEOF_FIELDS}
            if len(sources) > 1:
                raise InvalidArgument(
                    f"image: only one of url, data or id may be set, got {', '.join(sorted(sources))}")
        return message_type.FromString(raw)
    except DecodeError as exc:
        raise InvalidArgument(f"request could not be decoded: {exc}") from None


def decode_base64(value: str) -> bytes:
    """Standard or URL-safe base64, padded or not, as protobuf's JSON mapping allows.

    The mapping's own decoder silently drops characters outside the alphabet; we refuse
    them. Line breaks are the exception: the vendor's gateway (Go's base64) skips CR and
    LF, and ``base64`` wraps its output at 76 columns, so they are skipped, nothing else.
    """
    value = value.replace("\r", "").replace("\n", "")
    altchars = b"-_" if ("-" in value or "_" in value) else b"+/"
    unpadded = value.rstrip("=")
    if len(unpadded) % 4 == 1 or len(value) - len(unpadded) > 2:
        raise InvalidArgument("data: invalid base64 encoding")
    try:
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), altchars=altchars,
                                validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("data: invalid base64 encoding") from None


def from_json(message_type: type, body: bytes, *, image_oneof: bool = False):
    """Protobuf's JSON mapping: both field spellings, int64 as number or string, enum names."""
    try:
        document = json.loads(body.decode("utf-8") if body.strip() else "{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"malformed JSON request body: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgument("malformed JSON request body: expected an object")
    if image_oneof:
        sources = {key for key in document if key in _IMAGE_ONEOF_JSON and document[key] is not None}
        if len(sources) > 1:
            raise InvalidArgument(
                f"image: only one of url, data or id may be set, got {', '.join(sorted(sources))}")
    # the image is decoded here, once and strictly; a wrong type is left to json_format
    data = None
    if image_oneof and isinstance(document.get("data"), str):
        data = decode_base64(document.pop("data"))
    try:
        message = json_format.ParseDict(document, message_type())
    except json_format.ParseError as exc:
        raise InvalidArgument(f"invalid request: {exc}") from None
    if data is not None:
        message.data = data
    return message
