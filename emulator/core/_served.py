"""The images the emulator serves: generated placeholders and the fixtures' own files.

Every image a result points to is one of these, so a front end shows results with no
network. The HTTP routes serve them; the engine reads them too, when a query names one
of the emulator's own image URLs (it never fetches, so it draws or reads the image).
Bytes are drawn or read per request; a small LRU, bounded in bytes, keeps recent ones.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError

from ._digest import update_framed
from ._lru import BoundedLRU
from ._placeholder import (FILES_PREFIX, FORMATS, MAX_SIDE, PLACEHOLDER_PREFIX,
                           parse_placeholder, render_placeholder)

#: Emulator decision: a label longer than this is refused (it would not fit on the picture
#: and only makes URLs long); only its first 64 characters are drawn.
MAX_LABEL = 256
#: Emulator decision: recently served images kept, at most this many bytes in all.
CACHE_BYTES = 16 * 1024 * 1024
#: ... and at most this many, however small (labels are the client's to choose).
CACHE_ENTRIES = 1024
#: Placeholders never change for a URL; fixture files can (a reload), so clients revalidate.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@dataclass(frozen=True, slots=True)
class ServedImage:
    body: bytes
    content_type: str
    etag: str           # strong, quoted
    cache_control: str


class NotServed(LookupError):
    """No such image here (404), or a request for one that cannot be honoured (400)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


_CACHE: BoundedLRU[ServedImage] = BoundedLRU(CACHE_ENTRIES, CACHE_BYTES,
                                              size=lambda image: len(image.body))


def _etag(*parts: bytes) -> str:
    return f'"{update_framed(hashlib.sha256(), *parts).hexdigest()[:32]}"'


def placeholder(tail: str, label: str) -> ServedImage:
    """The placeholder at ``PLACEHOLDER_PREFIX + tail`` with its ``label``."""
    parsed = parse_placeholder(tail)
    if parsed is None:
        raise NotServed(404, f"no placeholder {tail!r}: the path is "
                             f"WxH/rrggbb.(png|jpg|gif|webp), sides 1 to {MAX_SIDE}")
    if len(label) > MAX_LABEL:
        raise NotServed(400, f"label must be at most {MAX_LABEL} characters")
    key = ("placeholder", tail, label)
    found = _CACHE.get(key)
    if found is None:
        width, height, rgb, ext = parsed
        fmt, content_type = FORMATS[ext]
        body = render_placeholder(width, height, rgb, label, fmt=fmt)
        found = ServedImage(body, content_type, _etag(body), IMMUTABLE)
        _CACHE.put(key, found)
    return found


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` with both sides 1 to MAX_SIDE; NotServed (400) otherwise."""
    width, sep, height = text.partition("x")
    if not (sep and width.isdigit() and height.isdigit() and width.isascii()
            and height.isascii() and len(width) <= 5 and len(height) <= 5
            and 1 <= int(width) <= MAX_SIDE and 1 <= int(height) <= MAX_SIDE):
        raise NotServed(400, f"size must be WxH, sides 1 to {MAX_SIDE}")
    return int(width), int(height)


def _fixture_path(image_dir: Path | None, name: str) -> Path:
    parts = Path(name).parts
    if image_dir is None or not name or Path(name).is_absolute() or ".." in parts \
            or any(p.startswith(".") for p in parts):
        raise NotServed(404, f"no fixture image {name!r}")
    path = image_dir / name
    if not path.is_file() or not path.resolve().is_relative_to(image_dir.resolve()):
        raise NotServed(404, f"no fixture image {name!r}")
    return path


def _resized(data: bytes, size: tuple[int, int]) -> tuple[bytes, str]:
    """The picture at exactly ``size``, upright, in its own format (first frame)."""
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format or "PNG"
        upright = ImageOps.exif_transpose(img)
    if fmt in ("JPEG", "MPO"):
        fmt, upright = "JPEG", upright.convert("RGB")
    elif upright.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        upright = upright.convert("RGBA")
    out = io.BytesIO()
    upright.resize(size, Image.Resampling.LANCZOS).save(out, format=fmt)
    return out.getvalue(), Image.MIME.get(fmt, "application/octet-stream")


def fixture_file(image_dir: Path | None, name: str, size: tuple[int, int] | None) -> ServedImage:
    """A file in the fixtures' ``images/`` folder, as it is or resized to ``size``."""
    data = _fixture_path(image_dir, name).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = "JPEG" if img.format == "MPO" else img.format or ""
    except (UnidentifiedImageError, OSError):
        raise NotServed(404, f"no fixture image {name!r}") from None
    if size is None:
        return ServedImage(data, Image.MIME.get(fmt, "application/octet-stream"),
                           _etag(data), REVALIDATE)
    key = ("file", hashlib.sha256(data).hexdigest(), size)
    found = _CACHE.get(key)
    if found is None:
        body, content_type = _resized(data, size)
        found = ServedImage(body, content_type, _etag(data, repr(size).encode()), REVALIDATE)
        _CACHE.put(key, found)
    return found


def own_image(image_dir: Path | None, path_and_query: str) -> ServedImage | None:
    """The image one of the emulator's own image paths (with its query) serves; None when
    the path is not one of them or names nothing."""
    split = urlsplit(path_and_query)
    path = unquote(split.path)
    query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
    try:
        if path.startswith(PLACEHOLDER_PREFIX):
            return placeholder(path[len(PLACEHOLDER_PREFIX):], query.get("label", ""))
        if path.startswith(FILES_PREFIX):
            size = parse_size(query["size"]) if "size" in query else None
            return fixture_file(image_dir, path[len(FILES_PREFIX):], size)
    except NotServed:
        return None
    return None
