"""Time to fingerprint a 3 MiB JPEG: the first time (decoded) and again (a cache hit).

    python bench/fingerprint.py [--runs N]

The picture is a 12-megapixel photo-like JPEG of just under 3 MiB (the Yandex limit for an
uploaded image), built here so the figures need no download. For comparison it also
times a full-size decode without JPEG draft mode, which the fingerprint pipeline avoids.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.core._fingerprint import FingerprintCache, fingerprint

LIMIT = 3 * 1024 * 1024
SIZE = (4000, 3000)


def photo_like(seed: int = 0) -> Image.Image:
    rnd = random.Random(seed)
    small = Image.new("RGB", (400, 300), (rnd.randrange(256), 120, rnd.randrange(256)))
    draw = ImageDraw.Draw(small)
    for _ in range(40):
        x, y = rnd.randrange(400), rnd.randrange(300)
        draw.ellipse((x, y, x + rnd.randrange(10, 120), y + rnd.randrange(10, 120)),
                     fill=tuple(rnd.randrange(256) for _ in range(3)))
    base = small.filter(ImageFilter.GaussianBlur(3)).resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.frombytes("L", SIZE, rnd.randbytes(SIZE[0] * SIZE[1])).convert("RGB")
    return Image.blend(base, grain, 0.3)


def jpeg_under_limit(img: Image.Image) -> bytes:
    """The highest quality that stays within 3 MiB."""
    best = b""
    for quality in range(95, 20, -5):
        out = io.BytesIO()
        img.save(out, "JPEG", quality=quality)
        if out.tell() <= LIMIT:
            return out.getvalue()
        best = out.getvalue()
    return best


def timed(work, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def full_decode(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img.load()


def report(name: str, times: list[float]) -> None:
    print(f"{name:34s} median {statistics.median(times) * 1000:8.2f} ms   "
          f"min {min(times) * 1000:8.2f} ms   max {max(times) * 1000:8.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    data = jpeg_under_limit(photo_like())
    print(f"JPEG {SIZE[0]}x{SIZE[1]}, {len(data) / 1024 / 1024:.2f} MiB, {args.runs} runs")
    report("fingerprint, first time", timed(lambda: FingerprintCache().fingerprint(data), args.runs))
    cache = FingerprintCache()
    cache.fingerprint(data)
    report("fingerprint, repeated (cache hit)", timed(lambda: cache.fingerprint(data), args.runs))
    report("fingerprint, no cache", timed(lambda: fingerprint(data), args.runs))
    report("full decode without draft mode", timed(lambda: full_decode(data), args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
