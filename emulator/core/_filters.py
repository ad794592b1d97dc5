"""Restrictions a query puts on its results: site, format, size, orientation, colour, family."""

from __future__ import annotations

from dataclasses import dataclass

from ._document import Color, ImageDocument, ImageFormat, Orientation, SizeClass

#: Emulator decision: "colour images" are all but the black-and-white ones.
CHROMATIC = frozenset(Color) - {Color.GRAY}
GRAYSCALE = frozenset({Color.GRAY})


def normalize_site(site: str) -> str:
    site = site.strip().lower()
    for prefix in ("https://", "http://"):
        if site.startswith(prefix):
            site = site[len(prefix):]
    site = site.split("/", 1)[0]
    return site[4:] if site.startswith("www.") else site


def on_site(host: str, site: str) -> bool:
    """A page is on a site when its host is the site or one of its subdomains."""
    host = host.lower()
    return host == site or host.endswith("." + site)


@dataclass(frozen=True, slots=True)
class ImageFilter:
    site: str | None = None
    format: ImageFormat | None = None
    orientation: Orientation | None = None
    size: SizeClass | None = None
    colors: frozenset[Color] | None = None
    #: Emulator decision: only the strict family mode drops documents that are not family-safe.
    family_strict: bool = False

    def __post_init__(self) -> None:
        if self.site is not None:
            object.__setattr__(self, "site", normalize_site(self.site) or None)

    @property
    def is_empty(self) -> bool:
        return self == ImageFilter()

    def accepts(self, doc: ImageDocument) -> bool:
        return (
            (self.site is None or on_site(doc.host, self.site))
            and (self.format is None or doc.format is self.format)
            and (self.orientation is None or doc.orientation is self.orientation)
            and (self.size is None or self.size in doc.size_classes)
            and (self.colors is None or doc.color in self.colors)
            and (not self.family_strict or doc.family_safe)
        )
