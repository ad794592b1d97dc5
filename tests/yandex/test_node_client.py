"""A foreign gRPC client: the Yandex Cloud Node SDK (``@yandex-cloud/nodejs-sdk``) over
``@grpc/grpc-js``, aimed at a running emulator.

``tests/node/search.js`` runs SearchByImage by data, URL and CBIR id (and an unknown id) and
Search twice: through the SDK's ``Session`` on gRPC over TLS (the emulator's certificate as its
root, an IAM token as ``Bearer``), and through the SDK's ``ImageSearchServiceClient`` on a
plaintext grpc-js channel. It prints what the SDK decoded; this test asserts those fields, and
that they equal what the emulator's own protos decode from the same requests in Python.

Needs ``node`` and ``npm ci --prefix tests/node`` (``.ci/run`` does it); skipped otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from lxml import etree

from support.server import FIXTURES, ROOT, Running, catalog_url, start
from emulator.yandex import _protos
from support.yandexfacts import CBIR_ID, TOLSTOY_ALIAS, TOLSTOY_FIRST_URL, TOLSTOY_URL, UNKNOWN_ID

NODE_DIR = ROOT / "tests" / "node"
SCRIPT = NODE_DIR / "search.js"
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(not (NODE_DIR / "node_modules").is_dir(),
                       reason="tests/node/node_modules is absent: run `npm ci --prefix tests/node`"),
]

PROTOS = _protos.load()
SERVICE = "/yandex.cloud.searchapi.v2.ImageSearchService"
RED_SQUARE = FIXTURES / "images" / "red-square.png"
FOLDER = "b1gnodefolder"
CLIENTS = ("session", "grpcjs")
NODE_TIMEOUT_S = 90
CALL_TIMEOUT_MS = 15_000
CATALOG = {d["id"]: d for d in json.loads((FIXTURES / "catalog.json").read_text())["documents"]}


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Running]:
    """The emulator with its TLS ports on (a generated self-signed certificate)."""
    with start(tls=True, https_port=0, grpc_tls_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def node_results(tls_server: Running) -> dict[str, Any]:
    config = {
        "target": tls_server.grpc, "tlsTarget": f"127.0.0.1:{tls_server.emulator.grpc_tls_port}",
        "rootCert": str(tls_server.emulator.certificate), "image": str(RED_SQUARE),
        "url": TOLSTOY_URL, "alias": TOLSTOY_ALIAS, "unknownId": UNKNOWN_ID,
        "folderId": FOLDER, "timeoutMs": CALL_TIMEOUT_MS,
    }
    proc = subprocess.run([str(NODE), str(SCRIPT), json.dumps(config)], capture_output=True,
                          text=True, timeout=NODE_TIMEOUT_S, cwd=NODE_DIR)
    assert proc.returncode == 0, f"node client failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"node client printed nothing:\n{proc.stderr}"
    return json.loads(lines[-1])


def python_by_image(running: Running, **fields: Any) -> dict[str, Any]:
    """The same request through the emulator's own protos, in the Node script's field names."""
    with grpc.insecure_channel(running.grpc) as channel:
        call = channel.unary_unary(f"{SERVICE}/SearchByImage",
                                   request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=PROTOS.ImageSearchByImageResponse.FromString)
        reply = call(PROTOS.ImageSearchByImageRequest(folder_id=FOLDER, **fields),
                     metadata=(("authorization", "Api-Key k"),), timeout=30)
    names = PROTOS.ImageSpec.ImageFormat
    return {"page": reply.page, "maxPage": reply.max_page, "id": reply.id, "images": [
        {"url": i.url, "format": i.format, "formatName": names.Name(i.format), "width": i.width,
         "height": i.height, "passage": i.passage, "host": i.host, "pageTitle": i.page_title,
         "pageUrl": i.page_url, "widthType": "number"} for i in reply.images]}


def ok(results: dict[str, Any], client: str, name: str) -> Any:
    entry = results[client][name]
    assert "ok" in entry, f"{client} {name}: {entry.get('error')}"
    return entry["ok"]


@pytest.mark.parametrize("client", CLIENTS)
def test_node_search_by_image_data(tls_server, node_results, client):
    r = ok(node_results, client, "byData")
    assert r["page"] == 0 and r["maxPage"] == 0 and CBIR_ID.match(r["id"])
    assert len(r["images"]) == 3
    first, red = r["images"][0], CATALOG["red-square"]
    assert first == {
        "url": catalog_url("red-square", tls_server.http), "format": 3,
        "formatName": "IMAGE_FORMAT_PNG", "width": red["width"], "height": red["height"],
        "passage": red["passage"], "host": "shapes.example.com", "pageTitle": red["page_title"],
        "pageUrl": red["page_url"], "widthType": "number",  # int64 decoded to a JS number
    }
    assert r == python_by_image(tls_server, data=RED_SQUARE.read_bytes())


@pytest.mark.parametrize("client", CLIENTS)
def test_node_search_by_image_url(tls_server, node_results, client):
    r = ok(node_results, client, "byUrl")
    assert r["page"] == 0 and len(r["images"]) == 40 and CBIR_ID.match(r["id"])
    assert r["maxPage"] >= 1
    first = r["images"][0]
    assert first["url"] == TOLSTOY_FIRST_URL and first["formatName"] == "IMAGE_FORMAT_JPEG"
    assert first["host"] == "en.wikipedia.org" and first["pageTitle"] == "Leo Tolstoy - Wikipedia"
    for image in r["images"]:
        assert image["width"] > 0 and image["height"] > 0 and image["passage"].endswith(" ")
        assert image["host"] == urlsplit(image["pageUrl"]).hostname
    assert r == python_by_image(tls_server, url=TOLSTOY_URL)


@pytest.mark.parametrize("client", CLIENTS)
def test_node_search_by_cbir_id(tls_server, node_results, client):
    alias = ok(node_results, client, "byAlias")
    assert alias["page"] == 1 and alias["id"] == TOLSTOY_ALIAS and len(alias["images"]) == 40
    assert alias == python_by_image(tls_server, id=TOLSTOY_ALIAS, page=1)
    # the id an answer by URL gave pages the same list: page 1 by that id is page 1 by URL
    by_url = ok(node_results, client, "byUrl")
    page1 = ok(node_results, client, "byUrlIdPage1")
    assert page1["id"] == by_url["id"] and page1["page"] == 1
    assert page1["images"] == alias["images"]
    assert not {i["url"] for i in page1["images"]} & {i["url"] for i in by_url["images"]}
    # and by the id an answer by data gave: the same first page again
    by_data = ok(node_results, client, "byData")
    assert ok(node_results, client, "byDataId") == by_data


def unknown_id_error(results: dict[str, Any], client: str) -> dict[str, Any]:
    entry = results[client]["byUnknownId"]
    assert "error" in entry, f"{client}: expected NOT_FOUND, got {entry}"
    return entry["error"]


def test_node_grpcjs_unknown_cbir_id_is_not_found(node_results):
    e = unknown_id_error(node_results, "grpcjs")
    assert e["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert e["details"] == f"Image with id {UNKNOWN_ID} not found"


def test_node_session_unknown_cbir_id_is_the_sdks_api_error(node_results):
    """The SDK's Session raises its own ApiError: nice-grpc's message (path, status name,
    details) and the response headers, whose x-request-id it offers for support tickets."""
    e = unknown_id_error(node_results, "session")
    assert e["name"] == "ApiError"
    assert e["message"] == (f"{SERVICE}/SearchByImage NOT_FOUND: "
                            f"{unknown_id_error(node_results, 'grpcjs')['details']}")
    assert re.fullmatch(r"[0-9a-f-]{36}", e["requestId"])


def xml_docs(raw: str) -> list[dict[str, str | None]]:
    root = etree.fromstring(raw.encode("utf-8"))
    assert root.tag == "yandexsearch" and root.find("response/error") is None
    return [{"url": d.findtext("url"), "domain": d.findtext("domain"),
             "width": d.findtext("image-properties/original-width")}
            for d in root.iterfind("response/results/grouping/group/doc")]


@pytest.mark.parametrize("client", CLIENTS)
def test_node_search(node_results, client):
    r = ok(node_results, client, "search")
    assert r["rawDataIsBuffer"]
    assert r["rawData"].startswith('<?xml version="1.0" encoding="utf-8"?>')
    got = xml_docs(r["rawData"])
    assert len(got) == 20
    assert got[0] == {"url": CATALOG["yandex-cloud-01"]["url"], "domain": "upload.wikimedia.org",
                      "width": str(CATALOG["yandex-cloud-01"]["width"])}


@pytest.mark.parametrize("client", CLIENTS)
def test_node_search_with_site(tls_server, node_results, client):
    got = xml_docs(ok(node_results, client, "searchSite")["rawData"])
    assert len(got) == 4
    for d in got:
        host = urlsplit(d["url"]).hostname
        assert d["domain"] == host and host is not None and host.endswith(".example.com")
    assert got[0]["url"] == "https://shapes.example.com" + catalog_url("red-square")


def test_node_clients_agree(node_results):
    assert node_results["node"].startswith("v")
    session, plain = node_results["session"], node_results["grpcjs"]
    assert session.keys() == plain.keys()
    for name in session.keys() - {"byUnknownId"}:  # each client's own error shape, above
        assert session[name] == plain[name], name
