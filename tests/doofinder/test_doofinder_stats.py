"""``PUT /6/{hashid}/stats/...``: every event, from the query string or a JSON body, and its
documented errors (both "missing" formats). Validated against the vendor's OpenAPI."""

from __future__ import annotations

import hashlib
import json

import pytest

from support.server import start
from support.doofinder_client import (OFF_HASHID, SHOP, SHOP_HASHID, SHOP_KEY, Doofinder, fixture_dir,
                                      response_spec)

REGISTERED = {"status": "registered"}
A1 = f"{SHOP_HASHID}@product@{hashlib.md5(b'a1').hexdigest()}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Doofinder:
    with start(fixture_dir(tmp_path_factory, "stats", SHOP)) as running:
        yield Doofinder(running.http, token=SHOP_KEY)


def put(shop: Doofinder, event: str, fields: dict | None = None, *, as_json: bool = False):
    if as_json:
        return shop.stats(event, body=fields or {}, hashid=SHOP_HASHID)
    return shop.stats(event, fields or {}, hashid=SHOP_HASHID)


VALID = {
    "init": {"session_id": "s1", "user_id": "u1"},
    "checkout": {"session_id": "s1"},
    "click": {"dfid": A1, "session_id": "s1", "query": "shoes", "position": 1,
              "custom_results_id": "7"},
    "image": {"id": "12", "session_id": "s1", "query": "summer"},
    "redirect": {"id": 34, "session_id": "s1"},
    "cart/s1": {"id": "a1", "index": "product", "title": "Red Running Shoes", "amount": 2,
                "price": 40.5},
}


@pytest.mark.parametrize("as_json", [False, True], ids=["query-string", "json-body"])
@pytest.mark.parametrize("event", list(VALID))
def test_every_event_is_registered(shop, event, as_json):
    reply = put(shop, event, VALID[event], as_json=as_json)
    assert (reply.status, reply.body) == (200, REGISTERED)


@pytest.mark.parametrize("event, fields, text", [
    ("init", {}, "[session_id] fields are missing"),
    ("init", {"session_id": ""}, "[session_id] fields are missing"),
    ("checkout", {"user_id": "u"}, "[session_id] fields are missing"),
    ("click", {}, "[dfid, session_id] fields are missing"),
    ("click", {"dfid": A1}, "[session_id] fields are missing"),
    ("click", {"session_id": "s"}, "[dfid] fields are missing"),
    ("image", {}, "[id, session_id] fields are missing"),
    ("image", {"id": "1"}, "[session_id] fields are missing"),
    ("redirect", {}, "[session_id, id] fields are missing"),
    ("redirect", {"session_id": "s"}, "[id] fields are missing"),
    ("cart/s1", {}, 'Following fields are missing: ["id", "index", "title"]'),
    ("cart/s1", {"id": "a1", "index": "product"}, 'Following fields are missing: ["title"]'),
])
def test_missing_fields(shop, event, fields, text):
    for as_json in (False, True):
        reply = put(shop, event, fields, as_json=as_json)
        assert (reply.status, reply.error) == (400, text)


@pytest.mark.parametrize("event, fields, status, text", [
    ("init", {"session_id": "s" * 33}, 400, "session_id should have 32 characters or less"),
    ("init", {"session_id": "s", "user_id": "u" * 37}, 400, "invalid_user_id"),
    ("checkout", {"session_id": "s", "user_id": "u" * 37}, 400, "invalid_user_id"),
    (f"cart/{'s' * 33}", VALID["cart/s1"], 400, "session_id should have 32 characters or less"),
    ("cart/s1", {**VALID["cart/s1"], "amount": "two"}, 400, "Invalid cart item data"),
    ("cart/s1", {**VALID["cart/s1"], "price": "cheap"}, 400, "Invalid cart item data"),
    ("click", {"dfid": "not-a-dfid", "session_id": "s"}, 400, "Bad request, dfid is invalid"),
    ("click", {"dfid": A1.replace(SHOP_HASHID, OFF_HASHID), "session_id": "s"}, 400,
     "Item hashid must be the same as search engine hashid"),
    ("click", {"dfid": A1[:-4] + "0000", "session_id": "s"}, 404, "Not found"),
    ("click", {"dfid": A1, "session_id": "s", "position": "first"}, 400, "Bad request"),
    ("click", {"dfid": A1, "session_id": "s", "position": 0}, 400, "Bad request"),
    ("image", {"id": "banner", "session_id": "s"}, 400, "Invalid redirect id"),
    ("redirect", {"id": "1.5", "session_id": "s"}, 400, "Invalid redirect id"),
])
def test_event_errors(shop, event, fields, status, text):
    reply = put(shop, event, fields)
    assert (reply.status, reply.error) == (status, text)


def test_query_string_and_body_together(shop):
    reply = shop.stats("init", {"session_id": "s1"}, body={"user_id": "u1"}, hashid=SHOP_HASHID)
    assert reply.body == REGISTERED
    clash = shop.stats("init", {"session_id": "s1"}, body={"session_id": "s2"},
                       hashid=SHOP_HASHID)
    assert (clash.status, clash.error) == (400, "Bad request")


@pytest.mark.parametrize("raw", [b"{", b"[1]", b"null"])
def test_a_body_that_is_not_a_json_object(shop, raw):
    reply = shop.call("PUT", f"/6/{SHOP_HASHID}/stats/init", "session_id=s", body=raw)
    assert (reply.status, reply.error) == (400, "Bad request")


UNKNOWN_HASHID = "9" * 32


@pytest.mark.parametrize("as_json", [False, True], ids=["query-string", "json-body"])
@pytest.mark.parametrize("event", list(VALID))
def test_an_unknown_hashid_is_forbidden_on_every_event(shop, event, as_json):
    """The vendor's document lists no 404 mapping for the stats events: 403, as for a
    token no engine of that hashid takes (``_stats.UNKNOWN_ENGINE``)."""
    fields = {**VALID[event], "dfid": A1.replace(SHOP_HASHID, UNKNOWN_HASHID)} \
        if event == "click" else VALID[event]
    if as_json:
        reply = shop.stats(event, body=fields, hashid=UNKNOWN_HASHID)
    else:
        reply = shop.stats(event, fields, hashid=UNKNOWN_HASHID)
    assert (reply.status, reply.error) == (403, "forbidden")
    assert response_spec("PUT", f"/6/{UNKNOWN_HASHID}/stats/{event}", 403) is not None


def test_an_unknown_hashid_is_still_a_search_operations_404(shop):
    reply = shop.search("query=x", hashid=UNKNOWN_HASHID)
    assert (reply.status, reply.error) == (404, "Mapping not found")


def test_stats_need_access(shop):
    reply = shop.stats("init", {"session_id": "s"}, hashid=SHOP_HASHID, token="wrong")
    assert (reply.status, reply.error) == (403, "forbidden")
    banned = shop.stats("init", {"session_id": "s"}, hashid=SHOP_HASHID,
                        headers={"X-Forwarded-For": "203.0.113.5"})
    assert (banned.status, banned.error) == (403, "banned ip")


def test_events_are_journaled(shop):
    put(shop, "click", VALID["click"])
    _, _, raw = shop.raw("GET", "/_emulator/requests?limit=1")
    entry = json.loads(raw)["requests"][0]
    assert (entry["method"], entry["outcome"]) == ("PUT stats/click", "OK")
    assert entry["request"]["params"]["dfid"] == A1
