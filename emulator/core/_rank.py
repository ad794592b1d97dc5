"""A catalog's pictures as arrays, and the ranking of all of them against one query image.

:func:`._fingerprint.visual_distance` is the one definition of how far apart two pictures
look; :class:`PictureTable` computes exactly that, bit for bit, for every item at once
(the same integer popcounts, the same float64 divisions, sums and products in the same
order), so the ranking is the one the item-by-item loop gives, ties in catalog order.
A catalog of 100,000 items ranks in milliseconds instead of a second.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import PIL

from . import _diskcache, _fingerprint, _placeholder
from ._placeholder import PlaceholderPicture
from ._fingerprint import (COLOR_SCALE, COLOUR_WEIGHT, HASH_BITS, MIN_EDGES, MIN_VISUAL_DISTANCE,
                           Fingerprint, _UNKNOWN_SHAPE)

#: The most light crops a fingerprint has (CROP_BOXES); rows with fewer repeat their hash.
_CROPS = 16


@dataclass(frozen=True, eq=False)
class PictureTable:
    """Every item's fingerprint, one column an item, in catalog order (read-only arrays;
    a measure's values for all items lie side by side, which the arithmetic runs along)."""

    dhash: np.ndarray        # uint64 (n,)
    crops: np.ndarray        # uint64 (c, n): each light crop's hash, padded with dhash
    colors: np.ndarray       # int32 (k, n): colour shares; zeros where has_colors is false
    has_colors: np.ndarray   # bool (n,)
    distinctive: np.ndarray  # bool (n,)
    digests: np.ndarray      # |S32| (n,): the SHA-256 of each picture's bytes

    @classmethod
    def of(cls, pictures: Sequence[Fingerprint]) -> PictureTable:
        n = len(pictures)
        width = max((len(fp.colors) for fp in pictures), default=0)
        crops_width = max(_CROPS, max((len(fp.crops) for fp in pictures), default=0))
        dhash = np.fromiter((fp.dhash for fp in pictures), dtype=np.uint64, count=n)
        crops = np.repeat(dhash[None, :], crops_width, axis=0)
        colors = np.zeros((width, n), dtype=np.int32)
        has_colors = np.zeros(n, dtype=bool)
        digests = np.array([_digest(fp) for fp in pictures], dtype="S32")
        for row, fp in enumerate(pictures):
            if fp.crops:
                crops[:len(fp.crops), row] = fp.crops
            if fp.colors and len(fp.colors) == width:
                colors[:, row] = fp.colors
                has_colors[row] = True
        bits = np.bitwise_count(dhash)
        distinctive = (bits >= MIN_EDGES) & (bits <= HASH_BITS - MIN_EDGES)
        return cls(dhash, crops, colors, has_colors, distinctive, digests).frozen()

    def frozen(self) -> PictureTable:
        for array in self.arrays:
            array.flags.writeable = False
        return self

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.dhash, self.crops, self.colors, self.has_colors, self.distinctive,
                self.digests)

    def take(self, rows: np.ndarray) -> PictureTable:
        """These items, in this order (a catalog's from a table of distinct pictures)."""
        return PictureTable(*(np.ascontiguousarray(a[..., rows]) for a in self.arrays)).frozen()

    @classmethod
    def joined(cls, first: PictureTable, second: PictureTable) -> PictureTable:
        """The items of both (the hash and colour widths must agree, or one be empty)."""
        if not len(first):
            return second
        if not len(second):
            return first
        return PictureTable(*(np.concatenate([a, b], axis=-1)
                              for a, b in zip(first.arrays, second.arrays, strict=True))).frozen()

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, *self.arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PictureTable:
        """Raises ValueError (or OSError) on bytes :meth:`to_bytes` did not write."""
        with np.load(io.BytesIO(data), allow_pickle=False) as kept:
            arrays = [kept[f"arr_{i}"] for i in range(6)]
        dtypes = (np.uint64, np.uint64, np.int32, np.bool_, np.bool_, np.dtype("S32"))
        dims = (1, 2, 2, 1, 1, 1)
        if any(a.dtype != d or a.ndim != k for a, d, k in zip(arrays, dtypes, dims, strict=True)) \
                or len({a.shape[-1] for a in arrays}) != 1:
            raise ValueError("not a picture table")
        return cls(*arrays).frozen()

    def __len__(self) -> int:
        return len(self.dhash)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def distances(self, fp: Fingerprint) -> np.ndarray:
        """``visual_distance(fp, item)`` for every item, as float64, exactly."""
        n = len(self)
        query = np.uint64(fp.dhash)
        # Fingerprint.distance: the hashes, the item's crops against the query's hash, and
        # the query's crops against the item's hash; the least counts (crops[0] is the hash)
        bits = np.bitwise_count(self.dhash ^ query)
        for crop in self.crops:
            np.minimum(bits, np.bitwise_count(crop ^ query), out=bits)
        for qcrop in fp.crops:
            np.minimum(bits, np.bitwise_count(self.dhash ^ np.uint64(qcrop)), out=bits)
        if fp.distinctive:
            shape = np.where(self.distinctive, bits.astype(np.int64) / HASH_BITS, _UNKNOWN_SHAPE)
        else:
            shape = np.full(n, _UNKNOWN_SHAPE)
        if fp.colors and len(fp.colors) == len(self.colors):
            spread = np.zeros(n, dtype=np.int64)
            for shares, wanted in zip(self.colors, fp.colors, strict=True):
                spread += np.abs(shares - np.int32(wanted))
            colour = np.where(self.has_colors, spread / (2 * COLOR_SCALE), 1.0)
        else:
            colour = np.ones(n)
        mixed = COLOUR_WEIGHT * colour + (1 - COLOUR_WEIGHT) * shape
        out = np.maximum(MIN_VISUAL_DISTANCE, mixed)
        digest = _digest(fp)
        if digest:
            out[self.digests == digest] = 0.0
        out.flags.writeable = False
        return out

    def ranking(self, fp: Fingerprint) -> Ranking:
        return Ranking(self.distances(fp))


