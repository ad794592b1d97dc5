"""Result sets: an ordered list of documents that a query pages through."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from ._document import ImageDocument
from ._filters import ImageFilter
from ._generated import DocumentGenerator, matching_indexes


class ResultSet(Protocol):
    @property
    def total(self) -> int: ...

    def window(self, start: int, stop: int) -> list[ImageDocument]: ...


@dataclass(frozen=True, slots=True)
class ListedResults:
    """Documents a fixture rule names, in the rule's order, after the query's filter."""

    docs: tuple[ImageDocument, ...]

    @classmethod
    def filtered(cls, docs: tuple[ImageDocument, ...], flt: ImageFilter) -> "ListedResults":
        return cls(tuple(d for d in docs if flt.accepts(d)))

    @property
    def total(self) -> int:
        return len(self.docs)

    def window(self, start: int, stop: int) -> list[ImageDocument]:
        return list(self.docs[start:stop])


@dataclass(frozen=True)
class GeneratedResults:
    """A pool of generated documents; only the asked-for window is ever built.

    Generated pages honour ``site`` by placing every document on that site, so a site
    restriction narrows the hosts rather than emptying the set.
    """

    generator: DocumentGenerator
    seed: bytes
    pool: int
    flt: ImageFilter = ImageFilter()
    topic: str | None = None
    always_safe: bool = True

    @cached_property
    def _indexes(self) -> range | tuple[int, ...]:
        rest = dataclasses.replace(self.flt, site=None)
        if self.always_safe:
            rest = dataclasses.replace(rest, family_strict=False)
        if rest.is_empty:
            return range(self.pool)
        return matching_indexes(self.seed, self.pool, rest, self.always_safe)

    @property
    def total(self) -> int:
        return len(self._indexes)

    def window(self, start: int, stop: int) -> list[ImageDocument]:
        return [
            self.generator.document(self.seed, i, site=self.flt.site, topic=self.topic,
                                    always_safe=self.always_safe)
            for i in self._indexes[start:stop]
        ]
