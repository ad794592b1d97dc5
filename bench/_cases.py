"""What the harness sends: each vendor operation's request, and the fixtures that make an
image request a fixture hit.

A "fixture hit" is an image a rule of the fixture directory names: the benchmark copies
the built-in fixtures, adds its own images with one rule each (a full page of 40 catalog
documents, as the recorded live call answers) and starts the emulator on that copy.
"""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

from ._images import BenchImage

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

FOLDER = "b1gbenchfolder"
YANDEX_AUTH = ("authorization", "Api-Key bench-key")
GRPC_SEARCH_BY_IMAGE = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
#: The Doofinder engine and key of the built-in fixtures.
DOOFINDER_HASHID = "d8fdeab7fce96a19d3fc7b0ca7a1e98b"
DOOFINDER_AUTH = ("authorization", "Token eu1-ab46030xza33960aac71a10248489b6c26172f07")
#: The query a built-in rule answers with the recorded live document (20 images).
XML_TEXT = "yandex cloud"
#: What every bench image rule answers: the first page of the recorded live call.
RULE_RESULTS = [f"tolstoy-{n:02d}" for n in range(1, 41)]
#: A string only a fixture hit's answer holds (the first document of the rule's page, or of
#: the recorded yandexsearch document), to tell a hit from generated results.
IMAGE_HIT_MARK = b"Leo_Tolstoy_1908_Portrait_%283x4_cropped%29.jpg/250px-"
XML_HIT_MARK = b"1200px-Yandex_Cloud_wordmark.svg.png"


#: Where a request that ``varies`` takes a new number on every send: the first occurrence
#: of this in its path or body becomes the send's number, 16 digits.
VARY = "0" * 16


@dataclass(frozen=True)
class Request:
    """One request as every load generator sends it; ``body`` of a gRPC request is the
    serialized message (:meth:`grpc_frame` adds gRPC's length prefix)."""

    transport: str  # "http" or "grpc"
    method: str  # HTTP method; "POST" for gRPC
    path: str  # path and query; the full method name for gRPC
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    varies: bool = False  # VARY in the path or body is a new number on every send

    def grpc_frame(self) -> bytes:
        return b"\x00" + len(self.body).to_bytes(4, "big") + self.body

    def numbered(self, n: int) -> tuple[str, bytes]:
        """The path and body of send number ``n`` (as they are, unless the request varies)."""
        if not self.varies:
            return self.path, self.body
        number = f"{n:016d}"
        if VARY in self.path:
            return self.path.replace(VARY, number, 1), self.body
        return self.path, self.body.replace(VARY.encode(), number.encode(), 1)


@dataclass(frozen=True)
class Case:
    """One operation with one image (or none): a row of the report."""

    key: str  # e.g. "rest-100k"
    operation: str  # e.g. "Yandex v2 REST SearchByImage"
    image: BenchImage | None
    request: Request
    hit_mark: bytes | None  # what a fixture hit answers; None: any 200 is a hit

    @property
    def label(self) -> str:
        return f"{self.operation}, {self.image.label} image" if self.image else self.operation


def _b64(image: BenchImage) -> str:
    return base64.b64encode(image.data).decode()


def rest_search_by_image(image: BenchImage) -> Request:
    body = json.dumps({"folderId": FOLDER, "data": _b64(image)}).encode()
    return Request("http", "POST", "/v2/image/search_by_image",
                   (YANDEX_AUTH, ("content-type", "application/json")), body)


def grpc_search_by_image(image: BenchImage) -> Request:
    from emulator.yandex import _protos

    message = _protos.load().ImageSearchByImageRequest(folder_id=FOLDER, data=image.data)
    return Request("grpc", "POST", GRPC_SEARCH_BY_IMAGE,
                   (YANDEX_AUTH, ("content-type", "application/grpc"), ("te", "trailers")),
                   message.SerializeToString())


