"""Regressions: inputs and call orders that once broke answers, formats or bounds."""

from __future__ import annotations

import json

from support.adminhttp import http, module_emulator, tenant_admin
from support.server import FIXTURES
from support.doofinder_client import Doofinder

from emulator.core import fingerprint
from emulator.core._journal import image_record, recorded_fingerprint
from emulator.core._lru import BoundedLRU
from emulator.core._served import _CACHE, CACHE_BYTES, CACHE_ENTRIES, ServedImage
from emulator.doofinder._params import parse_pairs

running = module_emulator()
admin = tenant_admin("regress")
RED = (FIXTURES / "images" / "red-square.png").read_bytes()


def _stripes() -> bytes:
    """A picture no catalog item shows: any image search for it is a nearest-tier miss."""
    import io

    from PIL import Image, ImageDraw
    img = Image.new("RGB", (120, 90), (250, 240, 20))
    draw = ImageDraw.Draw(img)
    for x in range(0, 120, 20):
        draw.rectangle([x, 0, x + 9, 89], fill=(30, 90, 200))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


BLUE = _stripes()


def test_an_index_of_thousands_of_digits_is_still_an_index():
    huge = "9" * 5000
    got = parse_pairs([(f"a[{huge}]", "last"), ("a[0010]", "second"), ("a[2]", "first")])
    assert got.tree == {"a": ["first", "second", "last"]}


def test_a_huge_bracket_index_gets_a_doofinder_answer(running):
    reply = Doofinder(running.http).search(f"query=skirt&filter[brand][{'9' * 5000}]=Contoso")
    assert reply.status == 200 and reply.body["count"] >= 1


def test_explaining_a_journal_miss_leaves_the_ranking_as_it_was(running, admin):
    client, mine = Doofinder(running.http), {"X-Emulator-Tenant": admin.tenant}
    before = [r["id"] for r in client.image_search(BLUE, headers=mine).body["results"]]
    status, got = admin("GET", "/explain/misses")
    assert status == 200 and got["misses"], "the image search is a miss to explain"
    after = [r["id"] for r in client.image_search(BLUE, headers=mine).body["results"]]
    assert after == before


def test_a_partial_fingerprint_never_stands_for_the_real_one_in_a_ranking():
    """The journal rebuilds a query's fingerprint without colours and crops; ranking by it
    first must not decide the order a real query with the same digest gets later."""
    from emulator.core import load_fixtures
    catalog = next(iter(load_fixtures(FIXTURES).engines.values())).catalog
    fp = fingerprint(BLUE)
    fresh = [item.id for item, _ in type(catalog)(catalog.items).by_image(fp)]
    catalog.by_image(recorded_fingerprint(image_record(fp, len(BLUE))))
    assert [item.id for item, _ in catalog.by_image(fp)] == fresh


def test_deeply_nested_admin_json_is_the_admin_api_error(running):
    body = ("[" * 100_000 + "]" * 100_000).encode()
    status, _, raw = http(running.http, "POST", "/_emulator/stubs", body,
                          {"Content-Type": "application/json"})
    assert status == 400 and "nested too deep" in json.loads(raw)["error"]


def test_the_served_image_cache_is_bounded_by_count_as_well_as_bytes():
    cache = BoundedLRU(3, 1 << 30, size=lambda image: len(image.body))
    for i in range(10):
        cache.put(("placeholder", "1x1/000000.png", str(i)),
                  ServedImage(b"x", "image/png", '"e"', "no-cache"))
    kept = [i for i in range(10) if cache.get(("placeholder", "1x1/000000.png", str(i)))]
    assert kept == [7, 8, 9]
    assert (_CACHE.max_entries, _CACHE.max_bytes) == (CACHE_ENTRIES, CACHE_BYTES)
