"""Colour shares are counted by array arithmetic exactly as the pixel-by-pixel definition
counts them (the same integers): the reference here is that definition, kept as it was."""

from __future__ import annotations

import random

from PIL import Image

from emulator.core._fingerprint import (_COLOR_SAMPLES, _KERNEL_RADIUS_SQ, _PALETTE, COLOR_SCALE,
                                        _colour_shares)


def _reference(work: Image.Image) -> tuple[int, ...]:
    raw = work.resize(_COLOR_SAMPLES, Image.Resampling.BOX).tobytes()
    totals = [0] * len(_PALETTE)
    for i in range(0, len(raw), 3):
        r, g, b = raw[i], raw[i + 1], raw[i + 2]
        distances = [(r - pr) * (r - pr) + (g - pg) * (g - pg) + (b - pb) * (b - pb)
                     for pr, pg, pb in _PALETTE]
        weights = [max(0, _KERNEL_RADIUS_SQ - d) for d in distances]
        total = sum(weights)
        if total == 0:
            weights[distances.index(min(distances))], total = 1, 1
        for j, weight in enumerate(weights):
            totals[j] += weight * COLOR_SCALE // total
    samples = len(raw) // 3
    return tuple(t // samples for t in totals)


def _far_colours() -> list[tuple[int, int, int]]:
    """Colours no named colour's kernel reaches (the nearest takes such a pixel whole)."""
    grid = [(r, g, b) for r in range(0, 256, 15) for g in range(0, 256, 15) for b in range(0, 256, 15)]
    return [c for c in grid if all(sum((x - y) ** 2 for x, y in zip(c, p, strict=True))
                                   >= _KERNEL_RADIUS_SQ for p in _PALETTE)]


def test_the_arrays_give_the_pixel_by_pixel_shares() -> None:
    rnd = random.Random(17)
    far = _far_colours()
    assert far, "some colours lie outside every kernel"
    for n in range(400):
        width, height = rnd.choice([(16, 16), (20, 17), (128, 96), (7, 3)])
        kind = n % 4
        if kind == 0:
            pixels = [tuple(rnd.getrandbits(8) for _ in range(3)) for _ in range(width * height)]
        elif kind == 1:
            pixels = [rnd.choice(far)] * (width * height)  # every pixel far from every colour
        elif kind == 2:
            pixels = [rnd.choice(far + list(_PALETTE)) for _ in range(width * height)]
        else:
            pixels = [tuple(rnd.getrandbits(8) for _ in range(3))] * (width * height)
        work = Image.frombytes("RGB", (width, height), b"".join(bytes(p) for p in pixels))
        assert _colour_shares(work) == _reference(work), n
