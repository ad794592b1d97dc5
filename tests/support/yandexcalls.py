"""Yandex calls for control-plane tests: v2 REST, gRPC and v1 XML, with a tenant."""

from __future__ import annotations

import re

import base64
import json

import grpc
from lxml import etree

from support.adminhttp import http
from emulator.yandex._protos import load

PROTOS = load()
BY_IMAGE = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
SEARCH = "/yandex.cloud.searchapi.v2.ImageSearchService/Search"


def rest_by_image(base: str, tenant: str, image: bytes | None = None, *, url: str | None = None,
                  cbir_id: str | None = None, folder: str = "f1") -> tuple[int, dict]:
    body: dict = {"folderId": folder}
    if image is not None:
        body["data"] = base64.b64encode(image).decode()
    if url is not None:
        body["url"] = url
    if cbir_id is not None:
        body["id"] = cbir_id
    status, _, raw = http(base, "POST", "/v2/image/search_by_image", json.dumps(body).encode(),
                          {"Authorization": f"Api-Key {tenant}"})
    return status, json.loads(raw)


def rest_search(base: str, tenant: str, text: str, *, header: bool = False) -> tuple[int, dict]:
    headers = {"X-Emulator-Tenant": tenant, "Authorization": "Api-Key shared"} if header \
        else {"Authorization": f"Api-Key {tenant}"}
    body = {"query": {"searchType": "SEARCH_TYPE_RU", "queryText": text}}
    status, _, raw = http(base, "POST", "/v2/image/search", json.dumps(body).encode(), headers)
    return status, json.loads(raw)


def served_path(url: str) -> str:
    """A URL of the emulator's own pictures without its scheme, host and port (which vary
    from run to run); other URLs as they are."""
    return re.sub(r"^https?://[^/]+(?=/_emulator/images/)", "", url)


def xml_doc_urls(raw: bytes) -> list[str]:
    """The documents' picture URLs; the emulator's own as paths (see :func:`served_path`)."""
    return [served_path(u) for u in etree.fromstring(raw).xpath("//doc/url/text()")]


def xml_error_code(raw: bytes) -> str | None:
    codes = etree.fromstring(raw).xpath("//error/@code")
    return codes[0] if codes else None


def v1_search(base: str, tenant: str, text: str) -> bytes:
    query = f"/images-xml?folderid=f1&apikey={tenant}&text={text.replace(' ', '+')}"
    status, _, raw = http(base, "GET", query)
    assert status == 200
    return raw


def grpc_by_image(target: str, tenant: str, image: bytes, *, header: bool = True):
    """(status code, response or None, details) of one gRPC SearchByImage."""
    request = PROTOS.ImageSearchByImageRequest(folder_id="f1", data=image)
    metadata = [("authorization", "Api-Key shared")]
    if header:
        metadata.append(("x-emulator-tenant", tenant))
    with grpc.insecure_channel(target) as channel:
        try:
            raw = channel.unary_unary(BY_IMAGE)(request.SerializeToString(), metadata=metadata,
                                               timeout=30)
        except grpc.RpcError as exc:
            return exc.code(), None, exc.details()
    return grpc.StatusCode.OK, PROTOS.ImageSearchByImageResponse.FromString(raw), ""
