"""Record modes (``none``, ``once``, ``new_episodes``, ``all``) and the record command's
control plane (``/_emulator/recording``), with a second emulator as the upstream: what
reaches the upstream is read from its own journal."""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha.reflection_pb2 import ServerReflectionRequest as ReflectionRequest
from grpc_reflection.v1alpha.reflection_pb2_grpc import ServerReflectionStub

from emulator._config import Config
from emulator.yandex._protos import load as load_protos
from support.recording import ProxyThread
from support.server import Running, start

from test_record import (FOLDER, RED_SQUARE, TOLSTOY, by_image, by_text, call,
                         free_port, record, v1)

PROTOS = load_protos()
DOOFINDER = "/6/d8fdeab7fce96a19d3fc7b0ca7a1e98b/_search?query=shirt"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Running]:
    with start() as running:
        yield running


def reached(upstream: Running) -> int:
    """How many calls the upstream has answered (its journal)."""
    status, _, body = call(upstream.http, "/_emulator/requests/count")
    assert status == 200
    return json.loads(body)["count"]


def images(answer) -> list[str]:
    status, _, body = answer
    assert status == 200, body
    return [image["url"] for image in json.loads(body)["images"]]


def provenance(out: Path) -> dict:
    return json.loads((out / "recording.json").read_text())


def test_once_records_a_new_directory_then_replays_it_without_the_upstream(
        upstream, tmp_path, caplog):
    out = tmp_path / "rec"
    with record(out, yandex_upstream=upstream.http) as proxy:  # once: no recording yet
        first = images(by_image(proxy, RED_SQUARE))
        status, _, text_answer = by_text(proxy, "yandex cloud")
        assert status == 200
    assert len(provenance(out)["index"]) == 2
    before = reached(upstream)
    with record(out, yandex_upstream=upstream.http) as proxy:  # once, again: replay only
        assert images(by_image(proxy, RED_SQUARE)) == first
        status, _, again = by_text(proxy, "yandex cloud")
        assert status == 200 and json.loads(again).keys() == json.loads(text_answer).keys()
        # the matcher leaves credentials out: another key and folder ask the same question
        other = call(proxy, "/v2/image/search_by_image",
                     {"folderId": "b1gotherfolder", "data": by_image_data(RED_SQUARE),
                      "page": "0"}, {"Authorization": "Api-Key AQVNanotherkey00000"})
        assert images(other) == first
        with caplog.at_level(logging.ERROR, logger="emulator.record"):
            status, _, body = by_image(proxy, TOLSTOY)
        assert status == 404
        assert json.loads(body)["code"] == 5 and "not in the recording" in json.loads(body)[
            "message"]
    assert reached(upstream) == before  # nothing was forwarded
    assert any("is not in the recording" in r.getMessage() for r in caplog.records)


def by_image_data(picture: bytes) -> str:
    return base64.b64encode(picture).decode()


def test_new_episodes_forwards_only_what_is_not_recorded(upstream, tmp_path):
    out = tmp_path / "rec"
    with record(out, yandex_upstream=upstream.http, record_mode="all") as proxy:
        first = images(by_image(proxy, RED_SQUARE))
    written = json.loads((out / "rules.json").read_text())["image_rules"]
    before = reached(upstream)
    with record(out, yandex_upstream=upstream.http, record_mode="new_episodes") as proxy:
        assert images(by_image(proxy, RED_SQUARE)) == first
        assert reached(upstream) == before
        tolstoy = images(by_image(proxy, TOLSTOY))  # new: forwarded and recorded
        assert reached(upstream) == before + 1
        assert images(by_image(proxy, TOLSTOY)) == tolstoy  # now recorded: replayed
        assert images(by_image(proxy, RED_SQUARE)) == first
        assert reached(upstream) == before + 1
    rules = json.loads((out / "rules.json").read_text())["image_rules"]
    assert rules[:len(written)] == written and len(rules) == len(written) + 1
    recording = provenance(out)
    assert len(recording["index"]) == 2
    # the same salt: the placeholders of the first run are those of the second
    assert {s["placeholder"] for s in recording["redaction"]["secrets"]} >= {
        e["headers"]["Authorization"] for e in recording["exchanges"]}


