"""Runtime stubs: the fixture rules' format at run time, per tenant, with priorities and
sequences, on every Yandex API and transport."""

from __future__ import annotations

import base64
import hashlib

import grpc
import pytest
from PIL import Image

from support.adminhttp import module_emulator, tenant_admin
from support.server import FIXTURES, catalog_url
from support.yandexcalls import (grpc_by_image, served_path, rest_by_image, rest_search, v1_search,
                                 xml_doc_urls, xml_error_code)

RED = (FIXTURES / "images" / "red-square.png").read_bytes()
BLUE = (FIXTURES / "images" / "blue-wallpaper.jpg").read_bytes()
RED_URL, BLUE_URL, SKETCH_URL = (catalog_url(d, base="") for d in
                                  ("red-square", "blue-wallpaper", "gray-sketch"))


running = module_emulator()


admin = tenant_admin("stubs")


def urls(answer: dict) -> list[str]:
    return [served_path(image["url"]) for image in answer["images"]]


def test_a_text_stub_answers_v2_and_v1_for_its_tenant_only(running, admin):
    status, stub = admin("POST", "/stubs", {"text": "Flying  Cats", "results": ["blue-wallpaper"]})
    assert status == 201 and stub["tenant"] == admin.tenant and stub["hits"] == 0
    raw = rest_search(running.http, admin.tenant, "flying cats")[1]["rawData"]
    assert xml_doc_urls(base64.b64decode(raw)) == [BLUE_URL]
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "flying cats")) == [BLUE_URL]
    # another tenant, and the same tenant named by header, not credential
    other = base64.b64decode(rest_search(running.http, "someone-else", "flying cats")[1]["rawData"])
    assert BLUE_URL not in xml_doc_urls(other)
    by_header = rest_search(running.http, admin.tenant, "flying cats", header=True)[1]["rawData"]
    assert xml_doc_urls(base64.b64decode(by_header)) == [BLUE_URL]
    status, got = admin("GET", f"/stubs/{stub['id']}")
    assert status == 200 and got["hits"] == 3


def test_a_sequence_answers_unavailable_then_ok_over_grpc(running, admin):
    admin("POST", "/stubs", {"name": "flaky backend", "image_base64": base64.b64encode(RED).decode(),
                             "sequence": [{"error": {"status": "UNAVAILABLE", "message": "try again"}},
                                          {"results": ["gray-sketch"]}]})
    first = grpc_by_image(running.grpc, admin.tenant, RED)
    second = grpc_by_image(running.grpc, admin.tenant, RED)
    third = grpc_by_image(running.grpc, admin.tenant, RED)
    assert first[0] == grpc.StatusCode.UNAVAILABLE and first[2] == "try again"
    assert second[0] == third[0] == grpc.StatusCode.OK
    assert [i.url for i in second[1].images] == [i.url for i in third[1].images] == [
        catalog_url("gray-sketch", running.http)]
    _status, journal = admin("GET", "/requests")
    assert [(e["outcome"], e["match"]["rule"]) for e in journal["requests"]] == [
        ("UNAVAILABLE", "flaky backend"), ("OK", "flaky backend"), ("OK", "flaky backend")]


def test_repeat_cycles_and_times_expires(running, admin):
    admin("POST", "/stubs", {"text": "cycle", "repeat": True,
                             "sequence": [{"results": ["red-square"]}, {"results": ["blue-wallpaper"]}]})
    admin("POST", "/stubs", {"text": "once", "times": 1, "results": ["red-square"]})
    seen = [xml_doc_urls(v1_search(running.http, admin.tenant, "cycle")) for _ in range(3)]
    assert seen == [[RED_URL], [BLUE_URL], [RED_URL]]
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "once")) == [RED_URL]
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "once")) != [RED_URL]
    _status, listing = admin("GET", "/stubs")
    assert [s["used_up"] for s in listing["stubs"]] == [False, True]


def test_priority_then_tenant_then_newest(running, admin):
    glob = admin.for_tenant(None)
    _status, global_stub = glob("POST", "/stubs", {"text": "ranked", "priority": 1,
                                                  "results": ["gray-sketch"], "folder": "f1"})
    try:
        admin("POST", "/stubs", {"text": "ranked", "priority": 2, "results": ["red-square"]})
        assert xml_doc_urls(v1_search(running.http, admin.tenant, "ranked")) == [SKETCH_URL]
        admin("POST", "/stubs", {"text": "ranked", "priority": 1, "results": ["blue-wallpaper"]})
        assert xml_doc_urls(v1_search(running.http, admin.tenant, "ranked")) == [BLUE_URL]
        admin("POST", "/stubs", {"text": "ranked", "priority": 1, "results": ["red-square"]})
        assert xml_doc_urls(v1_search(running.http, admin.tenant, "ranked")) == [RED_URL]
        # the global stub is seen by every tenant, but not listed as theirs
        assert xml_doc_urls(v1_search(running.http, "nobody", "ranked")) == [SKETCH_URL]
        assert global_stub["id"] not in [s["id"] for s in admin("GET", "/stubs")[1]["stubs"]]
        assert admin("DELETE", f"/stubs/{global_stub['id']}")[0] == 404
    finally:
        assert glob("DELETE", f"/stubs/{global_stub['id']}")[0] == 204


