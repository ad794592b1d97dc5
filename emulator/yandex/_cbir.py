"""CBIR ids: stateless handles on a query image, shaped like the vendor's.

A live id looks like ``4463870/96DyrJwvBwvRAPHPHt1h1Q9959``: digits, ``/``, 22 URL-safe
base64 characters, 4 digits. Ours carry the image's 16-byte key in the base64 part and a
keyed checksum in the digits, so any process can page with an id it never issued, and an
id it could not have issued is unknown (NOT_FOUND), with no server-side state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_SHAPE = re.compile(r"(\d{7})/([A-Za-z0-9_-]{22})(\d{4})")
_CHECKSUM_KEY = b"image-search-emulator/cbir/v1"


def _checksum(key: bytes) -> tuple[str, str]:
    digest = hashlib.blake2b(key, key=_CHECKSUM_KEY, digest_size=8).digest()
    prefix = 1_000_000 + int.from_bytes(digest[:4], "big") % 9_000_000
    suffix = int.from_bytes(digest[4:], "big") % 10_000
    return str(prefix), f"{suffix:04d}"


def encode(key: bytes) -> str:
    if len(key) != 16:
        raise ValueError("a CBIR key is 16 bytes")
    prefix, suffix = _checksum(key)
    return f"{prefix}/{base64.urlsafe_b64encode(key).decode()[:22]}{suffix}"


def decode(cbir_id: str) -> bytes | None:
    """The key an id carries, or None when no emulator could have issued it."""
    match = _SHAPE.fullmatch(cbir_id)
    if not match:
        return None
    try:
        key = base64.urlsafe_b64decode(match.group(2) + "==")
    except (binascii.Error, ValueError):
        return None
    if encode(key) != cbir_id:
        return None
    return key
