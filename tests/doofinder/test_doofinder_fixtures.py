"""``engines.json``: the schema, the errors that name file, place and reason, and generated
catalogs that Faker fills the same way on every run, process and machine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from support.server import FIXTURES, ROOT
from emulator.core import FixtureError, load_fixtures
from emulator.core import placeholder_fingerprint
from emulator.core._engines import PICTURE_SIZE, picture_of
from emulator.core._products import BRANDS

HASHID = "0123456789abcdef0123456789abcdef"


def load(tmp_path, engines) -> dict:
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "engines.json").write_text(
        engines if isinstance(engines, str) else json.dumps(engines), encoding="utf-8")
    return load_fixtures(directory).engines


def one(indices: list, **engine) -> dict:
    return {"version": 1, "engines": [{"hashid": HASHID, "indices": indices, **engine}]}


def generated(count: int = 5, **spec) -> dict:
    return one([{"name": "product", "generated": {"count": count, **spec}}])


def items(tmp_path, **spec) -> list[dict]:
    engine = load(tmp_path, generated(**spec))[HASHID]
    return [dict(i.fields) for i in engine.catalog.items]


def test_the_default_fixtures_hold_the_docs_engine():
    engines = load_fixtures(FIXTURES).engines
    docs = engines["d8fdeab7fce96a19d3fc7b0ca7a1e98b"]
    assert docs.keys == ("eu1-ab46030xza33960aac71a10248489b6c26172f07",)
    assert docs.image_search and docs.catalog.indices == ("product",)
    assert len(docs.catalog) == 124


def test_no_engines_file_means_no_engines(tmp_path):
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "engines.json").unlink()
    assert load_fixtures(directory).engines == {}


@pytest.mark.parametrize("engines, place, reason", [
    ("{", "line 1 column 2", "Expecting property name"),
    ({"version": 2, "engines": []}, "$.version", "1 was expected"),
    (one([{"name": "p", "items": []}], hashid="XYZ"), "$.engines[0].hashid", "does not match"),
    (one([]), "$.engines[0].indices", "should be non-empty"),
    (one([{"name": "product"}]), "$.engines[0].indices[0]", "is not valid"),
    (one([{"name": "product", "items": [{"id": "1"}]}]), "$.engines[0].indices[0].items[0]",
     "'title' is a required property"),
    (one([{"name": "product", "items": [{"id": "1", "title": "t", "price": "9.99"}]}]),
     "$.engines[0].indices[0].items[0].price", "is not of type 'number'"),
    (one([{"name": "product", "items": [{"id": "1", "title": "a"}, {"id": "1", "title": "b"}]}]),
     "$.engines[0].indices[0].items[1].id", "duplicate item id '1'"),
    (one([{"name": "p", "items": []}, {"name": "p", "items": []}]),
     "$.engines[0].indices[1].name", "duplicate index 'p'"),
    (one([{"name": "product", "items": [{"id": "1", "title": "t", "image_file": "nope.png"}]}]),
     "$.engines[0].indices[0].items[0].image_file", "no image file images/nope.png"),
    (one([{"name": "product", "items": []}], banned_ips=["not-an-ip"]),
     "$.engines[0].banned_ips[0]", "'not-an-ip' is not an IP address or network"),
    (one([{"name": "product", "items": []}], query_name="best"), "$.engines[0].query_name",
     "is not one of"),
    (generated(fields={"brand": {"faker": "no_such_method"}}),
     "$.engines[0].indices[0].generated.fields.brand", "Faker has no method 'no_such_method'"),
    (generated(fields={"brand": {"faker": "pyint"}, "x": {"faker": "format"}}),
     "$.engines[0].indices[0].generated.fields.x", "faker recipe failed"),
    (generated(fields={"title": {"template": "{later}"}, "later": {"value": 1}}),
     "$.engines[0].indices[0].generated.fields.title", "no earlier field makes"),
    (generated(fields={"price": None}), "$.engines[0].indices[0].generated.fields.sale_price",
     "a discount needs a price"),
    (generated(fields={"id": None}), "$.engines[0].indices[0].generated.fields.id",
     "cannot be removed"),
    (generated(fields={"id": {"value": "same"}}), "$.engines[0].indices[0].generated (item 2)",
     "duplicate item id 'same'"),
    (generated(fields={"id": {"value": 7}}), "$.engines[0].indices[0].generated.fields.id",
     "ids are non-empty texts"),
    (generated(fields={"price": {"range": [9, 1]}}),
     "$.engines[0].indices[0].generated.fields.price", "range must be [low, high]"),
    (generated(fields={"brand": {"choices": ["a"], "range": [1, 2]}}),
     "$.engines[0].indices[0].generated.fields.brand", "is valid under each of"),
    (generated(fields={"brand": {"range": [1, 2], "pick": [1, 2]}}),
     "$.engines[0].indices[0].generated.fields.brand", "is not valid"),
    (generated(locale="xx_XX"), "$.engines[0].indices[0].generated.locale",
     "Faker has no locale 'xx_XX'"),
    (generated(count=100_001), "$.engines[0].indices[0].generated.count", "is greater than"),
])
def test_errors_name_the_file_the_place_and_the_reason(tmp_path, engines, place, reason):
    with pytest.raises(FixtureError) as raised:
        load(tmp_path, engines)
    error = raised.value
    assert error.file == "engines.json"
    assert error.place == place, error
    assert reason in error.reason, error


def test_duplicate_engines(tmp_path):
    engine = {"hashid": HASHID, "indices": [{"name": "p", "items": []}]}
    with pytest.raises(FixtureError) as raised:
        load(tmp_path, {"version": 1, "engines": [engine, engine]})
    assert (raised.value.place, raised.value.reason) == ("$.engines[1].hashid",
                                                        f"duplicate engine {HASHID!r}")


def test_generated_products_have_every_default_field(tmp_path):
    products = items(tmp_path, count=40, seed="s")
    assert [p["id"] for p in products] == [str(n) for n in range(1, 41)]
    for p in products:
        assert p["brand"] in BRANDS
        assert p["title"].startswith(p["brand"] + " ")
        assert isinstance(p["description"], str) and p["description"]
        assert len(p["categories"]) == 2 and p["categories"][1].startswith(p["categories"][0])
        assert 5 <= p["price"] <= 250 and round(p["price"], 2) == p["price"]
        assert 1 <= len(p["size"]) <= 3 and set(p["size"]) <= {"XS", "S", "M", "L", "XL"}
        assert p["availability"] in ("in stock", "out of stock")
        assert p["best_price"] == min(p["price"], p.get("sale_price", p["price"]))
        if "sale_price" in p:
            assert 0.5 * p["price"] - 0.01 <= p["sale_price"] <= 0.9 * p["price"] + 0.01
        assert not any(k.startswith("_") for k in p)
    on_sale = sum("sale_price" in p for p in products)
    assert 0 < on_sale < 40  # a share of them


def test_generated_catalogs_are_the_same_in_another_process(tmp_path):
    spec = {"count": 25, "seed": 99, "fields": {"ean": {"faker": "ean13"}}}
    here = items(tmp_path / "a", **spec)
    directory = tmp_path / "b" / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "engines.json").write_text(json.dumps(generated(**spec)))
    code = ("import json, sys; from emulator.core import load_fixtures; "
            f"e = load_fixtures(sys.argv[1]).engines[{HASHID!r}]; "
            "print(json.dumps([dict(i.fields) for i in e.catalog.items]))")
    out = subprocess.run([sys.executable, "-c", code, str(directory)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={"PYTHONHASHSEED": "random",
                                                              "PATH": ""}).stdout
    assert json.loads(out) == here


def test_the_seed_decides_the_catalog(tmp_path):
    assert items(tmp_path / "a", seed=1) == items(tmp_path / "b", seed=1)
    assert items(tmp_path / "c", seed=1) != items(tmp_path / "d", seed=2)


def test_recipes(tmp_path):
    products = items(tmp_path, count=30, seed="r", locale="es_ES", fields={
        "id": {"template": "SKU-{n}"},
        "brand": {"choices": ["Acme"]},
        "tags": {"choices": ["a", "b", "c", "d"], "pick": [1, 3]},
        "stock": {"range": [0, 10]},
        "rating": {"range": [1, 5], "decimals": 1},
        "company": {"faker": "company"},
        "shop": {"value": {"name": "main"}},
        "headline": {"template": ["{brand}", "{brand}: {title}"]},
        "promo": {"value": "yes", "share": 0},
        "availability": None,
        "price": {"range": [10, 10], "decimals": 2},
        "sale_price": {"discount": [50, 50]},
    })
    for n, p in enumerate(products, 1):
        assert p["id"] == f"SKU-{n}" and p["brand"] == "Acme"
        assert 1 <= len(p["tags"]) <= 3 and p["tags"] == sorted(set(p["tags"]))
        assert isinstance(p["stock"], int) and 0 <= p["stock"] <= 10
        assert 1 <= p["rating"] <= 5 and round(p["rating"], 1) == p["rating"]
        assert isinstance(p["company"], str) and p["shop"] == {"name": "main"}
        assert p["headline"] == ["Acme", f"Acme: {p['title']}"]
        assert "promo" not in p and "availability" not in p
        assert (p["price"], p.get("sale_price"), p["best_price"]) in ((10, 5.0, 5.0),
                                                                     (10, None, 10))
    assert len({tuple(p["tags"]) for p in products}) > 3


def test_listed_items_keep_what_the_fixture_says(tmp_path):
    engine = load(tmp_path, one([{"name": "product", "items": [
        {"id": "x", "title": "X", "price": 10, "sale_price": 12, "best_price": 11,
         "image_link": "https://cdn.example.com/x.jpg", "custom": {"nested": [1, 2]}},
        {"id": "y", "title": "Y", "image_file": "red-square.png"},
    ]}]))[HASHID]
    x, y = engine.catalog.items
    assert dict(x.fields) == {"id": "x", "title": "X", "price": 10, "sale_price": 12,
                              "best_price": 11, "image_link": "https://cdn.example.com/x.jpg",
                              "custom": {"nested": [1, 2]}}
    assert x.image_path is None  # the item's own link is served as it is
    (width, height), rgb, label = picture_of(dict(x.fields))
    assert x.image == placeholder_fingerprint(width, height, rgb, label)
    assert dict(y.fields) == {"id": "y", "title": "Y", "best_price": None}
    assert y.image_path == "/_emulator/images/files/red-square.png"


def test_placeholders_are_drawn_at_the_picture_size_in_the_items_colour(tmp_path):
    engine = load(tmp_path, one([{"name": "product", "items": [
        {"id": "r", "title": "Red thing", "color": "red"},
        {"id": "n", "title": "Navy thing", "color": "navy"},
        {"id": "g", "title": "No colour"},
    ]}]))[HASHID]
    r, n, g = (i.image_path for i in engine.catalog.items)
    size = f"{PICTURE_SIZE[0]}x{PICTURE_SIZE[1]}"
    assert r == f"/_emulator/images/placeholder/{size}/dc2828.png?label=Red%20thing"
    assert n.startswith(f"/_emulator/images/placeholder/{size}/") and "dc2828" not in n
    assert g == f"/_emulator/images/placeholder/{size}/808080.png?label=No%20colour"