def test_stubs_win_over_fixture_rules_and_look_alikes_match(running, admin, tmp_path):
    admin("POST", "/stubs", {"image": "red-square.png", "results": ["blue-wallpaper"]})
    status, answer = rest_by_image(running.http, admin.tenant, RED)
    assert status == 200 and urls(answer) == [BLUE_URL]
    # a resized copy is within the perceptual distance
    Image.open(FIXTURES / "images" / "red-square.png").resize((200, 200)).save(tmp_path / "s.png")
    status, answer = rest_by_image(running.http, admin.tenant, (tmp_path / "s.png").read_bytes())
    assert urls(answer) == [BLUE_URL]
    entry = admin("GET", "/requests", params={"limit": 1})[1]["requests"][0]
    assert entry["match"]["tier"] == "stub" and entry["match"]["distance"] is not None
    # paging by the answer's id stays on the stub
    status, page = rest_by_image(running.http, admin.tenant, cbir_id=answer["id"])
    assert status == 200 and urls(page) == [BLUE_URL]
    # without the stub, the fixture rule answers again
    admin("DELETE", "/stubs")
    assert urls(rest_by_image(running.http, admin.tenant, RED)[1])[0] == RED_URL


def test_url_sha256_and_cbir_id_stubs(running, admin):
    admin("POST", "/stubs", {"url": "https://cats.example/a.jpg", "results": ["gray-sketch"]})
    admin("POST", "/stubs", {"sha256": hashlib.sha256(BLUE).hexdigest(), "error": {"status": 8}})
    admin("POST", "/stubs", {"cbir_id": "1234567/abcdefghijklmnopqrstuv1234", "results": ["red-square"]})
    status, answer = rest_by_image(running.http, admin.tenant, url="https://cats.example/a.jpg")
    assert urls(answer) == [SKETCH_URL]
    assert urls(rest_by_image(running.http, admin.tenant, cbir_id=answer["id"])[1]) == [SKETCH_URL]
    status, error = rest_by_image(running.http, admin.tenant, BLUE)
    assert status == 429 and error["code"] == 8 and error["message"] == "Quota limit exceeded"
    status, answer = rest_by_image(running.http, admin.tenant,
                                   cbir_id="1234567/abcdefghijklmnopqrstuv1234")
    assert status == 200 and urls(answer) == [RED_URL]


def test_stub_errors_in_each_api_format(running, admin):
    admin("POST", "/stubs", {"text": "broken", "error": {"code": 15, "status": "INTERNAL"}})
    admin("POST", "/stubs", {"text": "down", "error": {"status": "UNAVAILABLE"}})
    assert xml_error_code(v1_search(running.http, admin.tenant, "broken")) == "15"
    raw = rest_search(running.http, admin.tenant, "broken")[1]["rawData"]
    assert xml_error_code(base64.b64decode(raw)) == "15"
    status, error = rest_search(running.http, admin.tenant, "down")
    assert status == 503 and error["code"] == 14
    assert xml_error_code(v1_search(running.http, admin.tenant, "down")) == "20"


def test_scopes_folder_and_vendor(running, admin):
    admin("POST", "/stubs", {"text": "scoped", "folder": "other", "results": ["red-square"]})
    admin("POST", "/stubs", {"text": "elsewhere", "vendor": "doofinder", "results": ["red-square"]})
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "scoped")) != [RED_URL]
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "elsewhere")) != [RED_URL]


@pytest.mark.parametrize("body, place, words", [
    ({"text": "x", "results": ["no-such-doc"]}, "$.results[0]", "no document 'no-such-doc'"),
    ({"text": "x", "sequence": [{"results": ["red-square"]}, {"results": ["nope"]}]},
     "$.sequence[1].results[0]", "no document"),
    ({"results": ["red-square"]}, "$", "exactly one of"),
    ({"text": "x", "url": "u", "results": []}, "$", "exactly one of"),
    ({"text": "x"}, "$", "results, an error or a delay"),
    ({"text": "x", "results": [], "error": {"status": 14}}, "$", "cannot be given together"),
    ({"text": "x", "error": {"status": "BROKEN"}}, "$.error.status", ""),
    ({"image": "../rules.json", "results": []}, "$.image", "no image file"),
    ({"image_base64": "***", "results": []}, "$.image_base64", "not base64"),
    ({"image_base64": base64.b64encode(b"text").decode(), "results": []}, "$.image_base64",
     "not an image"),
    ({"text": "x", "results": [], "priority": 0}, "$.priority", ""),
])
def test_invalid_stubs_are_refused_with_the_place(admin, body, place, words):
    status, error = admin("POST", "/stubs", body)
    assert status == 400 and error["place"] == place and words in error["error"]
    assert admin("GET", "/stubs")[1]["stubs"] == []


def test_not_json_duplicate_ids_and_unknown_stubs(admin):
    status, error = admin("POST", "/stubs", b"{not json")
    assert status == 400 and "not JSON" in error["error"]
    assert admin("POST", "/stubs", {"id": "mine", "text": "x", "results": []})[0] == 201
    status, error = admin("POST", "/stubs", {"id": "mine", "text": "y", "results": []})
    assert status == 409 and error["place"] == "$.id"
    assert admin("GET", "/stubs/nope")[0] == 404
    assert admin("DELETE", "/stubs/mine")[0] == 204
    assert admin("DELETE", "/stubs/mine")[0] == 404


def test_inline_image_bytes_are_not_kept(admin):
    _status, stub = admin("POST", "/stubs", {"image_base64": base64.b64encode(RED).decode(),
                                            "results": ["red-square"]})
    assert "image_base64" not in stub and stub["image_sha256"] == hashlib.sha256(RED).hexdigest()
