"""Issue 13 part 2: an index loaded from a product feed file (JSON lines, CSV, or the
vendor's tab- or pipe-separated text feed), as shops export their catalogs, and served as
any catalog is: ranked by picture, filtered, and found by the exact picture."""

from __future__ import annotations

import json
import shutil

import pytest

from support.adminhttp import http
from support.doofinder_client import Doofinder, b64
from support.server import FIXTURES, start
from emulator.core import FixtureError, load_fixtures, render_placeholder
from emulator.core import _feeds

HASHID = "0123456789abcdef0123456789abcdef"
KEY = "eu1-feedkey000000000000000000000000000000"
ROWS = [
    {"id": "sku-1", "title": "Red Boots", "brand": "Acme", "color": "red", "price": 59.9,
     "categories": ["Shoes", "Shoes > Boots"]},
    {"id": "sku-2", "title": "Blue Cap", "brand": "Globex", "color": "blue", "price": 12,
     "sale_price": 9.5},
    {"id": "sku-3", "title": "Red Square Print", "image_file": "red-square.png", "price": 20},
]
CSV = ("id,title,brand,color,price,sale_price,image link,ean\n"
       "sku-1,Red Boots,Acme,red,59.90 USD,,,4006381333931\n"
       '"sku-2","Blue Cap, wool",Globex,blue,12,9.5,https://cdn.example.com/cap.jpg,\n'
       "\n"
       "007,Gray Scarf,,,8 EUR,,,\n")
TEXT = ("title|link|description|id|price|image link|product type\n"
        "LG Flatron M2262D 22\" Full HD LCD|http://www.example.com/tv/LGM2262D.html|"
        "Attractively styled|TV_123456|159 USD|http://images.example.com/TV_123456.png|"
        "Consumer Electronics > TVs > Flat Panel TVs\n")


def fixtures_with(tmp_path, feed_name: str, content: str | bytes, *extra_indices) -> object:
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / _feeds.FEEDS_DIR).mkdir()
    path = directory / _feeds.FEEDS_DIR / feed_name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    indices = [{"name": "product", "feed": feed_name}, *extra_indices]
    (directory / "engines.json").write_text(json.dumps(
        {"version": 1, "engines": [{"hashid": HASHID, "keys": [KEY], "indices": indices}]}))
    return directory


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def catalog_of(directory):
    return load_fixtures(directory).engines[HASHID].catalog


def test_a_json_lines_feed_is_the_index_its_values_as_json_gives_them(tmp_path):
    catalog = catalog_of(fixtures_with(tmp_path, "shop.jsonl", jsonl(ROWS[:2]) + "\n"
                                       + json.dumps(ROWS[2]) + "\n"))
    assert [i.id for i in catalog.items] == ["sku-1", "sku-2", "sku-3"]
    first, second, third = (dict(i.fields) for i in catalog.items)
    assert first["categories"] == ["Shoes", "Shoes > Boots"] and first["best_price"] == 59.9
    assert second["best_price"] == 9.5  # derived as for listed items
    # an image file is the item's picture, served from images/
    assert catalog.items[2].image_path == "/_emulator/images/files/red-square.png"
    assert "image_file" not in third


def test_a_csv_feed_names_its_fields_in_the_first_line(tmp_path):
    catalog = catalog_of(fixtures_with(tmp_path, "shop.csv", CSV))
    rows = [dict(i.fields) for i in catalog.items]
    assert [r["id"] for r in rows] == ["sku-1", "sku-2", "007"]  # ids stay texts
    assert rows[0]["price"] == 59.9 and "sale_price" not in rows[0]  # an empty cell: no field
    assert rows[0]["ean"] == 4006381333931  # a plain number is a number
    assert rows[1]["title"] == "Blue Cap, wool" and rows[1]["best_price"] == 9.5
    assert rows[1]["image_link"] == "https://cdn.example.com/cap.jpg"  # "image link"
    assert catalog.items[1].image_path is None  # its own link is served as it is
    assert rows[2]["price"] == 8 and "brand" not in rows[2]


def test_the_vendors_pipe_separated_text_feed_reads_as_its_support_page_shows(tmp_path):
    catalog = catalog_of(fixtures_with(tmp_path, "shop.txt", TEXT))
    (item,) = catalog.items
    assert item.id == "TV_123456" and item.fields["price"] == 159
    assert item.fields["product_type"] == "Consumer Electronics > TVs > Flat Panel TVs"
    assert item.fields["title"] == 'LG Flatron M2262D 22" Full HD LCD'
    tabbed = catalog_of(fixtures_with(tmp_path / "t", "shop.tsv", TEXT.replace("|", "\t")))
    assert dict(tabbed.items[0].fields) == dict(item.fields)


