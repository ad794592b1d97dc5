"""Photo-like JPEGs of a chosen size, the same bytes on every run.

A load test of an image API is only realistic with images that cost what photos cost to
read and decode: large, structured (so a perceptual hash has edges to see) and noisy (so
JPEG cannot shrink them to nothing). Pixels come from a seeded ``random.Random`` only, so
the same seed and size give the same picture; the encoder's quality is then searched for
the byte size wanted.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True)
class BenchImage:
    name: str  # file name in the fixture directory, e.g. "bench-100k.jpg"
    data: bytes

    @property
    def label(self) -> str:
        """A human size: "100 KB", "2.9 MiB"."""
        size = len(self.data)
        return f"{size / 1000:.0f} KB" if size < 1024 * 1024 else f"{size / 2**20:.1f} MiB"


def _picture(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    tint = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    picture = Image.blend(Image.linear_gradient("L").resize((width, height)).convert("RGB"),
                          tint, 0.6)
    draw = ImageDraw.Draw(picture)
    for _ in range(60):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(width // 40, width // 6)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    picture = picture.filter(ImageFilter.GaussianBlur(2))
    grain = Image.frombytes("L", (width, height), rng.randbytes(width * height)).convert("RGB")
    return Image.blend(picture, grain, 0.15)


def _encode(picture: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()


def photo_jpeg(size: tuple[int, int], target_bytes: int, seed: int,
               limit: int | None = None) -> bytes:
    """The JPEG of ``size`` pixels whose byte size is closest to ``target_bytes`` (never
    over ``limit``)."""
    picture = _picture(*size, seed)
    low, high, best = 5, 98, b""
    while low <= high:
        quality = (low + high) // 2
        data = _encode(picture, quality)
        fits = limit is None or len(data) <= limit
        if fits and (not best or abs(len(data) - target_bytes) < abs(len(best) - target_bytes)):
            best = data
        if len(data) < target_bytes and fits:
            low = quality + 1
        else:
            high = quality - 1
    if not best:
        raise ValueError(f"no quality fits {target_bytes} bytes under {limit}")
    return best


def bench_image(name: str, size: tuple[int, int], target_bytes: int, seed: int,
                limit: int | None = None) -> BenchImage:
    return BenchImage(name, photo_jpeg(size, target_bytes, seed, limit))
