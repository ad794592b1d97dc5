"""The admin API's query and header parameters, as its OpenAPI document declares them: an
empty tenant, an enum, integer bounds, undeclared parameters; the 405's Allow; and what a
vendor call does with an empty tenant header."""

from __future__ import annotations

import json
import re

import grpc
import pytest

from support.adminhttp import Admin, http
from support.server import FIXTURES, start
from support.doofinder_client import DOCS_KEY, Doofinder
from emulator.client import AdminClient, AdminError
from support.yandexcalls import BY_IMAGE, PROTOS, rest_search, v1_search

RED = (FIXTURES / "images" / "red-square.png").read_bytes()
INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def running():
    with start() as run:
        yield run


def _raw(running, method: str, target: str, headers: dict[str, str] | None = None,
         body: dict | None = None) -> tuple[int, dict[str, str], dict | None]:
    raw = json.dumps(body).encode() if body is not None else None
    sent = dict(headers or {}, **({"Content-Type": "application/json"} if raw else {}))
    status, got, answer = http(running.http, method, target, raw, sent)
    return status, {k.lower(): v for k, v in got.items()}, json.loads(answer) if answer else None


def _tenant_operations(doc: dict) -> list[tuple[str, str]]:
    """Every operation that declares the tenant header, with its path made concrete."""
    refs = {"#/components/parameters/Tenant"}
    return [(method.upper(), re.sub(r"\{[^}]+\}", "nothing-here", path))
            for path, item in doc["paths"].items() for method, op in item.items()
            if method != "parameters" and refs & {p.get("$ref") for p in op.get("parameters", ())}]


def test_an_empty_tenant_query_deletes_nothing(running):
    """The bug report: ``DELETE /_emulator/faults?tenant=`` deleted another team's fault."""
    other = Admin(running.http, "team-b")
    assert other("POST", "/faults", {"name": "theirs", "latency": {"fixed_ms": 0}})[0] == 201
    anyone = Admin(running.http)
    for target in ("/faults", "/stubs", "/requests"):
        status, error = anyone("DELETE", target, params={"tenant": ""})
        assert (status, error) == (400, {"error": "tenant must not be empty"})
    status, error = anyone("POST", "/reset", params={"tenant": ""})
    assert (status, error) == (400, {"error": "tenant must not be empty"})
    assert [f["name"] for f in other("GET", "/faults")[1]["faults"]] == ["theirs"]
    other("POST", "/reset")


def test_every_tenant_operation_refuses_an_empty_tenant_header(running):
    doc = Admin(running.http).doc
    operations = _tenant_operations(doc)
    assert len(operations) == 18
    keep = Admin(running.http, "keep")
    keep("POST", "/stubs", {"id": "kept", "text": "x", "results": ["red-square"]})
    for method, path in operations:
        body = {"text": "x"} if method == "POST" and path.endswith(("/stubs", "/explain")) else None
        if body is not None and path.endswith("/stubs"):
            body["results"] = ["red-square"]
        status, _, error = _raw(running, method, path, {"X-Emulator-Tenant": ""}, body)
        assert (status, error) == (400, {"error": "X-Emulator-Tenant must not be empty"}), path
        keep.check(method, path, status, error)  # a documented status, with its schema
    assert [s["id"] for s in keep("GET", "/stubs")[1]["stubs"]] == ["kept"]
    keep("POST", "/reset")


def test_the_admin_client_never_turns_an_empty_tenant_into_every_tenant(running):
    owner = AdminClient(running.http, tenant="client-owner")
    owner.fault(name="mine", latency={"fixed_ms": 0})
    with pytest.raises(AdminError) as raised:
        AdminClient(running.http, tenant="").clear_faults()
    assert raised.value.status == 400
    assert [f["name"] for f in owner.faults()] == ["mine"]
    owner.reset()


def test_a_blank_but_not_empty_tenant_is_a_tenant_of_its_own(running):
    """minLength 1 is what the document says: a space is a tenant name."""
    spaced, nobody = Admin(running.http, " x "), Admin(running.http)
    assert spaced("POST", "/stubs", {"id": "spaced", "text": "x", "results": ["red-square"]})[0] == 201
    assert nobody("GET", "/stubs", params={"tenant": "?"})[1] == {"stubs": []}
    spaced("POST", "/reset")


def test_tier_outside_its_enum_is_refused(running):
    admin = Admin(running.http, "tiers")
    enum = admin.doc["components"]["schemas"]["Tier"]["enum"]
    for path in ("/requests", "/requests/count"):
        status, error = admin("GET", path, params={"tier": "exactly"})
        assert status == 400 and error["error"] == "tier must be one of: " + ", ".join(enum)
    for tier in enum:
        assert admin("GET", "/requests/count", params={"tier": tier})[1] == {"count": 0}


@pytest.mark.parametrize("value", ["9999999999", "4294967296", str(INT64_MAX),
                                   "0000000000000000000000000000001", "0" * 5000 + "1"])
def test_after_and_limit_of_ten_or_more_digits_are_taken(running, value):
    admin = Admin(running.http, "digits")
    rest_search(running.http, "digits", "cats")
    assert admin("GET", "/requests", params={"limit": value})[1]["requests"][0]["tenant"] == "digits"
    after = admin("GET", "/requests", params={"after": value})[1]["requests"]
    assert after == [] or value.startswith("0")
    assert admin("GET", "/requests/count", params={"after": value})[0] == 200
    assert admin("GET", "/explain/misses", params={"limit": value})[0] == 200
    admin("POST", "/reset")


