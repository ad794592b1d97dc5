"""Images named in admin bodies (a fixture file, inline base64, a digest), fingerprinted
through the engine's decoding pool; the bytes are dropped once hashed."""

from __future__ import annotations

import binascii
from typing import Any

from ..core import Fingerprint, NotAnImage, b64decode_strict
from ..core._fingerprint import sha256_key
from ..core._fixtures import IMAGES_DIR, image_file
from ._common import AdminError, AdminState


async def _decode(state: AdminState, data: bytes, place: str) -> Fingerprint:
    try:
        return await state.engine.fingerprint(data)
    except NotAnImage as exc:
        raise AdminError(400, f"not an image: {exc}", place) from None


async def resolve(state: AdminState, raw: dict[str, Any]) -> tuple[bytes | None, Fingerprint | None]:
    """(key, fingerprint) of the image a stub or explain query names, if it names one."""
    if "image" in raw:
        path = image_file(state.reloader.directory, raw["image"])
        if path is None:
            raise AdminError(400, f"no image file {IMAGES_DIR}/{raw['image']} in the fixtures",
                             "$.image")
        data = await state.engine.control.run(path.read_bytes)
        fp = await _decode(state, data, "$.image")
        return fp.key, fp
    if "image_base64" in raw:
        try:
            data = b64decode_strict(raw["image_base64"].encode("ascii"))
        except (binascii.Error, ValueError):
            raise AdminError(400, "not base64", "$.image_base64") from None
        fp = await _decode(state, data, "$.image_base64")
        return fp.key, fp
    if "sha256" in raw:
        return sha256_key(raw["sha256"]), None
    return None, None
