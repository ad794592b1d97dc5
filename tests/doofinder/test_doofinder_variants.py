"""Copies a client makes of an item's picture find that item first on Doofinder too, and
another picture does not."""

from __future__ import annotations

import pytest

from support.adminhttp import module_emulator
from support.server import FIXTURES
from support.doofinder_client import Doofinder
from support.imagekit import encode, scene, variants

running = module_emulator()

#: the default engine's items whose pictures are fixture files
ITEMS = {"tolstoy-portrait.jpg": "portrait-leo-tolstoy", "red-square.png": "poster-red-square"}
CASES = [(name, kind) for name in ITEMS
         for kind in ("jpeg-q50", "half-size", "png", "jpeg", "crop-3pc", "crop-5pc-left")]


@pytest.mark.parametrize("name, kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_a_copy_of_an_items_picture_finds_that_item_first(running, name, kind):
    copy = variants((FIXTURES / "images" / name).read_bytes())[kind]
    reply = Doofinder(running.http).image_search(copy, {"rpp": 3})
    assert reply.status == 200
    assert reply.body["results"][0]["id"] == ITEMS[name]
    # "exact" where the copy has the very bytes (PNG re-encoded as PNG), "nearest" otherwise
    tier, rule = reply.headers["x-emulator-match"].split("; ")[:2]
    assert tier in ("exact", "nearest") and rule == f'rule="{ITEMS[name]}"'


def test_another_picture_does_not(running):
    other = encode(scene(11), "JPEG", quality=90)
    firsts = {Doofinder(running.http).image_search(other, {"rpp": 1}).body["results"][0]["id"]}
    assert not firsts & set(ITEMS.values())
