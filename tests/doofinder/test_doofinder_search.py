"""``_search`` (GET and POST), ``_suggest`` and ``_visually_similar`` over a small catalog
whose every count is known; filters, facets, sort and paging as every search operation
reads them, in every query-string dialect clients send.

Contract: contracts/doofinder.md; every answer is validated against the vendor's OpenAPI
document by ``doofinder_client``.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from support.server import start
from support.doofinder_client import (OFF_HASHID, RED_SQUARE, SHOP, SHOP_HASHID, SHOP_KEY, Doofinder,
                                      fixture_dir)

ALL = ["a1", "a2", "a3", "a4", "a5", "a6", "p1"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Doofinder:
    with start(fixture_dir(tmp_path_factory, "shop", SHOP)) as running:
        yield Doofinder(running.http, token=SHOP_KEY)


def ids(shop: Doofinder, query: str = "", **kw) -> list[str]:
    reply = shop.search(query, hashid=SHOP_HASHID, **kw)
    assert reply.status == 200, reply.body
    return reply.ids


def error(shop: Doofinder, query: str) -> tuple[int, str]:
    reply = shop.search(query, hashid=SHOP_HASHID)
    return reply.status, reply.error


def dfid(item_id: str, index: str = "product") -> str:
    return f"{SHOP_HASHID}@{index}@{hashlib.md5(item_id.encode()).hexdigest()}"


# -- filters in every dialect ----------------------------------------------------------------
@pytest.mark.parametrize("query", [
    "filter[color][]=red&filter[color][]=blue",
    "filter[color][0]=red&filter[color][1]=blue",
    "filter[color][1]=blue&filter[color][0]=red",
    "filter[color]=red&filter[color]=blue",
    "filter%5Bcolor%5D%5B%5D=red&filter%5Bcolor%5D%5B%5D=blue",
    "filter%5bcolor%5d%5b0%5d=red&filter%5bcolor%5d%5b1%5d=blue",
], ids=["brackets", "indexed", "indexed-out-of-order", "repeated", "encoded", "encoded-lower"])
def test_term_filter_dialects_are_one_filter(shop, query):
    assert ids(shop, query) == ["a1", "a2", "a3", "a6"]


def test_scalar_term_filter(shop):
    assert ids(shop, "filter[brand]=Nike") == ["a1", "a3"]


def test_terms_are_exact(shop):
    assert ids(shop, "filter[brand]=nike") == []


def test_numeric_and_boolean_terms(shop):
    assert ids(shop, "filter[price]=50") == ["a1"]
    assert ids(shop, "filter[price]=50.0") == ["a1"]
    assert ids(shop, "filter[on_sale]=true") == ["a4"]


def test_fields_are_and_by_default_or_with_filter_execution(shop):
    assert ids(shop, "filter[color]=red&filter[size]=L") == ["a1"]
    assert ids(shop, "filter[color]=red&filter[size]=L&filter_execution=and") == ["a1"]
    assert ids(shop, "filter[color]=red&filter[size]=L&filter_execution=or") == \
        ["a1", "a3", "a5"]


@pytest.mark.parametrize("query, expected", [
    ("filter[price][gte]=20&filter[price][lt]=80", ["a1", "a3", "a6"]),
    ("filter[price][gt]=20&filter[price][lte]=80", ["a1", "a2", "a6"]),
    ("filter[price][lte]=15", ["a4"]),
    ("filter[best_price][lte]=99.5&filter[best_price][gt]=50", ["a2", "a5", "a6"]),
    ("filter[price][gte]=4.36e1&filter[price][lt]=51", ["a1"]),
    ("filter[price][gte]=-1&filter[price][lt]=16", ["a4"]),
], ids=["gte-lt", "gt-lte", "lte", "decimal", "exponent", "negative"])
def test_range_filters(shop, query, expected):
    assert ids(shop, query) == expected


def test_exclude_is_a_negative_filter(shop):
    assert ids(shop, "exclude[brand]=Nike") == ["a2", "a4", "a5", "a6", "p1"]
    assert ids(shop, "exclude[size]=M&exclude[size]=S") == ["a4", "a5", "p1"]
    assert ids(shop, "exclude[price][gte]=70") == ["a1", "a3", "a4", "p1"]
    assert ids(shop, "filter[color]=red&exclude[size][]=L") == ["a3"]


@pytest.mark.parametrize("query", [
    "filter=red", "filter[price][gte]=cheap", "filter[price][between]=1",
    "filter[price][gte]=1&filter[price][]=5", "filter[color]=red&filter[color][x]=blue",
    "filter_execution=xor", "filter[a][b][c][d][e][f][g]=1", "exclude=1", "filter[price][gte]=nan",
], ids=["not-a-map", "word-bound", "unknown-bound", "range-and-terms", "mixed-shapes",
        "execution", "too-deep", "exclude", "nan"])
def test_malformed_filters_are_bad_query(shop, query):
    assert error(shop, query) == (400, "Bad request, bad query")


# -- facets ---------------------------------------------------------------------------------
def test_term_facet_counts_and_order(shop):
    reply = shop.search("facets[0][field]=brand", hashid=SHOP_HASHID)
    assert reply.body["facets"] == [{"key": "brand", "terms": {"items": [
        {"name": "Adidas", "count": 2}, {"name": "Nike", "count": 2},
        {"name": "Levis", "count": 1}, {"name": "Puma", "count": 1}], "selected": []}}]


def test_facet_counts_are_disjunctive_and_selected_terms_listed(shop):
    reply = shop.search("filter[brand]=Nike&facets[0][field]=brand&facets[0][size]=1"
                        "&facets[1][field]=color", hashid=SHOP_HASHID)
    assert reply.ids == ["a1", "a3"]
    brand = reply.facet("brand")["terms"]
    assert brand["items"] == [{"name": "Adidas", "count": 2}]  # size 1: the top term
    assert brand["selected"] == [{"name": "Nike", "count": 2}]  # listed though not in the top
    assert reply.facet("color")["terms"]["items"] == [{"name": "red", "count": 2}]


def test_facets_come_in_request_order_and_only_when_asked(shop):
    reply = shop.search("facets[0][field]=size&facets[1][field]=price&facets[2][field]=brand",
                        hashid=SHOP_HASHID)
    assert [f["key"] for f in reply.body["facets"]] == ["size", "price", "brand"]
    assert reply.facet("size")["terms"]["items"] == [
        {"name": "M", "count": 3}, {"name": "L", "count": 2}, {"name": "S", "count": 2}]
    assert "facets" not in shop.search("", hashid=SHOP_HASHID).body


def test_range_facet_with_and_without_a_range_filter(shop):
    plain = shop.search("facets[0][field]=price", hashid=SHOP_HASHID)
    assert plain.facet("price") == {"key": "price", "range": {"min": 15, "max": 120}}
    narrowed = shop.search("facets[0][field]=price&filter[price][gte]=20&filter[price][lt]=80"
                           "&filter[color]=blue", hashid=SHOP_HASHID)
    assert narrowed.ids == ["a6"]
    # the color filter narrows it, the price filter (its own field) does not
    assert narrowed.facet("price") == {"key": "price",
                                       "range": {"min": 70, "max": 80, "from": 20, "to": 80}}


def test_facet_type_can_be_forced(shop):
    reply = shop.search("facets[0][field]=price&facets[0][type]=term&facets[0][size]=2",
                        hashid=SHOP_HASHID)
    assert reply.facet("price")["terms"]["items"] == [{"name": "120", "count": 1},
                                                      {"name": "15", "count": 1}]
    assert shop.search("facets[0][field]=brand&facets[0][type]=range",
                       hashid=SHOP_HASHID).facet("brand") == {"key": "brand", "range": {}}


def test_pydoof_facets_of_plain_names(shop):
    assert shop.search("facets[]=brand", hashid=SHOP_HASHID).facet("brand")["terms"]["items"]


def test_a_single_facet_name(shop):
    assert shop.search("facets=brand", hashid=SHOP_HASHID).facet("brand")["terms"]["items"]


@pytest.mark.parametrize("query", ["facets[0][size]=3", "facets[0][field]=brand&facets[0][type]=x",
                                   "facets[0][field]=brand&facets[0][size]=0",
                                   "facets[0][field]=brand&facets[0][size]=many",
                                   "facets[0][field][]=brand", "facets[0][field]="])
def test_malformed_facets_are_bad_query(shop, query):
    assert error(shop, query) == (400, "Bad request, bad query")


def test_facet_size_over_50_lists_at_most_50(tmp_path_factory):
    engines = {"version": 1, "engines": [{"hashid": SHOP_HASHID, "indices": [
        {"name": "product", "generated": {"count": 60, "fields": {
            "sku": {"template": "SKU-{n}"}}}}]}]}
    with start(fixture_dir(tmp_path_factory, "many", engines)) as running:
        client = Doofinder(running.http, token="any")
        reply = client.search("facets[0][field]=sku&facets[0][size]=80", hashid=SHOP_HASHID)
        assert len(reply.facet("sku")["terms"]["items"]) == 50
        unsized = client.search("facets[0][field]=sku", hashid=SHOP_HASHID)
        assert len(unsized.facet("sku")["terms"]["items"]) == 50


# -- sort -------------------------------------------------------------------------------------
@pytest.mark.parametrize("query, expected", [
    ("sort[0][price]=asc", ["a4", "a3", "a1", "a6", "a2", "a5", "p1"]),
    ("sort[0][price]=desc", ["a5", "a2", "a6", "a1", "a3", "a4", "p1"]),
    ("sort[]=price", ["a4", "a3", "a1", "a6", "a2", "a5", "p1"]),
    ("sort=price", ["a4", "a3", "a1", "a6", "a2", "a5", "p1"]),
    ("sort[price]=desc", ["a5", "a2", "a6", "a1", "a3", "a4", "p1"]),
    ("sort[0][brand]=asc&sort[1][price]=desc", ["a5", "a2", "a6", "a1", "a3", "a4", "p1"]),
    ("sort[1][price]=asc&sort[0][brand]=desc", ["a4", "a3", "a1", "a6", "a2", "a5", "p1"]),
    ("sort[0][size]=desc", ["a2", "a3", "a1", "a6", "a5", "a4", "p1"]),
    ("sort[0][nothing]=asc", ALL),
], ids=["asc", "desc", "list", "scalar", "map", "two-keys", "two-keys-indexed", "list-field",
        "absent-field"])
def test_sort(shop, query, expected):
    assert ids(shop, query) == expected


@pytest.mark.parametrize("query", ["sort[0][price]=up", "sort[0][price]=ASC", "sort[0][]=asc",
                                   "sort[0][price][x]=asc"])
def test_malformed_sort_is_bad_query(shop, query):
    assert error(shop, query) == (400, "Bad request, bad query")


# -- paging -----------------------------------------------------------------------------------
def test_paging(shop):
    assert ids(shop, "rpp=2") == ["a1", "a2"]
    assert ids(shop, "rpp=2&page=2") == ["a3", "a4"]
    assert ids(shop, "rpp=2&page=4") == ["p1"]
    past = shop.search("rpp=2&page=9", hashid=SHOP_HASHID).body
    assert past["results"] == [] and past["count"] == past["total"] == 7


@pytest.mark.parametrize("query", ["rpp=100&page=11", "rpp=101", "rpp=0", "page=0", "page=-1",
                                   "page=two", "rpp=1&page=1001"])
def test_outside_the_window_is_invalid_rpp(shop, query):
    assert error(shop, query) == (400, "Invalid rpp")


def test_the_window_ends_at_result_1000(shop):
    assert shop.search("rpp=100&page=10", hashid=SHOP_HASHID).status == 200
    assert shop.search("rpp=1&page=1000", hashid=SHOP_HASHID).status == 200


def test_total_is_what_can_be_fetched(tmp_path_factory):
    engines = {"version": 1, "engines": [{"hashid": SHOP_HASHID, "indices": [
        {"name": "product", "generated": {"count": 1005, "fields": {"description": None}}}]}]}
    with start(fixture_dir(tmp_path_factory, "big", engines)) as running:
        body = Doofinder(running.http, token="k").search("rpp=1", hashid=SHOP_HASHID).body
    assert (body["count"], body["total"]) == (1005, 1000)


# -- text search ----------------------------------------------------------------------------
def test_match_and_first(shop):
    reply = shop.search("query=red+shoes", hashid=SHOP_HASHID)
    assert (reply.ids, reply.body["query_name"]) == (["a1"], "match_and")


def test_match_or_when_no_item_has_every_word(shop):
    reply = shop.search("query=red+jacket", hashid=SHOP_HASHID)
    assert (reply.ids, reply.body["query_name"]) == (["a1", "a3", "a5", "a6"], "match_or")


def test_fuzzy_when_no_word_matches(shop):
    reply = shop.search("query=jackte", hashid=SHOP_HASHID)
    assert (reply.ids, reply.body["query_name"]) == (["a5", "a6"], "fuzzy")


def test_a_forced_query_name_is_the_only_one_tried(shop):
    reply = shop.search("query=red+jacket&query_name=match_and", hashid=SHOP_HASHID)
    assert (reply.ids, reply.body["query_name"], reply.body["count"]) == ([], "match_and", 0)
    assert shop.search("query=jackte&query_name=match_or", hashid=SHOP_HASHID).ids == []


def test_words_match_as_prefixes_and_in_any_text_field(shop):
    assert ids(shop, "query=runn") == ["a1", "a2"]
    assert ids(shop, "query=adidas") == ["a2", "a5"]  # the brand field
    assert ids(shop, "query=Shipping") == ["p1"]


def test_title_words_score_above_other_fields(shop):
    assert ids(shop, "query=jackets&query_name=match_or") == ["a5", "a6"]
    # a1: shoes in the title and nike in the brand; a2: shoes; a3: nike
    assert ids(shop, "query=shoes+nike&query_name=match_or") == ["a1", "a2", "a3"]


def test_empty_query_lists_everything(shop):
    reply = shop.search("query=", hashid=SHOP_HASHID)
    assert (reply.ids, reply.body["query_name"]) == (ALL, "match_and")


def test_indices(shop):
    assert ids(shop, "indices[]=page") == ["p1"]
    assert ids(shop, "indices[]=page&indices[]=product") == ALL
    assert ids(shop, "indices=product") == ALL[:-1]
    assert ids(shop, "indices[]=page")[0] == "p1"
    reply = shop.search("indices[]=nope", hashid=SHOP_HASHID)
    assert (reply.status, reply.error) == (404, "Index nope not found.")
    page = shop.search("indices[]=page", hashid=SHOP_HASHID).body["results"][0]
    assert page["dfid"] == dfid("p1", "page")


@pytest.mark.parametrize("query, expected", [
    ("query=" + "a" * 201, "Bad request, bad query"),
    ("query=" + "+".join(["w"] * 11), "Bad request, bad query"),
    ("query=a&query=b", "Bad request, bad query"),
    ("query_name=best", "Bad request, bad query"),
    ("session_id=" + "s" * 33, "session_id should have 32 characters or less"),
    ("user_id=" + "u" * 37, "invalid_user_id"),
    ("stats=yes", "Bad request, bad query"),
    ("auto_filters=1", "Bad request, bad query"),
])
def test_search_parameter_errors(shop, query, expected):
    assert error(shop, query) == (400, expected)


def test_limits_are_inclusive(shop):
    ok = ["query=" + "a" * 200, "query=" + "+".join(["w"] * 10), "session_id=" + "s" * 32,
          "user_id=" + "u" * 36, "stats=false&auto_filters=true&custom_results=false"]
    for query in ok:
        assert shop.search(query, hashid=SHOP_HASHID).status == 200, query


def test_post_search_reads_a_json_body(shop):
    body = {"query": "jacket", "filter": {"color": ["blue", "black"], "price": {"lt": 100}},
            "sort": [{"price": "desc"}], "facets": [{"field": "brand", "size": 5}], "rpp": 1,
            "page": 1, "indices": ["product"]}
    post = shop.call("POST", f"/6/{SHOP_HASHID}/_search", body=body)
    get = shop.search("query=jacket&filter[color][]=blue&filter[color][]=black"
                      "&filter[price][lt]=100&sort[0][price]=desc&facets[0][field]=brand"
                      "&facets[0][size]=5&rpp=1&page=1&indices[]=product", hashid=SHOP_HASHID)
    assert post.status == 200 and post.body == get.body
    assert post.ids == ["a6"]


def test_post_search_query_string_and_body_must_agree(shop):
    reply = shop.call("POST", f"/6/{SHOP_HASHID}/_search", "rpp=1", body={"rpp": 2})
    assert (reply.status, reply.error) == (400, "Invalid rpp")
    same = shop.call("POST", f"/6/{SHOP_HASHID}/_search", "query=hat", body={"query": "hat"})
    assert same.ids == ["a4"]


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"rpp": true}'])
def test_post_search_bad_bodies(shop, body):
    reply = shop.call("POST", f"/6/{SHOP_HASHID}/_search", body=body)
    assert reply.status == 400
    assert reply.error == ("Invalid rpp" if b"rpp" in body else "Bad request")


def test_items_are_the_documents_as_the_catalog_holds_them(shop):
    reply = shop.search("filter[id][]=a1&filter[id][]=a6", hashid=SHOP_HASHID)
    a1, a6 = reply.body["results"]
    assert a1 == {"id": "a1", "title": "Red Running Shoes", "brand": "Nike", "color": "red",
                  "price": 50, "categories": ["Shoes"], "size": ["M", "L"], "sale_price": 40,
                  "best_price": 40, "image_link": a1["image_link"], "dfid": dfid("a1")}
    assert a1["image_link"].endswith("/_emulator/images/files/red-square.png")
    assert a6["image_link"] == "https://cdn.example.com/a6.jpg"  # the fixture's own, kept
    assert a6["best_price"] == 70
    page = shop.search("indices[]=page", hashid=SHOP_HASHID).body["results"][0]
    assert page["best_price"] is None


# -- suggestions ------------------------------------------------------------------------------
def suggest(shop: Doofinder, query: str, hashid: str = SHOP_HASHID, **kw):
    return shop.suggest(query, hashid=hashid, **kw)


def test_suggestions(shop):
    assert suggest(shop, "query=run").body == ["Red Running Shoes", "Blue Running Shoes"]
    assert suggest(shop, "query=ni").body == ["Nike"]
    assert suggest(shop, "query=jack").body == ["Jackets", "Black Leather Jacket",
                                                "Blue Denim Jacket"]
    assert suggest(shop, "query=blue+ja").body == ["Blue Denim Jacket"]
    assert suggest(shop, "query=").body == []
    assert suggest(shop, "query=zzz").body == []
    assert suggest(shop, "query=ship&indices[]=product").body == []
    assert suggest(shop, "query=ship&indices[]=page").body == ["Shipping and returns"]


@pytest.mark.parametrize("query, status, text", [
    ("query=" + "a" * 201, 400, '"query" has an invalid value'),
    ("query=" + "+".join(["w"] * 11), 400, '"query" has an invalid value'),
    ("query=a&session_id=" + "s" * 33, 400, "session_id should have 32 characters or less"),
    ("query=a&indices[]=product&indices[]=nope", 404, "Index nope not found."),
])
def test_suggest_errors(shop, query, status, text):
    reply = suggest(shop, query)
    assert (reply.status, reply.error) == (status, text)


def test_suggestions_off_is_429(shop):
    reply = suggest(shop, "query=run", hashid=OFF_HASHID, token="any")
    assert (reply.status, reply.error) == (429, "Suggestions not available")


# -- visually similar -----------------------------------------------------------------------
def test_visually_similar_leaves_the_item_out(shop):
    reply = shop.similar(f"dfid={dfid('a1')}", hashid=SHOP_HASHID)
    assert reply.status == 200
    assert "a1" not in reply.ids and len(reply.ids) == 6
    itself = shop.similar(f"dfid={dfid('a1')}&exclude_self=false", hashid=SHOP_HASHID)
    assert itself.ids[0] == "a1" and len(itself.ids) == 7
    assert itself.headers["x-emulator-match"] == 'exact; rule="a1"; distance=0'
    # the same order as an image search with the item's own picture
    by_image = shop.image_search(RED_SQUARE, "rpp=20", hashid=SHOP_HASHID)
    assert itself.ids == by_image.ids


def test_visually_similar_takes_the_listing_parameters(shop):
    reply = shop.similar(f"dfid={dfid('a1')}&filter[brand]=Adidas&facets[0][field]=color"
                         "&sort[0][price]=asc&fields[]=color&rpp=1", hashid=SHOP_HASHID)
    assert reply.ids == ["a2"] and reply.body["count"] == 2
    assert reply.facet("color")["terms"]["items"] == [{"name": "black", "count": 1},
                                                      {"name": "blue", "count": 1}]


@pytest.mark.parametrize("query, status, text", [
    ("", 400, 'Following fields are missing: ["dfid"]'),
    ("dfid=", 400, 'Following fields are missing: ["dfid"]'),
    ("dfid=nonsense", 404, "Image for the given dfid not found"),
    (f"dfid={dfid('zz')}", 404, "Image for the given dfid not found"),
    (f"dfid={dfid('a1').replace(SHOP_HASHID, OFF_HASHID)}", 404,
     "Image for the given dfid not found"),
    (f"dfid={dfid('a1', 'page')}", 404, "Image for the given dfid not found"),
    (f"dfid={dfid('a1')}&rpp=500", 400, "Invalid rpp"),
    (f"dfid={dfid('a1')}&exclude_self=maybe", 400, "Bad request, bad query"),
])
def test_visually_similar_errors(shop, query, status, text):
    reply = shop.similar(query, hashid=SHOP_HASHID)
    assert (reply.status, reply.error) == (status, text)


def test_visually_similar_needs_image_search(shop):
    reply = shop.similar(f"dfid={dfid('a1').replace(SHOP_HASHID, OFF_HASHID)}",
                         hashid=OFF_HASHID, token="any")
    assert (reply.status, reply.error) == (400, "Image Search is not enabled for this search engine")


# -- the journal ------------------------------------------------------------------------------
def test_search_calls_are_journaled(shop):
    shop.search("query=hat&filter[color][]=green", hashid=SHOP_HASHID)
    _, _, raw = shop.raw("GET", "/_emulator/requests?limit=1")
    entry = json.loads(raw)["requests"][0]
    assert (entry["api"], entry["method"], entry["outcome"]) == ("doofinder.v6", "GET _search", "OK")
    assert entry["request"]["params"] == {"query": "hat", "filter": {"color": ["green"]}}
