"""Repeated requests answered from what their first arrival produced: byte for byte the
same answer, with every side effect of a request kept (a journal entry each, quotas
counted, faults and stub sequences applied in order, tenants apart), and nothing kept
across a change of state."""

from __future__ import annotations

import base64
import json
import shutil
import time

import grpc

from emulator.core import Journal, Match, Tier
from emulator.core._replay import Replay, ReplayCache, RequestKey, StateVersion
from support.adminhttp import http, module_emulator, tenant_admin
from support.doofinder_client import DOCS_HASHID, DOCS_KEY
from support.server import FIXTURES, start
from support.yandexcalls import BY_IMAGE, PROTOS, served_path, v1_search, xml_doc_urls

RED = (FIXTURES / "images" / "red-square.png").read_bytes()
BLUE = (FIXTURES / "images" / "blue-wallpaper.jpg").read_bytes()

running = module_emulator()
admin = tenant_admin("replay")


def replay_stats(admin) -> dict:
    status, caches = admin("GET", "/caches")
    assert status == 200
    return caches["replay"]


def by_image(base: str, tenant: str, image: bytes = RED) -> tuple[int, dict, bytes]:
    body = json.dumps({"folderId": "f1", "data": base64.b64encode(image).decode()}).encode()
    return http(base, "POST", "/v2/image/search_by_image", body,
                {"Authorization": f"Api-Key {tenant}"})


def journal(admin) -> list[dict]:
    return admin("GET", "/requests")[1]["requests"]


def test_a_repeat_is_the_same_answer_and_a_journal_entry_of_its_own(running, admin):
    before = replay_stats(admin)
    answers = [by_image(running.http, admin.tenant) for _ in range(3)]
    after = replay_stats(admin)
    assert after["stored"] - before["stored"] == 1 and after["hits"] - before["hits"] == 2
    (status, headers, body), *repeats = answers
    assert status == 200 and json.loads(body)["images"]
    for r_status, r_headers, r_body in repeats:
        assert (r_status, r_body) == (status, body)
        for name in ("x-request-id", "x-server-trace-id", "Content-Type", "x-emulator-match"):
            assert r_headers[name] == headers[name]
    entries = journal(admin)
    assert len(entries) == 3
    assert {e["request_id"] for e in entries} == {headers["x-request-id"]}
    assert [e["seq"] for e in entries] == sorted({e["seq"] for e in entries})
    first, *others = entries
    for entry in others:
        assert {k: v for k, v in entry.items() if k not in ("seq", "at", "latency_ms")} == \
            {k: v for k, v in first.items() if k not in ("seq", "at", "latency_ms")}
    assert first["image"]["sha256"] and first["match"]["tier"] == "exact"


def test_a_stub_added_after_a_kept_answer_wins_at_once_and_its_sequence_steps(running, admin):
    plain = xml_doc_urls(v1_search(running.http, admin.tenant, "replay steps"))
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "replay steps")) == plain
    _, stub = admin("POST", "/stubs", {"text": "replay steps", "sequence": [
        {"results": ["red-square"]}, {"results": ["blue-wallpaper"]}, {"results": ["gray-sketch"]}]})
    seen = [xml_doc_urls(v1_search(running.http, admin.tenant, "replay steps"))
            for _ in range(4)]
    red, blue, gray = (f"/_emulator/images/files/{n}" for n in
                       ("red-square.png", "blue-wallpaper.jpg", "gray-sketch.gif"))
    assert [[u.split("?")[0] for u in urls] for urls in seen] == [[red], [blue], [gray], [gray]]
    assert admin("GET", f"/stubs/{stub['id']}")[1]["hits"] == 4
    admin("DELETE", f"/stubs/{stub['id']}")
    assert xml_doc_urls(v1_search(running.http, admin.tenant, "replay steps")) == plain
    assert [e["match"]["tier"] for e in journal(admin)].count("stub") == 4
    assert len(journal(admin)) == 7


