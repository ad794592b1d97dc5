"""The vendor's own Python clients as scripts for a fresh interpreter: the AI Studio SDK and the
``yandexcloud`` generated stubs (see ``tests/yandex/test_official_clients.py`` for why each runs
in a subprocess). Each script takes ``target images constants`` and prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from support.yandexfacts import TOLSTOY_ALIAS, TOLSTOY_URL, UNKNOWN_ID

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
