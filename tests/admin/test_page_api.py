"""What the web page is built on besides the journal: the fixture set's contents with its
pictures, gRPC calls made for clients that cannot make them, and the page's own files."""

from __future__ import annotations

import base64
import json
import urllib.request


from support.adminhttp import Admin, http, module_emulator
from support.server import FIXTURES, start

RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()


running = module_emulator()


def test_the_fixture_contents_name_every_picture_the_emulator_serves(running):
    status, contents = Admin(running.http)("GET", "/fixtures/contents")  # checked against the document
    assert status == 200
    assert [i["file"] for i in contents["images"]] == sorted(p.name for p in (FIXTURES / "images").iterdir())
    rules = {r["name"]: r for r in contents["image_rules"]}
    assert rules["red square"]["image"] == "red-square.png"
    assert rules["red square"]["results"] == ["red-square", "gray-sketch", "adult-poster"]
    assert rules["backend failure"]["error"]["status"] == "UNAVAILABLE"
    assert rules["slow backend"]["delay_ms"] == 1500
    (engine,) = contents["engines"]
    assert engine["hashid"] == "d8fdeab7fce96a19d3fc7b0ca7a1e98b" and engine["keys"]
    assert engine["item_count"] == len(engine["items"]) > 4
    urls = [i["url"] for i in contents["images"]] + [r["url"] for r in rules.values()] \
        + [i["image_link"] for i in engine["items"][:6]]
    for url in urls:  # every one of them is a picture this emulator serves
        assert url.startswith(running.http + "/_emulator/images/")
        status, headers, body = http(running.http, "GET", url.removeprefix(running.http))
        assert status == 200 and headers["Content-Type"].startswith("image/") and body


def _grpc(admin: Admin, operation: str, message: dict, metadata: dict | None = None):
    return admin("POST", f"/grpc/{operation}", {"message": message, "metadata": metadata or {}})


def test_a_grpc_call_made_for_the_page_is_a_real_grpc_call(running):
    admin = Admin(running.http, "page-grpc")
    message = {"folderId": "f1", "data": base64.b64encode(RED_SQUARE).decode()}
    status, answer = _grpc(admin, "SearchByImage", message, {"authorization": "Api-Key page-grpc"})
    assert status == 200 and answer["code"] == "OK"
    assert answer["target"] == running.grpc
    assert answer["trailing_metadata"]["x-emulator-match"] == 'exact; rule="red square"; distance=0'
    assert "x-request-id" in answer["initial_metadata"]
    assert len(answer["message"]["images"]) == 3
    _, listed = admin("GET", "/requests")
    assert [(e["api"], e["method"], e["outcome"]) for e in listed["requests"]] == [
        ("yandex.v2.grpc", "SearchByImage", "OK")]
    status, answer = _grpc(admin, "Search", {"query": {"searchType": "SEARCH_TYPE_RU",
                                                       "queryText": "yandex cloud"}})
    assert status == 200 and answer["code"] == "UNAUTHENTICATED" and answer["message"] is None
    assert answer["details"] == "Token is invalid or has expired."


def test_a_grpc_call_that_cannot_be_made_is_refused_in_the_admin_api_words(running):
    admin = Admin(running.http)
    status, error = _grpc(admin, "SearchByImage", {"nope": 1})
    assert status == 400 and error["place"] == "$.message"
    assert error["error"].startswith("not a ImageSearchByImageRequest: ")
    status, error = _grpc(admin, "Delete", {})
    assert status == 404 and error["error"] == "no operation 'Delete'; known: SearchByImage, Search"
    status, error = _grpc(admin, "Search", {}, {"Bad Key": "x"})
    assert status == 400 and error["place"] == "$.metadata"
    status, error = admin("POST", "/grpc/Search", {"message": {}, "extra": 1})
    assert status == 400


def test_the_page_is_served_with_a_policy_that_allows_nothing_from_elsewhere(running):
    status, headers, body = http(running.http, "GET", "/_emulator/ui/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    page = body.decode()
    assert '<script src="app.js"' in page and "http" not in page.replace("http-equiv", "")
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        status, headers, body = http(running.http, "GET", f"/_emulator/ui/{name}")
        assert status == 200 and headers["Content-Type"] == f"{kind}; charset=utf-8"
        assert b"://" not in body.replace(b"location.origin", b"")  # no URL of another host
    request = urllib.request.Request(running.http + "/_emulator/ui")  # without the slash
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.url == running.http + "/_emulator/ui/" and b"<title>" in answer.read()
    status, _, body = http(running.http, "GET", "/_emulator/ui/secret.txt")
    assert status == 404 and json.loads(body) == {"error": "no file 'secret.txt' in the page"}


def test_the_page_needs_no_token_but_everything_it_shows_does():
    with start(admin_token="s3cret") as run:
        assert http(run.http, "GET", "/_emulator/ui/")[0] == 200  # code, no data
        for path in ("/fixtures/contents", "/requests/1/thumbnail"):
            assert http(run.http, "GET", "/_emulator" + path)[0] == 401
        assert http(run.http, "POST", "/_emulator/grpc/Search", b'{"message": {}}')[0] == 401
        status, _, _ = http(run.http, "GET", "/_emulator/fixtures/contents",
                            headers={"Authorization": "Bearer s3cret"})
        assert status == 200
