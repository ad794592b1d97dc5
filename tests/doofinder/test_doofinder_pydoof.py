"""The vendor's own Python client, ``pydoof``, against the running emulator, unchanged.

It has no image search method: its low-level ``post`` carries the image, as the contract
notes. Every body it receives is also checked against the vendor's OpenAPI schemas.
"""

from __future__ import annotations

import base64

import pytest
from pydoof.search_api import search, stats
from pydoof.search_api.api_client import SearchAPIClient
from pydoof.search_api.exceptions import (BadRequestError, ForbiddenError, NotFoundError,
                                          QueryLimitReachedError, SearchAPIError)

from support.server import start
from support.doofinder_client import (DOCS_HASHID, DOCS_KEY, OFF_HASHID, RED_SQUARE, SHOP, SHOP_HASHID,
                                      SHOP_KEY, fixture_dir, validate)


@pytest.fixture(scope="module")
def docs_client(server) -> SearchAPIClient:
    return SearchAPIClient(search_url=server.http, token=DOCS_KEY)


@pytest.fixture(scope="module")
def shop_url(tmp_path_factory) -> str:
    with start(fixture_dir(tmp_path_factory, "pydoof", SHOP)) as running:
        yield running.http


def image_search(client: SearchAPIClient, image: bytes, hashid: str = DOCS_HASHID, **params):
    body = client.post(f"/6/{hashid}/_image_search",
                       json={"image": base64.b64encode(image).decode()}, query_params=params)
    validate("POST", f"/6/{hashid}/_image_search", 200, body)
    return body


def test_image_search_through_the_low_level_post(docs_client):
    body = image_search(docs_client, RED_SQUARE, rpp=5)
    assert body["results"][0]["id"] == "poster-red-square"
    assert len(body["results"]) == 5 and body["total"] == 124


def test_image_search_with_pydoof_shaped_parameters(shop_url):
    """pydoof's own parameter encoding (``filter[color][]``, ``facets[0][field]``,
    ``sort[0][price]``), percent-encoded by requests."""
    from pydoof.helpers import parse_query_params

    client = SearchAPIClient(search_url=shop_url, token=SHOP_KEY)
    params = parse_query_params({
        "filter": {"color": ["red", "blue"], "price": {"gte": 20}},
        "exclude": {"brand": ["Levis"]},
        "facets": [{"field": "brand", "size": 10}, {"field": "price"}],
        "sort": [{"price": "asc"}],
        "rpp": 10,
    })
    body = image_search(client, RED_SQUARE, SHOP_HASHID, **params)
    assert [r["id"] for r in body["results"]] == ["a3", "a1", "a2"]
    assert body["facets"][1] == {"key": "price", "range": {"min": 20, "max": 80, "from": 20}}


def test_search_query(shop_url):
    body = search.query(SHOP_HASHID, "jacket", filter={"color": ["blue"]},
                        facets=[{"field": "brand"}], sort=[{"price": "desc"}], rpp=5, page=1,
                        query_name=search.QueryNames.MATCH_AND,
                        filter_execution=search.SearchFilterExecution.AND, stats=False,
                        indices=["product"], search_url=shop_url, token=SHOP_KEY)
    validate("GET", f"/6/{SHOP_HASHID}/_search", 200, body)
    assert [r["id"] for r in body["results"]] == ["a6"]
    assert body["query_name"] == "match_and"
    assert body["facets"][0]["terms"]["items"] == [{"name": "Levis", "count": 1}]


def test_search_query_with_defaults_lists_everything(shop_url):
    body = search.query(SHOP_HASHID, search_url=shop_url, token=SHOP_KEY)
    validate("GET", f"/6/{SHOP_HASHID}/_search", 200, body)
    assert body["count"] == 7


def test_search_with_sort_as_a_list_of_names(shop_url):
    body = search.query(SHOP_HASHID, sort=["price"], rpp=2, search_url=shop_url, token=SHOP_KEY)
    assert [r["id"] for r in body["results"]] == ["a4", "a3"]


def test_suggest(shop_url):
    body = search.suggest(SHOP_HASHID, "run", search_url=shop_url, token=SHOP_KEY)
    validate("GET", f"/6/{SHOP_HASHID}/_suggest", 200, body)
    assert body == ["Red Running Shoes", "Blue Running Shoes"]


@pytest.mark.parametrize("call", [
    lambda url: stats.init_session(SHOP_HASHID, "s1", search_url=url, token=SHOP_KEY),
    lambda url: stats.log_checkout(SHOP_HASHID, "s1", search_url=url, token=SHOP_KEY),
    lambda url: stats.log_redirect(SHOP_HASHID, "12", "s1", "q", search_url=url, token=SHOP_KEY),
    lambda url: stats.log_banner_image_click(SHOP_HASHID, "3", "s1", search_url=url,
                                             token=SHOP_KEY),
    lambda url: stats.add_to_cart(SHOP_HASHID, "product", "s1", "a1", 2, "Red Running Shoes",
                                  40.5, search_url=url, token=SHOP_KEY),
], ids=["init", "checkout", "redirect", "banner", "cart"])
def test_stats(shop_url, call):
    assert call(shop_url) == {"status": "registered"}


def test_click_stats_with_a_dfid_from_a_search(shop_url):
    item = search.query(SHOP_HASHID, "hat", search_url=shop_url, token=SHOP_KEY)["results"][0]
    assert stats.click_stats(SHOP_HASHID, item["dfid"], "s1", "hat", search_url=shop_url,
                             token=SHOP_KEY) == {"status": "registered"}


@pytest.mark.parametrize("call, error, status, text", [
    (lambda url: search.query(SHOP_HASHID, "x", search_url=url, token="wrong"),
     ForbiddenError, 403, "forbidden"),
    (lambda url: search.query("9" * 32, "x", search_url=url, token=SHOP_KEY),
     NotFoundError, 404, "Mapping not found"),
    (lambda url: search.query(SHOP_HASHID, "x", rpp=500, search_url=url, token=SHOP_KEY),
     BadRequestError, 400, "Invalid rpp"),
    (lambda url: search.suggest(OFF_HASHID, "x", search_url=url, token="any"),
     QueryLimitReachedError, 429, "Suggestions not available"),
    (lambda url: stats.click_stats(SHOP_HASHID, "bad", "s1", search_url=url, token=SHOP_KEY),
     BadRequestError, 400, "Bad request, dfid is invalid"),
    (lambda url: stats.init_session("9" * 32, "s1", search_url=url, token=SHOP_KEY),
     ForbiddenError, 403, "forbidden"),
    (lambda url: image_search(SearchAPIClient(search_url=url, token="any"), RED_SQUARE,
                              OFF_HASHID),
     BadRequestError, 400, "Image Search is not enabled for this search engine"),
    (lambda url: image_search(SearchAPIClient(search_url=url, token=SHOP_KEY), b"nope",
                              SHOP_HASHID),
     SearchAPIError, 424, "There was an error obtaining the embeddings, please try again."),
], ids=["forbidden", "mapping", "rpp", "suggestions", "dfid", "stats-unknown-hashid",
        "not-enabled", "embedding"])
def test_errors_raise_pydoofs_typed_exceptions_with_the_vendor_text(shop_url, call, error,
                                                                    status, text):
    with pytest.raises(error) as raised:
        call(shop_url)
    assert raised.value.http_status == status
    assert raised.value.message == text
