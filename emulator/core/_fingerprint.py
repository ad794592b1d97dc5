"""Image fingerprints: what identifies an image, and whether the bytes are an image at all.

One pipeline for every transport: the bytes are opened (only in the accepted formats),
checked against the pixel caps, turned upright by their EXIF orientation, flattened onto
white and reduced to a small RGB working copy. Everything else is read off that copy:

* ``dhash``: a 64-bit difference hash, and ``crops``: the same hash of a few light crops,
  so that a resized, re-encoded or slightly cropped copy stays within a few bits;
* ``colors``: how much of the picture is each named colour (a soft histogram, in integers
  so every machine gets the same numbers);
* ``seed``: a coarse key (dominant colours, brightness balance, shape) that a copy shares
  with its original, so generated results are the same for both.

Decoding is CPU work: callers run :func:`fingerprint` off the event loop. The bytes are
not kept; only the fingerprint survives the call.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import warnings
from functools import lru_cache
from pathlib import Path
from dataclasses import dataclass

import PIL
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from . import _diskcache, _png_bands
from ._document import Color
from ._lru import BoundedLRU
from ._palette import COLORS, RGB

#: Emulator decision: two images whose difference hashes (the closest of their light crops)
#: differ in at most this many of 64 bits are the same picture; fixtures may set their own.
PERCEPTUAL_DISTANCE = 8
#: Emulator decision: look-alikes must also share their colours: at most this colour
#: distance (0 to 1), so a red circle never stands for a blue one of the same shape.
MAX_COLOUR_DISTANCE = 0.25
#: What :meth:`Fingerprint.mismatch` finds: alike, or which look-alike test fails.
ALIKE, TOO_PLAIN, TOO_FAR, OTHER_COLOURS = range(4)
#: A hash with fewer set (or clear) bits than this says too little to match on.
MIN_EDGES = 8
HASH_BITS = 64

#: Emulator decision: the image formats a query may be in (MPO: what phone cameras write
#: as JPEG). Anything else is refused as an unsupported format.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF")


@lru_cache(maxsize=1)
def openable() -> tuple[str, ...]:
    """The accepted formats this Pillow can open. Registering every plugin takes about
    25 ms, so it is done when the first image is read (or by the warm-up after the ready
    line), not on import."""
    Image.init()
    return tuple(f for f in ACCEPTED_FORMATS if f in Image.OPEN)

#: Emulator decision: the largest picture read, by the size its header declares: 250
#: megapixels, so a 200-megapixel phone photo (16320x12240) passes with room for a
#: panorama; anything larger is "too large to decode". Pillow's own decompression-bomb
#: limit (a process-wide setting, 89 megapixels by default) is not used, nor changed.
MAX_PIXELS = 250_000_000
#: Emulator decision: the most memory a picture decoded at full size may take, counted at 4
#: bytes a pixel (as Pillow keeps RGB and RGBA): 64 MiB, about 16.7 megapixels. Larger
#: pictures are read reduced, never whole: JPEG decodes at 1/8 scale (draft mode), and a
#: PNG (not interlaced, not 16-bit colour) in bands of PNG_BAND_BYTES of scanlines, each
#: reduced before the next is read. Other formats (GIF, WebP, BMP, TIFF, AVIF, interlaced
#: or 16-bit colour PNG) over this are "too large to decode"; so is a picture whose reduced
#: copy would still be over it (a strip millions of pixels long).
MAX_DECODED_BYTES = 64 * 1024 * 1024
#: Emulator decision: the scanlines of one band of a PNG read in bands (4 MiB: a band's
#: decoding takes a few times this, whatever the picture's size).
PNG_BAND_BYTES = 4 * 1024 * 1024

#: Longest side of the working copy every measure is taken from.
WORK_SIDE = 128
_HASH_SIZE = (9, 8)
#: Light crops of every picture (left, top, right, bottom, as fractions of the sides): a
#: copy cut by a few per cent on any side hashes close to one of them.
CROP_BOXES: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 0.0, 0.0),
    *(box for f in (0.025, 0.05, 0.075)
      for box in ((f, f, f, f), (2 * f, 0.0, 0.0, 0.0), (0.0, 2 * f, 0.0, 0.0),
                  (0.0, 0.0, 2 * f, 0.0), (0.0, 0.0, 0.0, 2 * f))))

#: Colour shares are parts of this whole.
COLOR_SCALE = 10_000
_COLOR_SAMPLES = (16, 16)
#: A pixel counts towards every named colour within this RGB distance, the nearer the more
#: (a quadratic kernel in integers): shares change smoothly when a copy shifts colours.
_KERNEL_RADIUS_SQ = 110 * 110
_PALETTE = tuple(RGB[c] for c in COLORS)

#: Emulator decision: the brightness balance (left against right, top against bottom, of
#: a 2x2 view, 0-510) counts only beyond this margin, so a copy does not flip it.
BALANCE_MARGIN = 12
_SEED_VERSION = 1
_SEED_SEAL = b"image-search-emulator/seed/v1"

#: Emulator decision: visual distance weighs colour and shape equally; a flat picture's
#: hash says nothing, so its shape counts as halfway.
COLOUR_WEIGHT = 0.5
_UNKNOWN_SHAPE = 0.5
#: Only the same bytes are at distance 0: a different file always ranks after the original.
MIN_VISUAL_DISTANCE = 1 / 1024

#: Emulator decision: at most this many fingerprints (a few hundred bytes each) are kept
#: by digest, so a repeated query image is not decoded again.
FINGERPRINT_CACHE_SIZE = 1024


class NotAnImage(ValueError):
    """The bytes do not decode as an image: the message says why, for the vendor error."""


UNSUPPORTED = "unsupported or unrecognised image format"
TRUNCATED = "the image data is truncated"
CORRUPT = "the image data is corrupt"
TOO_LARGE = "the image is too large to decode"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    sha256: str
    format: str
    width: int   # as displayed: after the EXIF orientation
    height: int
    dhash: int
    colors: tuple[int, ...] = ()   # share of each named colour, in COLORS order
    crops: tuple[int, ...] = ()    # dhash of each of CROP_BOXES (the first is ``dhash``)
    seed: bytes = b""              # the perceptual key (see :func:`seed_colours`)

    @property
    def key(self) -> bytes:
        """The 16-byte key of these exact bytes: what exact rules and CBIR ids use."""
        return sha256_key(self.sha256)

    @property
    def distinctive(self) -> bool:
        """Flat pictures (one colour, a plain gradient) all hash alike: never match on them."""
        return MIN_EDGES <= self.dhash.bit_count() <= HASH_BITS - MIN_EDGES

    def distance(self, other: Fingerprint) -> int:
        """Bits in which the perceptual hashes differ (0 to 64), the closest light crop of
        either picture counting: a cropped copy is near its original, either way round."""
        best = (self.dhash ^ other.dhash).bit_count()
        for crop in other.crops:
            best = min(best, (self.dhash ^ crop).bit_count())
        for crop in self.crops:
            best = min(best, (other.dhash ^ crop).bit_count())
        return best

    def colour_distance(self, other: Fingerprint) -> float:
        """How different the colour shares are, from 0.0 (the same) to 1.0 (none shared)."""
        if not self.colors or not other.colors:
            return 1.0
        return sum(abs(a - b) for a, b in zip(self.colors, other.colors, strict=True)) / (2 * COLOR_SCALE)

    def mismatch(self, other: Fingerprint, max_distance: int = PERCEPTUAL_DISTANCE) -> int:
        """The look-alike tests, in order: ALIKE, or the first that fails (TOO_PLAIN,
        TOO_FAR, OTHER_COLOURS). Matching and explain both ask this."""
        if not (self.distinctive and other.distinctive):
            return TOO_PLAIN
        if self.distance(other) > max_distance:
            return TOO_FAR
        if self.colour_distance(other) > MAX_COLOUR_DISTANCE:
            return OTHER_COLOURS
        return ALIKE

    def looks_like(self, other: Fingerprint, max_distance: int = PERCEPTUAL_DISTANCE) -> bool:
        return self.mismatch(other, max_distance) == ALIKE


def visual_distance(a: Fingerprint, b: Fingerprint) -> float:
    """How different two pictures look, from 0.0 (the same bytes) to 1.0: what catalogs
    rank by. Colour and shape count alike, so a mostly-red query ranks red pictures first
    and a copy of a picture ranks that picture first.

    Deterministic, and symmetric; ties are the caller's to break (by item order).
    """
    if a.sha256 == b.sha256:
        return 0.0
    shape = (a.distance(b) / HASH_BITS if a.distinctive and b.distinctive
             else _UNKNOWN_SHAPE)
    mixed = COLOUR_WEIGHT * a.colour_distance(b) + (1 - COLOUR_WEIGHT) * shape
    return max(MIN_VISUAL_DISTANCE, mixed)


def sha256_key(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)[:16]


# -- the perceptual key -------------------------------------------------------------------
def _seal(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, key=_SEED_SEAL, digest_size=8).digest()


def _balance(value: int) -> int:
    return 0 if abs(value) < BALANCE_MARGIN else (1 if value > 0 else 2)


def _shape_class(width: int, height: int) -> int:
    """Portrait, squarish or landscape, with bounds far from the common ratios (3:4, 1:1,
    4:3, 16:9), so a light crop keeps the class."""
    if width * 100 < 83 * height:
        return 0
    return 2 if width * 100 > 120 * height else 1


def _perceptual_key(colors: tuple[int, ...], quad: bytes, width: int, height: int) -> bytes:
    """16 bytes: version, the two dominant colours, the brightness balance and the shape
    class, then a seal that tells such a key from any other (a digest, a URL's seed)."""
    first, second = sorted(range(len(colors)), key=lambda i: (-colors[i], i))[:2]
    left_right = quad[0] + quad[2] - quad[1] - quad[3]
    top_bottom = quad[0] + quad[1] - quad[2] - quad[3]
    payload = bytes([_SEED_VERSION, first, second, _balance(left_right), _balance(top_bottom),
                     _shape_class(width, height), 0, 0])
    return payload + _seal(payload)


def seed_colours(key: bytes) -> tuple[Color, Color] | None:
    """The dominant colours a perceptual key carries; None for any other key. Paging by a
    CBIR id restores the ranking from this alone."""
    if len(key) != 16 or key[0] != _SEED_VERSION or _seal(key[:8]) != key[8:]:
        return None
    if key[1] >= len(COLORS) or key[2] >= len(COLORS):
        return None
    return COLORS[key[1]], COLORS[key[2]]


# -- decoding -----------------------------------------------------------------------------
def _upright_rgb(img: Image.Image) -> tuple[Image.Image, bool]:
    """The picture as displayed (EXIF orientation applied), on white, in RGB, at most
    about twice the working size; and whether the orientation swapped its sides."""
    swapped = img.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8)
    img = ImageOps.exif_transpose(img)  # loads the pixels
    if img.mode == "P":
        img = img.convert("RGBA")  # palette colours (and transparency) before scaling
    elif img.mode == "1":
        img = img.convert("L")  # reduced as grey, as a PNG read in bands is
    factor = min(img.width, img.height) // (2 * WORK_SIDE)
    if factor >= 2 and img.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
        img = img.reduce(factor)
    if "A" in img.mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB"), swapped
    if img.mode.startswith("I;16"):
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    return img.convert("RGB"), swapped


