"""Result sets: an ordered list of documents that a query pages through."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from ._document import Color, ImageDocument
from ._filters import ImageFilter, on_site_url
from ._generated import DocumentGenerator, matching_indexes, ranked_indexes


class ResultSet(Protocol):
    @property
    def total(self) -> int: ...

    def window(self, start: int, stop: int) -> list[ImageDocument]: ...


@dataclass(frozen=True, slots=True)
class ListedResults:
    """Documents a fixture rule names, in the rule's order, after the query's filter."""

    docs: tuple[ImageDocument, ...]
    #: where the emulator's own paths (documents whose pictures it serves) start
    base_url: str = ""
    #: the query's filter: whether served pictures move onto the site (``site_holds_image``)
    flt: ImageFilter = ImageFilter()

    @classmethod
    def filtered(cls, docs: tuple[ImageDocument, ...], flt: ImageFilter,
                 base_url: str = "") -> ListedResults:
        return cls(tuple(d for d in docs if flt.accepts(d)), base_url, flt)

    @property
    def total(self) -> int:
        return len(self.docs)

    def window(self, start: int, stop: int) -> list[ImageDocument]:
        return [served(d, self.base_url, self.flt) for d in self.docs[start:stop]]


def served(doc: ImageDocument, base_url: str, flt: ImageFilter) -> ImageDocument:
    """A document as answered: a picture the emulator serves (its ``url`` a path) gets
    absolute URLs at ``base_url``, or with ``site_holds_image`` a URL on the page's host
    and a thumbnail still at ``base_url``; a recorded URL stays as it is."""
    if not doc.url.startswith("/"):
        return doc
    url = on_site_url(doc) if flt.site is not None and flt.site_holds_image \
        else base_url + doc.url
    return dataclasses.replace(doc, url=url, thumbnail_url=base_url + (doc.thumbnail_url or ""))


@dataclass(frozen=True)
class GeneratedResults:
    """A pool of generated documents; only the asked-for window is ever built.

    Generated pages honour ``site`` by placing every document on that site, so a site
    restriction narrows the hosts rather than emptying the set. With an ``order`` of
    colours (a query image's), the documents most like the query come first. Pictures
    are served by the emulator: their paths are made absolute with ``base_url`` (see
    :func:`served` for ``site_holds_image``).
    """

    generator: DocumentGenerator
    seed: bytes
    pool: int
    flt: ImageFilter = ImageFilter()
    topic: str | None = None
    always_safe: bool = True
    order: tuple[Color, ...] | None = None
    base_url: str = ""

    @cached_property
    def _indexes(self) -> range | tuple[int, ...]:
        rest = dataclasses.replace(self.flt, site=None, site_holds_image=False)
        if self.always_safe:
            rest = dataclasses.replace(rest, family_strict=False)
        found = range(self.pool) if rest.is_empty else matching_indexes(
            self.seed, self.pool, rest, self.always_safe)
        if self.order is None:
            return found
        return ranked_indexes(self.seed, found, self.order, self.always_safe)

    @property
    def total(self) -> int:
        return len(self._indexes)

    def window(self, start: int, stop: int) -> list[ImageDocument]:
        return [
            served(self.generator.document(self.seed, i, site=self.flt.site, topic=self.topic,
                                           always_safe=self.always_safe),
                   self.base_url, self.flt)
            for i in self._indexes[start:stop]
        ]
