"""Digests of several parts at once, each framed by its length (so ``ab|c`` is not ``a|bc``)."""

from __future__ import annotations


def update_framed(hasher, *parts: bytes):
    """Feed ``parts`` to ``hasher`` with their lengths; a large part is not copied."""
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher
