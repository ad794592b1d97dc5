"""Runtime faults: latency, seeded error rates, resets, drips and quotas, answered as each
Yandex API answers them, for one tenant only."""

from __future__ import annotations

import asyncio

import http.client
import json
import random
import socket

import grpc
import pytest

from support.adminhttp import Admin, module_emulator, tenant_admin
from support.server import FIXTURES, start
from emulator.core import Drip, FaultBook, FaultTarget, fault_spec_from_json
from emulator.core._faults import Latency
from support.rawhttp import parse_response
from support.yandexcalls import grpc_by_image, rest_by_image, rest_search, v1_search, xml_error_code

RED = (FIXTURES / "images" / "red-square.png").read_bytes()


running = module_emulator()


admin = tenant_admin("faults")


def outcomes(admin: Admin) -> list[str]:
    return [e["outcome"] for e in admin("GET", "/requests")[1]["requests"]]


def test_a_seeded_error_rate_hits_the_same_calls_on_every_server(admin):
    rng = random.Random(7)
    expected = ["INTERNAL" if rng.random() < 0.4 else "OK" for _ in range(20)]
    assert "INTERNAL" in expected and "OK" in expected
    for _ in range(2):  # two emulators, the same requests: the same faults
        with start() as other:
            admin_other = Admin(other.http, admin.tenant)
            status, _fault = admin_other("POST", "/faults", {"rate": 0.4, "seed": 7,
                                                            "error": {"status": "INTERNAL"}})
            assert status == 201
            for _ in range(20):
                rest_search(other.http, admin.tenant, "cats")
            assert outcomes(admin_other) == expected
            listing = admin_other("GET", "/faults")[1]["faults"]
            assert listing[0]["seen"] == 20 and listing[0]["hits"] == expected.count("INTERNAL")


def test_error_faults_are_answered_in_each_api_format(running, admin):
    admin("POST", "/faults", {"name": "images down", "operation": "SearchByImage",
                              "error": {"status": "UNAVAILABLE"}})
    admin("POST", "/faults", {"name": "v1 limit", "api": "yandex.v1.xml",
                              "error": {"code": 32, "message": "daily"}})
    status, error = rest_by_image(running.http, admin.tenant, RED)
    assert status == 503 and error["code"] == 14
    assert grpc_by_image(running.grpc, admin.tenant, RED)[0] == grpc.StatusCode.UNAVAILABLE
    assert xml_error_code(v1_search(running.http, admin.tenant, "cats")) == "32"
    assert rest_search(running.http, admin.tenant, "cats")[0] == 200  # another operation
    # other tenants are not affected
    assert rest_by_image(running.http, "someone-else", RED)[0] == 200
    entries = admin("GET", "/requests")[1]["requests"]
    assert [e["faults"] for e in entries] == [["images down"], ["images down"], ["v1 limit"], []]
    assert [e["outcome"] for e in entries] == ["UNAVAILABLE", "UNAVAILABLE", "32", "OK"]


def test_a_quota_answers_the_vendor_rate_limit_after_its_limit(running, admin):
    admin("POST", "/faults", {"quota": {"limit": 2}})
    assert [rest_by_image(running.http, admin.tenant, RED)[0] for _ in range(3)] == [200, 200, 429]
    _status, error = rest_by_image(running.http, admin.tenant, RED)
    assert error["code"] == 8 and error["message"] == "Quota limit exceeded"
    code, _, _ = grpc_by_image(running.grpc, admin.tenant, RED)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert xml_error_code(v1_search(running.http, admin.tenant, "cats")) == "55"


def test_times_limits_a_fault_to_the_first_calls(running, admin):
    admin("POST", "/faults", {"times": 2, "error": {"status": "UNAVAILABLE"}})
    assert [rest_search(running.http, admin.tenant, "x")[0] for _ in range(3)] == [503, 503, 200]
    assert admin("GET", "/faults")[1]["faults"][0]["spent"] is True


def test_latency_delays_the_answer_and_is_journaled(running, admin):
    admin("POST", "/faults", {"name": "slow", "latency": {"fixed_ms": 120}})
    assert rest_search(running.http, admin.tenant, "cats")[0] == 200
    [entry] = admin("GET", "/requests")[1]["requests"]
    assert entry["faults"] == ["slow"] and entry["latency_ms"] >= 120


def test_latency_draws_are_seeded_and_bounded():
    uniform = Latency("uniform", 10, 20)
    a, b = random.Random(3), random.Random(3)
    draws = [uniform.draw(a) for _ in range(50)]
    assert draws == [uniform.draw(b) for _ in range(50)] and all(10 <= d <= 20 for d in draws)
    lognormal = Latency("lognormal", 100, 0.5)
    values = sorted(lognormal.draw(random.Random(i)) for i in range(401))
    assert 80 < values[200] < 125  # the median is near median_ms
    assert Latency("lognormal", 500_000, 5).draw(random.Random(1)) <= 600_000
    assert Latency("fixed", 42).draw(random.Random()) == 42


