"""Catalogs of items: filters, facets, sorting and ranking over documents of any shape.

An item is the document a shop feeds its search engine (``title``, ``price``, ``brand``,
``categories``, ...), kept as the fixtures give it. Queries here are plain and typed; no
vendor's parameter spelling or response shape is known to this module. Results are the
whole ordered match list: adapters page it.
"""

from __future__ import annotations

import enum
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

from ._fingerprint import Fingerprint
from ._lru import BoundedLRU
from ._match import Match, Tier

if TYPE_CHECKING:
    from ._rank import CatalogPictures, Ranking

#: Field values as JSON holds them.
Scalar = str | int | float | bool


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (JSON's true is no number) and is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def term_name(value: Scalar) -> str:
    """A value as a facet term names it, and as term filters compare it: JSON's spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _elements(value: Any) -> list[Any]:
    """A field's values: a list holds several, a scalar one, null none."""
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None and not isinstance(v, (list, dict))]
    return [] if isinstance(value, dict) else [value]


_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of a text, case-folded: what text search and suggestions compare."""
    return _WORD.findall(text.casefold())


@dataclass(frozen=True, eq=False)
class Item:
    """One document of a catalog's index, with the picture it is shown with.

    ``fields`` is the document as the fixtures give it (plus derived fields such as a best
    price); :attr:`image_path` is the emulator's own path of the picture when the document
    names no image URL of its own. What only some requests read (the words text search
    compares, a placeholder's path) is worked out when first asked for, so a catalog of
    100,000 items loads in a fraction of a second.
    """

    index: str
    id: str
    fields: Mapping[str, Any]
    #: the picture's fingerprint, or how to draw it (see :attr:`image`)
    picture: Fingerprint | Callable[[], Fingerprint]
    #: the served path, or how to make it (a placeholder's), or None
    path: str | Callable[[], str] | None = None

    @classmethod
    def create(cls, index: str, fields: dict[str, Any],
               picture: Fingerprint | Callable[[], Fingerprint],
               image_path: str | Callable[[], str] | None) -> Item:
        """The item owns ``fields`` from now on (it is not copied). Made as the dataclass
        would make it, without its frozen ``__init__`` (a catalog makes 100,000 at start-up)."""
        item = object.__new__(cls)
        item.__dict__.update(index=index, id=fields["id"], fields=MappingProxyType(fields),
                             picture=picture, path=image_path)
        return item

    @cached_property
    def image_path(self) -> str | None:
        path = self.path
        return path() if callable(path) else path

    @cached_property
    def title_words(self) -> frozenset[str]:
        """Words of the title (text search scores them highest)."""
        title = self.fields.get("title")
        return frozenset(words(title)) if isinstance(title, str) else frozenset()

    @cached_property
    def text_words(self) -> frozenset[str]:
        """Words of every text field but ids and URLs, the title's among them."""
        return frozenset(_text_words(self.fields)) | self.title_words

    @property
    def image(self) -> Fingerprint:
        """The picture's fingerprint. A placeholder is drawn and fingerprinted the first time
        it is asked for (off the event loop: ranking and warm-up run in worker threads), so
        loading a generated catalog costs no drawing and the server is ready at once."""
        picture = self.picture
        if isinstance(picture, Fingerprint):
            return picture
        fp = self.__dict__.get("_image")
        if fp is None:
            fp = picture()
            self.__dict__["_image"] = fp  # computed once; the same on every thread
        return fp

    def values(self, name: str) -> list[Any]:
        return _elements(self.fields.get(name))


def _text_words(fields: Mapping[str, Any]) -> Iterable[str]:
    """Emulator decision: text search reads every text field but ``id`` and URLs."""
    for name, value in fields.items():
        if name == "id":
            continue
        for element in _elements(value):
            if isinstance(element, str) and not element.startswith(("http://", "https://")):
                yield from words(element)


# -- filters ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TermClause:
    """The field holds one of these terms (compared as :func:`term_name` spells values)."""

    field: str
    terms: tuple[str, ...]

    def matches(self, item: Item) -> bool:
        wanted = set(self.terms)
        for element in item.values(self.field):
            if term_name(element) in wanted:
                return True
            if is_number(element) and any(_same_number(element, t) for t in self.terms):
                return True
        return False


def _same_number(value: float, term: str) -> bool:
    try:
        return float(term) == value
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class RangeClause:
    """The field holds a number within the bounds (any of them may be open)."""

    field: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None

    def matches(self, item: Item) -> bool:
        return any(is_number(v) and self._within(v) for v in item.values(self.field))

    def _within(self, v: float) -> bool:
        return ((self.gte is None or v >= self.gte) and (self.gt is None or v > self.gt)
                and (self.lte is None or v <= self.lte) and (self.lt is None or v < self.lt))

    @property
    def start(self) -> float | None:
        return self.gte if self.gte is not None else self.gt

    @property
    def stop(self) -> float | None:
        return self.lte if self.lte is not None else self.lt


Clause = TermClause | RangeClause


@dataclass(frozen=True)
class Filters:
    """Clauses on fields: all must hold, or any with ``any_of`` (one clause per field)."""

    clauses: tuple[Clause, ...] = ()
    any_of: bool = False

    def accepts(self, item: Item, ignore: str | None = None) -> bool:
        """``ignore`` leaves one field's clause out (disjunctive facet counts)."""
        clauses = [c for c in self.clauses if c.field != ignore]
        if not clauses:
            return True
        test = any if self.any_of else all
        return test(c.matches(item) for c in clauses)

    def on(self, name: str) -> Clause | None:
        return next((c for c in self.clauses if c.field == name), None)


# -- facets -----------------------------------------------------------------------------
class FacetKind(enum.Enum):
    TERMS = "term"
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class FacetRequest:
    field: str
    size: int
    kind: FacetKind | None = None  # None: range when the field holds numbers only


@dataclass(frozen=True, slots=True)
class TermCount:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class TermFacet:
    field: str
    items: tuple[TermCount, ...]
    selected: tuple[TermCount, ...]


@dataclass(frozen=True, slots=True)
class RangeFacet:
    field: str
    min: float | None
    max: float | None
    start: float | None = None  # the active range filter's bounds on the field
    stop: float | None = None


Facet = TermFacet | RangeFacet


# -- sorting ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False


def _sort_value(item: Item, key: SortKey) -> tuple | None:
    """Numbers before texts; a list sorts by its least value ascending, greatest
    descending; None when the item has no value (those go last either way)."""
    keyed = [(0, float(v), "") if is_number(v) or isinstance(v, bool) else (1, 0.0, str(v))
             for v in item.values(key.field)]
    if not keyed:
        return None
    return max(keyed) if key.descending else min(keyed)


def sort_items(items: Sequence[Item], keys: Sequence[SortKey]) -> list[Item]:
    """Stable multi-key sort, first key first; equal items keep their relevance order."""
    ordered = list(items)
    for key in reversed(keys):
        values = [(_sort_value(i, key), i) for i in ordered]
        present = [(v, i) for v, i in values if v is not None]
        present.sort(key=lambda pair: pair[0], reverse=key.descending)
        ordered = [i for _, i in present] + [i for v, i in values if v is None]
    return ordered


# -- queries ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogQuery:
    filters: Filters = Filters()
    exclude: tuple[Clause, ...] = ()  # an item matching any of these is left out
    facets: tuple[FacetRequest, ...] = ()
    sort: tuple[SortKey, ...] = ()


@dataclass(frozen=True)
class CatalogResult:
    items: Sequence[Item]  # every match, in order: adapters page them
    facets: tuple[Facet, ...] = ()

    @property
    def count(self) -> int:
        return len(self.items)


def _kept(item: Item, exclude: Sequence[Clause]) -> bool:
    return not any(c.matches(item) for c in exclude)


class RankedItems(Sequence[Item]):
    """A catalog's items in a ranking's order, but one, made into items only as far as
    they are read: slicing a page works out the order up to the page's end, no further."""

    def __init__(self, items: Sequence[Item], ranking: Ranking, skip: int | None) -> None:
        self._items, self._ranking, self._skip = items, ranking, skip

    def __len__(self) -> int:
        return len(self._ranking) - (self._skip is not None)

    def _rows(self, count: int) -> list[int]:
        rows = self._ranking.first(count + (self._skip is not None)).tolist()
        return [r for r in rows if r != self._skip][:count]

    @overload
    def __getitem__(self, index: int) -> Item: ...
    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return list(self)[index]
            return [self._items[r] for r in self._rows(stop)[start:]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._items[self._rows(index + 1)[index]]

    def __iter__(self) -> Iterator[Item]:
        items, skip = self._items, self._skip
        return (items[r] for r in self._ranking.order().tolist() if r != skip)


def image_query(ranked: RankedItems, query: CatalogQuery) -> tuple[CatalogResult, Item | None]:
    """An image query's result, and the nearest item the filters kept (what the match
    names). A query with no filters, exclusions, facets or sort is the ranking itself,
    read a page at a time; any other runs over every item (:func:`run_query`)."""
    if not (query.filters.clauses or query.exclude or query.facets or query.sort):
        return CatalogResult(ranked), (ranked[0] if len(ranked) else None)
    items = list(ranked)
    result = run_query(items, query)
    kept = set(result.items)
    return result, next((i for i in items if i in kept), None)


def run_query(ranked: Sequence[Item], query: CatalogQuery) -> CatalogResult:
    """Filter ``ranked`` (already in relevance order), count facets, then sort."""
    pool = [i for i in ranked if _kept(i, query.exclude)]
    matched = [i for i in pool if query.filters.accepts(i)]
    facets = tuple(_facet(pool, query.filters, request) for request in query.facets)
    return CatalogResult(tuple(sort_items(matched, query.sort)), facets)


def _facet(pool: Sequence[Item], filters: Filters, request: FacetRequest) -> Facet:
    """Emulator decision: counts are disjunctive: the filter on a field does not narrow
    that field's own counts (so a shopper sees the other brands while one is picked)."""
    base = [i for i in pool if filters.accepts(i, ignore=request.field)]
    kind = request.kind or _detected_kind(pool, request.field)
    clause = filters.on(request.field)
    if kind is FacetKind.RANGE:
        numbers = [v for i in base for v in i.values(request.field) if is_number(v)]
        active = clause if isinstance(clause, RangeClause) else None
        return RangeFacet(request.field, min(numbers, default=None), max(numbers, default=None),
                          active.start if active else None, active.stop if active else None)
    counts = Counter(name for i in base
                     for name in dict.fromkeys(term_name(e) for e in i.values(request.field)))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:request.size]
    selected = clause.terms if isinstance(clause, TermClause) else ()
    return TermFacet(request.field, tuple(TermCount(n, c) for n, c in top),
                     tuple(TermCount(t, counts.get(t, 0)) for t in dict.fromkeys(selected)))


def _detected_kind(pool: Sequence[Item], name: str) -> FacetKind:
    """A field whose values are all numbers is a range facet; any other a terms facet."""
    values = [v for i in pool for v in i.values(name)]
    return FacetKind.RANGE if values and all(is_number(v) for v in values) else FacetKind.TERMS


# -- the catalog ------------------------------------------------------------------------
#: Emulator decision: each catalog keeps the order of its items for the 64 query images
#: seen last, within 32 MiB (12 bytes an item each: 26 rankings of a 100,000-item catalog),
#: so a repeated query is not ranked again.
RANKINGS = 64
RANKINGS_BYTES = 32 * 1024 * 1024
#: Ranking tables are built once per catalog, by whichever thread asks first.
_TABLE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Catalog:
    """Items of one or more indices, in fixture order (the order ties fall back to)."""

    items: tuple[Item, ...] = ()
    indices: tuple[str, ...] = ()

    @classmethod
    def of(cls, items: Iterable[Item], indices: Iterable[str]) -> Catalog:
        return cls(tuple(items), tuple(indices))

    def __len__(self) -> int:
        return len(self.items)

    def warm(self) -> None:
        """Measure every item's picture now (CPU work: call it off the event loop)."""
        self.pictures  # noqa: B018 - built once and kept by the catalog

    @property
    def pictures(self) -> CatalogPictures:
        """Every distinct picture as arrays, and each item's row among them, built on first
        use (drawing the placeholders, or reading them from the disk cache) and kept."""
        table = self.__dict__.get("_pictures")
        if table is None:
            from ._rank import table_of  # numpy: imported when a catalog is first ranked

            with _TABLE_LOCK:
                table = self.__dict__.get("_pictures")
                if table is None:
                    table = table_of([item.picture for item in self.items])
                    object.__setattr__(self, "_pictures", table)
        return table

    def in_indices(self, indices: frozenset[str] | None) -> list[Item]:
        return list(self.items) if indices is None else [i for i in self.items
                                                        if i.index in indices]

    def by_image(self, fp: Fingerprint, skip: Item | None = None) -> list[tuple[Item, float]]:
        """Every item with its distance, nearest picture first; equal distances keep
        catalog order (what explanations list)."""
        ranking = self.ranking(fp)
        items = self.items
        order = ranking.order()
        return [(items[i], d)
                for i, d in zip(order.tolist(), ranking.distances[order].tolist(), strict=True)
                if items[i] is not skip]

    def ranked(self, fp: Fingerprint, skip: Item | None = None) -> RankedItems:
        """Every item but ``skip``, nearest picture first, made into items only as far as
        they are read (a page of a 100,000-item catalog reads its own)."""
        return RankedItems(self.items, self.ranking(fp),
                           None if skip is None else self._row_of.get(skip))

    def ranking(self, fp: Fingerprint) -> Ranking:
        """The query's distances to every item, kept for the query (:data:`RANKINGS` of
        them, within :data:`RANKINGS_BYTES`), so a repeated query image is not compared
        with every item again."""
        # by the whole fingerprint: a journal's rebuilt one is partial, never the same key
        found = self._rankings.get(fp)
        if found is None:
            found = self.pictures.ranking(fp)
            self._rankings.put(fp, found)
        return found

    def match(self, top: Item | None, fp: Fingerprint) -> Match:
        """:func:`catalog_match`, with the top item's picture read off the picture table when
        it has not been measured as a whole (a placeholder is not drawn to name a match:
        that cost a new query image about as much as the rest of its answer)."""
        if top is None or isinstance(top.picture, Fingerprint) or "_image" in top.__dict__:
            return catalog_match(top, fp)
        row = self._row_of.get(top)
        table = self.__dict__.get("_pictures")
        if row is None or table is None:
            return catalog_match(top, fp)
        at = row if table.rows is None else int(table.rows[row])
        digest = bytes(table.table.digests[at])  # NumPy drops a digest's trailing zero bytes
        if not digest:
            return catalog_match(top, fp)
        shown = Fingerprint(digest.ljust(32, b"\0").hex(), "", 0, 0, int(table.table.dhash[at]),
                            (), tuple(table.table.crops[:, at].tolist()))
        return catalog_match(top, fp, shown)

    def cache_stats(self) -> dict[str, int]:
        """What the catalog keeps: its picture table (once built) and its rankings."""
        table = self.__dict__.get("_pictures")
        rankings = self._rankings
        return {"items": len(self.items), "picture_bytes": table.nbytes if table else 0,
                "rankings": len(rankings), "ranking_bytes": rankings.nbytes,
                "max_rankings": rankings.max_entries, "max_ranking_bytes": RANKINGS_BYTES}

    @cached_property
    def _rankings(self) -> BoundedLRU[Ranking]:
        return BoundedLRU(RANKINGS, RANKINGS_BYTES, lambda ranking: ranking.nbytes)

    @cached_property
    def _row_of(self) -> dict[Item, int]:
        return {item: row for row, item in enumerate(self.items)}

    @cached_property
    def _by_id(self) -> dict[str, tuple[Item, ...]]:
        found: dict[str, list[Item]] = {}
        for item in self.items:
            found.setdefault(item.id, []).append(item)
        return {item_id: tuple(items) for item_id, items in found.items()}

    def has(self, item_id: str) -> bool:
        return item_id in self._by_id

    def listed(self, ids: Iterable[str]) -> list[Item]:
        """The items with these ids, in the ids' order (an id several indices hold names
        each of them; ids the catalog lacks name nothing): a stub's answer, say."""
        picked = (item for item_id in dict.fromkeys(ids) for item in self._by_id.get(item_id, ()))
        return list(picked)


def catalog_match(top: Item | None, fp: Fingerprint, shown: Fingerprint | None = None) -> Match:
    """How an image query found the item it ranks first: ``exact`` when the item shows the
    very picture (the same digest), else ``nearest``, with the distance in bits. ``shown``
    stands for the item's picture when given (its digest, hash and crops are all this reads)."""
    if top is None:
        return Match(Tier.NEAREST)
    picture = shown if shown is not None else top.image
    if picture.sha256 == fp.sha256:
        return Match(Tier.EXACT, top.id, 0)
    return Match(Tier.NEAREST, top.id, fp.distance(picture))