def test_integers_over_the_documented_maximum_are_refused_naming_the_range(running):
    admin = Admin(running.http)
    maximum = admin.doc["components"]["parameters"]["After"]["schema"]["maximum"]
    assert maximum == INT64_MAX == admin.doc["components"]["parameters"]["Limit"]["schema"]["maximum"]
    for name, value in (("after", str(INT64_MAX + 1)), ("limit", "9" * 40), ("after", "-1"),
                        ("limit", "1e3"), ("after", "٣"), ("limit", "")):
        status, error = admin("GET", "/requests", params={name: value})
        assert (status, error) == (400, {"error": f"{name} must be an integer from 0 to {INT64_MAX}"})


def test_undeclared_query_parameters_are_refused_with_a_documented_400(running):
    admin = Admin(running.http, "undeclared")
    admin("POST", "/stubs", {"id": "stays", "text": "x", "results": ["red-square"]})
    for method, path in (("DELETE", "/requests"), ("POST", "/reset"), ("DELETE", "/stubs"),
                         ("GET", "/fixtures"), ("POST", "/fixtures/reload")):
        status, error = admin(method, path, params={"tenat": "undeclared"})
        assert status == 400 and error["error"].startswith("unknown query parameter 'tenat'")
    assert [s["id"] for s in admin("GET", "/stubs")[1]["stubs"]] == ["stays"]
    # the document itself takes any query (viewers and caches add their own)
    assert http(running.http, "GET", "/_emulator/openapi.json?v=2")[0] == 200
    admin("POST", "/reset")


def test_every_405_under_the_admin_prefix_lists_the_path_methods(running):
    doc = Admin(running.http).doc
    for path, item in doc["paths"].items():
        methods = {m.upper() for m in item if m != "parameters"}
        if "GET" in methods and path.endswith("openapi.json"):
            methods.add("HEAD")  # served as a plain static document
        target = re.sub(r"\{[^}]+\}", "x", path)  # any path parameter
        for refused in {"GET", "PUT", "PATCH", "POST", "DELETE"} - methods:
            status, headers, error = _raw(running, refused, target)
            assert (status, error) == (405, {"error": "method not allowed"}), (refused, path)
            assert set(headers["allow"].split(", ")) == methods, (refused, path)
    status, headers, _ = _raw(running, "POST", "/_emulator/images/files/red-square.png")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def _journal_tenant(admin: Admin, method: str) -> str | None:
    entries = admin("GET", "/requests", params={"method": method})[1]["requests"]
    return entries[-1]["tenant"]


def test_a_vendor_call_with_an_empty_tenant_header_belongs_to_its_credential(running):
    admin = Admin(running.http)
    status, _, raw = http(running.http, "POST", "/v2/image/search",
                          json.dumps({"query": {"searchType": "SEARCH_TYPE_RU",
                                                "queryText": "cats"}}).encode(),
                          {"X-Emulator-Tenant": "", "Authorization": "Api-Key empty-rest"})
    assert status == 200, raw
    assert _journal_tenant(admin, "Search") == "empty-rest"

    request = PROTOS.ImageSearchByImageRequest(folder_id="f1", data=RED)
    with grpc.insecure_channel(running.grpc) as channel:
        channel.unary_unary(BY_IMAGE)(request.SerializeToString(), timeout=30, metadata=[
            ("authorization", "Api-Key empty-grpc"), ("x-emulator-tenant", "")])
    assert _journal_tenant(admin, "SearchByImage") == "empty-grpc"

    status, _, _ = http(running.http, "GET", "/images-xml?folderid=f1&apikey=empty-xml&text=cats",
                        headers={"X-Emulator-Tenant": ""})
    assert status == 200 and _journal_tenant(admin, "GET /images-xml") == "empty-xml"

    reply = Doofinder(running.http).search({"query": "shirt"}, headers={"X-Emulator-Tenant": ""})
    assert reply.status == 200 and _journal_tenant(admin, "GET _search") == DOCS_KEY
    hashid = "0123456789abcdef0123456789abcdef"  # no token: the hashid names the tenant
    keyless = Doofinder(running.http, token=None)
    assert keyless.call("GET", f"/6/{hashid}/_search", {"query": "x"},
                        headers={"X-Emulator-Tenant": ""}).status == 403
    assert _journal_tenant(admin, "GET _search") == hashid


@pytest.mark.parametrize("vendor", [None, "yandex", "other"])
def test_a_dfid_explained_for_another_vendor_says_what_it_needs(running, vendor):
    """A 500 schemathesis found: the dfid reached the Yandex matcher with no image."""
    body = {"dfid": "anything"} | ({"vendor": vendor} if vendor else {})
    status, got = Admin(running.http, "dfid")("POST", "/explain", body)
    assert status == 200 and (got["source"], got["candidates"]) == ("none", [])
    assert "vendor 'doofinder'" in got["reason"]


@pytest.mark.parametrize("body, place", [
    ({"text": "x", "delay_ms": 0}, "$"),
    ({"text": "x", "sequence": [{"results": []}, {"delay_ms": 0}]}, "$.sequence[1]"),
])
def test_a_stub_that_answers_nothing_is_refused_by_its_schema(running, body, place):
    status, error = Admin(running.http, "nothing")("POST", "/stubs", body)
    assert (status, error) == (400, {"error": "a stub answers results, an error or a delay",
                                     "place": place})


def test_misses_limit_as_documented(running):
    admin = Admin(running.http, "misses")
    for i in range(12):
        v1_search(running.http, "misses", f"nothing matches {i}")
    described = admin.doc["components"]["parameters"]["MissesLimit"]["description"]
    assert "without it (or 0), 10" in described
    for limit, expected in ((None, 10), ("0", 10), ("11", 11), (str(INT64_MAX), 12)):
        params = {"limit": limit} if limit is not None else None
        assert len(admin("GET", "/explain/misses", params=params)[1]["misses"]) == expected
    admin("POST", "/reset")
