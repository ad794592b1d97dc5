"""Issue 13 part 2: a catalog ranks by array arithmetic, in exactly the order the item-by-item
definition (``visual_distance``, ties in catalog order) gives.

The reference here is the ranking as it was computed before: every item's
``visual_distance`` to the query, sorted stably. The catalogs mix drawn placeholders, a
real photo, and thousands of made-up fingerprints built to tie often (a few colour mixes,
a few hashes), to be plain (too few edges to count), to lack colours or crops (as a
journal's rebuilt fingerprint does) and to repeat a picture's bytes.
"""

from __future__ import annotations

import random

import pytest

from emulator.core import _diskcache
from emulator.core._catalog import (Catalog, CatalogQuery, Filters, Item, TermClause, catalog_match,
                                    image_query)
from emulator.core._match import Tier
from emulator.core._fingerprint import COLOR_SCALE, CROP_BOXES, Fingerprint, fingerprint, visual_distance
from emulator.core._palette import COLORS
from emulator.core._placeholder import PlaceholderPicture, placeholder_fingerprint
from emulator.core._rank import PictureTable, table_of
from support.imagekit import encode, scene


def _shares(rnd: random.Random) -> tuple[int, ...]:
    """Colour shares from a handful of mixes, so many items tie on colour."""
    first, second = rnd.choice(range(len(COLORS))), rnd.choice(range(len(COLORS)))
    share = rnd.choice((10_000, 7_500, 5_000))
    out = [0] * len(COLORS)
    out[first] += share
    out[second] += COLOR_SCALE - share
    return tuple(out)


def _made_up(rnd: random.Random, n: int) -> Fingerprint:
    hashes = [0x0F0F_F0F0_3C3C_C3C3, 0xFFFF_0000_FFFF_0000, 0x1, 0xFFFF_FFFF_FFFF_FFFE,
              0x8000_0000_0000_0001]
    kind = rnd.random()
    dhash = rnd.choice(hashes) if kind < 0.3 else rnd.getrandbits(64)
    crops = (dhash, *(dhash ^ (1 << rnd.randrange(64)) for _ in CROP_BOXES[1:]))
    if kind > 0.9:
        crops = ()  # rebuilt from a journal: no crops
    colors = () if 0.85 < kind <= 0.9 else _shares(rnd)
    sha = f"{n % 97:064x}" if kind < 0.05 else f"{n:064x}"  # some share a picture's bytes
    return Fingerprint(sha, "png", 200, 200, dhash, colors, crops)


def _reference(items: tuple[Item, ...], fp: Fingerprint) -> list[tuple[int, float]]:
    scored = sorted(((visual_distance(fp, item.image), i) for i, item in enumerate(items)),
                    key=lambda pair: pair[0])
    return [(i, d) for d, i in scored]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    rnd = random.Random(13)
    photo = fingerprint(encode(scene(3), "JPEG"))
    labels = [f"Northwind Classic {kind}" for kind in ("Boots", "Cap", "Scarf")]
    pictures: list = [PlaceholderPicture(200, 200, (220, 40, 40), label) for label in labels]
    pictures += [photo, photo]  # the same picture shown by two items
    pictures += [_made_up(rnd, n) for n in range(4000)]
    pictures += [PlaceholderPicture(200, 200, (40, 80, 210), labels[0])] * 3
    items = [Item.create("products", {"id": str(n), "title": f"item {n}"}, picture, None)
             for n, picture in enumerate(pictures)]
    return Catalog.of(items, ["products"])


def _queries(catalog: Catalog) -> list[Fingerprint]:
    rnd = random.Random(7)
    red = placeholder_fingerprint(200, 200, (220, 40, 40), "Northwind Classic Cap")
    photo = fingerprint(encode(scene(3), "JPEG"))
    plain = Fingerprint("ab" * 32, "png", 10, 10, 0x1, _shares(rnd), (0x1,))
    partial = Fingerprint(red.sha256, "png", 200, 200, red.dhash)  # no colours, no crops
    made = [_made_up(rnd, n) for n in range(40)]
    shared = catalog.items[3 + 2 + 5].image  # one of the made-up items, bytes and all
    return [red, photo, plain, partial, shared, fingerprint(encode(scene(9), "PNG")), *made]


def test_the_arrays_rank_exactly_as_the_item_by_item_definition(catalog: Catalog) -> None:
    for fp in _queries(catalog):
        ranking = catalog.pictures.ranking(fp)
        order = ranking.order()
        got = list(zip(order.tolist(), ranking.distances[order].tolist(), strict=True))
        expected = _reference(catalog.items, fp)
        assert got == expected, fp  # same order, same float distances
        # the start of the order, worked out alone, is the same
        for count in (1, 7, 20, 100, 999):
            fresh = catalog.pictures.ranking(fp)
            assert fresh.first(count).tolist() == [i for i, _ in expected[:count]]


def test_a_page_of_the_ranked_items_is_the_page_of_the_whole_order(catalog: Catalog) -> None:
    fp = placeholder_fingerprint(200, 200, (220, 40, 40), "Northwind Classic Scarf")
    everything = [item for item, _ in catalog.by_image(fp)]
    skip = everything[5]
    without = [item for item in everything if item is not skip]
    for start, stop in ((0, 20), (20, 40), (3, 9), (4000, 4100)):
        ranked = catalog.ranked(fp, skip)  # a fresh view: nothing worked out yet
        assert ranked[start:stop] == without[start:stop]
        assert ranked[start] is without[start] and ranked[-1] is without[-1]
    assert len(catalog.ranked(fp, skip)) == len(without) == len(catalog) - 1
    assert list(catalog.ranked(fp, skip)) == without and list(catalog.ranked(fp)) == everything