def test_none_never_reaches_the_upstream(upstream, tmp_path):
    out = tmp_path / "empty"
    before = reached(upstream)
    with record(out, yandex_upstream=upstream.http, doofinder_upstream=upstream.http,
                record_mode="none") as proxy:
        status, _, body = by_image(proxy, RED_SQUARE)
        assert status == 404 and json.loads(body)["code"] == 5
        status, _, body = v1(proxy, "yandex cloud")
        assert status == 404 and b'<error code="20">' in body
        status, _, body = call(proxy, DOOFINDER, headers={"Authorization": "Token eu1-x"})
        assert status == 404 and "not in the recording" in json.loads(body)["error"]
    assert reached(upstream) == before
    assert not out.exists()  # mode none writes nothing


def test_all_records_anew_over_a_recording(upstream, tmp_path):
    out = tmp_path / "rec"
    with record(out, yandex_upstream=upstream.http, record_mode="all") as proxy:
        images(by_image(proxy, TOLSTOY))
    before = reached(upstream)
    with record(out, yandex_upstream=upstream.http, record_mode="all") as proxy:
        images(by_image(proxy, RED_SQUARE))
        images(by_image(proxy, RED_SQUARE))
    assert reached(upstream) == before + 2  # every call forwarded
    rules = json.loads((out / "rules.json").read_text())["image_rules"]
    assert len(rules) == 1 and len(provenance(out)["index"]) == 1


