"""The admin API: described by the OpenAPI document it serves, optionally behind a token,
per tenant, and never colliding with a vendor path."""

from __future__ import annotations

import json

import pytest

from support.adminhttp import Admin, http
from support.server import FIXTURES, start
from emulator.client import AdminClient, AdminError
from support.yandexcalls import grpc_by_image, rest_by_image, rest_search, v1_search

RED = (FIXTURES / "images" / "red-square.png").read_bytes()


@pytest.fixture(scope="module")
def running():
    with start() as run:
        yield run


def test_every_route_is_documented_and_every_documented_route_exists(running):
    doc = Admin(running.http).doc
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": running.http}]
    app = running.emulator._runner.app
    served = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource.canonical.startswith("/_emulator/")
              and not r.resource.canonical.startswith(("/_emulator/images", "/_emulator/ui"))
              and r.method != "HEAD"}  # pictures and the web page's files are not the API
    documented = {(method.upper(), path) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    assert served == documented


def test_no_admin_path_is_a_vendor_path(running):
    doc = Admin(running.http).doc
    assert all(path.startswith("/_emulator/") for path in doc["paths"])


def test_journal_is_per_tenant_with_filters_and_counts(running):
    a, b = Admin(running.http, "tenant-a"), Admin(running.http, "tenant-b")
    rest_by_image(running.http, "tenant-a", RED)
    rest_search(running.http, "tenant-a", "yandex cloud")
    v1_search(running.http, "tenant-b", "cats")
    grpc_by_image(running.grpc, "tenant-b", RED)
    entries = a("GET", "/requests")[1]["requests"]
    assert [(e["tenant"], e["method"], e["match"]["rule"]) for e in entries] == [
        ("tenant-a", "SearchByImage", "red square"), ("tenant-a", "Search", "recorded live document")]
    assert entries[0]["vendor"] == "yandex" and entries[0]["latency_ms"] >= 0
    assert b("GET", "/requests/count")[1] == {"count": 2}
    assert b("GET", "/requests/count", params={"api": "yandex.v2.grpc", "tier": "exact"})[1] == {"count": 1}
    assert b("GET", "/requests/count", params={"method": "GET /images-xml",
                                               "tier": "generated"})[1] == {"count": 1}
    assert a("GET", "/requests/count", params={"rule": "red square"})[1] == {"count": 1}
    after = entries[0]["seq"]
    assert a("GET", "/requests", params={"after": after})[1]["requests"] == entries[1:]
    # ?tenant= where no header can be sent
    assert Admin(running.http)("GET", "/requests/count", params={"tenant": "tenant-a"})[1] == {"count": 2}
    assert a("DELETE", "/requests")[0] == 204
    assert a("GET", "/requests/count")[1] == {"count": 0}
    assert b("GET", "/requests/count")[1] == {"count": 2}


def test_reset_clears_one_tenant_only(running):
    a, b = Admin(running.http, "reset-a"), Admin(running.http, "reset-b")
    for admin in (a, b):
        admin("POST", "/stubs", {"text": "x", "results": ["red-square"]})
        admin("POST", "/faults", {"latency": {"fixed_ms": 0}})
        v1_search(running.http, admin.tenant, "x")
    assert a("POST", "/reset")[0] == 204
    assert (a("GET", "/stubs")[1], a("GET", "/faults")[1]) == ({"stubs": []}, {"faults": []})
    assert a("GET", "/requests/count")[1]["count"] == 0
    assert len(b("GET", "/stubs")[1]["stubs"]) == 1 and len(b("GET", "/faults")[1]["faults"]) == 1
    assert b("GET", "/requests/count")[1]["count"] == 1
    b("POST", "/reset")


@pytest.mark.parametrize("path, params, words", [
    ("/requests", {"limit": "x"}, "limit"),
    ("/requests", {"methd": "Search"}, "unknown query parameter 'methd'"),
    ("/requests/count", {"after": "-1"}, "after"),
    ("/explain/misses", {"limit": "1e3"}, "limit"),
])
def test_bad_query_parameters(running, path, params, words):
    status, error = Admin(running.http)("GET", path, params=params)
    assert status == 400 and words in error["error"]


def test_unknown_paths_and_methods_answer_json(running):
    status, _, body = http(running.http, "GET", "/_emulator/nothing")
    assert status == 404 and json.loads(body) == {"error": "not found"}
    status, _, body = http(running.http, "PUT", "/_emulator/stubs")
    assert status == 405 and json.loads(body) == {"error": "method not allowed"}


def test_the_admin_token_guards_everything_but_the_document():
    with start(admin_token="s3cret") as running:
        assert http(running.http, "GET", "/_emulator/openapi.json")[0] == 200
        for method, path in (("GET", "/requests"), ("POST", "/reset"), ("GET", "/fixtures")):
            status, _, body = http(running.http, method, "/_emulator" + path,
                                   headers={"Authorization": "Bearer wrong"})
            assert status == 401 and "admin token" in json.loads(body)["error"]
        Admin(running.http).check("GET", "/_emulator/requests", 401, {"error": "x"})
        admin = Admin(running.http, "t", token="s3cret")
        assert admin("GET", "/requests")[0] == 200
        with pytest.raises(AdminError) as raised:
            AdminClient(running.http).reset()
        assert raised.value.status == 401
        AdminClient(running.http, token="s3cret").reset()
        # the vendor APIs never need it
        assert rest_search(running.http, "k", "cats")[0] == 200


def test_the_journal_size_is_configurable():
    with start(journal_size=3) as running:
        for i in range(5):
            v1_search(running.http, "k", f"text {i}")
        entries = Admin(running.http)("GET", "/requests")[1]["requests"]
        assert [e["lookup"]["text"] for e in entries] == ["text 2", "text 3", "text 4"]


def test_the_client_covers_the_api(running):
    client = AdminClient(running.http, tenant="client")
    stub = client.stub(image=RED, results=["blue-wallpaper"], name="via client")
    assert client.stubs()[0]["id"] == stub["id"]
    client.fault(name="slow", latency={"fixed_ms": 1})
    rest_by_image(running.http, "client", RED)
    assert client.count(rule="via client") == 1 and client.requests()[0]["faults"] == ["slow"]
    assert client.explain(image=RED)["source"] == "stub"
    assert client.misses() == [] and client.fixtures()["generation"] == 1
    assert client.openapi()["info"]["title"].startswith("image-search-emulator")
    client.remove_stub(stub["id"])
    client.remove_fault(client.faults()[0]["id"])
    client.clear_requests()
    with pytest.raises(AdminError) as raised:
        client.stub(text="x", results=["nope"])
    assert raised.value.status == 400 and "$.results[0]" in str(raised.value)
    client.reset()
