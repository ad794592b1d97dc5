"""Who may call which folder (fixtures' access.json), and the per-folder quota, on both transports.

Contract (the vendor's API v2 reference, errors): 7 PERMISSION_DENIED / 403 for a valid key on a
folder it may not use, 16 UNAUTHENTICATED / 401 for an unknown one, and 8 RESOURCE_EXHAUSTED /
429 beyond 10 image-by-image requests a second per folder.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import time
from urllib.parse import urlsplit

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2

from support.server import FIXTURES, catalog_url, start
from emulator.yandex._protos import load

PROTOS = load()
REQUEST = PROTOS.ImageSearchByImageRequest
RESPONSE = PROTOS.ImageSearchByImageResponse
METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
PATH = "/v2/image/search_by_image"
TRANSPORTS = ("rest", "grpc")
#: a query URL rules.json maps to the red square (not the picture URL the answer gives)
RED_SQUARE_URL = "https://images.example.com/shapes/red-square.png"
RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()
ACCESS = {"version": 1, "keys": [{"key": "good", "folders": ["f1"]}, {"key": "any"}]}


class Client:
    """One SearchByImage call on either transport: (gRPC code number, message, body, request id)."""

    def __init__(self, running) -> None:
        split = urlsplit(running.http)
        #: what the emulator answers as the red square's picture (served by itself)
        self.red_square_answer = catalog_url("red-square", running.http)
        self.host, self.port = split.hostname, split.port
        self.channel = grpc.insecure_channel(running.grpc)
        self.stub = self.channel.unary_unary(METHOD, request_serializer=REQUEST.SerializeToString,
                                             response_deserializer=RESPONSE.FromString)

    def close(self) -> None:
        self.channel.close()

    def call(self, transport: str, auth: str | None, **fields) -> tuple[int, str, dict]:
        if transport == "rest":
            return self._rest(auth, fields)
        return self._grpc(auth, fields)

    def _rest(self, auth, fields) -> tuple[int, str, dict]:
        body = {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v
                for k, v in fields.items()}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("POST", PATH, json.dumps(body),
                         {"Authorization": auth} if auth is not None else {})
            resp = conn.getresponse()
            payload = json.loads(resp.read())
            request_id = resp.getheader("x-request-id")
        finally:
            conn.close()
        if resp.status == 200:
            return 0, "", payload
        expected_http = {3: 400, 7: 403, 8: 429, 16: 401}[payload["code"]]
        assert resp.status == expected_http, (resp.status, payload)
        assert payload["details"] == [{"@type": "type.googleapis.com/google.rpc.RequestInfo",
                                       "requestId": request_id}]
        return payload["code"], payload["message"], payload

    def _grpc(self, auth, fields) -> tuple[int, str, dict]:
        metadata = [("authorization", auth)] if auth is not None else []
        try:
            response = self.stub(REQUEST(**fields), metadata=metadata, timeout=30)
        except grpc.RpcError as exc:
            trailers = dict(exc.trailing_metadata() or ())
            status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
            assert status.code == exc.code().value[0] and status.message == exc.details()
            info = error_details_pb2.RequestInfo()
            assert status.details[0].Unpack(info)
            assert info.request_id == dict(exc.initial_metadata())["x-request-id"]
            return status.code, status.message, {}
        return 0, "", json_format.MessageToDict(response)


def fixture_dir(tmp_path_factory, name: str):
    directory = tmp_path_factory.mktemp(name) / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "access.json").write_text(json.dumps(ACCESS))
    return directory


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with start(fixture_dir(tmp_path_factory, "access")) as running:
        client = Client(running)
        yield client
        client.close()


# -- access ----------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("auth", ["Api-Key unknown", "Bearer t1.not-listed", "Api-Key goo",
                                  "Api-Key good-but-longer"])
def test_unknown_key_is_unauthenticated(guarded, transport, auth):
    code, message, _ = guarded.call(transport, auth, url=RED_SQUARE_URL, folder_id="f1")
    assert code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert message == "Token is invalid or has expired."


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_missing_credentials_are_unauthenticated(guarded, transport):
    code, message, _ = guarded.call(transport, None, url=RED_SQUARE_URL, folder_id="f1")
    assert code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert message == "Token is invalid or has expired."


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_key_on_a_folder_it_may_not_use_is_permission_denied(guarded, transport):
    code, message, _ = guarded.call(transport, "Api-Key good", url=RED_SQUARE_URL, folder_id="f2")
    assert code == grpc.StatusCode.PERMISSION_DENIED.value[0]  # REST: 403, checked in _rest
    assert message


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("auth", ["Api-Key good", "api-key good", "Bearer good"])
def test_key_on_its_folder_is_served(guarded, transport, auth):
    code, message, body = guarded.call(transport, auth, url=RED_SQUARE_URL, folder_id="f1")
    assert code == 0, message
    assert body["images"][0]["url"] == guarded.red_square_answer


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("folder", ["f1", "f2", "some-other-folder"])
def test_key_without_folder_list_may_use_any_folder(guarded, transport, folder):
    code, message, body = guarded.call(transport, "Api-Key any", data=RED_SQUARE, folder_id=folder)
    assert code == 0, message
    assert body["images"][0]["url"] == guarded.red_square_answer


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rest_proto_name_folder_id_is_checked_too(guarded, transport):
    if transport == "rest":
        conn = http.client.HTTPConnection(guarded.host, guarded.port, timeout=30)
        conn.request("POST", PATH, json.dumps({"url": RED_SQUARE_URL, "folder_id": "f2"}),
                     {"Authorization": "Api-Key good"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        assert resp.status == 403 and body["code"] == 7
    else:
        code, _, _ = guarded.call(transport, "Api-Key good", url=RED_SQUARE_URL, folder_id="f2")
        assert code == 7


def test_without_access_list_any_key_is_served(server):
    client = Client(server)
    try:
        for transport in TRANSPORTS:
            code, message, _ = client.call(transport, "Api-Key whatever", url=RED_SQUARE_URL,
                                           folder_id="f2")
            assert code == 0, message
    finally:
        client.close()


# -- rate limits -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    with start(fixture_dir(tmp_path_factory, "limits"), rate_limits=True) as running:
        client = Client(running)
        yield client
        client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_eleventh_request_in_a_second_is_resource_exhausted(limited, transport):
    for attempt in range(3):  # the 11 must fit in the vendor's second: a busy machine retries
        folder = f"quota-{transport}-{attempt}"  # a folder of its own: a fresh quota
        started = time.monotonic()
        codes = [limited.call(transport, "Api-Key any", url=RED_SQUARE_URL, folder_id=folder)[0]
                 for _ in range(11)]
        elapsed = time.monotonic() - started
        if elapsed < 1.0:
            break
    assert elapsed < 1.0, f"11 requests took {elapsed:.2f}s: the test needs them within 1 s"
    assert codes[:10] == [0] * 10
    assert codes[10] == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]  # REST: 429, checked in _rest
    # another folder has its own quota
    code, message, _ = limited.call(transport, "Api-Key any", url=RED_SQUARE_URL,
                                    folder_id=f"other-{transport}")
    assert code == 0, message


def test_quota_is_per_folder_across_transports(limited):
    folder = "shared-quota"
    codes = [limited.call(t, "Api-Key any", url=RED_SQUARE_URL, folder_id=folder)[0]
             for t in ("rest", "grpc") * 5]
    assert codes == [0] * 10
    for transport in TRANSPORTS:
        code, _, _ = limited.call(transport, "Api-Key any", url=RED_SQUARE_URL, folder_id=folder)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def test_no_rate_limits_by_default(server):
    client = Client(server)
    try:
        codes = [client.call("rest", "Api-Key k", url=RED_SQUARE_URL, folder_id="busy")[0]
                 for _ in range(15)]
        assert codes == [0] * 15
    finally:
        client.close()


def test_text_searches_do_not_use_up_the_image_by_image_quota(limited):
    import urllib.request

    folder = "text-then-image"
    base = f"http://{limited.host}:{limited.port}"
    for _ in range(10):
        with urllib.request.urlopen(f"{base}/images-xml?folderid={folder}&apikey=any&text=cats",
                                    timeout=10) as reply:
            assert b"<error" not in reply.read()
    code, message, _ = limited.call("rest", "Api-Key any", url=RED_SQUARE_URL, folder_id=folder)
    assert code == 0, message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_restricted_key_without_a_folder_uses_its_own(guarded, transport):
    code, message, body = guarded.call(transport, "Api-Key good", url=RED_SQUARE_URL)
    assert code == 0, message
    assert body["images"][0]["url"] == guarded.red_square_answer
