"""Restrictions a query puts on its results: site, format, size, orientation, colour, family."""

from __future__ import annotations

from dataclasses import dataclass

from ._document import Color, ImageDocument, ImageFormat, Orientation, SizeClass, host_of

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
    #: Contract: v1 ``site`` restricts to one domain, v2 ``site`` results to one site.
    site: str | None = None
    format: ImageFormat | None = None
    orientation: Orientation | None = None
    size: SizeClass | None = None
    colors: frozenset[Color] | None = None
    #: Emulator decision: only the strict family mode drops documents that are not family-safe.
    family_strict: bool = False
    #: Emulator decision (the vendor record is silent on what ``site`` restricts; in live
    #: documents ``<domain>`` is always the host of ``<url>``): ``site`` always keeps the
    #: documents whose page (``html-link``, v2 ``host``) is on the site. With ``site_holds_image``
    #: (the ``yandexsearch`` XML, whose ``<domain>`` a client reads as the result's site) the
    #: image must be on the site as well: a picture the emulator serves moves onto the page's
    #: host, keeping the emulator's path (``<url>``, ``<image-link>`` and ``<domain>``; see
    #: ``on_site_url``), while its thumbnail stays served by the emulator so that pictures still
    #: show; a recorded image URL off the site leaves its document out. SearchByImage (whose
    #: ``host`` is the page's) keeps serving its pictures itself.
    site_holds_image: bool = False

    def __post_init__(self) -> None:
        if self.site is not None:
            object.__setattr__(self, "site", normalize_site(self.site) or None)

    @property
    def is_empty(self) -> bool:
        return self == ImageFilter()

    def accepts(self, doc: ImageDocument) -> bool:
        return (
            (self.site is None or (on_site(doc.host, self.site) and (
                not self.site_holds_image or doc.url.startswith("/")
                or on_site(host_of(doc.url), self.site))))
            and (self.format is None or doc.format is self.format)
            and (self.orientation is None or doc.orientation is self.orientation)
            and (self.size is None or self.size in doc.size_classes)
            and (self.colors is None or doc.color in self.colors)
            and (not self.family_strict or doc.family_safe)
        )


def on_site_url(doc: ImageDocument) -> str:
    """Where a picture the emulator serves (``doc.url`` is its path) appears on the page's
    host, for ``ImageFilter.site_holds_image``: the page's scheme and host, the emulator's path."""
    scheme = doc.page_url.split("://", 1)[0].lower() if "://" in doc.page_url else ""
    return f"{scheme if scheme in ('http', 'https') else 'https'}://{doc.host}{doc.url}"
