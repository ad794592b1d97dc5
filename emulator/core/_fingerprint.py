"""Image fingerprints: what identifies an image, and whether the bytes are an image at all.

Decoding is CPU work: callers run :func:`fingerprint` off the event loop. The bytes are
not kept; only the digest, size and perceptual hash survive the call.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

#: Emulator decision: two images whose 64-bit difference hashes differ in at most this many
#: bits are the same picture (a resized or re-encoded copy matches its fixture image).
PERCEPTUAL_DISTANCE = 6
#: A hash with fewer set (or clear) bits than this says too little to match on.
MIN_EDGES = 8

#: Emulator decision: refuse pictures that would take far more memory to decode than a
#: photo: over 100 megapixels as declared, or over 64 MiB once decoded (JPEG decodes at
#: 1/8 scale for hashing, so a 100-megapixel JPEG passes; a 7999x7999 PNG does not).
MAX_PIXELS = 100_000_000
MAX_DECODED_BYTES = 64 * 1024 * 1024


class NotAnImage(ValueError):
    """The bytes do not decode as an image."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    sha256: str
    format: str
    width: int
    height: int
    dhash: int

    @property
    def key(self) -> bytes:
        """The 16-byte key that seeds generated results and CBIR ids."""
        return sha256_key(self.sha256)

    @property
    def distinctive(self) -> bool:
        """Flat pictures (one colour, a plain gradient) all hash alike: never match on them."""
        return MIN_EDGES <= self.dhash.bit_count() <= 64 - MIN_EDGES

    def distance(self, other: "Fingerprint") -> int:
        """Bits in which the two perceptual hashes differ (0 to 64)."""
        return (self.dhash ^ other.dhash).bit_count()

    def looks_like(self, other: "Fingerprint") -> bool:
        return (self.distinctive and other.distinctive
                and self.distance(other) <= PERCEPTUAL_DISTANCE)


def visual_distance(a: Fingerprint, b: Fingerprint) -> float:
    """How different two pictures look, from 0.0 (the same) to 1.0: what catalogs rank by.

    Deterministic, and symmetric; ties are the caller's to break (by item order).
    """
    return a.distance(b) / 64


def sha256_key(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)[:16]


def fingerprint(data: bytes) -> Fingerprint:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise NotAnImage("image is too large to decode")
                fmt, width, height = (img.format or "").lower(), img.width, img.height
                img.draft("L", (64, 64))  # JPEG: decode at a fraction of the size
                if img.width * img.height * 4 > MAX_DECODED_BYTES:
                    raise NotAnImage("image is too large to decode")
                small = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    except NotAnImage:
        raise
    except UnidentifiedImageError:
        raise NotAnImage("unrecognised image format") from None
    except Exception as exc:  # Pillow's plugins raise many kinds (AVIF: RuntimeError)
        raise NotAnImage(type(exc).__name__) from None
    pixels = small.tobytes()  # mode L: one byte per pixel, row by row
    dhash = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            dhash = (dhash << 1) | (left > right)
    return Fingerprint(hashlib.sha256(data).hexdigest(), fmt, width, height, dhash)
