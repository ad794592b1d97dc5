"""Test pictures and their copies: what clients do to an image before they upload it."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A busy, photo-like picture (a gradient, shapes, soft edges), the same for a seed."""
    rnd = random.Random(seed)
    colours = [tuple(rnd.randrange(256) for _ in range(3)) for _ in range(2)]
    mask = Image.linear_gradient("L").rotate(rnd.randrange(360)).resize(size)
    img = Image.composite(Image.new("RGB", size, colours[0]), Image.new("RGB", size, colours[1]), mask)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        box = (x, y, x + rnd.randrange(40, 300), y + rnd.randrange(40, 300))
        fill = tuple(rnd.randrange(256) for _ in range(3))
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return img.filter(ImageFilter.GaussianBlur(2))


def crop(img: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = img.size
    return img.crop((int(w * left), int(h * top), w - int(w * right), h - int(h * bottom)))


def variants(data: bytes) -> dict[str, bytes]:
    """The copies a client makes: re-encoded at JPEG quality 50, resized to half, PNG and
    JPEG each way, lightly cropped, and turned on its side with an EXIF orientation."""
    img = decode(data)
    half = img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the pixels are stored turned the other way
    return {
        "jpeg-q50": encode(img, "JPEG", quality=50),
        "half-size": encode(half, "PNG"),
        "png": encode(img, "PNG"),
        "jpeg": encode(img, "JPEG", quality=90),
        "crop-3pc": encode(crop(img, 0.03, 0.03, 0.03, 0.03), "PNG"),
        "crop-5pc-left": encode(crop(img, 0.05, 0.0, 0.0, 0.0), "JPEG", quality=85),
        "exif-rotated": encode(img.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=90,
                               exif=exif.tobytes()),
    }
