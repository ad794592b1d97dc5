"""The control plane on Doofinder v6: tenants, runtime stubs and faults, the journal,
explain, the match header, and the pictures results link to, all over HTTP.

Every Doofinder body is validated against the vendor's OpenAPI document
(``doofinder_client``), every admin body against the emulator's own (``adminhttp``).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import time
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageDraw

from support.adminhttp import Admin, tenant_admin
from support.server import FIXTURES, start
from support.doofinder_client import (BLUE_WALLPAPER, DOCS_HASHID, DOCS_KEY, GRAY_SKETCH, RED_SQUARE,
                                      SHOP_ITEMS, Doofinder, b64, fixture_dir)
from emulator import doofinder
from emulator.core import IMAGES_PATH, MATCH_HEADER, Quota, RateLimiter

#: An engine that takes any token, so a token can name a tenant of its own.
OPEN_HASHID = "00112233445566778899aabbccddeeff"
ENGINES = json.loads((FIXTURES / "engines.json").read_text())
ENGINES["engines"].append({"hashid": OPEN_HASHID, "name": "open",
                           "indices": [{"name": "product", "items": SHOP_ITEMS}]})
EMBEDDING = "There was an error obtaining the embeddings, please try again."
MATCH = MATCH_HEADER.lower()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with start(fixture_dir(tmp_path_factory, "control", ENGINES)) as run:
        yield run


admin = tenant_admin("dfctl")


@pytest.fixture
def client(running, admin) -> Doofinder:
    """The docs' key, and the test's tenant named by header."""
    return Tenant(running.http, admin.tenant)


class Tenant(Doofinder):
    """A Doofinder client whose calls name a tenant with X-Emulator-Tenant."""

    def __init__(self, base_url: str, tenant: str | None, token: str | None = DOCS_KEY) -> None:
        super().__init__(base_url, token)
        self.tenant = tenant

    def call(self, method, path, query="", body=None, headers=None, token="default"):
        sent = dict(headers or {})
        if self.tenant:
            sent.setdefault("X-Emulator-Tenant", self.tenant)
        return super().call(method, path, query, body, sent, token)


def stripes() -> bytes:
    """Black stripes on white: a picture no item shows."""
    img = Image.new("RGB", (128, 128), "white")
    for x in range(0, 128, 16):
        ImageDraw.Draw(img).rectangle((x, 0, x + 7, 127), fill="black")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def journal(admin: Admin, **filters) -> list[dict]:
    return admin("GET", "/requests", params={"vendor": "doofinder", **filters})[1]["requests"]


def count(admin: Admin, **filters) -> int:
    return admin("GET", "/requests/count", params={"vendor": "doofinder", **filters})[1]["count"]


# -- tenants --------------------------------------------------------------------------------
def test_tenants_by_header_token_and_hashid_are_isolated(running, admin):
    by_token = admin.for_tenant("dfctl-token-of-my-own")
    by_hashid = admin.for_tenant(DOCS_HASHID)
    try:
        admin("POST", "/stubs", {"vendor": "doofinder", "hashid": DOCS_HASHID,
                                 "image_base64": b64(RED_SQUARE),
                                 "results": ["wallpaper-deep-blue"]})
        by_token("POST", "/stubs", {"vendor": "doofinder", "image_base64": b64(RED_SQUARE),
                                    "results": ["a2"]})
        by_hashid("POST", "/stubs", {"vendor": "doofinder", "text": "tenant of the engine",
                                     "results": ["sketch-gray-pencil"]})
        header = Tenant(running.http, admin.tenant)
        token = Doofinder(running.http, token="dfctl-token-of-my-own")
        anonymous = Doofinder(running.http)  # the docs' key names the tenant
        page = Doofinder(running.http, token=None)  # no token: an allowed page's Origin
        assert header.image_search(RED_SQUARE).ids[:1] == ["wallpaper-deep-blue"]
        assert header.image_search(RED_SQUARE).headers[MATCH].startswith("stub; ")
        assert token.image_search(RED_SQUARE, hashid=OPEN_HASHID).ids == ["a2"]
        assert anonymous.image_search(RED_SQUARE).ids[0] == "poster-red-square"
        # the header's stub is for the docs engine only; the token's not for the header
        assert header.image_search(RED_SQUARE, hashid=OPEN_HASHID).ids[0] == "a1"
        origin = {"Origin": "http://localhost"}
        assert page.search("query=tenant+of+the+engine", headers=origin).ids == \
            ["sketch-gray-pencil"]
        assert MATCH not in anonymous.search("query=tenant+of+the+engine").headers
        assert [count(admin), count(by_token), count(by_hashid)] == [3, 1, 1]
        assert {e["tenant"] for e in journal(by_token)} == {"dfctl-token-of-my-own"}
    finally:
        by_token("POST", "/reset")
        by_hashid("POST", "/reset")


def test_stubs_naming_unknown_items_are_refused(admin):
    status, error = admin("POST", "/stubs", {"vendor": "doofinder", "text": "x",
                                             "results": ["poster-red-square", "nope"]})
    assert status == 400 and error["place"] == "$.results[1]" and "'nope'" in error["error"]
    status, error = admin("POST", "/stubs", {"vendor": "doofinder", "hashid": OPEN_HASHID,
                                             "text": "x", "results": ["poster-red-square"]})
    assert status == 400 and "poster-red-square" in error["error"]
    assert admin("POST", "/stubs", {"vendor": "doofinder", "hashid": OPEN_HASHID,
                                    "text": "x", "results": ["a1"]})[0] == 201
    # an id of either vendor's catalog, for a stub of every vendor
    assert admin("POST", "/stubs", {"text": "y", "results": ["red-square", "a1"]})[0] == 201
    assert admin("POST", "/stubs", {"text": "z", "results": ["neither"]})[0] == 400
    assert admin("POST", "/stubs", {"vendor": "doofinder", "hashid": "NOT-A-HASHID",
                                    "text": "x", "results": ["a1"]})[0] == 400


# -- stubs ----------------------------------------------------------------------------------
def test_a_sequence_424_then_ok_is_consumed_by_two_calls(client, admin):
    admin("POST", "/stubs", {"name": "embeddings flaky", "vendor": "doofinder",
                             "image_base64": b64(BLUE_WALLPAPER),
                             "sequence": [
                                 {"error": {"http_status": 424}},
                                 {"results": ["sketch-gray-pencil", "poster-red-square"]}]})
    first = client.image_search(BLUE_WALLPAPER)
    assert (first.status, first.error) == (424, EMBEDDING)
    assert first.headers[MATCH] == 'stub; rule="embeddings flaky"; distance=0'
    second = client.image_search(BLUE_WALLPAPER)
    assert second.status == 200 and second.ids == ["sketch-gray-pencil", "poster-red-square"]
    assert second.headers[MATCH] == first.headers[MATCH]
    assert client.image_search(BLUE_WALLPAPER).ids == second.ids  # the last step stays
    assert [e["outcome"] for e in journal(admin)] == ["424", "OK", "OK"]
    assert admin("GET", "/stubs")[1]["stubs"][0]["hits"] == 3


def test_stub_results_are_filtered_sorted_and_paged(client, admin):
    admin("POST", "/stubs", {"name": "sale", "vendor": "doofinder", "text": "Summer  Sale",
                             "results": ["a5", "a1", "a2", "a4"]})
    reply = client.search("query=summer+sale&filter[brand][]=Adidas&filter[brand][]=Puma"
                          "&sort[0][price]=desc&facets[0][field]=brand&rpp=2",
                          hashid=OPEN_HASHID)
    assert reply.status == 200 and reply.ids == ["a5", "a2"]
    assert (reply.body["count"], reply.body["query_name"]) == (3, "match_and")
    assert reply.facet("brand")["terms"]["items"] == [{"name": "Adidas", "count": 2},
                                                      {"name": "Nike", "count": 1},
                                                      {"name": "Puma", "count": 1}]
    assert reply.headers[MATCH] == 'stub; rule="sale"'
    page2 = client.search("query=summer+sale&filter[brand][]=Adidas&filter[brand][]=Puma"
                          "&sort[0][price]=desc&rpp=2&page=2", hashid=OPEN_HASHID)
    assert page2.ids == ["a4"]
    # an image search with a stub of an image that looks like the query
    admin("POST", "/stubs", {"vendor": "doofinder", "image": "red-square.png",
                             "results": ["a6", "a2"]})
    look_alike = Image.open(io.BytesIO(RED_SQUARE)).resize((200, 200))
    out = io.BytesIO()
    look_alike.save(out, "PNG")
    reply = client.image_search(out.getvalue(), "exclude[color]=blue", hashid=OPEN_HASHID)
    assert reply.ids == [] and reply.body["count"] == 0
    assert reply.headers[MATCH].startswith("stub; ")
    # a text search no stub answers has no match header
    assert MATCH not in client.search("query=summer", hashid=OPEN_HASHID).headers


# -- faults ---------------------------------------------------------------------------------
def test_a_fault_at_rate_1_answers_429_too_many_requests(client, admin, running):
    admin("POST", "/faults", {"name": "busy", "vendor": "doofinder", "rate": 1.0,
                              "error": {"http_status": 429}})
    for reply in (client.image_search(RED_SQUARE), client.search("query=print"),
                  client.similar("dfid=x"),
                  client.stats("init", "session_id=s1")):
        assert (reply.status, reply.error) == (429, "Too many requests")
        assert reply.headers[MATCH] == 'fault; rule="busy"'
    assert Doofinder(running.http).image_search(RED_SQUARE).status == 200  # another tenant
    entries = journal(admin)
    assert [e["outcome"] for e in entries] == ["429"] * 4
    assert all(e["faults"] == ["busy"] and e["match"] == {"tier": "fault", "rule": "busy",
                                                          "distance": None} for e in entries)
    assert admin("GET", "/faults")[1]["faults"][0]["hits"] == 4


def test_fault_errors_in_the_vendor_form_and_per_operation(client, admin):
    admin("POST", "/faults", {"operation": "GET _search", "error": {"status": "UNAVAILABLE"}})
    admin("POST", "/faults", {"operation": "POST _image_search",
                              "error": {"http_status": 424, "message": EMBEDDING}})
    reply = client.search("query=print")
    assert (reply.status, reply.body) == (503, {"error": "Service Unavailable"})
    assert client.call("POST", f"/6/{DOCS_HASHID}/_search", body={"query": "print"}).status \
        == 200
    assert (client.image_search(RED_SQUARE).status, client.image_search(RED_SQUARE).error) \
        == (424, EMBEDDING)
    assert client.suggest("query=print").status == 200


def test_an_injected_405_names_the_methods_the_path_takes(client, admin):
    admin("POST", "/faults", {"operation": "GET _search", "error": {"http_status": 405}})
    reply = client.search("query=print")
    assert (reply.status, reply.error) == (405, "Method not allowed")
    assert reply.headers["allow"] == "GET, HEAD, OPTIONS, POST"  # RFC 9110
    assert "allow" not in client.suggest("query=print").headers


def test_latency_delays_the_answer(client, admin):
    admin("POST", "/faults", {"name": "slow", "vendor": "doofinder",
                              "latency": {"fixed_ms": 150}})
    started = time.monotonic()
    reply = client.image_search(GRAY_SKETCH)
    assert reply.status == 200 and time.monotonic() - started >= 0.15
    [entry] = journal(admin)
    assert entry["faults"] == ["slow"] and entry["latency_ms"] >= 150
    assert entry["match"]["tier"] == "exact"


def test_a_reset_drops_the_connection(running, admin):
    admin("POST", "/faults", {"vendor": "doofinder", "reset": True})
    split = urlsplit(running.http)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=10)
    with pytest.raises(ConnectionError):  # while the body is still being sent, or after
        connection.request("POST", f"/6/{DOCS_HASHID}/_image_search",
                           json.dumps({"image": b64(RED_SQUARE)}),
                           {"Authorization": f"Token {DOCS_KEY}",
                            "X-Emulator-Tenant": admin.tenant})
        connection.getresponse()
    connection.close()
    with pytest.raises(ConnectionError):
        Tenant(running.http, admin.tenant).search("query=print")
    assert [e["outcome"] for e in journal(admin)] == ["CONNECTION_RESET"] * 2


def test_a_dripped_answer_arrives_whole_and_the_same(client, admin):
    plain = client.image_search(GRAY_SKETCH, "rpp=50")
    _, fault = admin("POST", "/faults", {"vendor": "doofinder",
                                         "drip": {"chunk_bytes": 4096, "interval_ms": 1}})
    dripped = client.image_search(GRAY_SKETCH, "rpp=50")
    assert dripped.body == plain.body and len(json.dumps(plain.body)) > 3 * 4096
    assert dripped.headers[MATCH] == plain.headers[MATCH]
    assert [e["faults"] for e in journal(admin)] == [[], [fault["name"]]]


def test_the_built_in_rate_limit_comes_before_faults(tmp_path_factory):
    with start(fixture_dir(tmp_path_factory, "limited", ENGINES), rate_limits=True) as run:
        api = run.emulator._runner.app[doofinder.API]
        api.limiter = RateLimiter((Quota(20, 1.0),), clock=lambda: 0.0)  # one frozen second
        limited = Admin(run.http, "limited")
        limited("POST", "/faults", {"error": {"http_status": 503}})
        client = Tenant(run.http, "limited")
        assert [client.search("query=print").status for _ in range(20)] == [503] * 20
        reply = client.search("query=print")
        assert (reply.status, reply.error) == (429, "Too many requests")
        assert MATCH not in reply.headers
        assert limited("GET", "/faults")[1]["faults"][0]["seen"] == 20


# -- the journal ----------------------------------------------------------------------------
def test_journal_entries_name_tenant_lookup_image_match_and_latency(client, admin):
    client.image_search(BLUE_WALLPAPER, "rpp=2")
    dfid = client.search("query=tolstoy").body["results"][0]["dfid"]
    client.similar(f"dfid={dfid}&rpp=2")
    image, text, similar = journal(admin)
    assert image["tenant"] == text["tenant"] == similar["tenant"] == admin.tenant
    assert image["method"] == "POST _image_search" and image["lookup"] == {"hashid": DOCS_HASHID}
    picture = Image.open(io.BytesIO(BLUE_WALLPAPER))
    assert image["image"]["sha256"] == hashlib.sha256(BLUE_WALLPAPER).hexdigest()
    assert (image["image"]["bytes"], image["image"]["width"], image["image"]["height"]) == \
        (len(BLUE_WALLPAPER), picture.width, picture.height)
    assert image["image"]["format"] == "jpeg" and len(image["image"]["dhash"]) == 16
    assert image["match"] == {"tier": "exact", "rule": "wallpaper-deep-blue", "distance": 0}
    assert image["faults"] == [] and image["latency_ms"] > 0
    assert text["lookup"] == {"hashid": DOCS_HASHID, "text": "tolstoy"} and text["match"] is None
    assert similar["lookup"] == {"hashid": DOCS_HASHID, "dfid": dfid}
    assert similar["image"] is None and similar["match"]["tier"] == "nearest"
    raw = json.dumps(admin("GET", "/requests")[1])
    assert b64(BLUE_WALLPAPER)[:64] not in raw
    assert count(admin, tier="exact", rule="wallpaper-deep-blue") == 1


# -- the match header -----------------------------------------------------------------------
def test_the_match_header_names_the_nearest_item_the_filters_kept(client):
    reply = client.image_search(stripes(), "rpp=5")
    top = reply.ids[0]
    assert reply.headers[MATCH].startswith(f'nearest; rule="{top}"; distance=')
    assert int(reply.headers[MATCH].rsplit("=", 1)[1]) > 0
    kept = client.image_search(RED_SQUARE, "filter[brand]=Litware")
    assert kept.ids[0] != "poster-red-square"
    assert kept.headers[MATCH].startswith(f'nearest; rule="{kept.ids[0]}"; distance=')
    nothing = client.image_search(RED_SQUARE, "filter[brand]=Nobody")
    assert nothing.ids == [] and nothing.headers[MATCH] == "nearest"


# -- explain --------------------------------------------------------------------------------
def test_explain_an_image_search_lists_stubs_and_the_nearest_items(admin):
    admin("POST", "/stubs", {"name": "other engine", "vendor": "doofinder",
                             "hashid": OPEN_HASHID, "image": "blue-wallpaper.jpg",
                             "results": ["a1"]})
    status, got = admin("POST", "/explain", {"vendor": "doofinder", "hashid": DOCS_HASHID,
                                             "image_base64": b64(BLUE_WALLPAPER), "limit": 3})
    assert status == 200 and got["source"] == "catalog" and got["outcome"] == "results"
    assert got["match"] == {"tier": "exact", "rule": "wallpaper-deep-blue", "distance": 0}
    stub, *items = got["candidates"]
    assert stub["source"] == "stub" and not stub["matched"]
    assert stub["why_not"] == [f"scoped to engine '{OPEN_HASHID}', the request's is "
                               f"'{DOCS_HASHID}'"]
    assert "folder" not in json.dumps(got)
    assert [c["source"] for c in items] == ["catalog"] * 3
    assert items[0]["rule"] == "wallpaper-deep-blue" and items[0]["matched"]
    distances = [c["visual_distance"] for c in items]
    assert distances == sorted(distances) and all(c["distance"] is not None for c in items)
    status, got = admin("POST", "/explain", {"vendor": "doofinder", "hashid": OPEN_HASHID,
                                             "image_base64": b64(BLUE_WALLPAPER)})
    assert got["source"] == "stub" and got["match"]["rule"] == "other engine"
    assert admin("GET", "/stubs")[1]["stubs"][0]["hits"] == 0  # explaining consumes nothing


def test_misses_are_explained_with_the_nearest_items(client, admin):
    client.image_search(RED_SQUARE)  # exact: no miss
    client.image_search(stripes())
    _status, got = admin("GET", "/explain/misses")
    [miss] = got["misses"]
    assert miss["entry"]["match"]["tier"] == "nearest"
    explanation = miss["explanation"]
    assert explanation["source"] == "catalog"
    assert explanation["match"] == miss["entry"]["match"]
    nearest = explanation["candidates"][0]
    assert nearest["rule"] == miss["entry"]["match"]["rule"]
    assert nearest["distance"] == miss["entry"]["match"]["distance"]
    assert nearest["why_not"] and "ranked 1" in nearest["why_not"][0]


def test_explain_a_text_and_a_dfid(client, admin):
    admin("POST", "/stubs", {"name": "cats", "vendor": "doofinder", "text": "cats",
                             "error": {"http_status": 503}})
    got = admin("POST", "/explain", {"vendor": "doofinder", "hashid": DOCS_HASHID,
                                     "text": "CATS"})[1]
    assert (got["source"], got["outcome"], got["match"]["tier"]) == ("stub", "error", "stub")
    got = admin("POST", "/explain", {"vendor": "doofinder", "hashid": DOCS_HASHID,
                                     "text": "dogs"})[1]
    assert got["source"] == "catalog" and got["candidates"][0]["why_not"]
    dfid = client.search("query=tolstoy").body["results"][0]["dfid"]
    got = admin("POST", "/explain", {"vendor": "doofinder", "hashid": DOCS_HASHID,
                                     "dfid": dfid})[1]
    assert got["match"] == {"tier": "exact", "rule": "portrait-leo-tolstoy", "distance": 0}


# -- served images --------------------------------------------------------------------------
def _get(url: str) -> tuple[int, dict, bytes]:
    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        connection.request("GET", split.path + (f"?{split.query}" if split.query else ""))
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _every_item(client: Doofinder) -> list[dict]:
    first = client.search("rpp=100").body
    rest = client.search("rpp=100&page=2").body["results"]
    assert len(first["results"]) + len(rest) == first["count"] == 124
    return first["results"] + rest


def test_every_image_link_loads_at_the_size_it_claims(client, running):
    for item in _every_item(client):
        link = item["image_link"]
        assert link.startswith(running.http + IMAGES_PATH + "/"), link
        status, headers, body = _get(link)
        assert status == 200, (link, body[:200])
        picture = Image.open(io.BytesIO(body))
        assert headers["content-type"] == Image.MIME[picture.format]
        if "/placeholder/" in link:  # .../placeholder/{W}x{H}/{rrggbb}.png
            claimed = urlsplit(link).path.split("/")[-2]
            assert picture.size == tuple(map(int, claimed.split("x")))
        else:
            name = urlsplit(link).path.rsplit("/", 1)[1]
            assert picture.size == Image.open(FIXTURES / "images" / name).size


def test_an_items_own_image_ranks_it_first_as_exact(client):
    pictures = {item["id"]: _get(item["image_link"])[2] for item in _every_item(client)}
    digests = [hashlib.sha256(p).digest() for p in pictures.values()]
    for item_id, picture in pictures.items():
        reply = client.image_search(picture, "rpp=3")
        assert reply.status == 200 and reply.headers[MATCH].startswith("exact; ")
        if digests.count(hashlib.sha256(picture).digest()) == 1:
            assert reply.ids[0] == item_id
            assert reply.headers[MATCH] == f'exact; rule="{item_id}"; distance=0'
