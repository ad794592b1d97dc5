"""``--workers N``: with ``--state memory`` the control plane refuses what it would do to one
worker only (naming ``--state``); with Redis the workers share it. And the ``state``
setting, through the one option table."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from emulator._config import ConfigError, resolve
from support.adminhttp import Admin, http
from support.redisserver import RedisServer, emulator_processes, redis_server
from support.server import ROOT, start


@pytest.fixture
def store(tmp_path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


def spread_searches(base: str, tenant: str, count: int) -> list[int]:
    """``count`` searches, each on a new connection (the kernel spreads them over the
    workers)."""
    body = json.dumps({"query": {"searchType": "SEARCH_TYPE_RU", "queryText": "cats"}})
    return [http(base, "POST", "/v2/image/search", body.encode(),
                 {"Authorization": f"Api-Key {tenant}", "Connection": "close"})[0]
            for _ in range(count)]


def test_workers_without_a_shared_store_refuse_control_plane_writes_naming_state():
    with emulator_processes(1, "--workers", "2") as (e,):
        admin = Admin(e.http, "w")
        for method, path, body in (("POST", "/stubs", {"text": "cats", "results": []}),
                                   ("POST", "/faults", {"error": {"status": "INTERNAL"}}),
                                   ("POST", "/reset", None), ("GET", "/requests", None),
                                   ("GET", "/requests/count", None),
                                   ("DELETE", "/requests", None)):
            status, error = admin(method, path, body)
            assert status == 409, (method, path)
            assert "2 worker processes with --state memory" in error["error"]
            assert "--state redis://" in error["error"]
        assert admin("GET", "/fixtures")[0] == 200  # what each worker has alike is answered
        assert admin("GET", "/state")[1]["shared"] is False
        assert set(spread_searches(e.http, "w", 6)) == {200}  # vendor calls are served


def test_workers_on_redis_share_one_control_plane(store):
    with emulator_processes(1, "--workers", "2", "--state", store.url,
                            "--log-format", "json") as (e,):
        admin = Admin(e.http, "shared")
        assert admin("POST", "/stubs", {"text": "cats",
                                        "error": {"status": "INTERNAL"}})[0] == 201
        assert set(spread_searches(e.http, "shared", 24)) == {500}
        assert admin("GET", "/requests/count")[1]["count"] == 24
        assert admin("GET", "/stubs")[1]["stubs"][0]["hits"] == 24
        replicas = [r for r in admin("GET", "/state")[1]["replicas"] if r["live"]]
        assert len(replicas) == 2
        e.proc.terminate()
        e.proc.wait(30)
        requests = [json.loads(line) for line in e.log().splitlines() if line.startswith("{")]
    assert {r["worker"] for r in requests if r.get("message") == "request"} == {1, 2}


def test_the_state_setting_goes_through_the_option_table():
    assert resolve({}, {}).state == "memory"
    assert resolve({}, {"EMULATOR_STATE": "redis://cache:6379/2"}).state == \
        "redis://cache:6379/2"
    assert resolve({"state": "rediss://h:6380/0"}, {}).state == "rediss://h:6380/0"
    for bad in ("redis", "http://h:6379/0", "redis://:6379/0", "redis://h:6379/x", "mem"):
        with pytest.raises(ConfigError, match="expected memory, or redis://"):
            resolve({"state": bad}, {})
    with pytest.raises(ConfigError) as refused:
        resolve({"state": "redis://user:s3cret@h:x/0"}, {})
    assert "s3cret" not in str(refused.value)


def test_a_bad_state_setting_stops_the_command_line_with_the_reason():
    done = subprocess.run([sys.executable, "-m", "emulator", "--state", "redis:/nohost"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "state 'redis:/nohost': expected memory, or redis://" in done.stderr


def test_the_memory_store_reports_itself(tmp_path):
    with start() as running:
        status, info = Admin(running.http)("GET", "/state")
        assert status == 200 and info["backend"] == "memory" and info["shared"] is False
        assert info["problem"] is None and set(info["versions"]) == {"stubs", "faults"}


def test_redis_urls_are_shown_without_their_password(tmp_path):
    server = RedisServer(tmp_path)
    server.start()  # a second Redis, this one with a password
    try:
        subprocess.run(["redis-cli", "-p", str(server.port), "CONFIG", "SET", "requirepass",
                        "hidden"], check=True, capture_output=True, timeout=10)
        url = f"redis://:hidden@127.0.0.1:{server.port}/0"
        with emulator_processes(1, "--state", url) as (e,):
            status, info = Admin(e.http)("GET", "/state")
            assert status == 200 and info["problem"] is None
            assert "hidden" not in json.dumps(info) and info["url"].startswith("redis://:***@")
            assert "hidden" not in e.log()
    finally:
        server.stop()
