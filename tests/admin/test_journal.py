"""The request journal: recent calls on every transport, bounded, without image bytes."""

from __future__ import annotations

import asyncio

import base64
import hashlib
import json
import urllib.error
import urllib.request

import grpc

from support.server import FIXTURES, start
from emulator.core import Journal
from emulator.yandex._protos import load

RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()
METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"


def http(base: str, method: str, path: str, body: bytes | None = None, headers=None):
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def entries(base: str) -> list[dict]:
    status, body = http(base, "GET", "/_emulator/requests")
    assert status == 200
    return json.loads(body)["requests"]


def test_journal_records_every_transport_without_image_bytes(tmp_path):
    with start() as running:
        base = running.http
        assert http(base, "DELETE", "/_emulator/requests")[0] == 204
        body = json.dumps({"folderId": "f1", "data": base64.b64encode(RED_SQUARE).decode()})
        assert http(base, "POST", "/v2/image/search_by_image", body.encode(),
                    {"Authorization": "Api-Key k"})[0] == 200
        assert http(base, "POST", "/v2/image/search_by_image", b"{}", {})[0] == 401
        request = load().ImageSearchByImageRequest(folder_id="f2", url="https://e.com/a.jpg")
        with grpc.insecure_channel(running.grpc) as channel:
            channel.unary_unary(METHOD)(request.SerializeToString(),
                                        metadata=(("authorization", "Bearer t1.x"),))
        http(base, "GET", "/images-xml?folderid=f3&apikey=k&text=no+such+images")
        log = entries(base)
    assert [(e["api"], e["method"], e["outcome"]) for e in log] == [
        ("yandex.v2.rest", "SearchByImage", "OK"),
        ("yandex.v2.rest", "SearchByImage", "UNAUTHENTICATED"),
        ("yandex.v2.grpc", "SearchByImage", "OK"),
        ("yandex.v1.xml", "GET /images-xml", "15"),
    ]
    assert log[0]["request"] == {"folder_id": "f1", "data": {
        "sha256": hashlib.sha256(RED_SQUARE).hexdigest(), "bytes": len(RED_SQUARE)}}
    assert log[1]["request"] == {"undecodable": True}
    assert log[2]["request"] == {"folder_id": "f2", "url": "https://e.com/a.jpg"}
    assert log[3]["request"]["text"] == ["no such images"]
    assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    assert len({e["request_id"] for e in log}) == 4


def test_journal_limit_and_bad_limit(server):
    for _ in range(3):
        http(server.http, "GET", "/images-xml?folderid=f&apikey=k&text=cats")
    status, body = http(server.http, "GET", "/_emulator/requests?limit=2")
    assert status == 200 and len(json.loads(body)["requests"]) == 2
    status, body = http(server.http, "GET", "/_emulator/requests?limit=x")
    assert status == 400 and "limit" in json.loads(body)["error"]
    status, body = http(server.http, "GET", "/_emulator/nothing")
    assert status == 404 and json.loads(body) == {"error": "not found"}


def test_journal_is_bounded():
    journal = Journal(size=5)
    for i in range(12):
        asyncio.run(journal.record("api", "m", str(i), {}, "OK"))
    assert [e.request_id for e in asyncio.run(journal.entries())] == ["7", "8", "9", "10", "11"]
    assert [e.request_id for e in asyncio.run(journal.entries(2))] == ["10", "11"]


def test_search_answers_carrying_an_xml_error_are_journaled_with_its_code(server):
    http(server.http, "DELETE", "/_emulator/requests")
    for text in ("no such images", "yandex cloud"):
        body = json.dumps({"query": {"searchType": "SEARCH_TYPE_RU", "queryText": text}})
        assert http(server.http, "POST", "/v2/image/search", body.encode(),
                    {"Authorization": "Api-Key k"})[0] == 200
    assert [e["outcome"] for e in entries(server.http)] == ["15", "OK"]


def test_a_huge_request_record_is_kept_as_its_digest():
    journal = Journal(size=3)
    asyncio.run(journal.record("api", "m", "1", {"p": ["x" * 1000] * 100}, "OK"))
    asyncio.run(journal.record("api", "m", "2", {"p": ["small"]}, "OK"))
    big, small = asyncio.run(journal.entries())
    assert big.request["truncated"] is True and big.request["bytes"] > 100_000
    assert len(big.request["sha256"]) == 64
    assert small.request == {"p": ["small"]}


def test_long_strings_and_keys_are_kept_as_digests():
    journal = Journal(size=2)
    asyncio.run(journal.record("api", "m", "1", {"k" * 3000: ["v"], "url": "u" * 3000,
                                                 "site": "s"}, "OK"))
    [entry] = asyncio.run(journal.entries())
    (long_key,) = [k for k in entry.request if k.startswith("sha256:")]
    assert len(long_key) == len("sha256:") + 64
    assert entry.request["url"]["bytes"] == 3000 and entry.request["site"] == "s"


def test_a_v1_parameter_with_a_very_long_name_is_answered_and_journaled(server):
    http(server.http, "DELETE", "/_emulator/requests")
    status, body = http(server.http, "GET",
                        "/images-xml?folderid=f&apikey=k&text=cats&" + "a" * 3000 + "=1")
    assert status == 200 and b"<error" not in body
    [entry] = entries(server.http)
    assert entry["outcome"] == "OK" and entry["request"]["text"] == ["cats"]
