"""``POST /6/{hashid}/_image_search``: the vendor docs' example, ranking, and every error.

Contract: contracts/doofinder.md and the vendor's OpenAPI document (the seed operation).
Every answer is validated against the vendor's schemas by ``doofinder_client``.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from support.server import FIXTURES, start
from support.doofinder_client import (BLUE_WALLPAPER, DOCS_HASHID, DOCS_KEY, GRAY_SKETCH, OFF_HASHID,
                                      RED_SQUARE, SHOP, SHOP_HASHID, SHOP_KEY, Doofinder, b64,
                                      fixture_dir)
from support.rawhttp import parse_response
from emulator import doofinder
from emulator.core import MATCH_HEADER, Quota, RateLimiter, fingerprint, render_placeholder
from emulator.core import visual_distance

MISSING_IMAGE = 'Following fields are missing: ["image"]'
EMBEDDING = "There was an error obtaining the embeddings, please try again."
NOT_ENABLED = "Image Search is not enabled for this search engine"


@pytest.fixture(scope="module")
def docs(server) -> Doofinder:
    return Doofinder(server.http)


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory):
    with start(fixture_dir(tmp_path_factory, "shop", SHOP)) as running:
        yield running


@pytest.fixture(scope="module")
def shop(shop_server) -> Doofinder:
    return Doofinder(shop_server.http, token=SHOP_KEY)


def _picture(link: str) -> bytes:
    """The bytes an item's image_link serves, drawn from the URL as the server draws it."""
    url = urlsplit(link)
    if "/placeholder/" in url.path:
        size, color = url.path.split("/")[-2:]
        width, height = map(int, size.split("x"))
        rgb = tuple(bytes.fromhex(color.removesuffix(".png")))
        label = parse_qs(url.query).get("label", [""])[0]
        return render_placeholder(width, height, rgb, label)
    return (FIXTURES / "images" / unquote(url.path.rsplit("/", 1)[1])).read_bytes()


# -- the vendor docs' example ---------------------------------------------------------------
def test_the_docs_example_works_unchanged(docs):
    """The docs' curl: ``Authorization: Token eu1-ab46...``, hashid d8fdeab7..., a base64
    image in JSON; only the host differs."""
    reply = docs.image_search(RED_SQUARE)
    assert reply.status == 200, reply.body
    body = reply.body
    assert set(body) == {"results", "count", "total", "query_name"}
    assert len(body["results"]) == 20  # Emulator decision: rpp 20 by default
    assert body["count"] == body["total"] == 124
    assert body["query_name"] == "match_and"
    top = body["results"][0]
    assert top["id"] == "poster-red-square"
    assert top["image_link"].endswith("/_emulator/images/files/red-square.png")
    assert reply.headers[MATCH_HEADER.lower()] == 'exact; rule="poster-red-square"; distance=0'


#: The request-parameter examples of the vendor's parameter docs, as written there.
DOCS_QUERIES = {
    "filter": "filter[color][]=blue&filter[color][]=red&filter[size][]=M&filter[size][]=S"
              "&filter[price][gte]=4.36&filter[price][lt]=99",
    "exclude": "exclude[color][]=blue&exclude[color][]=red&exclude[size]=M&exclude[size]=S"
               "&exclude[price][gte]=4.36&exclude[price][lt]=99",
    "facets": "facets[0][field]=brand&facets[0][size]=10&facets[1][field]=best_price",
    "sort": "sort[0][price]=asc&sort[1][brand]=desc",
}


@pytest.mark.parametrize("name", list(DOCS_QUERIES))
@pytest.mark.parametrize("encoded", [False, True], ids=["brackets", "escaped"])
def test_the_docs_parameter_examples_work_unchanged(docs, name, encoded):
    query = DOCS_QUERIES[name]
    if encoded:  # "[ and ] characters should be escaped (%5B and %5D)"
        query = query.replace("[", "%5B").replace("]", "%5D")
    reply = docs.image_search(RED_SQUARE, query)
    assert reply.status == 200, reply.body
    assert reply.body == docs.image_search(RED_SQUARE, DOCS_QUERIES[name]).body
    if name == "facets":
        assert [f["key"] for f in reply.body["facets"]] == ["brand", "best_price"]
        assert "range" in reply.facet("best_price")
    if name == "sort":
        prices = [r["price"] for r in reply.body["results"]]
        assert prices == sorted(prices)
    if name == "filter":
        assert reply.body["count"] > 0
        for item in docs.image_search(RED_SQUARE, query + "&rpp=100").body["results"]:
            assert item["color"] in ("blue", "red") and {"M", "S"} & set(item["size"])
            assert 4.36 <= item["price"] < 99
    if name == "exclude":
        assert 0 < reply.body["count"] < 124
    text = docs.search(query + "&query=print&indices[]=product")
    assert text.status == 200, text.body


