"""Turning what a client sent into the typed request, for both transports.

gRPC bytes and REST JSON both end as the same protobuf message. Anything that cannot be
represented faithfully (two image sources, bad base64, unknown fields or enum names) is an
INVALID_ARGUMENT, never a silent change.
"""

from __future__ import annotations

import binascii
import json
import re
from decimal import Decimal

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from typing import Any

from ..core import b64decode_strict
from ._errors import InvalidArgument

#: Field numbers of the ``image`` oneof in ImageSearchByImageRequest (url, data, id).
_IMAGE_ONEOF_FIELDS = {3: "url", 4: "data", 5: "id"}
_IMAGE_ONEOF_JSON = frozenset(_IMAGE_ONEOF_FIELDS.values())


def _one_image_source(sources: set[str]) -> None:
    if len(sources) > 1:
        raise InvalidArgument(
            f"image: only one of url, data or id may be set, got {', '.join(sorted(sources))}")


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


def from_wire(message_type: Any, raw: bytes, *, image_oneof: bool = False):
    try:
        if image_oneof:
            _one_image_source({_IMAGE_ONEOF_FIELDS[n] for n in top_level_fields(raw)
                               if n in _IMAGE_ONEOF_FIELDS})
        return message_type.FromString(raw)
    except DecodeError as exc:
        raise InvalidArgument(f"request could not be decoded: {exc}") from None


def decode_base64(value: str) -> bytes:
    """Standard or URL-safe base64, padded or not, as protobuf's JSON mapping allows.

    The mapping's own decoder silently drops characters outside the alphabet; we refuse
    them, and mixed alphabets and short padding too (Go's decoder behind the vendor's
    gateway refuses them). Line breaks are the exception: Go skips CR and LF, and
    ``base64`` wraps its output at 76 columns, so they are skipped, nothing else.
    """
    value = value.replace("\r", "").replace("\n", "")
    url_safe, standard = ("-" in value or "_" in value), ("+" in value or "/" in value)
    unpadded = value.rstrip("=")
    padding = len(value) - len(unpadded)
    if (url_safe and standard) or len(unpadded) % 4 == 1 or padding > 2 \
            or (padding and len(value) % 4):
        raise InvalidArgument("data: invalid base64 encoding")
    try:
        raw = (unpadded + "=" * (-len(unpadded) % 4)).encode("ascii")
        return b64decode_strict(raw, url_safe)
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise InvalidArgument("data: invalid base64 encoding") from None



_INT64_TYPES = {FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64,
                FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_INT32}
_DECIMAL_INTEGER = re.compile(r"-?[0-9]+")


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), name)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """Refuse a field given twice, in either spelling (``folderId`` and ``folder_id``):
    the vendor's gateway refuses it, and last-one-wins would silently drop a value."""
    seen: set[str] = set()
    for key, _ in pairs:
        canonical = _snake(key)
        if canonical in seen:
            raise InvalidArgument(f"invalid request: field {key!r} is given more than once")
        seen.add(canonical)
    return dict(pairs)


def _field(descriptor, key: str):
    return descriptor.fields_by_name.get(key) or next(
        (f for f in descriptor.fields if f.json_name == key), None)


def _exact_integer(path: str, value: object) -> object:
    """An int64 as the JSON mapping defines it: a JSON integer, an integral number, or a
    decimal string; Python's own ``int()`` would also take "1_000", " 1" or "١"."""
    if isinstance(value, bool):
        raise InvalidArgument(f"invalid request: {path}: expected an integer, got {value}")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise InvalidArgument(f"invalid request: {path}: expected an integer, got {value}")
        return int(value)
    if isinstance(value, str):
        if not (value.isascii() and _DECIMAL_INTEGER.fullmatch(value)) or len(value) > 20:
            raise InvalidArgument(f"invalid request: {path}: expected an integer, got {value!r}")
        return int(value)
    return value


def _exact_enum(path: str, field, value: object) -> object:
    """An enum as a value name or a JSON integer; never a bool, a fraction or "2"."""
    if isinstance(value, bool) or (isinstance(value, Decimal)
                                   and value != value.to_integral_value()):
        raise InvalidArgument(f"invalid request: {path}: invalid enum value {value}")
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, str) and value not in field.enum_type.values_by_name:
        raise InvalidArgument(f"invalid request: {path}: invalid enum value {value!r} "
                              f"for {field.enum_type.full_name}")
    return value


def _checked(document: dict, descriptor, prefix: str = "") -> dict:
    """Values checked and converted exactly, before protobuf's JSON parser sees them."""
    out = {}
    for key, value in document.items():
        field, path = _field(descriptor, key), f"{prefix}{key}"
        if field is None or value is None:
            out[key] = value  # unknown fields and nulls: json_format's verdict
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if not isinstance(value, dict):
                raise InvalidArgument(f"invalid request: {path}: expected an object")
            out[key] = _checked(value, field.message_type, path + ".")
        elif field.type in _INT64_TYPES:
            out[key] = _exact_integer(path, value)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            out[key] = _exact_enum(path, field, value)
        elif isinstance(value, Decimal):
            raise InvalidArgument(f"invalid request: {path}: expected a string, got {value}")
        else:
            out[key] = value
    return out


def from_json(message_type: Any, body: bytes, *, image_oneof: bool = False):
    """Protobuf's JSON mapping: both field spellings, int64 as number or string, enum names."""
    try:
        document = json.loads(body.decode("utf-8") if body.strip() else "{}",
                              object_pairs_hook=_unique_keys, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgument(f"malformed JSON request body: {exc}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integers too long
        raise InvalidArgument(f"malformed JSON request body: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise InvalidArgument("malformed JSON request body: expected an object")
    if image_oneof:
        _one_image_source({key for key in document
                           if key in _IMAGE_ONEOF_JSON and document[key] is not None})
    # the image is decoded here, once and strictly; a wrong type is left to json_format
    data = None
    if image_oneof and isinstance(document.get("data"), str):
        data = decode_base64(document.pop("data"))
    try:
        message = json_format.ParseDict(_checked(document, message_type.DESCRIPTOR), message_type())
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"invalid request: {exc}") from None
    if data is not None:
        message.data = data
    return message