@pytest.mark.parametrize("name, content, file, place, reason", [
    ("shop.jsonl", '{"id": "1", "title": "a"}\n{"id": "1"', "feeds/shop.jsonl", "line 2 column 11",
     "Expecting ',' delimiter"),
    ("shop.jsonl", '[1, 2]\n', "feeds/shop.jsonl", "line 1", "a JSON object"),
    ("shop.jsonl", '{"id": 5, "title": "a"}\n', "feeds/shop.jsonl", "line 1", "an id, a non-empty"),
    ("shop.jsonl", '{"id": "5"}\n', "feeds/shop.jsonl", "line 1", "needs a title"),
    ("shop.jsonl", '{"id": "5", "title": "t", "price": "9"}\n', "feeds/shop.jsonl", "line 1",
     "price is a number"),
    ("shop.jsonl", jsonl([ROWS[0], ROWS[0]]), "feeds/shop.jsonl", "line 2", "duplicate item id 'sku-1'"),
    ("shop.jsonl", '{"id": "5", "title": "t", "image_file": "nope.png"}\n', "feeds/shop.jsonl",
     "line 1", "no image file images/nope.png"),
    ("shop.csv", "id,title,price\n1,a,cheap\n", "feeds/shop.csv", "line 2", "price 'cheap' is not a number"),
    ("shop.csv", "id,title\n1,a,extra\n", "feeds/shop.csv", "line 2", "3 fields where"),
    ("shop.csv", "id,,title\n", "feeds/shop.csv", "line 1", "none of them empty"),
    ("shop.csv", b"id,title\n1,\xff\n", "feeds/shop.csv", "item 1", "not UTF-8"),
    ("shop.xml", "<feed/>", "feeds/shop.xml", "$", "a feed is .jsonl"),
])
def test_feed_errors_name_the_feed_the_line_and_the_reason(tmp_path, name, content, file, place, reason):
    with pytest.raises(FixtureError) as raised:
        load_fixtures(fixtures_with(tmp_path, name, content))
    assert (raised.value.file, raised.value.place) == (file, place), raised.value
    assert reason in raised.value.reason


def test_a_missing_feed_file_is_named_in_engines_json(tmp_path):
    directory = fixtures_with(tmp_path, "shop.jsonl", jsonl(ROWS))
    engines = json.loads((directory / "engines.json").read_text())
    engines["engines"][0]["indices"][0]["feed"] = "../engines.json"  # never outside feeds/
    (directory / "engines.json").write_text(json.dumps(engines))
    with pytest.raises(FixtureError) as raised:
        load_fixtures(directory)
    assert raised.value.file == "engines.json"
    assert raised.value.place == "$.engines[0].indices[0].feed"
    assert "no feed file feeds/../engines.json" in raised.value.reason


def test_a_feed_over_its_bounds_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_feeds, "MAX_FEED_ITEMS", 2)
    with pytest.raises(FixtureError) as raised:
        load_fixtures(fixtures_with(tmp_path, "shop.jsonl", jsonl(ROWS)))
    assert (raised.value.place, raised.value.reason) == ("line 3", "a feed holds at most 2 items")
    monkeypatch.setattr(_feeds, "MAX_FEED_BYTES", 10)
    with pytest.raises(FixtureError) as raised:
        load_fixtures(fixtures_with(tmp_path / "b", "shop.jsonl", jsonl(ROWS)))
    assert raised.value.place == "$" and "at most 10 bytes" in raised.value.reason


def test_a_fed_catalog_is_searched_by_image_and_filtered_over_http(tmp_path):
    rows = [{"id": f"p{n}", "title": f"Poster {n}", "color": ("red", "blue", "green")[n % 3],
             "price": n} for n in range(300)]
    listed = {"name": "extra", "items": [{"id": "x1", "title": "Extra", "image_file": "red-square.png"}]}
    directory = fixtures_with(tmp_path, "posters.jsonl", jsonl(rows), listed)
    with start(directory) as server:
        client = Doofinder(server.http, token=KEY)
        red_square = (FIXTURES / "images" / "red-square.png").read_bytes()
        reply = client.image_search(b64(red_square), hashid=HASHID)
        assert reply.status == 200 and reply.ids[0] == "x1"  # the very picture first
        assert reply.body["total"] == 301
        # the picture of one fed item finds that item first
        picture = render_placeholder(200, 200, (40, 80, 210), "Poster 7")
        assert client.image_search(b64(picture), hashid=HASHID).ids[0] == "p7"
        filtered = client.image_search(b64(picture), "filter[color]=green&rpp=5", hashid=HASHID)
        assert filtered.body["total"] == 100 and len(filtered.ids) == 5
        assert all(int(i[1:]) % 3 == 2 for i in filtered.ids)
        # the catalog's table and kept rankings are reported, and bounded
        status, _, raw = http(server.http, "GET", "/_emulator/caches")
        kept = json.loads(raw)["catalogs"][HASHID]
        assert status == 200 and kept["items"] == 301 and kept["picture_bytes"] > 301 * 100
        assert kept["rankings"] == 2  # the filtered query reused its picture's ranking
        assert kept["ranking_bytes"] == 2 * 12 * 301 <= kept["max_ranking_bytes"]
