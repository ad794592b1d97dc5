"""Strict base64 decoding, in C: images arrive base64-encoded in JSON on several vendors."""

from __future__ import annotations

import base64
import binascii
import sys

_URL_SAFE = bytes.maketrans(b"-_", b"+/")


def b64decode_strict(raw: bytes, url_safe: bool = False) -> bytes:
    """Only the standard alphabet (or, with ``url_safe``, ``-`` and ``_`` for ``+`` and
    ``/``), padded; raises ``binascii.Error`` otherwise. binascii's strict mode where Python
    has it: ``b64decode(validate=True)`` runs a regular expression over the whole image."""
    if url_safe:
        raw = raw.translate(_URL_SAFE)
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(raw, strict_mode=True)
    return base64.b64decode(raw, validate=True)