class Ranking:
    """One query's distance to every item, and the order they give: nearest first, equal
    distances in catalog order (a stable sort). Only as much of the order as is asked for
    is worked out: a first page of a 100,000-item catalog needs no full sort."""

    def __init__(self, distances: np.ndarray) -> None:
        self.distances = distances
        self._order: np.ndarray | None = None
        self._prefix: np.ndarray = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.distances)

    @property
    def nbytes(self) -> int:
        """What it may come to hold: the distances and the whole order."""
        return 12 * len(self.distances)

    def order(self) -> np.ndarray:
        """Every item's row, nearest first."""
        order = self._order
        if order is None:
            order = np.argsort(self.distances, kind="stable").astype(np.uint32)
            order.flags.writeable = False
            self._order = order
        return order

    def first(self, count: int) -> np.ndarray:
        """The rows of the ``count`` nearest items, in order: the start of :meth:`order`."""
        if self._order is not None or count * 4 >= len(self.distances):
            return self.order()[:count]
        prefix = self._prefix
        if len(prefix) < count:
            d = self.distances
            bound = np.partition(d, count - 1)[count - 1]
            near = np.flatnonzero(d <= bound)  # catalog order; ties at the bound included
            prefix = near[np.argsort(d[near], kind="stable")][:count]
            prefix.flags.writeable = False
            self._prefix = prefix
        return prefix[:count]


def _digest(fp: Fingerprint) -> bytes:
    """The picture's SHA-256 as bytes; empty for a digest that is not one (never equal)."""
    try:
        digest = bytes.fromhex(fp.sha256)
    except ValueError:
        return b""
    return digest if len(digest) == 32 else b""


