"""``--state redis://...``: two emulator processes on one real Redis serve one control
plane: stubs (priorities and sequences), faults, tenant resets, quotas and the journal set
or seen through either behave the same through both."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from support.adminhttp import Admin, http
from support.redisserver import Process, emulator_processes
from support.yandexcalls import grpc_by_image, rest_search
from support.server import FIXTURES

RED = (FIXTURES / "images" / "red-square.png").read_bytes()
UNAVAILABLE = {"error": {"status": "UNAVAILABLE"}}


@pytest.fixture(scope="module")
def pair(redis) -> Iterator[list[Process]]:
    """Two processes on one Redis; a journal big enough for the 1,000-request test."""
    with emulator_processes(2, "--state", redis.url, "--journal-size", "5000") as both:
        yield both


def search(process: Process, tenant: str, text: str = "kittens") -> int:
    return rest_search(process.http, tenant, text)[0]


def versions(process: Process) -> dict[str, int]:
    status, _, raw = http(process.http, "GET", "/_emulator/state")
    assert status == 200
    return json.loads(raw)["versions"]


def test_both_processes_report_one_shared_store_and_the_same_fixture_set(pair):
    a, b = pair
    status, info = Admin(a.http)("GET", "/state")
    assert status == 200 and info["backend"] == "redis" and info["problem"] is None
    live = [r for r in info["replicas"] if r["live"]]
    assert len(live) == 2 and sum(r["this"] for r in live) == 1
    assert len({r["fixtures_digest"] for r in live}) == 1 and info["fixtures_drift"] is False
    assert live[0]["fixtures_digest"] == Admin(b.http)("GET", "/fixtures")[1]["digest"]


def test_a_three_step_sequence_set_through_one_is_stepped_once_over_both(pair):
    a, b = pair
    admin = Admin(a.http, "seq")
    status, stub = admin("POST", "/stubs", {"text": "kittens", "sequence": [
        UNAVAILABLE, {"error": {"status": "INTERNAL"}}, {"results": []}]})
    assert status == 201
    # each step once, whichever process the call reaches; then it stays on the last
    assert [search(p, "seq") for p in (b, a, b, a, b)] == [503, 500, 200, 200, 200]
    for process in (a, b):
        [listed] = Admin(process.http, "seq")("GET", "/stubs")[1]["stubs"]
        assert listed["id"] == stub["id"] and listed["hits"] == 5


def test_times_is_counted_over_both_processes(pair):
    a, b = pair
    Admin(b.http, "times")("POST", "/stubs", {"text": "kittens", "times": 3, **UNAVAILABLE})
    assert [search(p, "times") for p in (a, b, a, b, a)] == [503, 503, 503, 200, 200]
    [listed] = Admin(a.http, "times")("GET", "/stubs")[1]["stubs"]
    assert listed["used_up"] is True and listed["hits"] == 3


def test_priorities_decide_alike_on_both(pair):
    a, b = pair
    Admin(a.http, "prio")("POST", "/stubs", {"text": "kittens", "priority": 5, **UNAVAILABLE})
    Admin(b.http, "prio")("POST", "/stubs", {"text": "kittens", "priority": 1,
                                             "error": {"status": "INTERNAL"}})
    assert [search(p, "prio") for p in (a, b)] == [500, 500]


def test_a_write_is_served_by_every_process_when_it_returns(pair):
    a, b = pair
    for i in range(5):  # no waiting between the write and the other process's call
        writer, reader = (a, b) if i % 2 else (b, a)
        status, stub = Admin(writer.http, "fresh")("POST", "/stubs",
                                                   {"text": f"fresh {i}", **UNAVAILABLE})
        assert status == 201
        assert search(reader, "fresh", f"fresh {i}") == 503
        assert versions(reader) == versions(writer)
        assert Admin(writer.http, "fresh")("DELETE", f"/stubs/{stub['id']}")[0] == 204
        assert search(reader, "fresh", f"fresh {i}") == 200


def test_a_fault_set_through_one_fires_on_both(pair):
    a, b = pair
    before = versions(a)["faults"]
    status, _fault = Admin(b.http, "fault")("POST", "/faults", {"times": 2, **UNAVAILABLE})
    assert status == 201
    assert versions(a)["faults"] > before and versions(a) == versions(b)
    code, _, _ = grpc_by_image(a.grpc, "fault", RED)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert [search(p, "fault") for p in (b, a)] == [503, 200]  # times: 2 over both
    [listed] = Admin(a.http, "fault")("GET", "/faults")[1]["faults"]
    assert listed["seen"] == 2 and listed["hits"] == 2 and listed["spent"] is True


def test_a_seeded_rate_draws_the_same_calls_over_both_as_on_one(pair):
    a, b = pair
    Admin(a.http, "rate")("POST", "/faults", {"rate": 0.5, "seed": 3,
                                              "error": {"status": "INTERNAL"}})
    spread = [search(p, "rate") for p in (a, b) * 10]
    Admin(a.http, "rate2")("POST", "/faults", {"rate": 0.5, "seed": 3,
                                               "error": {"status": "INTERNAL"}})
    alone = [search(a, "rate2") for _ in range(20)]
    assert spread == alone and 500 in spread and 200 in spread


def test_a_tenant_reset_through_one_clears_it_on_both(pair):
    a, b = pair
    Admin(a.http, "reset")("POST", "/stubs", {"text": "kittens", **UNAVAILABLE})
    Admin(a.http, "reset")("POST", "/faults", {"operation": "SearchByImage", **UNAVAILABLE})
    Admin(a.http, "other")("POST", "/stubs", {"text": "kittens", **UNAVAILABLE})
    assert search(b, "reset") == 503
    assert Admin(b.http, "reset")("POST", "/reset")[0] == 204
    for process in (a, b):
        admin = Admin(process.http, "reset")
        assert admin("GET", "/stubs")[1]["stubs"] == []
        assert admin("GET", "/faults")[1]["faults"] == []
        assert admin("GET", "/requests/count")[1]["count"] == 0
    for process in (a, b):
        assert search(process, "reset") == 200
        assert grpc_by_image(process.grpc, "reset", RED)[0] == grpc.StatusCode.OK
        assert search(process, "other") == 503  # another tenant's stub stays


def test_a_thousand_requests_over_both_are_one_journal(pair):
    a, b = pair
    texts = [f"cat {i}" for i in range(1000)]
    with ThreadPoolExecutor(8) as threads:
        statuses = list(threads.map(lambda i: search(pair[i % 2], "many", texts[i]),
                                    range(1000)))
    assert statuses == [200] * 1000
    for process in (a, b):
        admin = Admin(process.http, "many")
        assert admin("GET", "/requests/count")[1]["count"] == 1000
        entries = admin("GET", "/requests")[1]["requests"]
        assert sorted(e["lookup"]["text"] for e in entries) == sorted(texts)  # each once
        assert len({e["seq"] for e in entries}) == 1000
        assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    last = Admin(a.http, "many")("GET", "/requests", params={"limit": 1})[1]["requests"][0]["seq"]
    after = Admin(b.http, "many")("GET", "/requests", params={"after": last - 10})[1]["requests"]
    assert len(after) == 10
    assert Admin(b.http, "many")("DELETE", "/requests")[0] == 204
    assert Admin(a.http, "many")("GET", "/requests/count")[1]["count"] == 0


def test_a_call_answered_by_one_is_listed_by_the_other_at_once(pair):
    for i in range(20):  # no waiting between the answer and the other process's query
        answered, asked = (pair[0], pair[1]) if i % 2 else (pair[1], pair[0])
        assert search(answered, "at-once", f"owl {i}") == 200
        count = Admin(asked.http, "at-once")("GET", "/requests/count")[1]["count"]
        assert count == i + 1


def test_the_journal_is_capped_over_both(redis):
    with emulator_processes(2, "--state", redis.url, "--journal-size", "50") as (a, b):
        Admin(a.http)("DELETE", "/requests")
        for i in range(80):
            search((a, b)[i % 2], "capped", f"dog {i}")
        entries = Admin(b.http, "capped")("GET", "/requests")[1]["requests"]
        numbers = [int(e["lookup"]["text"].split()[1]) for e in entries]
        assert len(numbers) == 50 and len(set(numbers)) == 50
        # the last 50 to reach Redis: each process sends its own within 5 ms of answering
        assert min(numbers) >= 25 and 79 in numbers and 78 in numbers
        for parity in (0, 1):  # each process's entries in the order it answered them
            mine = [n for n in numbers if n % 2 == parity]
            assert mine == sorted(mine)


def test_the_vendor_quota_holds_for_the_pair(redis):
    """Yandex's 10 requests a second per folder, over both processes together."""
    with emulator_processes(2, "--state", redis.url, "--rate-limits") as (a, b):
        for attempt in range(3):  # the burst must fit in one second: a busy machine retries
            tenant = f"quota-{attempt}"  # a key of its own: a fresh quota
            started = time.monotonic()
            with ThreadPoolExecutor(10) as threads:
                statuses = list(threads.map(lambda i, t=tenant: search((a, b)[i % 2], t),
                                            range(30)))
            if time.monotonic() - started < 1.0:
                break
        else:
            pytest.fail("30 requests never fitted in one second")
        assert statuses.count(200) == 10 and statuses.count(429) == 20  # not 10 each
        time.sleep(1.05)  # the next window
        assert search(b, tenant) == 200


