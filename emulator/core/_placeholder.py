"""Generated placeholder pictures: an item's colour and label, at the size a result claims.

Deterministic: the same arguments give the same bytes on every machine (Pillow's built-in
bitmap font, PNG without timestamps), so fingerprints of generated items never drift.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from ._document import Color

#: The RGB each named colour is drawn in.
RGB: dict[Color, tuple[int, int, int]] = {
    Color.RED: (220, 40, 40), Color.ORANGE: (240, 140, 30), Color.YELLOW: (240, 220, 50),
    Color.GREEN: (50, 170, 70), Color.CYAN: (40, 200, 210), Color.BLUE: (40, 80, 210),
    Color.VIOLET: (140, 60, 200), Color.WHITE: (245, 245, 245), Color.BLACK: (20, 20, 20),
    Color.GRAY: (128, 128, 128),
}

#: Emulator decision: no placeholder is drawn larger than this on either side.
MAX_SIDE = 4096


def render_placeholder(width: int, height: int, rgb: tuple[int, int, int], label: str = "",
                       fmt: str = "PNG") -> bytes:
    """A ``width`` x ``height`` picture in ``rgb`` with ``label`` written on it."""
    width, height = max(1, min(width, MAX_SIDE)), max(1, min(height, MAX_SIDE))
    img = Image.new("RGB", (width, height), rgb)
    if label:
        ink = (0, 0, 0) if sum(rgb) > 384 else (255, 255, 255)
        ImageDraw.Draw(img).text((4, 4), label[:64], fill=ink)
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


#: Where the HTTP app serves images (placeholders and fixture files), under the control
#: plane's prefix, apart from every vendor's paths.
IMAGES_PATH = "/_emulator/images"


def placeholder_path(width: int, height: int, rgb: tuple[int, int, int], label: str = "") -> str:
    """The served path of a placeholder: stateless, so any process can draw it again."""
    from urllib.parse import quote

    hex_rgb = "".join(f"{c:02x}" for c in rgb)
    path = f"{IMAGES_PATH}/placeholder/{width}x{height}/{hex_rgb}.png"
    return f"{path}?label={quote(label, safe='')}" if label else path