# -- a catalog's table ----------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class CatalogPictures:
    """A catalog's pictures: the table of its distinct pictures, and each item's row in it.

    A generated catalog of 100,000 items shows about 8,000 distinct placeholders, so a
    query is measured against those only and each item takes its picture's distance (the
    same float64 values, gathered): the arithmetic is an eighth to a thirteenth of the
    per-item table's, and so is the memory."""

    table: PictureTable
    rows: np.ndarray | None  # intp (n,): each item's row of ``table``; None: the table's own

    def __len__(self) -> int:
        return len(self.table) if self.rows is None else len(self.rows)

    @property
    def distinct(self) -> int:
        return len(self.table)

    @property
    def nbytes(self) -> int:
        return self.table.nbytes + (0 if self.rows is None else self.rows.nbytes)

    def distances(self, fp: Fingerprint) -> np.ndarray:
        """``visual_distance(fp, item)`` for every item, as float64, exactly."""
        measured = self.table.distances(fp)
        if self.rows is None:
            return measured
        out = measured[self.rows]
        out.flags.writeable = False
        return out

    def ranking(self, fp: Fingerprint) -> Ranking:
        return Ranking(self.distances(fp))


def table_of(pictures: Sequence[Fingerprint | Callable[[], Fingerprint]]) -> CatalogPictures:
    """The table of a catalog's pictures: fingerprints as they are, and placeholders drawn
    once per distinct picture (a generated catalog of 100,000 items shows about 8,000).
    Each distinct picture has one row; items showing the same one share it.
    The placeholders' rows are a pure function of what is drawn and the code that draws and
    measures it, so they are kept on disk (see :mod:`._diskcache`) and a later launch reads
    them instead of drawing again. CPU work: call it off the event loop."""
    n = len(pictures)
    rows = np.empty(n, dtype=np.intp)
    by_object: dict[int, int] = {}  # id() of a picture object -> its row (items share objects)
    drawn: dict[PlaceholderPicture, int] = {}
    others: dict[Fingerprint, int] = {}
    placed: list[tuple[bool, int]] = []  # per distinct object: (drawn?, its row in that kind)
    for i, picture in enumerate(pictures):
        key = id(picture)
        known = by_object.get(key)
        if known is None:
            known = len(placed)
            by_object[key] = known
            if isinstance(picture, PlaceholderPicture):
                placed.append((True, drawn.setdefault(picture, len(drawn))))
            else:
                fp = picture if isinstance(picture, Fingerprint) else picture()
                placed.append((False, others.setdefault(fp, len(others))))
        rows[i] = known
    # placeholders first, then the other pictures, each in the order first shown
    kinds = np.array([row if is_drawn else len(drawn) + row for is_drawn, row in placed],
                     dtype=np.intp)
    rows = kinds[rows]
    table = PictureTable.joined(_placeholders(list(drawn)), PictureTable.of(list(others)))
    identity = len(table) == n and bool((rows == np.arange(n)).all())
    if not identity:
        rows.flags.writeable = False
    return CatalogPictures(table, None if identity else rows)


def _placeholders(drawn: Sequence[PlaceholderPicture]) -> PictureTable:
    if not drawn:
        return PictureTable.of(())
    key = _diskcache.key_of(b"\n".join(p.spec for p in drawn), *_sources())
    kept = _diskcache.load("pictures", key)
    if kept is not None:
        with contextlib.suppress(ValueError, OSError):
            table = PictureTable.from_bytes(kept)
            if len(table) == len(drawn):
                return table
    table = PictureTable.of([p() for p in drawn])
    _diskcache.store("pictures", key, table.to_bytes())
    return table


@lru_cache(maxsize=1)
def _sources() -> tuple[bytes, ...]:
    """What a placeholder's fingerprint depends on besides its arguments: the code that
    draws and measures it, and the Pillow that runs that code."""
    return (Path(_placeholder.__file__).read_bytes(), Path(_fingerprint.__file__).read_bytes(),
            Path(__file__).read_bytes(), PIL.__version__.encode())
