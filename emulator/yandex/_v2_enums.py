"""The v2 enums (``ImageSpec.*``, ``SearchQuery.*``) by number, mapped onto the core's terms.

One table per enum, both directions where both are needed, so the servicer and the text
search never restate a number.
"""

from __future__ import annotations

from ..core import CHROMATIC, GRAYSCALE, Color, ImageFormat, Orientation, SizeClass

FORMATS = {1: ImageFormat.JPEG, 2: ImageFormat.GIF, 3: ImageFormat.PNG}
#: A format the enum lacks (webp, seen in live XML) is IMAGE_FORMAT_UNSPECIFIED (0).
FORMAT_NUMBERS = {fmt: number for number, fmt in FORMATS.items()}
ORIENTATIONS = {1: Orientation.VERTICAL, 2: Orientation.HORIZONTAL, 3: Orientation.SQUARE}
SIZES = {1: SizeClass.ENORMOUS, 2: SizeClass.LARGE, 3: SizeClass.MEDIUM, 4: SizeClass.SMALL,
         5: SizeClass.TINY, 6: SizeClass.WALLPAPER}
COLORS = {1: CHROMATIC, 2: GRAYSCALE, 3: frozenset({Color.RED}), 4: frozenset({Color.ORANGE}),
          5: frozenset({Color.YELLOW}), 6: frozenset({Color.GREEN}),
          7: frozenset({Color.CYAN}), 8: frozenset({Color.BLUE}),
          9: frozenset({Color.VIOLET}), 10: frozenset({Color.WHITE}),
          11: frozenset({Color.BLACK})}
FAMILY_STRICT = 3  # SearchQuery.FamilyMode.FAMILY_MODE_STRICT
#: Emulator decision: the search type picks the language of the human-readable counts:
#: Turkish for TR, English for COM, Russian for all others (as on yandex.ru).
LANGUAGES = {2: "tr", 3: "en"}


def format_number(fmt: ImageFormat) -> int:
    return FORMAT_NUMBERS.get(fmt, 0)
