"""The image document: one search result, as the fixture catalog holds it.

Every vendor output (Yandex JSON, gRPC and XML) is rendered from these fields, so one
fixture document feeds them all. The core knows nothing of any wire format.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from urllib.parse import urlsplit


class ImageFormat(enum.Enum):
    JPEG = "jpeg"
    GIF = "gif"
    PNG = "png"
    WEBP = "webp"  # seen in live XML documents; the v2 enum has no value for it


class Orientation(enum.Enum):
    HORIZONTAL = "horizontal"
    VERTICAL = "vertical"
    SQUARE = "square"


class SizeClass(enum.Enum):
    ENORMOUS = "enormous"
    LARGE = "large"
    MEDIUM = "medium"
    SMALL = "small"
    TINY = "tiny"
    WALLPAPER = "wallpaper"


class Color(enum.Enum):
    """Dominant colour of an image; ``GRAY`` marks a black-and-white image."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    CYAN = "cyan"
    BLUE = "blue"
    VIOLET = "violet"
    WHITE = "white"
    BLACK = "black"
    GRAY = "gray"


#: Emulator decision: an image counts as square when its sides differ by at most 5 %.
SQUARE_TOLERANCE = 0.05

#: Emulator decision: screen sizes (aspect ratios) that make an image a wallpaper
#: when it is at least 1024 pixels wide.
WALLPAPER_RATIOS = (4 / 3, 5 / 4, 16 / 9, 16 / 10, 21 / 9)
WALLPAPER_MIN_WIDTH = 1024

#: Emulator decision: thumbnails fit in this box, as the live documents' thumbnails do.
THUMBNAIL_BOX = (480, 320)


def orientation_of(width: int, height: int) -> Orientation:
    if abs(width - height) <= SQUARE_TOLERANCE * max(width, height, 1):
        return Orientation.SQUARE
    return Orientation.HORIZONTAL if width > height else Orientation.VERTICAL


def size_classes_of(width: int, height: int) -> frozenset[SizeClass]:
    """The vendor's size buckets (tiny <=32x32 ... enormous >1600x1200), plus wallpaper."""
    if width <= 32 and height <= 32:
        bucket = SizeClass.TINY
    elif width <= 150 and height <= 150:
        bucket = SizeClass.SMALL
    elif width <= 800 and height <= 600:
        bucket = SizeClass.MEDIUM
    elif width <= 1600 and height <= 1200:
        bucket = SizeClass.LARGE
    else:
        bucket = SizeClass.ENORMOUS
    classes = {bucket}
    if width >= WALLPAPER_MIN_WIDTH and height and any(
        abs(width / height - ratio) < 0.02 for ratio in WALLPAPER_RATIOS
    ):
        classes.add(SizeClass.WALLPAPER)
    return frozenset(classes)


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    box_w, box_h = THUMBNAIL_BOX
    scale = min(1.0, box_w / max(width, 1), box_h / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


@dataclass(frozen=True, slots=True)
class ImageDocument:
    """One found image and the page it was found on."""

    doc_id: str
    url: str
    page_url: str
    page_title: str
    passage: str
    width: int
    height: int
    format: ImageFormat
    file_size: int
    thumbnail_width: int
    thumbnail_height: int
    modified: dt.datetime
    color: Color
    family_safe: bool
    host: str
    #: where the thumbnail is served; None: the vendor's own thumbnail link for the image
    thumbnail_url: str | None = None

    @property
    def domain(self) -> str:
        """Host of the image file itself (``host`` is the host of the page)."""
        return host_of(self.url)

    @property
    def orientation(self) -> Orientation:
        return orientation_of(self.width, self.height)

    @property
    def size_classes(self) -> frozenset[SizeClass]:
        return size_classes_of(self.width, self.height)