def admin(base: str, method: str, body: object = None, query: str = "",
          headers: dict | None = None):
    data = body if isinstance(body, bytes) else (
        json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"{base}/_emulator/recording{query}", data=data,
                                     method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_control_plane_starts_reports_and_stops_a_recording(upstream, tmp_path):
    out = tmp_path / "rec"
    with ProxyThread(Config(http_port=0)) as proxy:  # no --out: idle until started
        assert admin(proxy, "GET") == (200, {"status": "never_started"})
        assert by_image(proxy, RED_SQUARE)[0] == 503  # nothing to forward to yet: the vendor's unavailable
        status, body = admin(proxy, "POST", {"out": str(out), "mode": "new_episodes",
                                             "upstreams": {"yandex": upstream.http}})
        assert status == 201, body
        assert body["status"] == "recording" and body["mode"] == "new_episodes"
        assert body["upstreams"] == {"yandex": upstream.http} and body["out"] == str(out)
        before = reached(upstream)
        first = images(by_image(proxy, RED_SQUARE))
        assert images(by_image(proxy, RED_SQUARE)) == first
        status, body = admin(proxy, "GET")
        assert body["counts"] == {"forwarded": 1, "recorded": 1, "replayed": 1,
                                  "not_recorded": 0, "failed": 0}
        assert body["recorded_requests"] == 1 and body["last_error"] is None
        status, body = admin(proxy, "POST", {"out": str(tmp_path / "other"),
                                             "upstreams": {"yandex": upstream.http}})
        assert status == 409 and "in progress" in body["error"]
        status, body = admin(proxy, "DELETE", query="?replay=true")
        assert status == 200 and body["status"] == "replaying"
        assert body["counts"]["forwarded"] == 1
        # stopped with replay: the written directory answers, the upstream is not asked
        assert images(by_image(proxy, RED_SQUARE)) == first
        assert reached(upstream) == before + 1
        assert admin(proxy, "DELETE")[0] == 404
        status, body = admin(proxy, "POST", {"out": str(out), "mode": "once",
                                             "upstreams": {"yandex": upstream.http}})
        assert status == 201 and body["effective_mode"] == "none"
        assert admin(proxy, "DELETE") == (200, {**admin(proxy, "GET")[1]})
        assert admin(proxy, "GET")[1]["status"] == "stopped"


@pytest.mark.parametrize(("body", "status", "words", "place"), [
    (b"{not json", 400, "not JSON", None),
    ({"upstreams": {"yandex": "http://h.test"}}, 400, "'out' is a required property", "$"),
    ({"out": "x", "mode": "sometimes", "upstreams": {"yandex": "http://h.test"}}, 400,
     "'sometimes' is not one of", "$.mode"),
    ({"out": "x", "upstreams": {"yandex": "ftp://h.test"}}, 400, "expected http(s)://",
     "$.upstreams.yandex"),
    ({"out": "x", "upstreams": {"google": "http://h.test"}}, 400, "'google' was unexpected",
     "$.upstreams"),
    ({"out": "x", "mode": "all"}, 400, "give upstreams", "$.upstreams"),
    ({"out": "x", "mode": "none", "extra": 1}, 400, "'extra' was unexpected", "$"),
])
def test_bad_input_to_the_control_plane_is_its_own_error(tmp_path, body, status, words, place):
    with ProxyThread(Config(http_port=0)) as proxy:
        got, answer = admin(proxy, "POST", body)
        assert got == status and words in answer["error"], answer
        assert answer.get("place") == place
        assert admin(proxy, "GET") == (200, {"status": "never_started"})


def test_the_control_plane_checks_its_token_and_its_parameters(tmp_path):
    with ProxyThread(Config(http_port=0, admin_token="sesame")) as proxy:
        status, body = admin(proxy, "GET")
        assert status == 401 and "admin token required" in body["error"]
        auth = {"Authorization": "Bearer sesame"}
        assert admin(proxy, "GET", headers=auth) == (200, {"status": "never_started"})
        status, body = admin(proxy, "GET", query="?verbose=1", headers=auth)
        assert status == 400 and "verbose" in body["error"]
        status, body = admin(proxy, "DELETE", query="?replay=maybe", headers=auth)
        assert status == 400 and "replay" in body["error"]


def test_an_upstream_gone_is_the_vendors_unavailable_and_the_last_error(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "rec"
    with record(out, yandex_upstream=down, record_mode="new_episodes") as proxy:
        status, _, body = by_image(proxy, RED_SQUARE)
        assert status == 503 and json.loads(body)["code"] == 14
        query = urllib.parse.urlencode({"text": "cats", "folderid": "f", "apikey": "k"})
        status, _, body = call(proxy, f"/images-xml?{query}")
        assert status == 503 and b'<error code="20">' in body
        status, report = admin(proxy, "GET")
        assert report["counts"]["failed"] == 2 and report["counts"]["forwarded"] == 0
        assert f"yandex upstream {down} unreachable" in report["last_error"]["message"]
    assert provenance(out)["index"] == []


def test_the_record_command_replays_with_no_upstream_in_mode_none(upstream, tmp_path):
    """The real command line, offline: ``--record-mode none`` needs no upstream."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "rec"
    with record(out, yandex_upstream=upstream.http) as proxy:
        first = images(by_image(proxy, RED_SQUARE))
    before = reached(upstream)
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "record", "--http-port", "0", "--out", str(out),
         "--record-mode", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("image-search-emulator recording: http://127.0.0.1:"), line
        assert "record mode none (none)" in line
        base = line.split()[2]
        assert images(by_image(base, RED_SQUARE)) == first
        assert by_image(base, TOLSTOY)[0] == 404
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "replayed from the recording" in err and "is not in the recording" in err
    assert reached(upstream) == before


def test_the_matcher_and_the_bounded_index():
    from emulator.record._modes import Index, Indexed, request_key

    body = b'{"folderId": "b1gone", "query": {"queryText": "cats"}, "page": "0"}'
    same = b'{"page":"0","query":{"queryText":"cats"},"folderId":"b1gother"}'
    assert request_key("POST", "/v2/image/search", [], body) == \
        request_key("post", "/v2/image/search", [], same)
    assert request_key("POST", "/v2/image/search", [], body) != \
        request_key("POST", "/v2/image/search", [], body.replace(b"cats", b"dogs"))
    assert request_key("GET", "/images-xml", [("text", "a"), ("apikey", "k1")], b"") == \
        request_key("GET", "/images-xml", [("apikey", "k2"), ("text", "a")], b"")
    assert request_key("GET", "/images-xml", [("text", "a")], b"") != \
        request_key("GET", "/images-xml", [("text", "b")], b"")
    assert request_key("POST", "/6/h/_search", [], b"\xff not json") != \
        request_key("POST", "/6/h/_search", [], b"\xfe not json")
    index = Index(limit=3)
    for n in range(5):
        index.add(Indexed(f"k{n}", "GET", "/images-xml", "rules.json"))
    assert len(index) == 3 and "k0" not in index and "k4" in index
    again = Index.from_json(index.to_json())
    assert again.to_json() == index.to_json()
    assert len(Index.from_json("not a list")) == 0


SERVICE = "yandex.cloud.searchapi.v2.ImageSearchService"
GRPC_AUTH = (("authorization", "Api-Key AQVNgrpcmodes000000000"),)


def grpc_record(out: Path, upstream: Running, **config) -> ProxyThread:
    return record(out, yandex_grpc_upstream=f"grpc://127.0.0.1:{upstream.emulator.grpc_port}",
                  grpc_port=0, **config)


def grpc_call(proxy: ProxyThread, method: str, message: bytes) -> tuple[str, Any, str]:
    """A raw unary call to the proxy's gRPC side: the status, the answer, the details."""
    assert proxy.proxy.grpc is not None
    with grpc.insecure_channel(f"127.0.0.1:{proxy.proxy.grpc.port}") as ch:
        try:
            answer = ch.unary_unary(method)(message, metadata=GRPC_AUTH, timeout=30)
            return "OK", answer, ""
        except grpc.RpcError as error:
            return error.code().name, None, error.details() or ""


def grpc_by_image(picture: bytes) -> bytes:
    return PROTOS.ImageSearchByImageRequest(folder_id=FOLDER, data=picture).SerializeToString()


def grpc_images(answer: tuple[str, Any, str]) -> list[str]:
    code, message, details = answer
    assert code == "OK", details
    return [image.url for image in PROTOS.ImageSearchByImageResponse.FromString(message).images]


def test_grpc_once_records_then_answers_offline_from_the_recording(upstream, tmp_path, caplog):
    out = tmp_path / "rec"
    by_image_method = f"/{SERVICE}/SearchByImage"
    thread = grpc_record(out, upstream)  # once over no recording: all
    with thread:
        first = grpc_images(grpc_call(thread, by_image_method, grpc_by_image(RED_SQUARE)))
        text = PROTOS.ImageSearchRequest(folder_id=FOLDER, query=PROTOS.SearchQuery(
            search_type=PROTOS.SearchQuery.SEARCH_TYPE_RU, query_text="yandex cloud"))
        code, text_answer, _ = grpc_call(thread, f"/{SERVICE}/Search", text.SerializeToString())
        assert code == "OK"
    index = provenance(out)["index"]
    assert [(e["method"], e["path"]) for e in index] == [
        ("gRPC", "/v2/image/search_by_image"), ("gRPC", "/v2/image/search")]
    before = reached(upstream)
    thread = grpc_record(out, upstream)  # once over a recording: none
    with thread:
        assert thread.proxy.grpc is not None
        assert grpc_images(grpc_call(thread, by_image_method, grpc_by_image(RED_SQUARE))) == first
        code, again, _ = grpc_call(thread, f"/{SERVICE}/Search", text.SerializeToString())
        assert code == "OK" and PROTOS.ImageSearchResponse.FromString(again).raw_data == \
            PROTOS.ImageSearchResponse.FromString(text_answer).raw_data
        with caplog.at_level(logging.ERROR, logger="emulator.record"):
            code, _, details = grpc_call(thread, by_image_method, grpc_by_image(TOLSTOY))
        assert code == "NOT_FOUND"
        assert details == f"gRPC {by_image_method} is not in the recording (record mode none)"
        # health and reflection: the recording's emulator answers them
        code, health, _ = grpc_call(thread, "/grpc.health.v1.Health/Check", b"")
        assert code == "OK" and health == b"\x08\x01"  # SERVING
        reflection = ReflectionRequest(list_services="")
        assert thread.proxy.grpc is not None
        with grpc.insecure_channel(f"127.0.0.1:{thread.proxy.grpc.port}") as ch:
            stub = ServerReflectionStub(ch)
            services = [s.name for answer in stub.ServerReflectionInfo(iter([reflection]),
                                                                       timeout=30)
                        for s in answer.list_services_response.service]
        assert SERVICE in services
        counts = thread.proxy.recorder.status()["counts"]  # type: ignore[union-attr]
        assert counts["not_recorded"] == 1 and counts["forwarded"] == 0
        assert counts["replayed"] == 4
    assert reached(upstream) == before  # nothing reached the upstream
    assert any("is not in the recording" in r.getMessage() for r in caplog.records)


def test_grpc_new_episodes_forwards_only_what_is_not_recorded(upstream, tmp_path):
    out = tmp_path / "rec"
    method = f"/{SERVICE}/SearchByImage"
    thread = grpc_record(out, upstream, record_mode="all")
    with thread:
        first = grpc_images(grpc_call(thread, method, grpc_by_image(RED_SQUARE)))
    before = reached(upstream)
    thread = grpc_record(out, upstream, record_mode="new_episodes")
    with thread:
        assert grpc_images(grpc_call(thread, method, grpc_by_image(RED_SQUARE))) == first
        assert reached(upstream) == before
        tolstoy = grpc_images(grpc_call(thread, method, grpc_by_image(TOLSTOY)))
        assert reached(upstream) == before + 1  # new: forwarded and recorded
        assert grpc_images(grpc_call(thread, method, grpc_by_image(TOLSTOY))) == tolstoy
        assert reached(upstream) == before + 1  # now recorded: replayed
    assert len(provenance(out)["index"]) == 2


def test_a_grpc_call_replays_its_rest_twins_recording(upstream, tmp_path):
    """The same key on both sides: a SearchByImage recorded over REST (its body in
    protobuf's canonical JSON mapping) is answered over gRPC in mode none."""
    out = tmp_path / "rec"
    with record(out, yandex_upstream=upstream.http, record_mode="all") as proxy:
        rest = images(call(proxy, "/v2/image/search_by_image",
                           {"folderId": FOLDER, "data": by_image_data(RED_SQUARE)},
                           {"Authorization": "Api-Key AQVNgrpcmodes000000000"}))
    before = reached(upstream)
    thread = grpc_record(out, upstream, record_mode="none")
    with thread:
        method = f"/{SERVICE}/SearchByImage"
        assert grpc_images(grpc_call(thread, method, grpc_by_image(RED_SQUARE))) == rest
    assert reached(upstream) == before


def test_the_grpc_side_is_started_in_mode_none_and_writes_nothing(upstream, tmp_path):
    out = tmp_path / "rec"
    thread = grpc_record(out, upstream, record_mode="none")
    with thread:
        assert thread.proxy.grpc is not None
        code, _, details = grpc_call(thread, f"/{SERVICE}/SearchByImage",
                                     grpc_by_image(RED_SQUARE))
        assert code == "NOT_FOUND" and "not in the recording" in details
    assert not out.exists()  # mode none writes nothing