def xml_search(text: str = XML_TEXT) -> Request:
    query = urlencode({"folderid": FOLDER, "apikey": "bench-key", "text": text,
                       "groupby": "attr=ii.groups-on-page=20", "p": "0"})
    return Request("http", "GET", f"/images-xml?{query}", ())


def doofinder_image_search(image: BenchImage) -> Request:
    body = json.dumps({"image": _b64(image)}).encode()
    return Request("http", "POST", f"/6/{DOOFINDER_HASHID}/_image_search",
                   (DOOFINDER_AUTH, ("content-type", "application/json")), body)


def load_cases(images: list[BenchImage]) -> list[Case]:
    """Every vendor operation: the image ones once per image, v1 XML (text only) once."""
    cases = []
    for image in images:
        suffix = image.name.rsplit(".", 1)[0].removeprefix("bench-")
        cases += [Case(f"rest-{suffix}", "Yandex v2 REST SearchByImage", image,
                       rest_search_by_image(image), IMAGE_HIT_MARK),
                  Case(f"grpc-{suffix}", "Yandex v2 gRPC SearchByImage", image,
                       grpc_search_by_image(image), IMAGE_HIT_MARK)]
    cases.append(Case("xml", "Yandex v1 XML /images-xml", None, xml_search(), XML_HIT_MARK))
    for image in images:
        suffix = image.name.rsplit(".", 1)[0].removeprefix("bench-")
        cases.append(Case(f"doofinder-{suffix}", "Doofinder v6 _image_search", image,
                          doofinder_image_search(image), None))
    return cases


def varying_photo(image: BenchImage) -> BenchImage:
    """The photo with a JPEG comment right after its start marker whose 12 bytes are, in
    base64, :data:`VARY` (byte 6, so base64 character 8): a sender that writes a new number
    there sends a new file (a new SHA-256, decoded and fingerprinted again) of the same
    pixels, as when one photo is uploaded again and again."""
    comment = base64.b64decode(VARY)
    data = b"\xff\xd8\xff\xfe" + (2 + len(comment)).to_bytes(2, "big") + comment + image.data[2:]
    assert base64.b64encode(data)[8:24] == VARY.encode()
    return BenchImage(image.name.replace(".jpg", "-varying.jpg"), data)


def miss_cases(image: BenchImage) -> list[Case]:
    """A new request every time, as a load test of many users sends: nothing is repeated,
    so no answer is kept to be replayed."""
    photo = varying_photo(image)
    return [
        Case("miss-rest-photo", "Yandex v2 REST SearchByImage, a new file of one photo", photo,
             replace(rest_search_by_image(photo), varies=True), None),
        Case("miss-rest-url", "Yandex v2 REST SearchByImage, a new URL (generated results)",
             None, Request("http", "POST", "/v2/image/search_by_image",
                           (YANDEX_AUTH, ("content-type", "application/json")),
                           json.dumps({"folderId": FOLDER,
                                       "url": f"https://bench.example/{VARY}.jpg"}).encode(),
                           varies=True), None),
        Case("miss-xml", "Yandex v1 XML /images-xml, a new text (generated results)", None,
             replace(xml_search(f"bench miss {VARY}"), varies=True), None),
        Case("miss-doofinder-photo", "Doofinder v6 _image_search, a new file of one photo",
             photo, replace(doofinder_image_search(photo), varies=True), None),
    ]


def write_fixtures(target: Path, hits: list[BenchImage]) -> Path:
    """The built-in fixtures plus one rule for each of ``hits``."""
    shutil.copytree(FIXTURES, target)
    for image in hits:
        (target / "images" / image.name).write_bytes(image.data)
    rules_file = target / "rules.json"
    rules = json.loads(rules_file.read_text())
    rules["image_rules"] += [{"name": f"bench {image.name}", "image": image.name,
                              "results": RULE_RESULTS} for image in hits]
    rules_file.write_text(json.dumps(rules, indent=1))
    return target
