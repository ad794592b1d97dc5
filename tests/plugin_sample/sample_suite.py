"""A suite written with the pytest plugin, as a user would write one: per-test stubs,
faults and journal assertions. tests/admin/test_pytest_plugin.py runs it under ``pytest -n 4``
(it is not collected by the project's own test run)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from lxml import etree

from emulator._resources import bundled

CATALOG = {d["id"]: d
           for d in json.loads((bundled("fixtures") / "catalog.json").read_text())["documents"]}
DOCS = ["red-square", "blue-wallpaper", "gray-sketch", "adult-poster"]


def picture_url(emulator, doc_id: str) -> str:
    """The picture URL answered for a catalog document: its recorded ``url``, or for one
    that names an image file, that file as the emulator serves it, at the claimed size."""
    doc = CATALOG[doc_id]
    if "image" not in doc:
        return doc["url"]
    size = f"{doc['width']}x{doc['height']}"
    return emulator.url(f"/_emulator/images/files/{doc['image']}?size={size}")


def search(emulator, text: str) -> tuple[int, list[str]]:
    """The code under test: a v2 REST text search, its HTTP status and image URLs."""
    body = json.dumps({"query": {"searchType": "SEARCH_TYPE_RU", "queryText": text}}).encode()
    request = urllib.request.Request(emulator.url("/v2/image/search"), data=body,
                                     headers=emulator.headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = base64.b64decode(json.loads(response.read())["rawData"])
    except urllib.error.HTTPError as exc:
        return exc.code, []
    return 200, etree.fromstring(raw).xpath("//doc/url/text()")


def search_with_retries(emulator, text: str, attempts: int = 3) -> tuple[int, list[str]]:
    for _ in range(attempts):
        status, urls = search(emulator, text)
        if status != 503:
            return status, urls
    return status, urls


@pytest.mark.parametrize("n", range(16))
def test_each_test_sees_only_its_own_stub_and_requests(emulator, n):
    doc = DOCS[n % len(DOCS)]
    emulator.stub(name=f"stub {n}", text="the same words everywhere", results=[doc])
    calls = n % 3 + 1
    for _ in range(calls):
        assert search(emulator, "the same words everywhere") == (200, [picture_url(emulator, doc)])
    assert emulator.count(method="Search") == calls
    assert emulator.count(rule=f"stub {n}") == calls
    assert {e["tenant"] for e in emulator.requests()} == {emulator.tenant}


def test_retries_get_through_a_flaky_backend(emulator):
    emulator.stub(text="flaky", sequence=[{"error": {"status": "UNAVAILABLE"}},
                                          {"results": ["red-square"]}])
    assert search_with_retries(emulator, "flaky") == (200, [picture_url(emulator, "red-square")])
    assert [e["outcome"] for e in emulator.requests()] == ["UNAVAILABLE", "OK"]


def test_a_quota_fault(emulator):
    emulator.fault(quota={"limit": 1})
    assert search(emulator, "cats")[0] == 200
    assert search(emulator, "cats")[0] == 429
    assert emulator.count(outcome="RESOURCE_EXHAUSTED") == 1


def test_explain_a_miss(emulator):
    emulator.stub(text="yellow submarine", results=["red-square"])
    assert search(emulator, "yellow submarines")[0] == 200
    [miss] = emulator.misses()
    closest = miss["explanation"]["candidates"][0]
    assert closest["source"] == "stub" and closest["similarity"] > 0.9
