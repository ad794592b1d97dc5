"""Connection-level abuse, protocol-level errors per path, and determinism across processes.

Fast versions of what a soak / abuse session checked: the HTTP parser's refusals must come
in the format of the API that owns the path, abusive connections must not stall anyone
else or log tracebacks, and two processes must answer the same request byte for byte.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import contextlib
import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import grpc
import pytest
from lxml import etree

from support.server import FIXTURES, ROOT
from support.rawhttp import parse_response
from emulator.yandex._protos import load

PROTOS = load()
SBI_PATH = "/v2/image/search_by_image"
SBI_METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
SEARCH_METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/Search"
AUTH = "Api-Key test-key"
REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"
V1_QUERY = "/images-xml?folderid=f&apikey=k&text=cats"


# -- plumbing ------------------------------------------------------------------------------
def _address(server) -> tuple[str, int]:
    split = urlsplit(server.http)
    return split.hostname, split.port


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        raise AssertionError(f"no complete answer within {timeout}s: {received[:300]!r}") from None
    except ConnectionResetError:
        pass
    return received


def send_raw(server, data: bytes, *, half_close: bool = False, timeout: float = 5) -> bytes:
    with socket.create_connection(_address(server), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _read_all(sock, timeout)


split_reply = parse_response


def server_errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.get_records("call")
            if r.levelno >= logging.ERROR]


def healthz_ms(server) -> float:
    host, port = _address(server)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()
    return (time.perf_counter() - started) * 1000


def rest_by_url(server, url: str = "https://example.com/probe.jpg") -> int:
    host, port = _address(server)
    conn = http.client.HTTPConnection(host, port, timeout=5)
    conn.request("POST", SBI_PATH, json.dumps({"url": url}), {"Authorization": AUTH})
    reply = conn.getresponse()
    reply.read()
    conn.close()
    return reply.status


def assert_still_serving(server) -> None:
    assert healthz_ms(server) < 1000
    assert rest_by_url(server) == 200


# ==========================================================================================
# Protocol-level errors: the owning API's format, chosen by the request's path
# ==========================================================================================
def _malformed(method: str, target: str) -> dict[str, bytes]:
    start = f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n".encode()
    return {
        "invalid-header-char": start + b"Bad\x01Name: v\r\n\r\n",
        "space-in-header-name": start + b"Bad Name: v\r\n\r\n",
        "bad-chunk-size": start + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n",
        "conflicting-content-length": start + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
        "bad-http-version": f"{method} {target} HTTP/9.x\r\nHost: localhost\r\n\r\n".encode(),
    }


def _cases(method: str, target: str):
    return [pytest.param(raw, id=f"{target.split('?')[0]}-{name}")
            for name, raw in _malformed(method, target).items()]


@pytest.mark.parametrize("raw", [
    *_cases("POST", SBI_PATH),
    pytest.param(b"GARBAGE\r\n\r\n", id="garbage-request-line"),
    pytest.param(bytes.fromhex("16030100a5010000a10303") + os.urandom(32) + b"\x00" * 60,
                 id="tls-client-hello"),
])
def test_parser_refusals_on_v2_paths_and_unknown_input_are_google_rpc_status(server, raw):
    status, headers, body = split_reply(send_raw(server, raw))
    assert status == 400
    assert headers["content-type"].startswith("application/json"), body[:200]
    document = json.loads(body)
    assert document["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert document["details"][0]["@type"] == REQUEST_INFO


@pytest.mark.parametrize("raw", _cases("GET", V1_QUERY))
def test_parser_refusals_on_images_xml_are_the_xml_error_document(server, raw):
    """docs/known-differences.md: requests the HTTP parser refuses get "the XML error document on
    /images-xml". aiohttp hands handle_error its placeholder message (path "/"), so the
    REST fallback answered JSON here."""
    status, headers, body = split_reply(send_raw(server, raw))
    assert 400 <= status < 500
    assert headers["content-type"].startswith("text/xml"), (headers["content-type"], body[:200])
    error = etree.fromstring(body).find("response/error")
    assert error is not None and error.get("code") == "18"


@pytest.mark.parametrize("raw", _cases("GET", "/_emulator/requests"))
def test_parser_refusals_on_admin_paths_are_the_emulators_own_error(server, raw):
    status, headers, body = split_reply(send_raw(server, raw))
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json")
    document = json.loads(body)
    assert set(document) == {"error"}, document
    assert "internal" not in document["error"]  # a 4xx is the client's error, not ours


def test_grpc_port_survives_http1_and_random_bytes(server):
    host, port = server.grpc.rsplit(":", 1)
    for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096),
                 b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(1024)):
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            sock.sendall(data)
            with contextlib.suppress(socket.timeout, ConnectionResetError):
                sock.recv(1024)
    with grpc.insecure_channel(server.grpc) as channel:
        stub = channel.unary_unary(SBI_METHOD)
        stub(PROTOS.ImageSearchByImageRequest(url="https://example.com/a.jpg").SerializeToString(),
             metadata=(("authorization", AUTH),), timeout=5)


# ==========================================================================================
# Connection-level abuse: others are served, nothing is logged as an error
# ==========================================================================================
def test_idle_connections_and_slowloris_do_not_stall_others(server, caplog):
    address = _address(server)
    idle = [socket.create_connection(address, timeout=5) for _ in range(200)]
    slow = [socket.create_connection(address, timeout=5) for _ in range(10)]
    request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    try:
        for i, byte in enumerate(request[:-1]):  # one byte at a time, all but the last
            for sock in slow:
                sock.send(bytes([byte]))
            if i % 10 == 0:
                assert healthz_ms(server) < 500
            time.sleep(0.005)
        assert_still_serving(server)
        for sock in slow:  # and they are answered once their headers are complete
            sock.send(request[-1:])
        for sock in slow:
            assert _read_all(sock, 5).startswith(b"HTTP/1.1 200")
    finally:
        for sock in idle + slow:
            sock.close()
    assert_still_serving(server)
    assert not server_errors(caplog)


def test_cancelled_and_timed_out_grpc_calls_leave_no_error(server, caplog):
    slow = (FIXTURES / "images" / "slow.png").read_bytes()  # a rule answers after 1.5 s
    raw = PROTOS.ImageSearchByImageRequest(data=slow).SerializeToString()
    metadata = (("authorization", AUTH),)

    async def run() -> None:
        async with grpc.aio.insecure_channel(server.grpc) as channel:
            stub = channel.unary_unary(SBI_METHOD)
            calls = [stub(raw, metadata=metadata) for _ in range(100)]
            await asyncio.sleep(0.3)
            ms = await asyncio.get_running_loop().run_in_executor(None, healthz_ms, server)
            assert ms < 500
            for call in calls:
                call.cancel()
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            timed = await asyncio.gather(*(stub(raw, metadata=metadata, timeout=0.2)
                                           for _ in range(50)), return_exceptions=True)
            assert {r.code() for r in timed} == {grpc.StatusCode.DEADLINE_EXCEEDED}

    asyncio.run(run())
    time.sleep(1.6)  # the delayed handlers finish (or are cancelled) server-side
    assert_still_serving(server)
    assert not server_errors(caplog)


# ==========================================================================================
# Determinism: two processes, the same bytes and the same request ids
# ==========================================================================================
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _requests():
    red = base64.b64encode((FIXTURES / "images" / "red-square.png").read_bytes()).decode()
    auth = {"Authorization": AUTH}
    rest = [
        ("POST", SBI_PATH, {"url": "https://example.com/a.jpg", "page": "3"}, auth),
        ("POST", SBI_PATH, {"url": "https://example.com/a.jpg", "site": "news.example.org"}, auth),
        ("POST", SBI_PATH, {"data": red}, auth),
        ("POST", SBI_PATH, {"id": "1234567/AAAAAAAAAAAAAAAAAAAAAA1234"}, auth),
        ("POST", SBI_PATH, {"url": "u"}, {}),
        ("POST", "/v2/image/search", {"query": {"searchType": "SEARCH_TYPE_COM",
                                                "queryText": "sunset", "page": "2"},
                                      "imageSpec": {"format": "IMAGE_FORMAT_JPEG"}}, auth),
        ("GET", "/images-xml?folderid=f&apikey=k&text=red+cars&itype=png&isize=large&p=1", None, {}),
        ("GET", "/images-xml?folderid=f&apikey=k&text=no+such+images", None, {}),
    ]
    grpc_calls = [
        (SBI_METHOD, PROTOS.ImageSearchByImageRequest(url="https://example.com/g.png", page=2)),
        (SBI_METHOD, PROTOS.ImageSearchByImageRequest(data=b"not an image")),
        (SEARCH_METHOD, PROTOS.ImageSearchRequest(
            query={"search_type": 1, "query_text": "cats and dogs"}, docs_on_page=7)),
    ]
    return rest, grpc_calls


def _answers(http_port: int, grpc_port: int) -> list[tuple]:
    rest, grpc_calls = _requests()
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    for method, path, body, headers in rest:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        reply = conn.getresponse()
        out.append((reply.status, reply.getheader("x-request-id"), reply.read()))
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        for method, message in grpc_calls:
            stub = channel.unary_unary(method)
            try:
                raw, call = stub.with_call(message.SerializeToString(),
                                           metadata=(("authorization", AUTH),), timeout=10)
                out.append(("OK", dict(call.initial_metadata())["x-request-id"], raw))
            except grpc.RpcError as exc:
                out.append((exc.code(), dict(exc.initial_metadata())["x-request-id"],
                            dict(exc.trailing_metadata())["grpc-status-details-bin"]))
    return out


def test_two_processes_give_identical_bodies_and_request_ids():
    # one after the other at the same address: results link to pictures served there
    http_port, grpc_port = _free_port(), _free_port()
    answers = []
    for seed in ("1", "2"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--http-port", str(http_port),
             "--grpc-port", str(grpc_port)], cwd=ROOT,
            env=dict(os.environ, PYTHONHASHSEED=seed),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "ready" in proc.stdout.readline()
            answers.append(_answers(http_port, grpc_port))
        finally:
            proc.terminate()
            proc.wait(10)
    first, second = answers
    assert first == second
    assert len({request_id for _, request_id, _ in first}) == len(first)
    assert {status for status, _, _ in first} >= {200, 401, 404, "OK",
                                                 grpc.StatusCode.INVALID_ARGUMENT}
