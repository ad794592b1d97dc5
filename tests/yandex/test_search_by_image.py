"""ImageSearchService.SearchByImage on both transports (gRPC and REST), against a real emulator.

Contract: the vendor's API v2 reference (ImageSearchService.SearchByImage). Where the same behaviour must hold
on both transports, the test is parametrized over ``transport``.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from PIL import Image

from support.server import FIXTURES, catalog_url, start
from emulator.yandex._protos import load

PROTOS = load()
REQUEST = PROTOS.ImageSearchByImageRequest
RESPONSE = PROTOS.ImageSearchByImageResponse
METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
PATH = "/v2/image/search_by_image"
AUTH = "Api-Key test-key"
TRANSPORTS = ("rest", "grpc")

CBIR_ID = re.compile(r"^\d{7}/[A-Za-z0-9_-]{22}\d{4}$")
IMAGES = FIXTURES / "images"
CATALOG = {d["id"]: d for d in json.loads((FIXTURES / "catalog.json").read_text())["documents"]}
TOLSTOY = (IMAGES / "tolstoy-portrait.jpg").read_bytes()
RED_SQUARE = (IMAGES / "red-square.png").read_bytes()
TOLSTOY_URL = ("https://upload.wikimedia.org/wikipedia/commons/b/be/"
               "Leo_Tolstoy_1908_Portrait_%283x4_cropped%29.jpg")
#: a query URL rules.json maps to red-square.png (answers give the served picture's URL)
RED_SQUARE_URL = "https://images.example.com/shapes/red-square.png"
RECORDED_CBIR_ID = "4463870/96DyrJwvBwvRAPHPHt1h1Q9959"  # the rules' alias of the Tolstoy rule
IMAGE_INFO_KEYS = {"url", "format", "width", "height", "passage", "host", "pageTitle", "pageUrl"}
MAX_IMAGE_BYTES = 3 * 1024 * 1024


def patterned_png(seed: int = 0) -> bytes:
    """A busy picture no fixture rule covers: it gets generated results."""
    size = 64
    pixels = bytes(((x * 37 + y * 11 + seed * 101) ^ (x * y + seed)) % 256
                   for y in range(size) for x in range(size) for _ in range(3))
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), pixels).save(buf, "PNG")
    return buf.getvalue()


GENERATED = patterned_png()


# -- a small client for both transports ------------------------------------------------------
@dataclass
class Reply:
    transport: str
    code: int  # gRPC status code number, 0 for OK
    message: str = ""
    body: dict = field(default_factory=dict)  # REST JSON, or the gRPC message as protobuf JSON
    headers: dict = field(default_factory=dict)  # REST headers / gRPC initial metadata, lowercase
    http_status: int | None = None
    raw: bytes = b""  # REST body, or the serialized gRPC response
    status: status_pb2.Status | None = None  # REST error body / grpc-status-details-bin
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def images(self) -> list[dict]:
        return self.body.get("images", [])

    @property
    def urls(self) -> list[str]:
        return [i["url"] for i in self.images]

    @property
    def request_info_id(self) -> str:
        assert self.status is not None
        [detail] = self.status.details
        info = error_details_pb2.RequestInfo()
        assert detail.Unpack(info)
        return info.request_id


class Client:
    def __init__(self, running) -> None:
        self.running = running
        split = urlsplit(running.http)
        self.host, self.port = split.hostname, split.port
        self.channel = grpc.insecure_channel(running.grpc)
        self.stub = self.channel.unary_unary(METHOD, request_serializer=lambda b: b,
                                             response_deserializer=lambda b: b)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # REST ---------------------------------------------------------------------------------
    def http(self, method: str, path: str, body=b"", headers: dict | None = None,
             chunked: bool = False) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        elapsed = time.perf_counter() - started
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        reply = Reply("rest", 0, http_status=resp.status, headers=hdrs, raw=raw, elapsed=elapsed)
        assert hdrs.get("content-type", "").startswith("application/json"), (resp.status, raw[:200])
        reply.body = json.loads(raw)
        if resp.status != 200:
            reply.status = json_format.ParseDict(reply.body, status_pb2.Status())
            reply.code, reply.message = reply.status.code, reply.status.message
        return reply

    def rest(self, body: dict | bytes, auth: str | None = AUTH, headers: dict | None = None,
             path: str = PATH, method: str = "POST") -> Reply:
        hdrs = dict(headers or {})
        if auth is not None:
            hdrs["Authorization"] = auth
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http(method, path, payload, hdrs)

    # gRPC ---------------------------------------------------------------------------------
    def grpc(self, request: bytes, auth: str | None = AUTH, metadata=()) -> Reply:
        md = list(metadata) + ([("authorization", auth)] if auth is not None else [])
        started = time.perf_counter()
        try:
            raw, call = self.stub.with_call(request, metadata=md, timeout=60)
        except grpc.RpcError as exc:
            elapsed = time.perf_counter() - started
            reply = Reply("grpc", exc.code().value[0], exc.details() or "",
                          headers=dict(exc.initial_metadata() or ()), elapsed=elapsed)
            trailers = dict(exc.trailing_metadata() or ())
            assert "grpc-status-details-bin" in trailers, trailers
            reply.status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
            return reply
        elapsed = time.perf_counter() - started
        body = json_format.MessageToDict(RESPONSE.FromString(raw))
        return Reply("grpc", 0, body=body, headers=dict(call.initial_metadata() or ()), raw=raw,
                     elapsed=elapsed)

    # either -------------------------------------------------------------------------------
    def search(self, transport: str, auth: str | None = AUTH, headers: dict | None = None,
               **fields) -> Reply:
        """One SearchByImage call; ``fields`` use proto names and Python values."""
        if transport == "rest":
            body = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v
                    for k, v in fields.items()}
            return self.rest(body, auth=auth, headers=headers)
        return self.grpc(REQUEST(**fields).SerializeToString(), auth=auth,
                         metadata=list((headers or {}).items()))


@pytest.fixture(scope="module")
def client(server):
    with Client(server) as c:
        yield c


def assert_error(reply: Reply, code: grpc.StatusCode, http_status: int) -> None:
    number = code.value[0]
    assert reply.code == number, (reply.code, reply.message)
    assert reply.status is not None and reply.status.code == number
    assert reply.status.message == reply.message and reply.message
    assert reply.request_info_id == reply.headers["x-request-id"]
    if reply.transport == "rest":
        assert reply.http_status == http_status
        assert set(reply.body) == {"code", "message", "details"}
        assert reply.body["details"] == [{"@type": "type.googleapis.com/google.rpc.RequestInfo",
                                          "requestId": reply.headers["x-request-id"]}]


def invalid(reply: Reply) -> None:
    assert_error(reply, grpc.StatusCode.INVALID_ARGUMENT, 400)


def doc_urls(*ids: str, base: str = "") -> list[str]:
    """The picture URLs answered for catalog documents (the emulator's own ones at ``base``)."""
    return [catalog_url(i, base) for i in ids]


TOLSTOY_IDS = [f"tolstoy-{n:02d}" for n in range(1, 81)]


# -- success by url / data / id ---------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_by_data_answers_the_fixture_rule(client, transport):
    reply = client.search(transport, data=TOLSTOY)
    assert reply.ok, reply.message
    assert reply.urls == doc_urls(*TOLSTOY_IDS[:40])
    assert reply.body.get("page", "0") == "0"
    assert reply.body["maxPage"] == "1"  # 80 documents, 40 a page
    assert CBIR_ID.match(reply.body["id"])
    first = reply.images[0]
    doc = CATALOG["tolstoy-01"]
    assert first == {"url": doc["url"], "format": "IMAGE_FORMAT_JPEG", "width": "250",
                     "height": "331", "passage": doc["passage"], "host": doc["host"],
                     "pageTitle": doc["page_title"], "pageUrl": doc["page_url"]}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_by_url_of_a_fixture_image(client, transport):
    reply = client.search(transport, url=TOLSTOY_URL)
    assert reply.ok, reply.message
    assert reply.urls == doc_urls(*TOLSTOY_IDS[:40])
    assert reply.body["id"] == client.search(transport, data=TOLSTOY).body["id"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_by_url_of_an_unknown_image_gets_generated_results(client, transport):
    reply = client.search(transport, url="https://example.net/some/picture.jpg")
    assert reply.ok, reply.message
    assert len(reply.images) == 40
    assert reply.body["maxPage"] == "36"
    assert CBIR_ID.match(reply.body["id"])
    for image in reply.images:
        assert image.keys() == IMAGE_INFO_KEYS
        assert image["passage"].endswith(" ")
        assert image["format"] in {"IMAGE_FORMAT_JPEG", "IMAGE_FORMAT_PNG", "IMAGE_FORMAT_GIF"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_by_recorded_id_alias(client, transport):
    reply = client.search(transport, id=RECORDED_CBIR_ID, page=1)
    assert reply.ok, reply.message
    assert reply.urls == doc_urls(*TOLSTOY_IDS[40:])
    assert reply.body["id"] == RECORDED_CBIR_ID
    assert reply.body["page"] == "1"


# -- REST JSON mapping ---------------------------------------------------------------------
def test_rest_json_mapping(client):
    # no Content-Type at all, as the vendor's curl example
    reply = client.http("POST", PATH, json.dumps({"data": base64.b64encode(RED_SQUARE).decode()}),
                        {"Authorization": AUTH})
    assert reply.http_status == 200
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.body
    assert set(body) == {"images", "page", "maxPage", "id"}
    assert body["page"] == "0" and body["maxPage"] == "0"  # present although 0
    assert body["images"][0] == {
        "url": catalog_url("red-square", client.running.http), "format": "IMAGE_FORMAT_PNG",
        "width": "512", "height": "512",
        "passage": "A plain red square on a white background ", "host": "shapes.example.com",
        "pageTitle": "A red square", "pageUrl": "https://shapes.example.com/red/"}
    assert [i["format"] for i in body["images"]] == [
        "IMAGE_FORMAT_PNG", "IMAGE_FORMAT_GIF", "IMAGE_FORMAT_JPEG"]
    for image in body["images"]:
        assert image.keys() == IMAGE_INFO_KEYS
        assert isinstance(image["width"], str) and isinstance(image["height"], str)


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded",
                                          "text/plain", "application/json"])
def test_rest_needs_no_json_content_type(client, content_type):
    headers = {"Authorization": AUTH}
    if content_type:
        headers["Content-Type"] = content_type
    reply = client.http("POST", PATH, json.dumps({"url": RED_SQUARE_URL}).encode(), headers)
    assert reply.http_status == 200
    assert reply.urls == doc_urls("red-square", "gray-sketch", "adult-poster",
                                  base=client.running.http)


def test_rest_accepts_proto_and_camel_case_names(client):
    data = base64.b64encode(RED_SQUARE).decode()
    adult = catalog_url("adult-poster", client.running.http)
    for body in ({"data": data, "familyMode": "FAMILY_MODE_STRICT", "folderId": "f1"},
                 {"data": data, "family_mode": "FAMILY_MODE_STRICT", "folder_id": "f1"}):
        reply = client.rest(body)
        assert reply.http_status == 200, reply.body
        assert adult not in reply.urls and reply.urls, body
    # the proto name is really read, not ignored: an over-long folder_id is refused
    invalid(client.rest({"data": data, "folder_id": "f" * 51}))
    invalid(client.rest({"data": data, "folderId": "f" * 51}))


@pytest.mark.parametrize("page", [1, "1"])
def test_rest_page_as_number_or_string(client, page):
    reply = client.rest({"data": base64.b64encode(TOLSTOY).decode(), "page": page})
    assert reply.http_status == 200, reply.body
    assert reply.body["page"] == "1" and reply.body["maxPage"] == "1"
    assert reply.urls == doc_urls(*TOLSTOY_IDS[40:])


def test_page_zero_absent_on_the_grpc_wire_present_in_rest(client):
    from emulator.yandex._decoding import top_level_fields
    grpc_reply = client.search("grpc", data=RED_SQUARE)
    assert grpc_reply.ok and grpc_reply.images
    fields = top_level_fields(grpc_reply.raw)
    assert 1 in fields and 4 in fields  # images, id
    assert 2 not in fields and 3 not in fields  # page 0, max_page 0: proto3 defaults
    rest_reply = client.search("rest", data=RED_SQUARE)
    assert rest_reply.body["page"] == "0" and rest_reply.body["maxPage"] == "0"
    assert rest_reply.images == grpc_reply.images
    assert rest_reply.body["id"] == grpc_reply.body["id"]


# -- paging -----------------------------------------------------------------------------------
GENERATED_URL = "https://example.org/pictures/paging.jpg"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_generated_paging(client, transport):
    first = client.search(transport, url=GENERATED_URL)
    second = client.search(transport, url=GENERATED_URL, page=1)
    last = client.search(transport, url=GENERATED_URL, page=36)
    after = client.search(transport, url=GENERATED_URL, page=37)
    far = client.search(transport, url=GENERATED_URL, page=1000)
    for reply in (first, second, last, after, far):
        assert reply.ok, reply.message
        assert reply.body["maxPage"] == "36"
        assert reply.body["id"] == first.body["id"]
    assert len(first.images) == len(second.images) == len(last.images) == 40
    assert not set(first.urls) & set(second.urls)
    assert after.images == [] and far.images == []
    assert after.body["page"] == "37" and far.body["page"] == "1000"
    assert last.body["page"] == "36"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fixture_rule_paging(client, transport):
    pages = [client.search(transport, data=TOLSTOY, page=p) for p in range(3)]
    assert all(p.ok and p.body["maxPage"] == "1" for p in pages)
    assert pages[0].urls + pages[1].urls == doc_urls(*TOLSTOY_IDS)
    assert pages[2].images == []


# -- CBIR ids -------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cbir_id_shape_and_stability(client, transport):
    a = client.search(transport, data=GENERATED)
    b = client.search(transport, data=GENERATED, page=3)
    other = client.search(transport, data=patterned_png(1))
    assert a.ok and b.ok and other.ok
    assert a.body["maxPage"] == "36"  # no rule covers it: generated
    for reply in (a, b, other):
        assert CBIR_ID.match(reply.body["id"]), reply.body["id"]
    assert a.body["id"] == b.body["id"]
    assert other.body["id"] != a.body["id"]
    # a fixture URL stands for its image file: the same image, the same id
    by_url = client.search(transport, url=RED_SQUARE_URL)
    by_data = client.search(transport, data=RED_SQUARE)
    assert by_url.body["id"] == by_data.body["id"]
    assert CBIR_ID.match(by_url.body["id"])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("image", [TOLSTOY, GENERATED], ids=["rule", "generated"])
def test_paging_by_id_equals_paging_by_data(client, transport, image):
    cbir_id = client.search(transport, data=image).body["id"]
    for page in (0, 1, 3):
        by_data = client.search(transport, data=image, page=page)
        by_id = client.search(transport, id=cbir_id, page=page)
        assert by_data.ok and by_id.ok
        assert by_id.images == by_data.images
        assert by_id.body["maxPage"] == by_data.body["maxPage"]
        assert by_id.body["id"] == cbir_id  # echoed
    assert client.search(transport, id=cbir_id, page=1).images  # not trivially empty


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_fresh_emulator_accepts_an_id_issued_by_another(client, transport):
    first = client.search(transport, data=GENERATED, page=2)
    with start() as other_server, Client(other_server) as other:
        by_id = other.search(transport, id=first.body["id"], page=2)
        assert by_id.ok, by_id.message
        # the same documents; their pictures are served by each emulator at its own address
        assert by_id.images and relative(by_id.images, other_server.http) == \
            relative(first.images, client.running.http)
        assert by_id.body["id"] == first.body["id"]


def relative(images: list[dict], base: str) -> list[dict]:
    return [{**i, "url": i["url"].removeprefix(base)} for i in images]


def tampered_ids(cbir_id: str) -> list[str]:
    prefix, rest = cbir_id.split("/")
    middle, suffix = rest[:22], rest[22:]
    flip = dict(zip("0123456789", "1234567890", strict=True))
    def swap_char(s, i):
        return s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]
    return [
        f"{prefix}/{swap_char(middle, 5)}{suffix}",  # the key
        f"{prefix}/{middle}{suffix[:-1]}{flip[suffix[-1]]}",  # the checksum
        f"{flip[prefix[0]] if prefix[0] != '9' else '1'}{prefix[1:]}/{middle}{suffix}",
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tampered_id_is_not_found(client, transport):
    cbir_id = client.search(transport, data=GENERATED).body["id"]
    for bad in tampered_ids(cbir_id):
        assert CBIR_ID.match(bad) and bad != cbir_id
        reply = client.search(transport, id=bad)
        assert_error(reply, grpc.StatusCode.NOT_FOUND, 404)
    assert_error(client.search(transport, id="not-an-id"), grpc.StatusCode.NOT_FOUND, 404)


# -- determinism and perceptual matching ------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_same_generated_request_same_body(client, transport):
    one = client.search(transport, data=GENERATED, page=5)
    two = client.search(transport, data=GENERATED, page=5)
    assert one.ok and one.images
    assert one.raw == two.raw
    other_page = client.search(transport, data=GENERATED, page=6)
    assert other_page.raw != one.raw


def resized_tolstoy_png() -> bytes:
    with Image.open(IMAGES / "tolstoy-portrait.jpg") as img:
        small = img.convert("RGB").resize((150, 200), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_resized_reencoded_copy_matches_its_rule(client, transport):
    copy = resized_tolstoy_png()
    assert copy != TOLSTOY
    original = client.search(transport, data=TOLSTOY)
    reply = client.search(transport, data=copy)
    assert reply.ok, reply.message
    assert reply.images[0] == original.images[0]
    assert reply.urls[0] == CATALOG["tolstoy-01"]["url"]
    assert reply.body["id"] == original.body["id"]  # pages the same list


# -- site and family mode -----------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_site_restricts_generated_results(client, transport):
    reply = client.search(transport, data=GENERATED, site="example.org")
    assert reply.ok and len(reply.images) == 40
    for image in reply.images:
        assert image["host"] == "example.org"
        assert urlsplit(image["pageUrl"]).hostname == "example.org"
        assert image["url"].startswith(client.running.http + "/_emulator/images/")
    unrestricted = client.search(transport, data=GENERATED)
    assert any(i["host"] != "example.org" for i in unrestricted.images)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_site_restricts_fixture_results(client, transport):
    reply = client.search(transport, data=TOLSTOY, site="wikipedia.org")
    assert reply.ok and reply.images
    wiki = [i for i in TOLSTOY_IDS if CATALOG[i]["host"].endswith("wikipedia.org")]
    assert reply.urls == doc_urls(*wiki)[:40]
    assert all(i["host"].endswith(".wikipedia.org") for i in reply.images)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_family_mode_strict_drops_unsafe_documents(client, transport):
    adult = catalog_url("adult-poster", client.running.http)
    default = client.search(transport, data=RED_SQUARE)
    moderate = client.search(transport, data=RED_SQUARE, family_mode="FAMILY_MODE_MODERATE")
    strict = client.search(transport, data=RED_SQUARE, family_mode="FAMILY_MODE_STRICT")
    base = client.running.http
    assert default.urls == doc_urls("red-square", "gray-sketch", "adult-poster", base=base)
    assert moderate.urls == default.urls
    assert strict.urls == doc_urls("red-square", "gray-sketch", base=base)
    assert adult not in strict.urls


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_missing_image_source(client, transport):
    invalid(client.search(transport, folder_id="f1"))
    invalid(client.search(transport, page=1))


def test_rest_two_image_sources(client):
    data = base64.b64encode(RED_SQUARE).decode()
    invalid(client.rest({"url": RED_SQUARE_URL, "data": data}))
    invalid(client.rest({"id": RECORDED_CBIR_ID, "url": RED_SQUARE_URL}))


def test_grpc_two_image_sources_on_the_wire(client):
    raw = (REQUEST(url=RED_SQUARE_URL).SerializeToString()
           + REQUEST(data=RED_SQUARE).SerializeToString())
    assert REQUEST.FromString(raw).WhichOneof("image") == "data"  # protobuf would keep the last
    invalid(client.grpc(raw))
    raw = REQUEST(id=RECORDED_CBIR_ID).SerializeToString() + REQUEST(url="u").SerializeToString()
    invalid(client.grpc(raw))


def test_grpc_undecodable_message(client):
    invalid(client.grpc(b"\xff\xff\xff"))


@pytest.mark.parametrize("data", ["!!!!", "abc", "abcde", "AAAA!", "ab+_"])
def test_rest_bad_base64(client, data):
    reply = client.rest({"data": data})
    invalid(reply)


def test_rest_bad_base64_names_the_encoding(client):
    for data in ("!!!!", "abcde"):
        reply = client.rest({"data": data})
        invalid(reply)
        assert "base64" in reply.message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_data_over_3_mib(client, transport):
    # a decodable PNG, padded: only the size can make it invalid
    data = RED_SQUARE + b"\0" * (MAX_IMAGE_BYTES + 1 - len(RED_SQUARE))
    assert len(data) == 3 * 1024 * 1024 + 1
    reply = client.search(transport, data=data)
    invalid(reply)
    assert "data" in reply.message
    invalid(client.search(transport, data=b"\0" * (MAX_IMAGE_BYTES + 1)))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_data_of_exactly_3_mib_is_not_refused_for_size(client, transport):
    # a valid PNG padded to exactly 3 MiB (PNG decoders ignore trailing bytes)
    data = RED_SQUARE + b"\0" * (MAX_IMAGE_BYTES - len(RED_SQUARE))
    reply = client.search(transport, data=data)
    assert reply.ok, reply.message


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_rest_body_over_8_mib_is_a_json_invalid_argument(client, chunked):
    size = 8 * 1024 * 1024 + 1
    if chunked:
        def body():
            yield b'{"data": "'
            for _ in range(8):
                yield b"A" * (1024 * 1024)
            yield b'AAAA"}'
    else:
        body = lambda: b'{"data": "' + b"A" * (size - 12) + b'"}'  # noqa: E731
    reply = client.http("POST", PATH, body(), {"Authorization": AUTH}, chunked=chunked)
    invalid(reply)
    assert "x-server-trace-id" in reply.headers


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bytes_that_are_not_an_image(client, transport):
    invalid(client.search(transport, data=b"this is not an image, just text"))
    invalid(client.search(transport, data=RED_SQUARE[:40]))  # a truncated PNG


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_empty_image_source(client, transport):
    invalid(client.search(transport, url=""))
    invalid(client.search(transport, data=b""))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_negative_page(client, transport):
    invalid(client.search(transport, data=RED_SQUARE, page=-1))
    invalid(client.search(transport, id=RECORDED_CBIR_ID, page=-1))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_length_limits(client, transport):
    invalid(client.search(transport, url=RED_SQUARE_URL, site="s" * 1025))
    invalid(client.search(transport, url=RED_SQUARE_URL, folder_id="f" * 51))
    invalid(client.search(transport, url="https://example.com/" + "a" * 1005))
    # at the limit: accepted
    assert client.search(transport, url=RED_SQUARE_URL, site="s" * 1024).ok
    assert client.search(transport, url=RED_SQUARE_URL, folder_id="f" * 50).ok
    assert client.search(transport, url="https://example.com/" + "a" * 1004).ok


@pytest.mark.parametrize("body", [
    b'{"url": "https://example.com/a.jpg", "familyMode": "FAMILY_MODE_BOGUS"}',
    b'{"url": "https://example.com/a.jpg", "bogusField": 1}',
    b'{"url": "https://example.com/a.jpg",',
    b'[{"url": "https://example.com/a.jpg"}]',
    b'"https://example.com/a.jpg"',
    b'{"url": "https://example.com/a.jpg", "page": "one"}',
    b'\xff\xfe{}',
], ids=["unknown-enum", "unknown-field", "malformed", "array", "string", "bad-int64", "not-utf8"])
def test_rest_undecodable_json(client, body):
    invalid(client.rest(body))


# -- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("auth", [None, "Basic x", "Api-Key", "Bearer ", "test-key", "Token t1.x"])
def test_unauthenticated(client, transport, auth):
    reply = client.search(transport, auth=auth, url=RED_SQUARE_URL)
    assert_error(reply, grpc.StatusCode.UNAUTHENTICATED, 401)
    assert reply.message == "Token is invalid or has expired."


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("auth", ["api-key X", "Api-Key X", "API-KEY X", "Bearer t1.9euelZq",
                                  "bearer t1.abc"])
def test_accepted_credentials(client, transport, auth):
    reply = client.search(transport, auth=auth, url=RED_SQUARE_URL)
    assert reply.ok, reply.message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_credentials_are_checked_before_the_request_is_decoded(client, transport):
    """Both transports must agree: a call without credentials is UNAUTHENTICATED, whatever
    it carries (the REST side checks credentials before parsing the body)."""
    if transport == "rest":
        reply = client.rest({"url": RED_SQUARE_URL, "data": "AAAA"}, auth=None)
    else:
        reply = client.grpc(REQUEST(url=RED_SQUARE_URL).SerializeToString()
                            + REQUEST(data=b"AAAA").SerializeToString(), auth=None)
    assert_error(reply, grpc.StatusCode.UNAUTHENTICATED, 401)


# -- REST routing errors and headers -----------------------------------------------------------
@pytest.mark.parametrize("method,path,status,code", [
    ("POST", "/v2/image/nope", 404, grpc.StatusCode.NOT_FOUND),
    ("GET", "/v1/whatever", 404, grpc.StatusCode.NOT_FOUND),
    ("GET", PATH, 405, None),
    ("PUT", PATH, 405, None),
])
def test_rest_unrouted_requests_get_json_status(client, method, path, status, code):
    reply = client.http(method, path, b"", {"Authorization": AUTH, "x-client-request-id": "c-1"})
    assert reply.http_status == status
    assert set(reply.body) == {"code", "message", "details"}
    assert isinstance(reply.body["code"], int) and reply.body["code"] != 0
    if code is not None:
        assert reply.body["code"] == code.value[0]
    assert reply.body["message"]
    assert reply.body["details"] == [{"@type": "type.googleapis.com/google.rpc.RequestInfo",
                                      "requestId": reply.headers["x-request-id"]}]
    assert reply.headers["x-server-trace-id"]
    assert reply.headers["x-client-request-id"] == "c-1"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", ["ok", "invalid", "unauthenticated", "not-found", "unavailable"])
def test_every_response_has_request_ids(client, transport, case):
    fields = {"ok": {"url": RED_SQUARE_URL}, "invalid": {"page": 0},
              "unauthenticated": {"url": RED_SQUARE_URL}, "not-found": {"id": "1/x"},
              "unavailable": {"data": (IMAGES / "unavailable.png").read_bytes()}}[case]
    auth = None if case == "unauthenticated" else AUTH
    plain = client.search(transport, auth=auth, **fields)
    assert (plain.code == 0) == (case == "ok")
    uuid_shape = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    assert uuid_shape.match(plain.headers["x-request-id"])
    assert plain.headers["x-server-trace-id"]
    assert "x-client-request-id" not in plain.headers
    tagged = client.search(transport, auth=auth, headers={"x-client-request-id": "my-id-42"},
                           **fields)
    assert tagged.headers["x-client-request-id"] == "my-id-42"
    assert tagged.headers["x-request-id"] and tagged.headers["x-server-trace-id"]
    if not tagged.ok:
        assert tagged.request_info_id == tagged.headers["x-request-id"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fresh_client_request_ids_give_fresh_request_ids(client, transport):
    a = client.search(transport, headers={"x-client-request-id": "a"}, url=RED_SQUARE_URL)
    b = client.search(transport, headers={"x-client-request-id": "b"}, url=RED_SQUARE_URL)
    assert a.headers["x-request-id"] != b.headers["x-request-id"]


# -- fault rules -------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unavailable_fault_rule(client, transport):
    reply = client.search(transport, data=(IMAGES / "unavailable.png").read_bytes())
    assert_error(reply, grpc.StatusCode.UNAVAILABLE, 503)
    assert reply.message == "Service temporarily unavailable"


def test_slow_rule_answers_after_its_delay(client):
    """Both transports at once, so the suite waits 1.5 s once."""
    slow = (IMAGES / "slow.png").read_bytes()
    replies: dict[str, Reply] = {}

    def run(transport):
        replies[transport] = client.search(transport, data=slow)

    threads = [threading.Thread(target=run, args=(t,)) for t in TRANSPORTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for transport in TRANSPORTS:
        reply = replies[transport]
        assert reply.ok, reply.message
        assert reply.elapsed >= 1.5, (transport, reply.elapsed)
        assert reply.urls == doc_urls("red-square", base=client.running.http)


def test_fast_requests_are_not_delayed(client):
    """Answered before the slow rule's 1.5 s delay could have passed: not waited (a fixed
    1 s bound measured a busy machine, not the emulator)."""
    reply = client.search("rest", data=RED_SQUARE)
    assert reply.ok and reply.elapsed < 1.5, reply.elapsed


# -- a schema-valid catalog document must be servable ------------------------------------------
@pytest.fixture(scope="module")
def webp_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("webp") / "fixtures"
    shutil.copytree(FIXTURES, directory)
    rules = json.loads((directory / "rules.json").read_text())
    for rule in rules["image_rules"]:
        if rule.get("image") == "red-square.png":
            rule["results"] = ["red-square", "yandex-cloud-16"]  # yandex-cloud-16 is webp
    (directory / "rules.json").write_text(json.dumps(rules))
    with start(directory) as running, Client(running) as c:
        yield c


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_webp_catalog_document_does_not_break_search_by_image(webp_server, transport):
    assert CATALOG["yandex-cloud-16"]["format"] == "webp"
    reply = webp_server.search(transport, data=RED_SQUARE)
    assert reply.ok, (reply.code, reply.message)
    assert reply.urls == doc_urls("red-square", "yandex-cloud-16", base=webp_server.running.http)
    # the v2 enum has no webp: UNSPECIFIED (0), which protobuf's JSON mapping leaves out
    webp = reply.images[1]
    assert webp.get("format", "IMAGE_FORMAT_UNSPECIFIED") == "IMAGE_FORMAT_UNSPECIFIED"
    assert webp["width"] == "88" and webp["height"] == "88"


# -- REST writes every field, as grpc-gateway's default marshaller does -----------------------
def test_rest_empty_page_still_has_an_images_list(client):
    reply = client.search("rest", data=RED_SQUARE, page=5)
    assert reply.ok
    assert reply.body["images"] == []
    assert reply.body["page"] == "5" and reply.body["maxPage"] == "0"


def test_rest_writes_an_unspecified_format(webp_server):
    reply = webp_server.search("rest", data=RED_SQUARE)
    assert reply.images[1]["format"] == "IMAGE_FORMAT_UNSPECIFIED"
    assert set(reply.images[1]) == IMAGE_INFO_KEYS


def test_rest_base64_wrapped_in_lines_is_the_same_image(client):
    wrapped = base64.encodebytes(RED_SQUARE).decode()  # 76-column lines, as `base64` writes
    assert "\n" in wrapped
    reply = client.rest({"data": wrapped})
    assert reply.ok, reply.message
    assert reply.body == client.search("rest", data=RED_SQUARE).body


def test_rest_credentials_are_checked_before_an_oversized_body(client):
    reply = client.rest(b"{" + b" " * (9 * 1024 * 1024) + b"}", auth=None)
    assert_error(reply, grpc.StatusCode.UNAUTHENTICATED, 401)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_rule_with_a_recorded_id_issues_that_id(client, transport):
    for fields in ({"data": TOLSTOY}, {"url": TOLSTOY_URL}):
        reply = client.search(transport, **fields)
        assert reply.ok
        assert reply.body["id"] == RECORDED_CBIR_ID


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_image_too_large_to_decode_is_invalid_argument(client, transport):
    """A small file that would decode whole to more than 64 MiB (4200x4200 at 4 bytes a
    pixel): GIF decodes whole, so it is refused; the same PNG is read in bands."""
    buf = io.BytesIO()
    Image.new("L", (4200, 4200)).save(buf, "GIF")
    assert len(buf.getvalue()) < 100_000
    reply = client.search(transport, data=buf.getvalue())
    invalid(reply)
    assert "could not be decoded: the image is too large to decode" in reply.message
    buf = io.BytesIO()
    Image.new("L", (4200, 4200)).save(buf, "PNG")
    assert len(buf.getvalue()) < 100_000
    reply = client.search(transport, data=buf.getvalue())
    assert reply.code == 0, reply.message
