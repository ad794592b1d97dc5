"""The named colours as RGB: what placeholders are drawn in and what fingerprints measure."""

from __future__ import annotations

from ._document import Color

#: The RGB each named colour is drawn in.
RGB: dict[Color, tuple[int, int, int]] = {
    Color.RED: (220, 40, 40), Color.ORANGE: (240, 140, 30), Color.YELLOW: (240, 220, 50),
    Color.GREEN: (50, 170, 70), Color.CYAN: (40, 200, 210), Color.BLUE: (40, 80, 210),
    Color.VIOLET: (140, 60, 200), Color.WHITE: (245, 245, 245), Color.BLACK: (20, 20, 20),
    Color.GRAY: (128, 128, 128),
}
#: The colours in a fixed order: a fingerprint's colour shares follow it.
COLORS: tuple[Color, ...] = tuple(Color)


def squared_distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    return sum((x - y) * (x - y) for x, y in zip(a, b, strict=True))


def colour_order(first: Color, second: Color | None = None) -> tuple[Color, ...]:
    """Every colour, most like ``first`` (then ``second``) first: how generated sets rank
    for a query whose dominant colours these are. Ties go by the colours' fixed order."""
    rest = sorted((c for c in COLORS if c not in (first, second)),
                  key=lambda c: (squared_distance(RGB[c], RGB[first]), COLORS.index(c)))
    return (first,) + ((second,) if second not in (None, first) else ()) + tuple(rest)
