"""``GET /_emulator/requests/{seq}/thumbnail``: a small picture of each journaled query
image, drawn in the control pool from the pixels only, bounded like the journal."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from PIL import Image

from support.adminhttp import Admin, http
from support.imagekit import encode, scene
from support.server import FIXTURES, start
from support.yandexcalls import rest_by_image, rest_search
from emulator.core import WorkPool, _thumbnails
from emulator.core._thumbnails import THUMBNAIL_SIDE, Thumbnails, draw_thumbnail

RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()


def photo_with_metadata() -> bytes:
    """A JPEG as a phone makes it: EXIF (camera, place), an ICC profile and a comment."""
    img = scene(3, (1200, 800))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"         # Make
    exif[0x0131] = "where-i-live 1.0"  # Software
    return encode(img, "JPEG", exif=exif.tobytes(), comment=b"home address 42",
                  icc_profile=b"\0" * 128)


@pytest.fixture(scope="module")
def running():
    with start() as run:
        yield run


def _seq(admin: Admin) -> int:
    return admin("GET", "/requests")[1]["requests"][-1]["seq"]


def test_each_journaled_picture_has_a_small_thumbnail_without_its_metadata(running):
    original = photo_with_metadata()
    assert b"SecretCam" in original and b"home address" in original
    assert rest_by_image(running.http, "thumb-1", original)[0] == 200
    seq = _seq(Admin(running.http, "thumb-1"))
    status, headers, body = http(running.http, "GET", f"/_emulator/requests/{seq}/thumbnail")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert b"SecretCam" not in body and b"home address" not in body and b"where-i-live" not in body
    with Image.open(io.BytesIO(body)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == THUMBNAIL_SIDE
        assert thumb.size == (96, 64)  # the photo's 3:2 kept
        assert not {"exif", "icc_profile", "comment"} & set(thumb.info)
        # it is the picture: its colours are those of the original, made small
        small = Image.open(io.BytesIO(original)).convert("RGB").resize(thumb.size)
        diff = sum(abs(a - b) for a, b in zip(small.tobytes(), thumb.convert("RGB").tobytes(),
                                              strict=True))
        assert diff / len(small.tobytes()) < 20
    assert len(body) < 8 * 1024


def test_no_thumbnail_where_there_is_no_entry_picture_or_tenant(running):
    rest_search(running.http, "thumb-2", "yandex cloud")
    text_seq = _seq(Admin(running.http, "thumb-2"))
    status, _, body = http(running.http, "GET", f"/_emulator/requests/{text_seq}/thumbnail")
    assert status == 404 and b"has no query picture" in body
    assert http(running.http, "GET", "/_emulator/requests/999999/thumbnail")[0] == 404
    assert http(running.http, "GET", "/_emulator/requests/abc/thumbnail")[0] == 404
    rest_by_image(running.http, "thumb-3", RED_SQUARE)
    seq = _seq(Admin(running.http, "thumb-3"))
    assert http(running.http, "GET", f"/_emulator/requests/{seq}/thumbnail",
                headers={"X-Emulator-Tenant": "thumb-2"})[0] == 404  # not that tenant's entry
    assert http(running.http, "GET", f"/_emulator/requests/{seq}/thumbnail",
                headers={"X-Emulator-Tenant": "thumb-3"})[0] == 200


def test_thumbnails_are_drawn_in_the_control_pool(monkeypatch):
    threads: list[str] = []

    def drawing(data: bytes):
        threads.append(threading.current_thread().name)
        return draw_thumbnail(data)

    monkeypatch.setattr(_thumbnails, "draw_thumbnail", drawing)
    with start() as run:
        rest_by_image(run.http, "thumb-4", RED_SQUARE)
        seq = _seq(Admin(run.http, "thumb-4"))
        assert http(run.http, "GET", f"/_emulator/requests/{seq}/thumbnail")[0] == 200
    assert len(threads) == 1 and threads[0].startswith("emulator-control")


def test_thumbnails_are_bounded_in_count_in_bytes_and_in_drawings_at_once():
    pictures = [encode(scene(seed, (64, 64)), "PNG") for seed in range(8)]

    async def scenario() -> tuple[list, list, int]:
        pool = WorkPool(1, "test-thumbnails")
        kept = Thumbnails(pool, max_entries=3)
        for i, data in enumerate(pictures[:5]):
            kept.make(f"{i:064x}", data)
            await kept.get(f"{i:064x}")
        by_count = [await kept.get(f"{i:064x}") is not None for i in range(5)]
        small = Thumbnails(pool, max_entries=100, max_bytes=2500)
        for i, data in enumerate(pictures):
            small.make(f"{i:064x}", data)
            await small.get(f"{i:064x}")
        by_bytes = sum([len(await small.get(f"{i:064x}") or b"") for i in range(8)])
        flood = Thumbnails(pool)
        for i, data in enumerate(pictures):  # all at once: only MAX_PENDING are taken on
            flood.make(f"{i:064x}", data)
        drawn = [await flood.get(f"{i:064x}") is not None for i in range(8)]
        pool.close()
        return by_count, drawn, by_bytes

    by_count, drawn, by_bytes = asyncio.run(scenario())
    assert by_count == [False, False, True, True, True]
    assert 0 < by_bytes <= 2500
    assert drawn == [True] * _thumbnails.MAX_PENDING + [False] * (8 - _thumbnails.MAX_PENDING)


def test_a_picture_pillow_cannot_draw_has_no_thumbnail():
    assert draw_thumbnail(b"not a picture") is None