def test_an_image_query_with_filters_keeps_the_nearest_kept_item_as_its_match(catalog: Catalog) -> None:
    fp = placeholder_fingerprint(200, 200, (220, 40, 40), "Northwind Classic Scarf")
    wanted = TermClause("title", ("item 77", "item 4001", "item 12"))
    result, top = image_query(catalog.ranked(fp), CatalogQuery(filters=Filters((wanted,))))
    everything = [item for item, _ in catalog.by_image(fp)]
    assert list(result.items) == [i for i in everything if i.fields["title"] in wanted.terms]
    assert top is result.items[0]
    plain, nearest = image_query(catalog.ranked(fp), CatalogQuery())
    assert plain.count == len(catalog) and nearest is everything[0]
    assert list(plain.items[:20]) == everything[:20]


def test_ties_keep_catalog_order_and_exact_bytes_rank_first(catalog: Catalog) -> None:
    red = placeholder_fingerprint(200, 200, (220, 40, 40), "Northwind Classic Boots")
    ranked = catalog.by_image(red)
    assert ranked[0] == (catalog.items[0], 0.0)  # the very picture
    photo = catalog.items[3].image
    ranked = catalog.by_image(photo)
    assert [(item.id, d) for item, d in ranked[:2]] == [("3", 0.0), ("4", 0.0)]
    distances = [d for _, d in ranked]
    assert distances == sorted(distances)
    common = max(set(distances), key=distances.count)
    ties = [int(item.id) for item, d in ranked if d == common]
    assert len(ties) > 10 and ties == sorted(ties)  # a tie goes by catalog order


def test_a_repeated_query_is_not_ranked_again_and_skip_leaves_one_item_out(catalog: Catalog,
                                                                          monkeypatch) -> None:
    fp = fingerprint(encode(scene(11), "PNG"))
    first = catalog.by_image(fp)
    calls = []
    monkeypatch.setattr(PictureTable, "distances", lambda self, q: calls.append(q))  # never asked
    assert catalog.by_image(fp) == first and calls == []
    skipped = catalog.by_image(fp, skip=first[0][0])
    assert skipped == first[1:]


def test_placeholders_are_drawn_once_each_and_kept_on_disk(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(_diskcache.CACHE_ENV, str(tmp_path))
    pictures = [PlaceholderPicture(200, 200, (20, 20, 20), f"Label {n % 3}") for n in range(30)]
    drawn: list[PlaceholderPicture] = []
    real_call = PlaceholderPicture.__call__
    monkeypatch.setattr(PlaceholderPicture, "__call__",
                        lambda self: drawn.append(self) or real_call(self))
    table = table_of(pictures)
    assert len(table) == 30 and len(drawn) == 3  # three distinct pictures, drawn once each
    assert table.distinct == 3 and table.rows is not None
    assert table.rows.tolist() == [n % 3 for n in range(30)]  # each item's picture's row
    again = table_of(pictures)  # a later launch: read from the disk cache, none drawn
    assert len(drawn) == 3
    for a, b in zip(table.table.arrays, again.table.arrays, strict=True):
        assert a.tolist() == b.tolist()
    expected = [p() for p in pictures[:3]]
    assert table.table.dhash.tolist() == [fp.dhash for fp in expected]
    # a damaged cache entry is drawn again, not an error
    for entry in (tmp_path / "pictures").iterdir():
        entry.write_bytes(b"not a table")
    drawn.clear()
    assert table_of(pictures).table.dhash.tolist() == table.table.dhash.tolist()
    assert len(drawn) == 3


def test_the_match_is_read_off_the_table_without_drawing_the_top_item(monkeypatch) -> None:
    colours = [(220, 40, 40), (40, 80, 210), (250, 250, 250)]
    labels = [f"Fabrikam Slim {kind}" for kind in ("Boots", "Cap", "Scarf", "Jeans")]
    pictures = [PlaceholderPicture(200, 200, colours[n % 3], labels[n % 4]) for n in range(24)]

    def fresh() -> Catalog:
        items = [Item.create("products", {"id": str(n), "title": f"item {n}"}, picture, None)
                 for n, picture in enumerate(pictures)]
        catalog = Catalog.of(items, ["products"])
        catalog.warm()
        return catalog

    queries = [placeholder_fingerprint(200, 200, colours[0], labels[2]),  # an item's very picture
               fingerprint(encode(scene(3), "JPEG")), fingerprint(encode(scene(9), "PNG"))]
    drawn = fresh()
    expected = [catalog_match(image_query(drawn.ranked(fp), CatalogQuery())[1], fp)
                for fp in queries]  # top.image: the placeholder drawn and measured whole
    assert expected[0].tier is Tier.EXACT and expected[1].tier is Tier.NEAREST
    catalog = fresh()
    calls = []
    real_call = PlaceholderPicture.__call__
    monkeypatch.setattr(PlaceholderPicture, "__call__", lambda self: calls.append(self) or real_call(self))
    got = [catalog.match(image_query(catalog.ranked(fp), CatalogQuery())[1], fp) for fp in queries]
    assert got == expected and calls == []