def _open_image(data: bytes) -> ImageFile.ImageFile:
    """The picture, its pixels not yet read, in one of the accepted formats. Pillow's
    ``Image.open`` would also apply its process-wide decompression-bomb limit, stricter
    than MAX_PIXELS; the caps here are checked by the caller instead."""
    fp, prefix = io.BytesIO(data), data[:16]
    for name in openable():
        factory, accept = Image.OPEN[name]
        accepted = accept(prefix) if accept is not None else True
        if accepted and not isinstance(accepted, str):
            fp.seek(0)
            try:
                return factory(fp, "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # not this format after all (as Image.open tries the next)
    raise UnidentifiedImageError("cannot identify image file")


def _open(data: bytes) -> tuple[str, int, int, Image.Image]:
    """(format, displayed width, displayed height, small RGB working copy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open_image(data) as img:
            if img.width * img.height > MAX_PIXELS:
                raise NotAnImage(TOO_LARGE)
            fmt, width, height = (img.format or "").lower(), img.width, img.height
            img.draft("RGB", (WORK_SIDE, WORK_SIDE))  # JPEG: decode at a fraction of the size
            if img.width * img.height * 4 <= MAX_DECODED_BYTES:
                work, swapped = _upright_rgb(img)
            elif fmt == "png":
                work, swapped = _png_in_bands(data, width, height)
            else:
                raise NotAnImage(TOO_LARGE)
    work.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    return (fmt, height, width, work) if swapped else (fmt, width, height, work)


def _png_in_bands(data: bytes, width: int, height: int) -> tuple[Image.Image, bool]:
    """A PNG too large to decode whole, read a band at a time (see :mod:`._png_bands`)."""
    layout = _png_bands.read_layout(data)
    factor = max(1, min(width, height) // (2 * WORK_SIDE))
    reduced_bytes = -(-width // factor) * -(-height // factor) * 4
    if (not layout.bandable or factor * (layout.stride + 1) > PNG_BAND_BYTES
            or reduced_bytes > MAX_DECODED_BYTES):
        raise NotAnImage(TOO_LARGE)
    return _png_bands.reduced(layout, factor, PNG_BAND_BYTES)


def _dhash(gray: Image.Image, box: tuple[float, float, float, float]) -> int:
    w, h = gray.size
    left, top, right, bottom = box
    small = gray.resize(_HASH_SIZE, Image.Resampling.LANCZOS,
                        box=(left * w, top * h, w - right * w, h - bottom * h))
    cols, rows = _HASH_SIZE
    pixels = small.tobytes()  # mode L: one byte per pixel, row by row
    value = 0
    for row in range(rows):
        for col in range(cols - 1):
            value = (value << 1) | (pixels[row * cols + col] > pixels[row * cols + col + 1])
    return value


def _colour_shares(work: Image.Image) -> tuple[int, ...]:
    """Each named colour's share of the picture, in parts of COLOR_SCALE: every sampled
    pixel is split between the named colours near it, in integer arithmetic (each pixel's
    squared distances, kernel weights and floor-divided shares, as integers; a pixel far
    from every named colour goes to the nearest, the first of equals)."""
    import numpy as np  # what a first image query needs, not start-up

    raw = work.resize(_COLOR_SAMPLES, Image.Resampling.BOX).tobytes()
    pixels = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
    offsets = pixels[:, None, :] - np.array(_PALETTE, dtype=np.int64)[None, :, :]
    distances = (offsets * offsets).sum(axis=2)  # (pixel, named colour)
    weights = np.maximum(0, _KERNEL_RADIUS_SQ - distances)
    total = weights.sum(axis=1)
    far = np.flatnonzero(total == 0)
    if len(far):
        weights[far, distances[far].argmin(axis=1)] = 1
        total[far] = 1
    totals = (weights * COLOR_SCALE // total[:, None]).sum(axis=0)
    samples = len(raw) // 3
    return tuple(int(t) // samples for t in totals.tolist())


def fingerprint(data: bytes, sha256: str | None = None) -> Fingerprint:
    """Decode and measure one image; raises :class:`NotAnImage` saying why it cannot."""
    try:
        fmt, width, height, work = _open(data)
    except NotAnImage:
        raise
    except UnidentifiedImageError:
        raise NotAnImage(UNSUPPORTED) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise NotAnImage(TOO_LARGE) from None
    except OSError as exc:
        raise NotAnImage(TRUNCATED if "truncated" in str(exc) else CORRUPT) from None
    except Exception:  # Pillow's plugins raise many kinds (AVIF: RuntimeError)
        raise NotAnImage(CORRUPT) from None
    gray = work.convert("L")
    crops = tuple(_dhash(gray, box) for box in CROP_BOXES)
    colors = _colour_shares(work)
    quad = gray.resize((2, 2), Image.Resampling.BOX).tobytes()
    return Fingerprint(sha256 or hashlib.sha256(data).hexdigest(), fmt, width, height,
                       crops[0], colors, crops, _perceptual_key(colors, quad, width, height))


def kept_fingerprint(data: bytes) -> Fingerprint:
    """:func:`fingerprint`, kept in the start-up cache (see :mod:`._diskcache`) under the
    digest of the bytes, this code and Pillow's version: a fixture image is decoded on the
    first launch only. Raises :class:`NotAnImage` (never kept)."""
    digest = hashlib.sha256(data).hexdigest()
    key = _diskcache.key_of(bytes.fromhex(digest), *_measure_sources())
    kept = _diskcache.load("fingerprints", key)
    if kept is not None:
        try:
            sha, fmt, width, height, dhash, colors, crops, seed = json.loads(kept)
            return Fingerprint(sha, fmt, width, height, dhash, tuple(colors), tuple(crops),
                               bytes.fromhex(seed))
        except (ValueError, TypeError):
            pass  # not one this code wrote: measured again
    fp = fingerprint(data, digest)
    _diskcache.store("fingerprints", key, json.dumps(
        [fp.sha256, fp.format, fp.width, fp.height, fp.dhash, fp.colors, fp.crops,
         fp.seed.hex()]).encode())
    return fp


@lru_cache(maxsize=1)
def _measure_sources() -> tuple[bytes, ...]:
    return (Path(__file__).read_bytes(), Path(_png_bands.__file__).read_bytes(),
            PIL.__version__.encode())


class FingerprintCache:
    """Fingerprints by digest, most recently used kept: a repeated image is hashed, not
    decoded. Thread-safe (the decode pool calls it from two threads)."""

    def __init__(self, size: int = FINGERPRINT_CACHE_SIZE) -> None:
        self.size = size
        self._items: BoundedLRU[Fingerprint] = BoundedLRU(size)

    def __len__(self) -> int:
        return len(self._items)

    def cached(self, digest: str) -> Fingerprint | None:
        """The fingerprint of the image with this SHA-256 (hex), if it is kept."""
        return self._items.get(digest)

    def fingerprint(self, data: bytes, digest: str | None = None) -> Fingerprint:
        digest = digest or hashlib.sha256(data).hexdigest()
        found = self.cached(digest)
        if found is not None:
            return found
        fp = fingerprint(data, digest)
        self._items.put(digest, fp)
        return fp
