"""Image understanding: one decode pipeline, matching in tiers, visual ranking, explanations.

Issue 5: a copy of a fixture image (re-encoded at JPEG quality 50, resized to half, PNG and
JPEG each way, lightly cropped, EXIF-rotated) hits the same rule on every Yandex transport,
a different picture does not; a copy of an unknown picture gets the same generated results;
a mostly-red query ranks red results first; every answer says why in ``X-Emulator-Match``.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import shutil
import urllib.request
from urllib.parse import quote, urlsplit

import grpc
import pytest
from PIL import Image

from support.server import FIXTURES, start
from emulator.core import RGB, Color, Fingerprint, FixtureError, fingerprint, load_fixtures, \
    placeholder_path, render_placeholder, visual_distance
from emulator.core import _fingerprint as fingerprint_module
from emulator.core._fingerprint import MAX_PIXELS, FingerprintCache, NotAnImage, PERCEPTUAL_DISTANCE
from emulator.yandex._protos import load
from support.imagekit import crop, decode, encode, scene, variants

PROTOS = load()
SBI_METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
SEARCH_METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/Search"
AUTH = "Api-Key test-key"
TRANSPORTS = ("rest", "grpc")
IMAGES = FIXTURES / "images"
TOLSTOY = (IMAGES / "tolstoy-portrait.jpg").read_bytes()
TOLSTOY_RULE = "recorded live call: Leo Tolstoy portrait"
RULE_IMAGES = {"tolstoy-portrait.jpg": TOLSTOY_RULE, "red-square.png": "red square",
               "gray-sketch.gif": None}  # the sketch is in no rule: only in the catalog
UNKNOWN = encode(scene(0), "PNG")  # a photo-like picture no rule covers
MATCH = re.compile(r'^(?P<tier>[a-z]+)(?:; rule="(?P<rule>(?:[^"\\]|\\.)*)")?'
                   r"(?:; distance=(?P<distance>\d+))?$")


# -- a client for both transports that keeps the explanation --------------------------------
class Reply:
    def __init__(self, ok: bool, body: dict, match: str | None, code: int = 0,
                 message: str = "") -> None:
        self.ok, self.body, self.match, self.code, self.message = ok, body, match, code, message

    @property
    def images(self) -> list[dict]:
        return self.body.get("images", [])

    @property
    def explained(self) -> dict:
        found = MATCH.fullmatch(self.match or "")
        assert found, self.match
        return found.groupdict()


def rest(running, path: str, body: dict) -> Reply:
    split = urlsplit(running.http)
    conn = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(body), {"Authorization": AUTH})
        resp = conn.getresponse()
        data = json.loads(resp.read())
    finally:
        conn.close()
    ok = resp.status == 200
    return Reply(ok, data, resp.getheader("X-Emulator-Match"),
                 0 if ok else data["code"], "" if ok else data["message"])


def grpc_call(running, method: str, message) -> Reply:
    response_type = (PROTOS.ImageSearchByImageResponse if method == SBI_METHOD
                     else PROTOS.ImageSearchResponse)
    from google.protobuf import json_format
    with grpc.insecure_channel(running.grpc) as channel:
        stub = channel.unary_unary(method)
        try:
            raw, call = stub.with_call(message.SerializeToString(),
                                       metadata=(("authorization", AUTH),), timeout=30)
        except grpc.RpcError as exc:
            trailers = dict(exc.trailing_metadata() or ())
            return Reply(False, {}, trailers.get("x-emulator-match"), exc.code().value[0],
                         exc.details())
        trailers = dict(call.trailing_metadata() or ())
        assert "x-emulator-match" not in dict(call.initial_metadata())  # known only at the end
        body = json_format.MessageToDict(response_type.FromString(raw))
        return Reply(True, body, trailers.get("x-emulator-match"))


def by_image(running, transport: str, **fields) -> Reply:
    if transport == "rest":
        body = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v
                for k, v in fields.items()}
        return rest(running, "/v2/image/search_by_image", body)
    return grpc_call(running, SBI_METHOD, PROTOS.ImageSearchByImageRequest(**fields))


@pytest.fixture(scope="module")
def running(server):
    return server


def journal(running, limit: int = 1) -> list[dict]:
    with urllib.request.urlopen(f"{running.http}/_emulator/requests?limit={limit}") as reply:
        return json.loads(reply.read())["requests"]


# -- the decode pipeline ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_every_format_decodes_to_the_same_picture(fmt):
    img = scene(1)
    original = fingerprint(encode(img, "PNG"))
    copy = fingerprint(encode(img, fmt))
    assert copy.format == ("jpeg" if fmt == "JPEG" else fmt.lower())
    assert (copy.width, copy.height) == img.size
    assert copy.looks_like(original), copy.distance(original)


def test_exif_orientation_is_applied_before_measuring():
    copy = fingerprint(variants(TOLSTOY)["exif-rotated"])
    original = fingerprint(TOLSTOY)
    assert (copy.width, copy.height) == (original.width, original.height) == (300, 400)
    assert copy.distance(original) <= 2


def test_transparent_pixels_count_as_white():
    red_on_clear = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    red_on_clear.paste((220, 40, 40, 255), (16, 16, 48, 48))
    red_on_white = Image.new("RGB", (64, 64), "white")
    red_on_white.paste((220, 40, 40), (16, 16, 48, 48))
    a, b = fingerprint(encode(red_on_clear, "PNG")), fingerprint(encode(red_on_white, "PNG"))
    assert a.colors == b.colors and a.dhash == b.dhash


def damaged_png() -> bytes:
    data = bytearray(encode(scene(2), "PNG"))
    data[data.find(b"IDAT") + 50] ^= 0xFF  # a byte of the pixel data, so its CRC fails
    return bytes(data)


@pytest.mark.parametrize("data, reason", [
    (encode(scene(2), "JPEG")[:4000], "truncated"),
    (encode(Image.new("RGB", (30, 30)), "ICO"), "unsupported"),
    (encode(Image.new("RGB", (30, 30)), "PPM"), "unsupported"),
    (damaged_png(), "corrupt"),
], ids=["truncated-jpeg", "ico", "ppm", "damaged-png"])
def test_undecodable_images_say_why(running, data, reason):
    with pytest.raises(NotAnImage, match=reason):
        fingerprint(data)
    for transport in TRANSPORTS:
        reply = by_image(running, transport, data=data)
        assert reply.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert reply.message.startswith("data: the image could not be decoded: ")
        assert reason in reply.message


def test_decompression_bomb_is_refused_by_pixel_count():
    bomb = encode(Image.new("1", (17_000, 15_000)), "PNG")  # 255 megapixels, a few KiB
    assert len(bomb) < 200_000
    assert MAX_PIXELS < 17_000 * 15_000
    with pytest.raises(NotAnImage, match="too large"):
        fingerprint(bomb)


def test_a_picture_as_large_as_a_phone_camera_s_is_read():
    """108 megapixels (a phone's 12000x9000), over Pillow's own bomb warning (89 MP) and
    over what decodes whole: read in bands, and measured as any picture."""
    big = encode(Image.new("1", (12_000, 9_000)), "PNG")
    assert len(big) < 200_000
    fp = fingerprint(big)
    assert (fp.format, fp.width, fp.height) == ("png", 12_000, 9_000)
    assert fp.colors == fingerprint(encode(Image.new("RGB", (120, 90)), "PNG")).colors


def test_fingerprints_are_cached_by_digest():
    cache = FingerprintCache(size=2)
    first = cache.fingerprint(TOLSTOY)
    assert cache.fingerprint(TOLSTOY) is first
    cache.fingerprint(UNKNOWN)
    cache.fingerprint(encode(scene(4), "PNG"))
    assert len(cache) == 2  # bounded: the oldest went
    assert cache.fingerprint(TOLSTOY) is not first and cache.fingerprint(TOLSTOY) == first


# -- perceptual matching ---------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n, rule in RULE_IMAGES.items() if rule])
@pytest.mark.parametrize("kind", list(variants(TOLSTOY)))
def test_each_copy_looks_like_its_original(name, kind):
    data = (IMAGES / name).read_bytes()
    original, copy = fingerprint(data), fingerprint(variants(data)[kind])
    assert copy.looks_like(original), (copy.distance(original), copy.colour_distance(original))


def different_pictures() -> dict[str, Fingerprint]:
    pictures = {name: fingerprint((IMAGES / name).read_bytes()) for name in RULE_IMAGES}
    pictures.update({f"scene-{s}": fingerprint(encode(scene(s), "PNG")) for s in range(8)})
    return pictures


def test_different_pictures_do_not_look_alike():
    pictures = different_pictures()
    names = sorted(pictures)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not pictures[a].looks_like(pictures[b]), (a, b, pictures[a].distance(pictures[b]))
            assert pictures[a].distance(pictures[b]) > PERCEPTUAL_DISTANCE + 2, (a, b)


def test_a_different_colour_of_the_same_shape_is_a_different_picture():
    red, blue = (Image.new("RGB", (200, 200), "white") for _ in range(2))
    red.paste(RGB[Color.RED], (40, 40, 160, 120))
    blue.paste(RGB[Color.BLUE], (40, 40, 160, 120))
    a, b = fingerprint(encode(red, "PNG")), fingerprint(encode(blue, "PNG"))
    assert a.distinctive and a.distance(b) <= 2  # the same shape to the hash...
    assert not a.looks_like(b)                   # ...but not the same picture


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", list(variants(TOLSTOY)))
def test_a_copy_hits_the_same_rule_on_every_transport(running, transport, kind):
    original = by_image(running, transport, data=TOLSTOY)
    copy = by_image(running, transport, data=variants(TOLSTOY)[kind])
    assert copy.ok and original.ok
    assert copy.images == original.images and len(copy.images) == 40
    assert copy.body["id"] == original.body["id"]  # and pages the same list
    assert original.explained == {"tier": "exact", "rule": TOLSTOY_RULE, "distance": "0"}
    explained = copy.explained
    assert explained["tier"] == "perceptual" and explained["rule"] == TOLSTOY_RULE
    assert 0 <= int(explained["distance"]) <= PERCEPTUAL_DISTANCE


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_different_picture_gets_the_nearest_tier_naming_the_nearest_rule(running, transport):
    reply = by_image(running, transport, data=UNKNOWN)
    assert reply.ok and reply.body["maxPage"] == "36"  # generated
    explained = reply.explained
    assert explained["tier"] == "nearest"
    assert explained["rule"] in {"recorded live call: Leo Tolstoy portrait", "red square",
                                 "blue wallpaper", "backend failure", "slow backend"}
    assert int(explained["distance"]) > PERCEPTUAL_DISTANCE


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", list(variants(TOLSTOY)))
def test_a_copy_of_an_unknown_picture_gets_the_same_generated_results(running, transport, kind):
    """The generated set is seeded from the picture's perceptual key. Re-encoded, resized
    and rotated copies always share it; a crop shares it unless it tips the balance of the
    dominant colours or brightness (this picture's crops do)."""
    original = by_image(running, transport, data=UNKNOWN)
    copy = by_image(running, transport, data=variants(UNKNOWN)[kind])
    assert copy.ok and len(copy.images) == 40
    assert copy.images == original.images
    assert copy.body["id"] == original.body["id"]
    page = by_image(running, transport, id=copy.body["id"], page=1)
    assert page.ok and page.images == by_image(running, transport, data=UNKNOWN, page=1).images


@pytest.mark.parametrize("seed", range(6))
def test_re_encoded_and_resized_copies_share_the_perceptual_key(seed):
    data = encode(scene(seed), "PNG")
    key = fingerprint(data).seed
    for kind in ("jpeg-q50", "half-size", "jpeg", "exif-rotated"):
        assert fingerprint(variants(data)[kind]).seed == key, kind


def test_generated_results_are_the_same_on_both_transports(running):
    assert by_image(running, "rest", data=UNKNOWN).images == \
        by_image(running, "grpc", data=UNKNOWN).images


def test_different_unknown_pictures_get_different_generated_results(running):
    answers = [by_image(running, "rest", data=encode(scene(s), "PNG")) for s in range(5)]
    assert len({a.body["id"] for a in answers}) == 5
    assert len({json.dumps(a.images) for a in answers}) == 5


# -- configurable distance -------------------------------------------------------------------
def fixture_copy(tmp_path, settings: dict | None = None, rule_distance: int | None = None):
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    if settings is not None:
        current = json.loads((directory / "settings.json").read_text())
        (directory / "settings.json").write_text(json.dumps({**current, **settings}))
    if rule_distance is not None:
        rules = json.loads((directory / "rules.json").read_text())
        for rule in rules["image_rules"]:
            if rule["name"] == TOLSTOY_RULE:
                rule["perceptual_distance"] = rule_distance
        (directory / "rules.json").write_text(json.dumps(rules))
    return directory


def far_copy() -> bytes:
    """A copy cut so hard (a fifth off the left) that it is far from the original."""
    return encode(crop(decode(TOLSTOY), 0.2, 0.0, 0.0, 0.0), "PNG")


def test_the_perceptual_distance_is_a_fixture_setting(tmp_path):
    far = fingerprint(far_copy())
    distance = far.distance(fingerprint(TOLSTOY))
    assert PERCEPTUAL_DISTANCE < distance < 40
    assert load_fixtures(FIXTURES).settings.perceptual_distance == PERCEPTUAL_DISTANCE
    with start(fixture_copy(tmp_path, settings={"perceptual_distance": 40})) as wide:
        reply = by_image(wide, "rest", data=far_copy())
        assert reply.explained == {"tier": "perceptual", "rule": TOLSTOY_RULE,
                                   "distance": str(distance)}
    with start(fixture_copy(tmp_path / "strict", settings={"perceptual_distance": 0})) as strict:
        assert by_image(strict, "rest", data=TOLSTOY).explained["tier"] == "exact"
        assert by_image(strict, "rest", data=variants(TOLSTOY)["crop-3pc"]).explained["tier"] \
            == "nearest"


def test_a_rule_can_set_its_own_distance(tmp_path):
    with start(fixture_copy(tmp_path, rule_distance=40)) as wide:
        assert by_image(wide, "grpc", data=far_copy()).explained["rule"] == TOLSTOY_RULE
        # the other rules keep the fixtures' distance
        red = decode((IMAGES / "red-square.png").read_bytes())
        far_red = encode(crop(red, 0.3, 0.0, 0.0, 0.3), "PNG")
        assert by_image(wide, "grpc", data=far_red).explained["tier"] != "perceptual"


@pytest.mark.parametrize("place, value", [("settings", 65), ("settings", -1), ("rule", 65),
                                          ("rule", "8")])
def test_a_perceptual_distance_out_of_range_is_a_fixture_error(tmp_path, place, value):
    directory = (fixture_copy(tmp_path, settings={"perceptual_distance": value})
                 if place == "settings" else fixture_copy(tmp_path, rule_distance=value))
    with pytest.raises(FixtureError) as error:
        load_fixtures(directory)
    assert error.value.file == ("settings.json" if place == "settings" else "rules.json")
    assert "perceptual_distance" in error.value.place


# -- visual ranking ---------------------------------------------------------------------------
def mostly(colour: tuple[int, int, int]) -> bytes:
    """A picture mostly of one colour, with a busy corner (so it is no placeholder)."""
    img = Image.new("RGB", (400, 300), colour)
    img.paste(scene(7).resize((120, 90)), (0, 0))
    return encode(img, "JPEG", quality=80)


def test_visual_distance_ranks_a_mostly_red_query_red_first():
    placeholders = {(c, n): fingerprint(render_placeholder(200, 150, RGB[c], f"item-{n}"))
                    for c in Color for n in range(3)}
    query = fingerprint(mostly((210, 45, 40)))
    ranked = sorted(placeholders, key=lambda k: (visual_distance(query, placeholders[k]), k[1]))
    assert [colour for colour, _ in ranked[:3]] == [Color.RED] * 3
    assert visual_distance(query, query) == 0.0
    for a, b in [(query, placeholders[Color.RED, 0]), (placeholders[Color.BLUE, 1], query)]:
        assert visual_distance(a, b) == visual_distance(b, a)
        assert 0 < visual_distance(a, b) <= 1


def test_an_items_own_picture_ranks_it_first_among_its_colour():
    items = {n: fingerprint(render_placeholder(300, 300, RGB[Color.GREEN], f"item-{n}"))
             for n in range(12)}
    for n in (0, 5, 11):
        for query_bytes in (render_placeholder(300, 300, RGB[Color.GREEN], f"item-{n}"),
                            encode(decode(render_placeholder(300, 300, RGB[Color.GREEN],
                                                             f"item-{n}")).resize((90, 90)),
                                   "JPEG", quality=60)):
            query = fingerprint(query_bytes)
            ranked = sorted(items, key=lambda k: (visual_distance(query, items[k]), k))
            assert ranked[0] == n


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("colour", [Color.RED, Color.BLUE])
def test_generated_results_rank_the_query_colour_first(running, transport, colour):
    reply = by_image(running, transport, data=mostly(RGB[colour]))
    assert reply.ok and reply.explained["tier"] == "nearest"
    hex_rgb = "".join(f"{c:02x}" for c in RGB[colour])
    first = [urlsplit(i["url"]).path.split("/")[-1].split(".")[0] for i in reply.images[:10]]
    assert first == [hex_rgb] * 10
    # the same ranking when paging by the id alone (no picture to compare)
    by_id = by_image(running, transport, id=reply.body["id"])
    assert by_id.images == reply.images


# -- explanations ----------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_rules_error_is_explained_too(running, transport):
    reply = by_image(running, transport, data=(IMAGES / "unavailable.png").read_bytes())
    assert reply.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert reply.explained == {"tier": "exact", "rule": "backend failure", "distance": "0"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_url_and_alias_tiers(running, transport):
    by_url = by_image(running, transport, url="https://images.example.com/shapes/red-square.png")
    assert by_url.explained == {"tier": "url", "rule": "red square", "distance": "0"}
    alias = by_image(running, transport, id="4463870/96DyrJwvBwvRAPHPHt1h1Q9959")
    assert alias.explained == {"tier": "alias", "rule": TOLSTOY_RULE, "distance": None}
    unknown = by_image(running, transport, url="https://example.net/not-in-fixtures.jpg")
    assert unknown.explained == {"tier": "generated", "rule": None, "distance": None}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_validation_errors_carry_no_explanation(running, transport):
    reply = by_image(running, transport, url="u", page=-1)
    assert reply.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert reply.match is None


def text_search(running, transport: str, text: str) -> Reply:
    fields = {"query": {"search_type": 3, "query_text": text}, "folder_id": "f"}
    if transport == "rest":
        return rest(running, "/v2/image/search",
                    {"query": {"searchType": "SEARCH_TYPE_COM", "queryText": text},
                     "folderId": "f"})
    return grpc_call(running, SEARCH_METHOD, PROTOS.ImageSearchRequest(**fields))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_text_answers_are_explained(running, transport):
    assert text_search(running, transport, "Emulator  SAMPLES").explained == \
        {"tier": "text", "rule": "catalog samples", "distance": None}
    assert text_search(running, transport, "no such images").explained["rule"] == "nothing found"
    assert text_search(running, transport, "purple elephants").explained == \
        {"tier": "generated", "rule": None, "distance": None}


def test_v1_xml_answers_are_explained(running):
    def get(text: str) -> str | None:
        url = f"{running.http}/images-xml?folderid=f&apikey=k&text={quote(text)}"
        with urllib.request.urlopen(url) as reply:
            return reply.headers["X-Emulator-Match"]
    assert get("emulator samples") == 'text; rule="catalog samples"'
    assert get("no such images") == 'text; rule="nothing found"'
    assert get("green tea") == "generated"


def test_the_journal_keeps_the_explanation(running):
    by_image(running, "rest", data=variants(TOLSTOY)["jpeg-q50"])
    [entry] = journal(running)
    assert entry["match"]["tier"] == "perceptual" and entry["match"]["rule"] == TOLSTOY_RULE
    assert isinstance(entry["match"]["distance"], int)
    by_image(running, "grpc", url="u", page=-1)
    assert journal(running)[0]["match"] is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_emulator_image_url_is_the_picture_itself(running, transport):
    """A result's own picture, sent back by URL: the emulator draws or reads it (no fetch)."""
    served = f"{running.http}/_emulator/images/files/tolstoy-portrait.jpg"
    assert by_image(running, transport, url=served).explained == \
        {"tier": "exact", "rule": TOLSTOY_RULE, "distance": "0"}
    thumbnail = by_image(running, transport, url=served + "?size=150x200")
    assert thumbnail.explained["tier"] == "perceptual"
    red = by_image(running, transport,
                   url=running.http + placeholder_path(320, 200, RGB[Color.RED], "x"))
    assert red.explained["tier"] == "nearest"
    assert urlsplit(red.images[0]["url"]).path.split("/")[-1].split(".")[0] == "dc2828"


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_a_png_read_in_bands_measures_as_if_read_whole(monkeypatch, mode):
    """Over 64 MiB decoded, a PNG is read a band at a time; as Pillow encodes it (filters
    chosen row by row, palettes, 16-bit grey), it measures as the whole picture would."""
    picture = scene(3).resize((4200, 4200), Image.Resampling.NEAREST)
    if mode == "I;16":
        picture = picture.convert("L").point(lambda v: v * 257).convert("I;16")
    else:
        picture = picture.convert(mode)
    data = encode(picture, "PNG")
    in_bands = fingerprint(data)
    monkeypatch.setattr(fingerprint_module, "MAX_DECODED_BYTES", 2**40)
    whole = fingerprint(data)
    assert (in_bands.width, in_bands.height) == (4200, 4200)
    assert in_bands.dhash == whole.dhash and in_bands.distance(whole) == 0
    assert in_bands.colour_distance(whole) < 0.01