def test_dfid_is_hashid_index_and_md5_of_the_item_id(docs):
    for item in docs.image_search(RED_SQUARE).body["results"]:
        digest = hashlib.md5(item["id"].encode()).hexdigest()
        assert item["dfid"] == f"{DOCS_HASHID}@product@{digest}"
        assert re.fullmatch(r"[0-9a-f]{32}@product@[0-9a-f]{32}", item["dfid"])


def test_results_are_ranked_by_visual_distance_ties_in_catalog_order(docs, server):
    query = fingerprint(BLUE_WALLPAPER)
    reply = docs.image_search(BLUE_WALLPAPER, "rpp=100")
    results = reply.body["results"]
    distances = [visual_distance(query, fingerprint(_picture(r["image_link"]))) for r in results]
    assert distances == sorted(distances)
    assert results[0]["id"] == "wallpaper-deep-blue" and distances[0] == 0
    catalog = list(server.emulator._engine.store.engines[DOCS_HASHID].catalog.items)
    position = {item.id: n for n, item in enumerate(catalog)}
    for (a, da), (b, db) in zip(zip(results, distances, strict=True),
                                   zip(results[1:], distances[1:], strict=True), strict=False):
        if da == db:
            assert position[a["id"]] < position[b["id"]]


def test_every_item_shows_a_picture_whose_fingerprint_ranks_it(docs):
    """A generated item's image_link draws its placeholder: searching with that picture
    finds the item at distance 0."""
    item = docs.image_search(RED_SQUARE, "rpp=100").body["results"][-1]
    assert "/_emulator/images/placeholder/200x200/" in item["image_link"]
    reply = docs.image_search(_picture(item["image_link"]))
    assert reply.headers[MATCH_HEADER.lower()].startswith("exact; ")
    assert fingerprint(_picture(reply.body["results"][0]["image_link"])).dhash == \
        fingerprint(_picture(item["image_link"])).dhash


def test_same_request_same_answer_across_servers(docs, server):
    first = docs.image_search(GRAY_SKETCH, "rpp=50&facets[0][field]=brand")
    assert docs.image_search(GRAY_SKETCH, "rpp=50&facets[0][field]=brand").body == first.body
    with start() as other:
        again = Doofinder(other.http).image_search(GRAY_SKETCH, "rpp=50&facets[0][field]=brand")
    text = json.dumps(again.body).replace(other.http, server.http)
    assert json.loads(text) == first.body


def test_unknown_parameters_and_page_are_ignored(docs):
    """Clients add query=, page, hashid, random: the image search lists none of them."""
    plain = docs.image_search(RED_SQUARE, "rpp=5").body
    noisy = docs.image_search(RED_SQUARE, f"rpp=5&query=&page=3&hashid={DOCS_HASHID}&random=0.42"
                                          "&unknown[deep][]=1").body
    assert noisy == plain
    assert docs.image_search(RED_SQUARE, "rpp=100&page=50").status == 200


# -- rpp ------------------------------------------------------------------------------------
@pytest.mark.parametrize("rpp, expected", [("1", 1), ("7", 7), ("100", 100)])
def test_rpp_sets_the_page_size(docs, rpp, expected):
    body = docs.image_search(RED_SQUARE, f"rpp={rpp}").body
    assert len(body["results"]) == expected and body["count"] == 124


@pytest.mark.parametrize("rpp", ["0", "101", "-1", "1.5", "ten", "", "1e2", "%C2%B2"])
def test_bad_rpp_is_invalid_rpp(docs, rpp):
    reply = docs.image_search(RED_SQUARE, f"rpp={rpp}")
    assert (reply.status, reply.error) == (400, "Invalid rpp")


