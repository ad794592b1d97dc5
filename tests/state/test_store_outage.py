"""The shared store killed, paused and restarted under two running emulator processes:
every vendor API answers its own "unavailable" error, the admin API says what is wrong,
``/readyz`` is not ready, and both serve again by themselves within seconds of Redis
coming back, with no state but the store's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lxml import etree

from emulator.yandex._protos import SERVICE

from support.adminhttp import Admin, http
from support.doofinder_client import DOCS_HASHID, DOCS_KEY
from support.redisserver import (Process, RedisServer, emulator_processes, ready, redis_server,
                                 wait_ready)
from support.server import FIXTURES
from support.yandexcalls import grpc_by_image, rest_search

RED = (FIXTURES / "images" / "red-square.png").read_bytes()
#: Emulator decision (emulator/state/_redis.py): retried every 0.25 s, so "within seconds"
RECOVERY_S = 5.0
#: A Redis that stops answering is noticed by the next command's timeout (5 s), at the
#: latest the next heartbeat's (1 s later)
NOTICE_S = 8.0


@pytest.fixture
def store(tmp_path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def pair(store) -> Iterator[list[Process]]:
    with emulator_processes(2, "--state", store.url) as both:
        yield both


def v1(process: Process, tenant: str) -> tuple[int, bytes]:
    status, _, raw = http(process.http, "GET",
                          f"/images-xml?folderid=f1&apikey={tenant}&text=cats")
    return status, raw


def doofinder(process: Process) -> tuple[int, dict]:
    status, _, raw = http(process.http, "GET", f"/6/{DOCS_HASHID}/_search?query=shirt",
                          headers={"Authorization": f"Token {DOCS_KEY}"})
    return status, json.loads(raw)


def assert_every_api_unavailable(process: Process) -> None:
    status, body = rest_search(process.http, "out", "cats")
    assert (status, body["code"], body["message"]) == (503, 14, "Service unavailable")
    code, _, details = grpc_by_image(process.grpc, "out", RED)
    assert (code, details) == (grpc.StatusCode.UNAVAILABLE, "Service unavailable")
    status, raw = v1(process, "out")
    assert status == 503 and etree.fromstring(raw).xpath("//error/@code") == ["20"]
    status, body = doofinder(process)
    assert (status, body) == (503, {"error": "Service unavailable"})
    status, _, raw = http(process.http, "GET", "/_emulator/stubs")
    assert status == 503 and "state store redis://127.0.0.1" in json.loads(raw)["error"]
    status, raw = ready(process.http)
    assert status == 503 and json.loads(raw)["status"] == "unavailable"
    assert "unavailable" in json.loads(raw)["reason"]


def assert_serving(process: Process) -> None:
    assert rest_search(process.http, "out", "cats")[0] == 200
    assert grpc_by_image(process.grpc, "out", RED)[0] == grpc.StatusCode.OK
    assert v1(process, "out")[0] == 200
    assert doofinder(process)[0] == 200


def test_a_killed_redis_is_every_api_unavailable_and_a_restarted_one_is_served_again(
        store, pair):
    a, b = pair
    assert Admin(a.http, "out")("POST", "/stubs", {"text": "cats",
                                                   "error": {"status": "INTERNAL"}})[0] == 201
    assert rest_search(b.http, "out", "cats")[0] == 500
    store.kill()
    for process in (a, b):
        assert_every_api_unavailable(process)
        assert "state store redis://127.0.0.1" in process.log()  # the log says why
        assert "Traceback" not in process.log()
    store.start()  # the same port, nothing kept: the stub is gone with it
    restarted = time.monotonic()
    for process in (a, b):
        wait_ready(process.http, RECOVERY_S)
    recovery = time.monotonic() - restarted
    assert recovery < RECOVERY_S
    for process in (a, b):
        assert_serving(process)  # the stub is not served from an old local copy
        assert Admin(process.http, "out")("GET", "/stubs")[1]["stubs"] == []
    # and the two share state again
    assert Admin(b.http, "out")("POST", "/stubs", {"text": "cats",
                                                   "error": {"status": "INTERNAL"}})[0] == 201
    assert rest_search(a.http, "out", "cats")[0] == 500
    versions = [Admin(p.http)("GET", "/state")[1]["versions"] for p in (a, b)]
    assert versions[0] == versions[1]
    print(f"recovered {recovery:.2f}s after redis-server restarted")


def test_a_paused_redis_is_unavailable_within_the_command_timeout_then_recovers(store, pair):
    a, b = pair
    store.pause()  # slow: it answers nothing
    try:
        started = time.monotonic()
        while rest_search(a.http, "out", "cats")[0] != 503:  # noticed: no call hangs
            assert time.monotonic() - started < NOTICE_S
            time.sleep(0.05)
        assert_every_api_unavailable(a)
    finally:
        store.resume()
    for process in (a, b):
        wait_ready(process.http, RECOVERY_S)
        assert_serving(process)


def test_an_emulator_started_before_its_redis_serves_once_it_answers(tmp_path):
    server = RedisServer(tmp_path)  # on its port, not yet started
    with emulator_processes(1, "--state", server.url) as (a,):
        assert ready(a.http)[0] == 503
        assert rest_search(a.http, "out", "cats")[0] == 503
        server.start()
        try:
            wait_ready(a.http, RECOVERY_S)
            assert_serving(a)
        finally:
            server.stop()


def grpc_health(process: Process, service: str = "") -> str:
    with grpc.insecure_channel(process.grpc) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def wait_health(process: Process, status: str, within: float) -> float:
    """Seconds until every service's health is ``status`` (failing after ``within``)."""
    started = time.monotonic()
    while {grpc_health(process, s) for s in ("", SERVICE)} != {status}:
        assert time.monotonic() - started < within, f"gRPC health not {status}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_grpc_health_is_not_serving_while_redis_is_down_and_serving_once_it_is_back(store):
    with emulator_processes(1, "--state", store.url) as (a,):
        assert grpc_health(a) == grpc_health(a, SERVICE) == "SERVING"
        assert ready(a.http)[0] == 200
        store.kill()  # no vendor call: the emulator notices by itself
        noticed = wait_health(a, "NOT_SERVING", NOTICE_S)
        assert ready(a.http)[0] == 503  # as /readyz says
        store.start()
        recovered = wait_health(a, "SERVING", RECOVERY_S)
        wait_ready(a.http, RECOVERY_S)
        assert grpc_by_image(a.grpc, "out", RED)[0] == grpc.StatusCode.OK
        print(f"NOT_SERVING {noticed:.2f}s after the kill, SERVING {recovered:.2f}s "
              "after the restart")


def test_entries_answered_as_redis_stops_answering_reach_the_journal_once_it_is_back(store):
    # a journal that keeps every call answered in the command timeout's 5 s (some 1,700)
    with emulator_processes(1, "--state", store.url, "--journal-size", "10000") as (a,):
        assert v1(a, "late")[0] == 200
        store.pause()
        try:
            answered = 1
            while (status := v1(a, "late")[0]) == 200:  # until the pause is noticed
                answered += 1
            assert status == 503 and answered > 1
            wait_health(a, "NOT_SERVING", NOTICE_S)
        finally:
            store.resume()
        wait_ready(a.http, RECOVERY_S)
        count = Admin(a.http, "late")("GET", "/requests/count")[1]["count"]
        assert count == answered  # every call answered before the outage was noticed