def test_a_reset_drops_http_connections_and_is_unavailable_on_grpc(running, admin):
    admin("POST", "/faults", {"reset": True})
    host, port = running.http.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("POST", "/v2/image/search",
                       json.dumps({"query": {"searchType": "SEARCH_TYPE_RU", "queryText": "cats"}}),
                       {"Authorization": f"Api-Key {admin.tenant}"})
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        connection.getresponse()
    connection.close()
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        v1_search(running.http, admin.tenant, "cats")
    code, _, details = grpc_by_image(running.grpc, admin.tenant, RED)
    assert code == grpc.StatusCode.UNAVAILABLE and details == "Connection reset by peer"
    assert outcomes(admin) == ["CONNECTION_RESET"] * 3


def _raw_search(running, tenant: str) -> tuple[bytes, int]:
    """The whole raw answer, and how many reads it took."""
    host, port = running.http.removeprefix("http://").split(":")
    body = json.dumps({"query": {"searchType": "SEARCH_TYPE_RU", "queryText": "cats"}}).encode()
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v2/image/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Authorization: Api-Key " + tenant.encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks), len(chunks)


def test_a_dripped_body_arrives_whole_and_the_same(running, admin):
    plain, _ = _raw_search(running, admin.tenant)
    admin("POST", "/faults", {"drip": {"chunk_bytes": 512, "interval_ms": 5}})
    dripped, reads = _raw_search(running, admin.tenant)
    status, headers, body = parse_response(dripped)
    assert status == 200 and body == parse_response(plain)[2]
    assert int(headers["content-length"]) == len(body) > 512 * 3
    assert reads > 1


def test_drip_time_for_transports_that_cannot_drip():
    assert Drip(100, 10).duration_ms(1) == 0
    assert Drip(100, 10).duration_ms(1000) == 90


def test_fault_matching_by_vendor_api_operation_and_tenant():
    book = FaultBook()
    asyncio.run(book.add(fault_spec_from_json({"vendor": "doofinder",
                                               "error": {"http_status": 424}}, None)))
    asyncio.run(book.add(fault_spec_from_json({"api": "yandex.v1.xml",
                                               "latency": {"fixed_ms": 5}}, "t")))
    yandex_v1 = FaultTarget("yandex", "yandex.v1.xml", "GET /images-xml", "t")
    assert asyncio.run(book.plan(yandex_v1)).delay_ms == 5
    assert asyncio.run(book.plan(yandex_v1)).error is None
    assert asyncio.run(book.plan(FaultTarget("yandex", "yandex.v1.xml", "GET /images-xml",
                                             "u"))).names == ()
    plan = asyncio.run(book.plan(FaultTarget("doofinder", "doofinder.v6", "_image_search", "u")))
    assert plan.error.get("http_status") == 424  # the error object, as the core keeps it


@pytest.mark.parametrize("body, place", [
    ({}, "$"),
    ({"rate": 1.5, "error": {"status": 14}}, "$.rate"),
    ({"latency": {"fixed_ms": 1, "uniform_ms": [1, 2]}}, "$.latency"),
    ({"latency": {"lognormal": {"median_ms": 0, "sigma": 1}}}, "$.latency.lognormal.median_ms"),
    ({"drip": {"chunk_bytes": 0, "interval_ms": 1}}, "$.drip.chunk_bytes"),
    ({"quota": {}}, "$.quota"),
    ({"error": {"http_status": 200}}, "$.error.http_status"),
])
def test_invalid_faults_are_refused(admin, body, place):
    status, error = admin("POST", "/faults", body)
    assert status == 400 and error["place"] == place
    assert admin("GET", "/faults")[1]["faults"] == []


def test_fault_ids_delete_and_conflicts(admin):
    assert admin("POST", "/faults", {"id": "f", "reset": True})[0] == 201
    assert admin("POST", "/faults", {"id": "f", "reset": True})[0] == 409
    assert admin.for_tenant("other")("DELETE", "/faults/f")[0] == 404
    assert admin("DELETE", "/faults/f")[0] == 204
    assert admin("DELETE", "/faults/f")[0] == 404


def test_integers_written_as_floats_act_as_the_integers(running, admin):
    """JSON Schema's integer admits 2.0: a fault and a stub written so act as with 2."""
    _status, fault = admin("POST", "/faults", {"times": 2.0, "seed": 3.0, "error": {"status": 14.0},
                                               "drip": {"chunk_bytes": 512.0, "interval_ms": 1.0}})
    assert fault["times"] == 2.0  # echoed as sent
    assert [rest_search(running.http, admin.tenant, "x")[0] for _ in range(3)] == [503, 503, 200]
    admin("DELETE", "/faults")
    admin("POST", "/faults", {"quota": {"limit": 1.0}})
    assert [rest_by_image(running.http, admin.tenant, RED)[0] for _ in range(2)] == [200, 429]
    admin("DELETE", "/faults")
    admin("POST", "/stubs", {"text": "floaty", "times": 1.0, "priority": 1.0, "delay_ms": 1.0,
                             "error": {"http_status": 404.0, "code": 15.0}})
    assert xml_error_code(v1_search(running.http, admin.tenant, "floaty")) == "15"
    assert rest_search(running.http, admin.tenant, "floaty")[0] == 200  # times: used up
    admin("DELETE", "/stubs")