def test_rpp_given_twice_is_invalid_rpp(docs):
    reply = docs.image_search(RED_SQUARE, "rpp=5&rpp=6")
    assert (reply.status, reply.error) == (400, "Invalid rpp")


# -- the query image --------------------------------------------------------------------------
@pytest.mark.parametrize("body", [None, {"image": ""}, {"image": None}, {"picture": "x"}],
                         ids=["no-field", "empty", "null", "other-field"])
def test_missing_image(docs, body):
    reply = docs.call("POST", f"/6/{DOCS_HASHID}/_image_search", body=body or {})
    assert (reply.status, reply.error) == (400, MISSING_IMAGE)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{" * 100000],
                         ids=["empty", "not-json", "array", "string", "deep"])
def test_a_body_with_no_json_object_has_no_image(docs, raw):
    reply = docs.call("POST", f"/6/{DOCS_HASHID}/_image_search", body=raw)
    assert (reply.status, reply.error) == (400, MISSING_IMAGE)


@pytest.mark.parametrize("image", [
    "!!!not base64!!!", b64(b"just some text"), b64(RED_SQUARE[:40]), 12345, ["a"],
    "data:image/png;base64," + b64(RED_SQUARE), "QUJD=", "A",
], ids=["not-base64", "text", "truncated-png", "number", "list", "data-url", "bad-padding",
        "one-char"])
def test_an_image_that_cannot_be_embedded_is_424(docs, image):
    reply = docs.call("POST", f"/6/{DOCS_HASHID}/_image_search", body={"image": image})
    assert (reply.status, reply.error) == (424, EMBEDDING)


@pytest.mark.parametrize("encode", [
    lambda d: b64(d).rstrip("="),
    lambda d: b64(d).replace("+", "-").replace("/", "_"),
    lambda d: "\n".join(re.findall(".{1,76}", b64(d))) + "\n",
], ids=["unpadded", "url-safe", "wrapped"])
def test_base64_spellings_encoders_emit_are_the_same_image(docs, encode):
    plain = docs.image_search(RED_SQUARE, "rpp=3").body
    assert docs.image_search(encode(RED_SQUARE), "rpp=3").body == plain


# -- access ---------------------------------------------------------------------------------
@pytest.mark.parametrize("token", [
    DOCS_KEY, DOCS_KEY.removeprefix("eu1-"), "us1-" + DOCS_KEY.removeprefix("eu1-"),
], ids=["as-issued", "no-zone", "other-zone"])
def test_the_key_with_or_without_a_zone_prefix(docs, token):
    assert docs.image_search(RED_SQUARE, token=token).status == 200


def test_the_token_scheme_is_case_insensitive(docs):
    reply = docs.image_search(RED_SQUARE, token=None,
                              headers={"Authorization": f"token {DOCS_KEY}"})
    assert reply.status == 200


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Token wrong-key"}, {"Authorization": f"Bearer {DOCS_KEY}"},
    {"Authorization": "Token"}, {"Authorization": DOCS_KEY},
    {"Origin": "https://evil.example.org"}, {"Origin": "null"},
    {"Origin": "http://localhost:3000", "Authorization": "Token wrong-key"},
], ids=["none", "wrong", "bearer", "empty", "no-scheme", "other-origin", "null-origin",
        "allowed-origin-wrong-token"])
def test_forbidden(docs, headers):
    reply = docs.image_search(RED_SQUARE, token=None, headers=headers)
    assert (reply.status, reply.error) == (403, "forbidden")


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://shop.example.com",
                                    "https://eu.shop.example.com"])
def test_an_allowed_origin_needs_no_token(docs, origin):
    reply = docs.image_search(RED_SQUARE, token=None, headers={"Origin": origin})
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == origin


def test_a_lookalike_domain_is_not_a_subdomain(docs):
    reply = docs.image_search(RED_SQUARE, token=None,
                              headers={"Origin": "https://badshop.example.com"})
    assert reply.status == 403


