"""Generated placeholder pictures: an item's colour and label, at the size a result claims.

Deterministic: the same arguments give the same picture on every machine (Pillow's
built-in bitmap font, PNG without timestamps). Each label also shades a grid of tiles of
its own, so two items of one colour are told apart by their pictures (their perceptual
hashes differ), while the picture stays mostly the item's colour. The layout scales with
the picture, so a thumbnail fingerprints like the full-size image.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from PIL import Image, ImageDraw, ImageFont

from ._fingerprint import Fingerprint, fingerprint
from ._palette import RGB  # noqa: F401  (the placeholder colours, re-exported)

#: Emulator decision: no placeholder is drawn larger than this on either side.
MAX_SIDE = 4096
#: The grid of shaded tiles a label picks (columns, rows), and how far a tile's shade
#: moves towards white or black (in 1/256).
_GRID = (6, 6)
_SHADE = 64
#: The label fills a band this fraction of the height, at the bottom.
_LABEL_BAND = 1 / 8
_LABEL_CHARS = 64

#: Where the HTTP app serves images (placeholders and fixture files), under the control
#: plane's prefix, apart from every vendor's paths.
IMAGES_PATH = "/_emulator/images"
PLACEHOLDER_PREFIX = f"{IMAGES_PATH}/placeholder/"
FILES_PREFIX = f"{IMAGES_PATH}/files/"
#: The file extensions a placeholder is served in: Pillow's format, and the media type.
FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg"),
    "gif": ("GIF", "image/gif"), "webp": ("WEBP", "image/webp"),
}
_PLACEHOLDER_TAIL = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})/([0-9a-f]{6})\.([a-z]+)")

#: At most this many placeholder fingerprints are kept (a few hundred bytes each).
FINGERPRINT_CACHE_SIZE = 4096


def _mix(rgb: tuple[int, int, int], towards: int, amount: int) -> tuple[int, int, int]:
    return tuple(c + (towards - c) * amount // 256 for c in rgb)  # type: ignore[return-value]


def _tiles(img: Image.Image, rgb: tuple[int, int, int], label: str) -> None:
    """Shade the label's tiles: each one lighter, darker or as it is, by a keyed hash."""
    digest = hashlib.blake2b(label.encode("utf-8", "surrogatepass"),
                             key=b"placeholder-tiles", digest_size=32).digest()
    bits = int.from_bytes(digest, "big")
    cols, rows = _GRID
    draw = ImageDraw.Draw(img)
    for i in range(cols * rows):
        shade = bits >> (2 * i) & 3
        if shade == 0 or shade == 3:
            continue
        fill = _mix(rgb, 255, _SHADE) if shade == 1 else _mix(rgb, 0, _SHADE)
        col, row = i % cols, i // cols
        box = (img.width * col // cols, img.height * row // rows,
               img.width * (col + 1) // cols - 1, img.height * (row + 1) // rows - 1)
        draw.rectangle(box, fill=fill)


def _label(img: Image.Image, rgb: tuple[int, int, int], label: str) -> None:
    """The label in the bitmap font, scaled to the band at the bottom (so it takes the same
    share of any size of the picture)."""
    font = ImageFont.load_default_imagefont()
    text = label[:_LABEL_CHARS]
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, right - left + 2), max(1, bottom - top + 2)), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, fill=255, font=font)
    band = max(1, round(img.height * _LABEL_BAND))
    width = min(img.width, max(1, mask.width * band // mask.height))
    mask = mask.resize((width, band), Image.Resampling.NEAREST)
    ink = (0, 0, 0) if sum(rgb) > 384 else (255, 255, 255)
    img.paste(Image.new("RGB", mask.size, ink), (0, img.height - band), mask)


def render_placeholder(width: int, height: int, rgb: tuple[int, int, int], label: str = "",
                       fmt: str = "PNG") -> bytes:
    """A ``width`` x ``height`` picture in ``rgb`` with ``label`` written on it; sizes
    outside 1..MAX_SIDE are a ValueError (never silently another size)."""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"placeholder sides must be 1 to {MAX_SIDE} pixels")
    img = Image.new("RGB", (width, height), rgb)
    if label:
        _tiles(img, rgb, label)
        _label(img, rgb, label)
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


@lru_cache(maxsize=FINGERPRINT_CACHE_SIZE)
def placeholder_fingerprint(width: int, height: int, rgb: tuple[int, int, int],
                            label: str = "", ext: str = "png") -> Fingerprint:
    """The fingerprint of the placeholder :func:`placeholder_path` serves: what a catalog
    item's picture is ranked by (the served bytes are the same, so its digest is too)."""
    return fingerprint(render_placeholder(width, height, rgb, label, fmt=FORMATS[ext][0]))


@dataclass(frozen=True, slots=True)
class PlaceholderPicture:
    """A placeholder an item is shown with, not yet drawn: calling it fingerprints it.
    Equal for equal pictures, so a catalog draws each distinct one once."""

    width: int
    height: int
    rgb: tuple[int, int, int]
    label: str

    def __call__(self) -> Fingerprint:
        return placeholder_fingerprint(self.width, self.height, self.rgb, self.label)

    def path(self) -> str:
        """Where the emulator serves the picture."""
        return placeholder_path(self.width, self.height, self.rgb, self.label)

    @property
    def spec(self) -> bytes:
        """The picture as bytes (what a cache of drawn pictures is keyed by)."""
        return self.path().encode()


def files_path(name: str, size: tuple[int, int] | None = None) -> str:
    """The served path of a file of the fixtures' ``images/`` folder; with ``size``, the
    file resized to exactly that width and height (what a document claims)."""
    path = f"{FILES_PREFIX}{quote(name)}"
    return f"{path}?size={size[0]}x{size[1]}" if size else path


def placeholder_path(width: int, height: int, rgb: tuple[int, int, int], label: str = "",
                     ext: str = "png") -> str:
    """The served path of a placeholder: stateless, so any process can draw it again."""
    red, green, blue = rgb
    path = f"{PLACEHOLDER_PREFIX}{width}x{height}/{red:02x}{green:02x}{blue:02x}.{ext}"
    return f"{path}?label={quote(label, safe='')}" if label else path


def parse_placeholder(tail: str) -> tuple[int, int, tuple[int, int, int], str] | None:
    """``WxH/rrggbb.ext`` (what follows PLACEHOLDER_PREFIX) as (width, height, rgb, ext);
    None when it is not one :func:`placeholder_path` makes, or too large to draw."""
    match = _PLACEHOLDER_TAIL.fullmatch(tail)
    if match is None or match.group(4) not in FORMATS:
        return None
    width, height = int(match.group(1)), int(match.group(2))
    if width > MAX_SIDE or height > MAX_SIDE:
        return None
    hex_rgb = match.group(3)
    rgb = (int(hex_rgb[0:2], 16), int(hex_rgb[2:4], 16), int(hex_rgb[4:6], 16))
    return width, height, rgb, match.group(4)