def test_faults_apply_to_repeats_in_order(running, admin):
    status, _, body = by_image(running.http, admin.tenant)
    assert status == 200 and by_image(running.http, admin.tenant)[2] == body  # kept
    admin("POST", "/faults", {"times": 2, "error": {"status": "UNAVAILABLE"}})
    assert [by_image(running.http, admin.tenant)[0] for _ in range(3)] == [503, 503, 200]
    assert by_image(running.http, admin.tenant)[2] == body
    assert [e["outcome"] for e in journal(admin)] == ["OK", "OK", "UNAVAILABLE", "UNAVAILABLE",
                                                      "OK", "OK"]


def test_a_fault_for_another_tenant_leaves_this_one_alone(running, admin):
    other = admin.for_tenant(admin.tenant + "-other")
    try:
        other("POST", "/faults", {"error": {"status": "INTERNAL"}})
        assert [by_image(running.http, admin.tenant)[0] for _ in range(3)] == [200] * 3
        assert by_image(running.http, other.tenant)[0] == 500
    finally:
        other("POST", "/reset")


def test_tenants_are_journaled_apart(running, admin):
    other = admin.for_tenant(admin.tenant + "-b")
    try:
        a = [by_image(running.http, admin.tenant) for _ in range(2)]
        b = [by_image(running.http, other.tenant) for _ in range(3)]
        assert a[0][2] == a[1][2] and b[0][2] == b[2][2]
        assert len(journal(admin)) == 2 and len(journal(other)) == 3
        assert {e["tenant"] for e in journal(other)} == {other.tenant}
    finally:
        other("POST", "/reset")


def test_a_bad_request_repeated_gets_its_error_each_time(running, admin):
    body = json.dumps({"folderId": "f1", "data": base64.b64encode(b"not an image").decode()})
    answers = [http(running.http, "POST", "/v2/image/search_by_image", body.encode(),
                    {"Authorization": f"Api-Key {admin.tenant}"}) for _ in range(2)]
    assert [a[0] for a in answers] == [400, 400] and answers[0][2] == answers[1][2]
    assert json.loads(answers[0][2])["code"] == 3
    oversized = b"{" + b" " * (9 * 1024 * 1024) + b"}"
    for _ in range(2):
        status, _, raw = http(running.http, "POST", "/v2/image/search_by_image", oversized,
                              {"Authorization": f"Api-Key {admin.tenant}"})
        assert status == 400 and json.loads(raw)["code"] == 3
    assert [e["outcome"] for e in journal(admin)] == ["INVALID_ARGUMENT"] * 4


def test_grpc_repeats_send_the_same_ids_and_answer(running, admin):
    before = replay_stats(admin)
    request = PROTOS.ImageSearchByImageRequest(folder_id="f1", data=RED).SerializeToString()
    seen = []
    with grpc.insecure_channel(running.grpc) as channel:
        method = channel.unary_unary(BY_IMAGE)
        for _ in range(3):
            raw, call = method.with_call(request, metadata=[
                ("authorization", "Api-Key shared"), ("x-emulator-tenant", admin.tenant)],
                timeout=30)
            seen.append((raw, dict(call.initial_metadata()), dict(call.trailing_metadata())))
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][1]["x-request-id"] and seen[0][2]["x-emulator-match"].startswith("exact")
    assert replay_stats(admin)["hits"] - before["hits"] >= 2
    assert len(journal(admin)) == 3


def test_quotas_are_counted_on_every_repeat(tmp_path):
    with start(rate_limits=True) as limited:
        assert by_image(limited.http, "quota")[0] == 200  # answered and kept
        time.sleep(1.1)  # a new window: the first call's slower answer is out of it
        codes = [by_image(limited.http, "quota")[0] for _ in range(12)]
        assert codes == [200] * 10 + [429] * 2  # Contract: 10 a second per folder

        def doofinder_search() -> int:
            return http(limited.http, "POST", f"/6/{DOCS_HASHID}/_image_search",
                        json.dumps({"image": base64.b64encode(RED).decode()}).encode(),
                        {"Authorization": f"Token {DOCS_KEY}",
                         "Content-Type": "application/json"})[0]

        assert doofinder_search() == 200  # ranked (and kept), in a window of its own
        time.sleep(1.1)
        doofinder = [doofinder_search() for _ in range(22)]
        assert doofinder == [200] * 20 + [429] * 2  # Contract: 20 a second per engine
        entries = json.loads(http(limited.http, "GET", "/_emulator/requests")[2])["requests"]
        assert len(entries) == 36