@pytest.mark.parametrize("forwarded", ["203.0.113.9", "198.51.100.1, 203.0.113.77"])
def test_a_banned_address_is_banned_ip_even_with_a_good_key(shop, forwarded):
    reply = shop.image_search(RED_SQUARE, hashid=SHOP_HASHID,
                              headers={"X-Forwarded-For": forwarded})
    assert (reply.status, reply.error) == (403, "banned ip")
    other = shop.image_search(RED_SQUARE, hashid=SHOP_HASHID,
                              headers={"X-Forwarded-For": "198.51.100.1"})
    assert other.status == 200


def test_unknown_hashid_is_mapping_not_found(docs):
    reply = docs.image_search(RED_SQUARE, hashid="00000000000000000000000000000000")
    assert (reply.status, reply.error) == (404, "Mapping not found")


def test_image_search_off_is_not_enabled(shop):
    reply = shop.image_search(RED_SQUARE, hashid=OFF_HASHID, token="anything")
    assert (reply.status, reply.error) == (400, NOT_ENABLED)


# -- the contract's check order ------------------------------------------------------------
@pytest.mark.parametrize("case, expected", [
    ({'headers': {"X-Forwarded-For": "203.0.113.1"}, 'token': "wrong"}, (403, "banned ip")),
    ({'hashid': "1" * 32, 'token': None}, (403, "forbidden")),
    ({'hashid': "1" * 32, 'image': None}, (404, "Mapping not found")),
    ({'hashid': OFF_HASHID, 'token': "any", 'image': None}, (400, MISSING_IMAGE)),
    ({'hashid': OFF_HASHID, 'token': "any", 'query': "rpp=0"}, (400, NOT_ENABLED)),
    ({'query': "rpp=0", 'image': "!!"}, (400, "Invalid rpp")),
    ({'query': "filter=oops", 'image': "!!"}, (400, "Bad request, bad query")),
    ({'image': "!!"}, (424, EMBEDDING)),
], ids=["ip-before-auth", "auth-before-mapping", "mapping-before-image", "image-before-enabled",
        "enabled-before-rpp", "rpp-before-embedding", "params-before-embedding", "embedding"])
def test_checks_answer_in_the_contracts_order(shop, case, expected):
    args = {"hashid": SHOP_HASHID, "image": RED_SQUARE, "query": "", **case}
    reply = shop.image_search(args.pop("image"), args.pop("query"), **args)
    assert (reply.status, reply.error) == expected


# -- catalog parameters on image answers ----------------------------------------------------
def test_filter_exclude_facets_and_sort_apply_to_image_answers(shop):
    reply = shop.image_search(RED_SQUARE, "filter[color][]=red&filter[color][]=blue"
                              "&exclude[brand]=Levis&facets[0][field]=brand"
                              "&sort[0][price]=desc", hashid=SHOP_HASHID)
    assert reply.ids == ["a2", "a1", "a3"]
    assert reply.body["count"] == 3
    # the color filter narrows the brand counts; Levis is excluded
    assert reply.facet("brand")["terms"]["items"] == [{"name": "Nike", "count": 2},
                                                      {"name": "Adidas", "count": 1}]
    assert reply.body["query_name"] == "fuzzy"  # the engine's setting


def test_filter_execution_or_on_image_answers(shop):
    reply = shop.image_search(RED_SQUARE, "filter[brand]=Puma&filter[size]=L&filter_execution=or"
                              "&sort[0][price]=asc", hashid=SHOP_HASHID)
    assert reply.ids == ["a4", "a1", "a5"]


@pytest.mark.parametrize("query, expected", [
    ("session_id=" + "s" * 32 + "&user_id=" + "u" * 36 + "&stats=false&excluded_results=true",
     (200, None)),
    ("session_id=" + "s" * 33, (400, "session_id should have 32 characters or less")),
    ("user_id=" + "u" * 37, (400, "invalid_user_id")),
    ("stats=no", (400, "Bad request, bad query")),
    ("excluded_results=0", (400, "Bad request, bad query")),
    ("filter_execution=all", (400, "Bad request, bad query")),
    ("sort[0][price]=sideways", (400, "Bad request, bad query")),
    ("facets[0][type]=range", (400, "Bad request, bad query")),
])
def test_the_other_image_search_parameters_are_checked(shop, query, expected):
    reply = shop.image_search(RED_SQUARE, query, hashid=SHOP_HASHID)
    assert (reply.status, reply.error) == expected


