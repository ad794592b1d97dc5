"""Served images: every picture a result points to loads, at the size the result claims.

Issue 5: generated documents point at placeholders the emulator draws (their colour and
label), fixture images are served from the fixtures' ``images/`` folder, as a static file
server would serve them (ETag, Cache-Control, 304, HEAD); bad requests get JSON errors.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
from urllib.parse import urlsplit

import pytest
from lxml import etree
from PIL import Image

from support.server import FIXTURES, catalog_url, start
from emulator.core import IMAGES_PATH, RGB, Color, placeholder_path, render_placeholder
from support.imagekit import encode, scene

AUTH = "Api-Key test-key"
FORMATS = {"IMAGE_FORMAT_JPEG": "JPEG", "IMAGE_FORMAT_PNG": "PNG", "IMAGE_FORMAT_GIF": "GIF"}
XML_MIME = {"jpg": "JPEG", "png": "PNG", "gif": "GIF"}


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
    split = urlsplit(url)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        conn.request(method, split.path + (f"?{split.query}" if split.query else ""), body,
                     headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def load_image(url: str) -> Image.Image:
    status, headers, body = request(url)
    assert status == 200, (url, status, body[:200])
    img = Image.open(io.BytesIO(body))
    assert headers["content-type"] == Image.MIME[img.format]
    return img


def search_by_image(running, **fields) -> dict:
    body = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v
            for k, v in fields.items()}
    status, _, raw = request(running.http + "/v2/image/search_by_image", "POST",
                             json.dumps(body).encode(), {"Authorization": AUTH})
    assert status == 200, raw
    return json.loads(raw)


def xml_docs(running, text: str) -> list[etree._Element]:
    url = f"{running.http}/images-xml?folderid=f&apikey=k&text={text}&groupby=attr%3Dii.groups-on-page%3D30"
    status, _, body = request(url)
    assert status == 200
    return etree.fromstring(body).findall(".//doc")


@pytest.mark.parametrize("page", [0, 7])
def test_every_generated_image_loads_at_its_claimed_size_and_format(server, page):
    reply = search_by_image(server, data=encode(scene(11), "PNG"), page=page)
    assert len(reply["images"]) == 40
    for image in reply["images"]:
        assert image["url"].startswith(server.http + IMAGES_PATH + "/placeholder/")
        img = load_image(image["url"])
        assert img.size == (int(image["width"]), int(image["height"]))
        assert img.format == FORMATS[image["format"]]


def test_every_xml_image_and_thumbnail_loads_at_its_claimed_size(server):
    docs = xml_docs(server, "mountain+lakes")
    assert len(docs) == 30
    for doc in docs:
        props = doc.find("image-properties")
        assert doc.findtext("url") == props.findtext("image-link")
        img = load_image(props.findtext("image-link"))
        assert img.size == (int(props.findtext("original-width")),
                            int(props.findtext("original-height")))
        assert img.format == XML_MIME[props.findtext("mime-type")]
        thumb = load_image(props.findtext("thumbnail-link"))
        assert thumb.size == (int(props.findtext("thumbnail-width")),
                              int(props.findtext("thumbnail-height")))
        assert max(thumb.size) <= 480


def test_recorded_live_documents_keep_their_own_links(server):
    docs = xml_docs(server, "yandex+cloud")
    assert docs
    for doc in docs:
        link = doc.find("image-properties").findtext("thumbnail-link")
        assert link.startswith("http://avatars.mds.yandex.net/i?id=")


def test_a_placeholder_is_the_documents_colour_and_label(server):
    reply = search_by_image(server, data=encode(scene(11), "PNG"))
    for image in reply["images"][:5]:
        path = urlsplit(image["url"])
        hex_rgb = path.path.rsplit("/", 1)[1].split(".")[0]
        label = path.query.removeprefix("label=")
        assert label.startswith("generated-")
        img = load_image(image["url"]).convert("RGB")
        rgb = tuple(int(hex_rgb[i:i + 2], 16) for i in (0, 2, 4))
        assert rgb in RGB.values()
        # mostly that colour: its own shade, lighter or darker tiles, and the label band
        colours = img.resize((32, 32), Image.Resampling.NEAREST).getcolors(4096)
        near = sum(n for n, c in colours if max(abs(a - b) for a, b in zip(c, rgb, strict=True)) <= 70)
        assert near >= 0.6 * 32 * 32, (hex_rgb, colours[:5])


def test_placeholders_are_the_same_bytes_from_any_emulator(server):
    path = placeholder_path(640, 480, RGB[Color.VIOLET], "item-7")
    _, _, here = request(server.http + path)
    with start() as other:
        _, _, there = request(other.http + path)
    assert here == there == render_placeholder(640, 480, RGB[Color.VIOLET], "item-7")


def test_cache_headers_and_conditional_requests(server):
    for path in (placeholder_path(64, 48, RGB[Color.RED], "a"),
                 f"{IMAGES_PATH}/files/red-square.png",
                 f"{IMAGES_PATH}/files/red-square.png?size=32x32"):
        status, headers, body = request(server.http + path)
        assert status == 200 and body
        etag = headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        immutable = "/placeholder/" in path
        assert headers["cache-control"] == ("public, max-age=31536000, immutable" if immutable
                                            else "no-cache")
        status, again, body = request(server.http + path, headers={"If-None-Match": etag})
        assert status == 304 and body == b"" and again["etag"] == etag
        status, _, body = request(server.http + path, headers={"If-None-Match": '"other"'})
        assert status == 200 and body
        status, head, body = request(server.http + path, "HEAD")
        assert status == 200 and body == b"" and head["etag"] == etag


def test_fixture_files_are_served_as_they_are_or_resized(server):
    original = (FIXTURES / "images" / "tolstoy-portrait.jpg").read_bytes()
    status, headers, body = request(f"{server.http}{IMAGES_PATH}/files/tolstoy-portrait.jpg")
    assert status == 200 and body == original and headers["content-type"] == "image/jpeg"
    for name, size in [("tolstoy-portrait.jpg", (150, 200)), ("gray-sketch.gif", (30, 40)),
                       ("red-square.png", (512, 512))]:
        img = load_image(f"{server.http}{IMAGES_PATH}/files/{name}?size={size[0]}x{size[1]}")
        assert img.size == size
        assert img.format == Image.open(FIXTURES / "images" / name).format


@pytest.mark.parametrize("path, status", [
    ("/placeholder/5000x10/dc2828.png", 404),
    ("/placeholder/0x10/dc2828.png", 404),
    ("/placeholder/10x10/dc2828.bmp", 404),
    ("/placeholder/10x10/red.png", 404),
    ("/placeholder/99999999999999999999x1/dc2828.png", 404),
    ("/placeholder/10x10/dc2828.png?label=" + "x" * 300, 400),
    ("/files/no-such.png", 404),
    ("/files/..%2Frules.json", 404),
    ("/files/%2E%2E/rules.json", 404),
    ("/files/red-square.png?size=0x5", 400),
    ("/files/red-square.png?size=5000x5", 400),
    ("/files/red-square.png?size=big", 400),
    ("/elsewhere", 404),
])
def test_bad_image_requests_get_json_errors(server, path, status):
    got, headers, body = request(server.http + IMAGES_PATH + path)
    assert got == status
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]


def test_a_fixture_directory_without_images_serves_none(tmp_path):
    directory = tmp_path / "fixtures"
    directory.mkdir()
    (directory / "catalog.json").write_text(json.dumps({"version": 1, "documents": []}))
    (directory / "rules.json").write_text(json.dumps({"version": 1}))
    with start(directory) as running:
        status, _, body = request(f"{running.http}{IMAGES_PATH}/files/red-square.png")
        assert status == 404 and json.loads(body)["error"]
        assert load_image(running.http + placeholder_path(8, 8, RGB[Color.RED])).size == (8, 8)


# -- catalog documents that name a fixture image file ----------------------------------------
def looks_like(img: Image.Image, name: str) -> bool:
    """``img`` is the fixture file ``name`` (resized): alike once both are shrunk to 16x16."""
    with Image.open(FIXTURES / "images" / name) as original:
        want = original.convert("RGB").resize((16, 16), Image.Resampling.BOX)
    got = img.convert("RGB").resize((16, 16), Image.Resampling.BOX)
    diffs = [abs(a - b) for a, b in zip(want.tobytes(), got.tobytes(), strict=True)]
    return sum(diffs) / len(diffs) <= 12


def test_catalog_image_files_load_at_the_size_the_answers_claim(server):
    """The default fixtures' hand-made documents name image files: every picture and
    thumbnail of the red square's rule (REST SearchByImage) and of the v1 XML ``emulator
    samples`` query loads from the emulator, exactly as large as the answer says."""
    catalog = {d["id"]: d for d in json.loads((FIXTURES / "catalog.json").read_text())["documents"]}
    by_url = {catalog_url(i, server.http): i for i, d in catalog.items() if "image" in d}

    reply = search_by_image(server, data=(FIXTURES / "images" / "red-square.png").read_bytes())
    assert [by_url.get(i["url"]) for i in reply["images"]] == [
        "red-square", "gray-sketch", "adult-poster"]
    for image in reply["images"]:
        doc = catalog[by_url[image["url"]]]
        img = load_image(image["url"])
        assert img.size == (int(image["width"]), int(image["height"])) == \
            (doc["width"], doc["height"])
        assert img.format == FORMATS[image["format"]]
        assert looks_like(img, doc["image"]), image["url"]

    docs = xml_docs(server, "emulator+samples")
    assert [by_url.get(d.findtext("url")) for d in docs] == [
        "red-square", "blue-wallpaper", "gray-sketch", "adult-poster"]
    for doc in docs:
        name = catalog[by_url[doc.findtext("url")]]["image"]
        props = doc.find("image-properties")
        assert props.findtext("image-link") == doc.findtext("url")
        img = load_image(doc.findtext("url"))
        assert img.size == (int(props.findtext("original-width")),
                            int(props.findtext("original-height")))
        assert img.format == XML_MIME[props.findtext("mime-type")]
        assert looks_like(img, name), doc.findtext("url")
        link = props.findtext("thumbnail-link")
        assert link.startswith(f"{server.http}{IMAGES_PATH}/files/{name}?size="), link
        thumb = load_image(link)
        assert thumb.size == (int(props.findtext("thumbnail-width")),
                              int(props.findtext("thumbnail-height")))
        assert max(thumb.size) <= 480 and thumb.size != img.size
        assert looks_like(thumb, name), link
