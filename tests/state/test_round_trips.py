"""What the Redis backend asks Redis per call, counted on a real ``redis-server``
(``INFO commandstats``): a quota window found full is refused by each process without
asking again until it ends, and a fault's quota that goes and comes back is fresh on
every process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from support.adminhttp import Admin
from support.redisserver import Process, emulator_processes
from support.yandexcalls import rest_search


@pytest.fixture(scope="module")
def pair(redis) -> Iterator[list[Process]]:
    with emulator_processes(2, "--state", redis.url) as both:
        yield both


def search(process: Process, tenant: str) -> int:
    return rest_search(process.http, tenant, "kittens")[0]


def test_a_full_fault_quota_is_refused_by_each_process_asking_redis_once_at_most(redis, pair):
    a, b = pair
    Admin(a.http, "rt-full")("POST", "/faults", {"quota": {"limit": 3, "window_s": 60}})
    assert [search((a, b)[i % 2], "rt-full") for i in range(3)] == [200] * 3
    before = redis.calls("GET")  # the quota script reads each window with GET
    statuses = [search((a, b)[i % 2], "rt-full") for i in range(20)]
    assert statuses == [429] * 20
    # a learnt the window is full from the call that filled it; b asks once
    assert redis.calls("GET") - before <= 1


def test_a_vendor_quota_window_refused_locally_opens_again_when_it_ends(redis):
    """Yandex's 10 requests a second: once the second is over, each process is let
    through again, though both refused without asking Redis."""
    with emulator_processes(2, "--state", redis.url, "--rate-limits") as (a, b):
        for attempt in range(3):  # the burst must fit in one second: a busy machine retries
            tenant = f"rt-vendor-{attempt}"
            started = time.monotonic()
            statuses = [search((a, b)[i % 2], tenant) for i in range(14)]
            if time.monotonic() - started < 0.9:
                break
        else:
            pytest.fail("14 requests never fitted in 0.9 seconds")
        assert statuses == [200] * 10 + [429] * 4
        before = redis.calls("GET")
        assert [search(p, tenant) for p in (a, b, a, b)] == [429] * 4
        assert redis.calls("GET") - before == 0  # both know the window is full
        time.sleep(max(0.0, started + 1.05 - time.monotonic()))  # the next window
        assert [search(p, tenant) for p in (a, b)] == [200, 200]


@pytest.mark.parametrize("window", [{"window_s": 60}, {}], ids=["a minute", "never ending"])
def test_a_fault_quota_removed_and_added_again_through_one_is_fresh_on_both(pair, window):
    a, b = pair
    tenant = f"rt-again-{len(window)}"
    fault = {"id": "limited", "quota": {"limit": 2, **window}}
    Admin(a.http, tenant)("POST", "/faults", fault)
    assert [search(p, tenant) for p in (a, b, a, b)] == [200, 200, 429, 429]
    Admin(b.http, tenant)("DELETE", "/faults/limited")
    Admin(b.http, tenant)("POST", "/faults", fault)
    assert [search(p, tenant) for p in (a, b, a, b)] == [200, 200, 429, 429]
    Admin(a.http, tenant)("DELETE", "/faults/limited")
    assert [search(p, tenant) for p in (a, b)] == [200, 200]