def test_visual_order_without_sort(shop):
    reply = shop.image_search(RED_SQUARE, "filter[brand]=Nike", hashid=SHOP_HASHID)
    assert reply.ids == ["a1", "a3"]  # a1 shows the very picture


# -- the journal ------------------------------------------------------------------------------
def test_the_journal_keeps_a_digest_of_the_image_never_its_bytes(docs, server):
    docs.image_search(BLUE_WALLPAPER, "rpp=2&filter[brand]=Litware")
    _status, _, raw = docs.raw("GET", "/_emulator/requests?limit=1")
    entry = json.loads(raw)["requests"][0]
    assert entry["api"] == "doofinder.v6" and entry["method"] == "POST _image_search"
    assert entry["outcome"] == "OK"
    assert entry["request"]["hashid"] == DOCS_HASHID
    assert entry["request"]["params"] == {"rpp": "2", "filter": {"brand": "Litware"}}
    assert entry["request"]["image"] == {"sha256": hashlib.sha256(BLUE_WALLPAPER).hexdigest(),
                                         "bytes": len(BLUE_WALLPAPER)}
    assert b64(BLUE_WALLPAPER)[:100] not in raw.decode()


def test_the_journal_records_errors_with_their_status(docs):
    docs.image_search(None)
    _, _, raw = docs.raw("GET", "/_emulator/requests?limit=1")
    assert json.loads(raw)["requests"][0]["outcome"] == "400"


# -- body size ------------------------------------------------------------------------------
def _raw_request(running, head: bytes, chunks) -> tuple[int, dict, bytes]:
    split = urlsplit(running.http)
    with socket.create_connection((split.hostname, split.port), timeout=60) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before all of it is sent
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
    return parse_response(received)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_8_mb_is_413_json(server, chunked):
    size = doofinder.MAX_BODY_BYTES + 1
    payload = b'{"image": "' + b"A" * (size - 13) + b'"}'
    assert len(payload) == size
    path = f"/6/{DOCS_HASHID}/_image_search".encode()
    auth = f"Authorization: Token {DOCS_KEY}\r\n".encode()
    if chunked:
        head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + \
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        parts = [payload[i:i + 1 << 20] for i in range(0, size, 1 << 20)]
        chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]
    else:
        head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + \
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size
        chunks = [payload[i:i + (1 << 20)] for i in range(0, size, 1 << 20)]
    status, headers, body = _raw_request(server, head, chunks)
    assert status == 413
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"error": "Request entity too large"}


def test_a_body_just_under_the_limit_is_served(docs):
    padding = (doofinder.MAX_BODY_BYTES - 20) * 3 // 4 - len(RED_SQUARE)
    image = b64(RED_SQUARE + b"\0" * padding)  # PNG decoders ignore trailing bytes
    body = json.dumps({"image": image}).encode()
    assert doofinder.MAX_BODY_BYTES - 64 < len(body) <= doofinder.MAX_BODY_BYTES
    reply = docs.call("POST", f"/6/{DOCS_HASHID}/_image_search", "rpp=1", body)
    assert reply.status == 200, reply.body
    assert reply.ids == ["poster-red-square"]


# -- rate limits ------------------------------------------------------------------------------
@pytest.fixture()
def limited(tmp_path_factory):
    with start(fixture_dir(tmp_path_factory, "limited", SHOP), rate_limits=True) as running:
        api = running.emulator._runner.app[doofinder.API]
        api.limiter = RateLimiter((Quota(20, 1.0),), clock=lambda: 0.0)  # one frozen second
        yield Doofinder(running.http, token=SHOP_KEY)


def test_the_21st_request_in_a_second_is_too_many_requests(limited):
    statuses = [limited.image_search(RED_SQUARE, "rpp=1", hashid=SHOP_HASHID).status
                for _ in range(20)]
    assert statuses == [200] * 20
    reply = limited.image_search(RED_SQUARE, hashid=SHOP_HASHID)
    assert (reply.status, reply.error) == (429, "Too many requests")
    assert limited.search("query=shoes", hashid=SHOP_HASHID).status == 429  # per engine
    assert limited.search("query=shoes", hashid=OFF_HASHID, token="any").status == 200


def test_no_rate_limit_by_default(docs):
    assert {docs.image_search(RED_SQUARE, "rpp=1").status for _ in range(25)} == {200}