def test_a_fault_quota_holds_for_the_pair(pair):
    a, b = pair
    Admin(a.http, "fq")("POST", "/faults", {"quota": {"limit": 10, "window_s": 60}})
    statuses = [search((a, b)[i % 2], "fq") for i in range(16)]
    assert statuses == [200] * 10 + [429] * 6


def test_repeats_answered_from_a_kept_answer_are_whole_journal_entries_in_redis(pair):
    a, b = pair
    for _ in range(3):  # the second and third are answered from what the first produced
        assert grpc_by_image(a.grpc, "repeats", RED)[0] == grpc.StatusCode.OK
    assert grpc_by_image(b.grpc, "repeats", RED)[0] == grpc.StatusCode.OK
    assert json.loads(http(a.http, "GET", "/_emulator/caches")[2])["replay"]["hits"] >= 2
    entries = Admin(b.http, "repeats")("GET", "/requests")[1]["requests"]
    assert len(entries) == 4 and len({e["seq"] for e in entries}) == 4
    first = entries[0]
    assert first["match"]["rule"] and first["image"]["sha256"] and first["at"]
    for entry in entries[1:]:
        assert {k: v for k, v in entry.items() if k not in ("seq", "at", "latency_ms")} == \
            {k: v for k, v in first.items() if k not in ("seq", "at", "latency_ms")}
        assert isinstance(entry["latency_ms"], float) and entry["at"] >= first["at"]