def test_a_reload_drops_every_kept_answer(tmp_path):
    fixtures = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, fixtures)
    with start(fixtures, reload_interval=0) as run:
        before = xml_doc_urls(v1_search(run.http, "r", "reloaded cats"))
        assert xml_doc_urls(v1_search(run.http, "r", "reloaded cats")) == before
        rules = json.loads((fixtures / "rules.json").read_text())
        rules["query_rules"].append({"name": "reloaded", "text": "reloaded cats",
                                     "results": ["gray-sketch"]})
        (fixtures / "rules.json").write_text(json.dumps(rules))
        status, _, _ = http(run.http, "POST", "/_emulator/fixtures/reload")
        assert status == 200
        after = [served_path(u).split("?")[0]
                 for u in xml_doc_urls(v1_search(run.http, "r", "reloaded cats"))]
        assert after == ["/_emulator/images/files/gray-sketch.gif"] != before
        stats = json.loads(http(run.http, "GET", "/_emulator/caches")[2])["replay"]
        assert stats["dropped"] >= 1 and stats["hits"] == 1


def test_replay_bytes_zero_keeps_nothing():
    with start(replay_bytes=0) as run:
        answers = [by_image(run.http, "nokeep") for _ in range(3)]
        assert answers[0][2] == answers[2][2]
        stats = json.loads(http(run.http, "GET", "/_emulator/caches")[2])["replay"]
        assert stats["max_bytes"] == 0 and stats["entries"] == stats["hits"] == 0


def _replay(size: int) -> Replay:
    entry = Journal().prepare("api", "m", "id", {}, "OK")
    return Replay(b"x" * size, size, b"d", None, entry, None, None, Match(Tier.EXACT, "r"), ())


def test_the_cache_is_bounded_in_bytes_and_count_and_bound_to_one_state():
    cache = ReplayCache(max_entries=3, max_bytes=8000)
    state = StateVersion(object(), 0, 0)
    def key(n: int) -> RequestKey:
        return RequestKey(("k",), b"%d" % n)

    for n in range(5):
        cache.put(key(n), state, _replay(900))
    assert cache.stats()["entries"] == 3 and cache.get(key(0), state) is None
    assert cache.get(key(4), state) is not None
    cache.put(key(9), state, _replay(1001))  # over an eighth of the bytes: not kept
    assert cache.get(key(9), state) is None
    cache.put(key(5), state, _replay(1000))
    assert cache.stats()["bytes"] <= 8000
    assert cache.get(key(5), StateVersion(state.store, 1, 0)) is None  # a stub changed
    assert cache.stats()["entries"] == 0 and cache.stats()["dropped"] == 3


def test_equal_requests_from_new_connections_share_one_kept_answer(running, admin):
    before = replay_stats(admin)
    bodies = {by_image(running.http, admin.tenant, BLUE)[2] for _ in range(4)}  # one connection each
    assert len(bodies) == 1
    assert replay_stats(admin)["hits"] - before["hits"] == 3


def test_bodies_that_hash_alike_never_share_an_answer():
    """The key's hash reads three spans of a body: two bodies that differ elsewhere hash
    alike, and are still told apart."""
    cache, state = ReplayCache(), StateVersion(object(), 0, 0)
    one = bytearray(b"a" * 100_000)
    other = bytearray(one)
    other[20_000] = ord("b")  # outside the spans the hash reads
    first, second = RequestKey(("h",), bytes(one)), RequestKey(("h",), bytes(other))
    assert hash(first) == hash(second) and first != second
    cache.put(first, state, _replay(10))
    assert cache.get(second, state) is None and cache.get(first, state) is not None
    cache.put(second, state, _replay(20))
    assert cache.get(second, state).size == 20 and cache.get(first, state).size == 10
