"""A raw HTTP client for the Doofinder tests that checks every answer against the vendor.

Every body it receives is validated against the vendor's OpenAPI document
(``tests/vendor/doofinder-search-v6.yaml``): a 200 against the operation's schema, an
error against the operation's documented response for that status (or ``ErrorResponse``,
"returned on all non-200 outcomes"), and an error text against the operation's own
examples where it documents that status. Requests go over ``http.client`` so the query
string arrives exactly as written (brackets encoded or not).
"""

from __future__ import annotations

import base64
import copy
import functools
import http.client
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import jsonschema

from support.server import FIXTURES
from support.doofinder_contract_exceptions import vendor_document

DOCS_HASHID = "d8fdeab7fce96a19d3fc7b0ca7a1e98b"
DOCS_KEY = "eu1-ab46030xza33960aac71a10248489b6c26172f07"
RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()
BLUE_WALLPAPER = (FIXTURES / "images" / "blue-wallpaper.jpg").read_bytes()
GRAY_SKETCH = (FIXTURES / "images" / "gray-sketch.gif").read_bytes()
#: Error texts whose documented examples list particular fields or indices.
_TEXT_FAMILIES = (
    re.compile(r'Following fields are missing: \[("[a-z_]+")(, "[a-z_]+")*\]'),
    re.compile(r"\[[a-z_]+(, [a-z_]+)*\] fields are missing"),
    re.compile(r"Index \S+ not found\."),
)


@functools.lru_cache(maxsize=1)
def openapi() -> dict:
    """The vendor's document, read with the exceptions of ``doofinder_contract_exceptions``."""
    return vendor_document()


def _template(path: str) -> str:
    for template in openapi()["paths"]:
        pattern = re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return template
    raise AssertionError(f"{path} is no operation of the vendor's document")


def response_spec(method: str, path: str, status: int) -> dict | None:
    operation = openapi()["paths"][_template(path)][method.lower()]
    return operation["responses"].get(str(status))


def documented_texts(spec: dict) -> list[str]:
    content = spec["content"]["application/json"]
    if "examples" in content:
        return [e["value"]["error"] for e in content["examples"].values()]
    if "example" in content:
        return [content["example"]["value"]["error"]]
    return []


def _validate_schema(schema: dict, body) -> None:
    root = copy.copy(openapi())
    root["$ref"] = "#/components/schemas/X"
    root["components"] = dict(root["components"])
    root["components"]["schemas"] = {**root["components"]["schemas"], "X": schema}
    jsonschema.Draft202012Validator(root).validate(body)


def validate(method: str, path: str, status: int, body) -> None:
    """Raises when the vendor's document does not allow this answer."""
    spec = response_spec(method, path, status)
    if status == 200:
        assert spec is not None, f"{method} {path}: the vendor documents no 200"
        _validate_schema(spec["content"]["application/json"]["schema"], body)
        return
    _validate_schema({"$ref": "#/components/schemas/ErrorResponse"}, body)
    assert set(body) == {"error"}, body
    if spec is None:  # a status the operation does not list: the standard error response
        return
    _validate_schema(spec["content"]["application/json"]["schema"], body)
    texts = set(documented_texts(spec))
    if body["error"] in texts or body["error"] in all_documented_texts(status) \
            or body["error"] in EMULATOR_TEXTS:
        return
    family = [f for f in _TEXT_FAMILIES if f.fullmatch(body["error"])
              and any(f.fullmatch(t) for t in texts | all_documented_texts(status))]
    assert family, f"{method} {path} {status}: {body['error']!r} is none of {texts}"


#: Texts of the contract's Emulator decisions and of its error table that no operation of
#: the vendor's document lists (contracts/doofinder.md).
EMULATOR_TEXTS = {"Too many requests", "Request entity too large", "Not found",
                  "Method not allowed", "Internal server error"}


