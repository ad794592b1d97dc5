"""Explain: which stub or rule answers a query, or why none does, with the closest
candidates; and the latest misses from the journal."""

from __future__ import annotations

from emulator.core._fingerprint import PERCEPTUAL_DISTANCE
import base64
import json
import shutil

import pytest
from PIL import Image, ImageDraw

from support.adminhttp import tenant_admin
from support.server import FIXTURES, start
from support.yandexcalls import rest_by_image, v1_search

RED = (FIXTURES / "images" / "red-square.png").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    fixtures = tmp_path_factory.mktemp("fx") / "fixtures"
    shutil.copytree(FIXTURES, fixtures)
    rules = json.loads((fixtures / "rules.json").read_text())
    rules["image_rules"].append({"name": "red for f9", "image": "red-square.png",
                                 "folder": "f9", "results": ["blue-wallpaper"]})
    (fixtures / "rules.json").write_text(json.dumps(rules))
    with start(fixtures) as run:
        yield run


admin = tenant_admin("explain")


def stripes(tmp_path) -> bytes:
    """Black stripes on white: like no fixture image (16 bits or more from each)."""
    img = Image.new("RGB", (128, 128), "white")
    for x in range(0, 128, 16):
        ImageDraw.Draw(img).rectangle((x, 0, x + 7, 127), fill="black")
    img.save(tmp_path / "stripes.png")
    return (tmp_path / "stripes.png").read_bytes()


def test_an_exact_fixture_match_and_the_folder_rule_it_shadows(admin):
    status, got = admin("POST", "/explain", {"image_base64": b64(RED), "folder": "f1"})
    assert status == 200 and got["source"] == "fixture"
    assert got["match"] == {"tier": "exact", "rule": "red square", "distance": 0}
    first, *rest = got["candidates"]
    assert first["rule"] == "red square" and first["matched"] and first["why_not"] == []
    folder_rule = next(c for c in rest if c["rule"] == "red for f9")
    assert not folder_rule["matched"] and "scoped to folder 'f9'" in folder_rule["why_not"][0]
    status, got = admin("POST", "/explain", {"image_base64": b64(RED), "folder": "f9"})
    assert got["match"]["rule"] == "red for f9"


def test_a_miss_lists_the_closest_images_with_their_distance(admin, tmp_path):
    _status, got = admin("POST", "/explain", {"image_base64": b64(stripes(tmp_path)),
                                             "limit": 2})
    assert got["source"] == "generated" and len(got["candidates"]) == 2
    closest = got["candidates"][0]
    assert closest["distance"] > 8 and 0 < closest["visual_distance"] <= 1
    assert closest["distance"] <= got["candidates"][1]["distance"]
    assert closest["why_not"] and closest["rule"] in got["reason"]
    as_float = admin("POST", "/explain", {"image_base64": b64(stripes(tmp_path)), "limit": 2.0})
    assert as_float[0] == 200 and as_float[1]["candidates"] == got["candidates"]
    everything = admin("POST", "/explain", {"image_base64": b64(stripes(tmp_path)),
                                            "limit": 20})[1]["candidates"]
    reasons = [(c["distance"], c["why_not"][0]) for c in everything if c["distance"] is not None]
    assert any(why == f"perceptual distance {d} bits is over {PERCEPTUAL_DISTANCE}" for d, why in reasons)
    assert any("too plain" in why for _, why in reasons)


def test_stubs_are_explained_and_peeked_not_consumed(admin):
    admin("POST", "/stubs", {"id": "s1", "text": "cats", "times": 1, "results": ["red-square"]})
    _, got = admin("POST", "/explain", {"text": "CATS"})
    assert got["source"] == "stub" and got["stub_id"] == "s1" and got["outcome"] == "results"
    admin("POST", "/explain", {"text": "cats"})
    assert admin("GET", "/stubs/s1")[1]["hits"] == 0
    v1_search(admin.base, admin.tenant, "cats")
    _status, got = admin("POST", "/explain", {"text": "cats"})
    assert got["source"] == "generated"
    stub = next(c for c in got["candidates"] if c["stub_id"] == "s1")
    assert "used up" in stub["why_not"][0]
    # another tenant does not see the stub at all
    other = admin.for_tenant("nobody")("POST", "/explain", {"text": "cats"})[1]
    assert all(c["stub_id"] is None for c in other["candidates"])


def test_misses_are_explained_from_the_journal(running, admin, tmp_path):
    rest_by_image(running.http, admin.tenant, RED)  # a hit
    rest_by_image(running.http, admin.tenant, stripes(tmp_path))  # a miss
    v1_search(running.http, admin.tenant, "yandex clouds")  # a miss, near a rule
    status, got = admin("GET", "/explain/misses")
    assert status == 200 and len(got["misses"]) == 2
    image_miss, text_miss = got["misses"]
    assert image_miss["entry"]["image"]["dhash"] and image_miss["explanation"]["source"] == "generated"
    assert image_miss["explanation"]["candidates"][0]["distance"] > 6
    near = text_miss["explanation"]["candidates"][0]
    assert near["rule"] == "recorded live document" and near["similarity"] > 0.9
    assert admin("GET", "/explain/misses", params={"limit": 1})[1]["misses"][0]["entry"]["seq"] \
        == text_miss["entry"]["seq"]
    assert admin.for_tenant("nobody")("GET", "/explain/misses")[1]["misses"] == []


def test_cbir_ids_urls_and_bad_queries(admin):
    recorded = "4463870/96DyrJwvBwvRAPHPHt1h1Q9959"
    got = admin("POST", "/explain", {"cbir_id": recorded})[1]
    assert got["match"]["tier"] == "alias" and got["source"] == "fixture"
    got = admin("POST", "/explain", {"cbir_id": "1234567/abcdefghijklmnopqrstuv1234"})[1]
    assert got["source"] == "none" and got["match"] is None
    got = admin("POST", "/explain", {"url": "https://nowhere.example/x.jpg"})[1]
    assert got["source"] == "generated"
    assert admin("POST", "/explain", {"text": "a", "url": "b"})[0] == 400
    assert admin("POST", "/explain", {"image_base64": b64(b"no image")})[0] == 400