@functools.cache
def all_documented_texts(status: int) -> frozenset[str]:
    """Every error text some operation of the vendor's document lists for this status."""
    texts = set()
    for operations in openapi()["paths"].values():
        for operation in operations.values():
            spec = operation["responses"].get(str(status))
            if spec is not None:
                texts.update(documented_texts(spec))
    return frozenset(texts)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: object

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.body["results"]]

    def facet(self, key: str) -> dict:
        return next(f for f in self.body["facets"] if f["key"] == key)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Doofinder:
    def __init__(self, base_url: str, token: str | None = DOCS_KEY) -> None:
        split = urlsplit(base_url)
        self.host, self.port, self.token = split.hostname, split.port, token

    def raw(self, method: str, target: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, target, body, headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def call(self, method: str, path: str, query: str | dict | list = "", body=None,
             headers: dict | None = None, token: str | None = "default") -> Reply:
        query = query if isinstance(query, str) else urlencode(query, doseq=True)
        hdrs = dict(headers or {})
        token = self.token if token == "default" else token
        if token is not None:
            hdrs["Authorization"] = f"Token {token}"
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        if payload is not None:
            hdrs.setdefault("Content-Type", "application/json")
        status, resp_headers, raw = self.raw(method, path + (f"?{query}" if query else ""),
                                             payload, hdrs)
        assert resp_headers["content-type"].startswith("application/json"), resp_headers
        decoded = json.loads(raw)
        if path.startswith("/6/") and method != "HEAD":
            try:
                _template(path)
            except AssertionError:
                assert status in (404, 405) and set(decoded) == {"error"}, (status, decoded)
            else:
                validate(method, path, status, decoded)
        return Reply(status, resp_headers, decoded)

    # -- the operations ---------------------------------------------------------------------
    def image_search(self, image: bytes | str | None, query: str | dict | list = "",
                     hashid: str = DOCS_HASHID, **kw) -> Reply:
        body = {} if image is None else {"image": image if isinstance(image, str) else b64(image)}
        return self.call("POST", f"/6/{hashid}/_image_search", query, body, **kw)

    def search(self, query: str | dict | list = "", hashid: str = DOCS_HASHID, **kw) -> Reply:
        return self.call("GET", f"/6/{hashid}/_search", query, **kw)

    def similar(self, query: str | dict | list = "", hashid: str = DOCS_HASHID, **kw) -> Reply:
        return self.call("GET", f"/6/{hashid}/_visually_similar", query, **kw)

    def suggest(self, query: str | dict | list = "", hashid: str = DOCS_HASHID, **kw) -> Reply:
        return self.call("GET", f"/6/{hashid}/_suggest", query, **kw)

    def stats(self, event: str, query: str | dict | list = "", body=None,
              hashid: str = DOCS_HASHID, **kw) -> Reply:
        return self.call("PUT", f"/6/{hashid}/stats/{event}", query, body, **kw)


def fixture_dir(tmp_path_factory, name: str, engines: dict) -> Path:
    """The built-in fixtures with this ``engines.json``."""
    directory = tmp_path_factory.mktemp(name) / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "engines.json").write_text(json.dumps(engines), encoding="utf-8")
    return directory


# -- a small catalog whose every count is known --------------------------------------------
SHOP_HASHID = "0123456789abcdef0123456789abcdef"
SHOP_KEY = "us1-shopkey0000000000000000000000000000"
OFF_HASHID = "fedcba9876543210fedcba9876543210"


def _item(id_, title, brand, color, price, categories, **more):
    return {"id": id_, "title": title, "brand": brand, "color": color, "price": price,
            "categories": categories, **more}


SHOP_ITEMS = [
    _item("a1", "Red Running Shoes", "Nike", "red", 50, ["Shoes"], size=["M", "L"],
          sale_price=40, image_file="red-square.png"),
    _item("a2", "Blue Running Shoes", "Adidas", "blue", 80, ["Shoes"], size=["S"],
          image_file="blue-wallpaper.jpg"),
    _item("a3", "Red Cotton Shirt", "Nike", "red", 20, ["Shirts"], size=["S", "M"],
          image_file="gray-sketch.gif"),
    _item("a4", "Green Wool Hat", "Puma", "green", 15, ["Hats"], on_sale=True),
    _item("a5", "Black Leather Jacket", "Adidas", "black", 120, ["Jackets"], size=["L"],
          sale_price=99.5),
    _item("a6", "Blue Denim Jacket", "Levis", "blue", 70, ["Jackets"], size=["M"],
          image_link="https://cdn.example.com/a6.jpg"),
]
SHOP = {
    "version": 1,
    "engines": [
        {"hashid": SHOP_HASHID, "name": "shop", "keys": [SHOP_KEY],
         "allowed_origins": ["shop.example.com"], "banned_ips": ["203.0.113.0/24"],
         "query_name": "fuzzy",
         "indices": [{"name": "product", "items": SHOP_ITEMS},
                     {"name": "page", "items": [{"id": "p1", "title": "Shipping and returns"}]}]},
        {"hashid": OFF_HASHID, "image_search": False, "suggestions": False,
         "indices": [{"name": "product", "items": SHOP_ITEMS[:2]}]},
        {"hashid": DOCS_HASHID, "keys": [DOCS_KEY],
         "indices": [{"name": "product", "generated": {"count": 30, "seed": 7}}]},
    ],
}
