"""HTTP-level input under ``/6/``: what aiohttp itself would refuse (unknown paths, methods,
malformed framing, encodings) answers in Doofinder's ``{"error": ...}`` form too, never in
aiohttp's text; browsers' preflights and HEAD work; nothing logs a traceback."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import socket
import time
from urllib.parse import urlsplit

import pytest

from support.doofinder_client import DOCS_HASHID, DOCS_KEY, RED_SQUARE, Doofinder
from support.rawhttp import parse_response

IMAGE_PATH = f"/6/{DOCS_HASHID}/_image_search"
GOOD = json.dumps({"image": base64.b64encode(RED_SQUARE).decode()}).encode()


def _complete(received: bytes) -> bool:
    """A whole answer with a Content-Length (the server may keep reading an unsent body)."""
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def send(server, data: bytes, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    split = urlsplit(server.http)
    with socket.create_connection((split.hostname, split.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while not _complete(received) and (chunk := sock.recv(65536)):
            received += chunk
    return parse_response(received)


def request(method: str, path: str, body: bytes = b"", headers=(), *,
            content_length: bool = True) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close",
             f"Authorization: Token {DOCS_KEY}".encode()]
    lines += [name.encode() + b": " + value.encode() for name, value in headers]
    if content_length:
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def vendor_error(reply: tuple[int, dict, bytes]) -> tuple[int, str]:
    status, headers, body = reply
    assert headers["content-type"].startswith("application/json"), (headers, body[:200])
    decoded = json.loads(body)
    assert set(decoded) == {"error"}, decoded
    return status, decoded["error"]


def server_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("path", [f"/6/{DOCS_HASHID}/_nope", f"/6/{DOCS_HASHID}", "/6/",
                                  f"/6/{DOCS_HASHID}/stats/cart/", f"/6/{DOCS_HASHID}/stats/x"])
def test_unknown_paths_are_404_json(server, path):
    assert vendor_error(send(server, request("GET", path))) == (404, "Not found")


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "_image_search", "OPTIONS, POST"), ("PUT", "_image_search", "OPTIONS, POST"),
    ("DELETE", "_search", "GET, HEAD, OPTIONS, POST"),
    ("POST", "_suggest", "GET, HEAD, OPTIONS"), ("GET", "stats/init", "OPTIONS, PUT"),
    ("POST", "stats/cart/s1", "OPTIONS, PUT"),
    ("POST", "_visually_similar", "GET, HEAD, OPTIONS"),
])
def test_other_methods_are_405_json_naming_the_allowed_ones(server, method, path, allow):
    reply = send(server, request(method, f"/6/{DOCS_HASHID}/{path}"))
    assert vendor_error(reply) == (405, "Method not allowed")
    assert reply[1]["allow"] == allow  # RFC 9110: a 405 carries Allow


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
def test_every_method_allow_lists_is_routed(server, method):
    """What ``Allow`` names is what the path answers: no method it lists is a 405."""
    status, _, _ = send(server, request(method, f"/6/{DOCS_HASHID}/_search"))
    assert status != 405


@pytest.mark.parametrize("raw", [
    request("POST", IMAGE_PATH, GOOD, [("X-Long", "a" * 70000)]),
    request("POST", IMAGE_PATH, b"ZZ\r\nabc\r\n0\r\n\r\n", [("Transfer-Encoding", "chunked")],
            content_length=False),
    request("POST", IMAGE_PATH, GOOD, [("Transfer-Encoding", "chunked")]),
    request("POST", IMAGE_PATH, GOOD, [("Content-Length", "abc")], content_length=False),
    request("POST", IMAGE_PATH, GOOD, [("Content-Encoding", "gzip")]),
], ids=["header-over-64-kib", "bad-chunk-size", "chunked-and-content-length",
        "garbage-content-length", "not-gzip"])
def test_malformed_http_gets_a_doofinder_error(server, raw, caplog):
    status, text = vendor_error(send(server, raw))
    assert 400 <= status < 500 and text
    assert not server_errors(caplog)


def test_a_gzip_body_is_read(server):
    reply = send(server, request("POST", IMAGE_PATH + "?rpp=1", gzip.compress(GOOD),
                                 [("Content-Encoding", "gzip")]))
    assert reply[0] == 200
    assert json.loads(reply[2])["results"][0]["id"] == "poster-red-square"


def test_a_gzip_bomb_is_413(server):
    bomb = gzip.compress(b'{"image": "' + b"A" * (9 * 1024 * 1024) + b'"}')
    reply = send(server, request("POST", IMAGE_PATH, bomb, [("Content-Encoding", "gzip")]))
    assert vendor_error(reply) == (413, "Request entity too large")


def test_a_declared_body_over_the_limit_is_refused_before_credentials(server):
    """Emulator decision: the size is judged first, unread, as a front proxy would."""
    raw = (f"POST {IMAGE_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           f"Content-Length: {9 * 1024 * 1024}\r\n\r\n").encode()
    assert vendor_error(send(server, raw + b"{")) == (413, "Request entity too large")


def test_cors_preflight_and_headers(server):
    origin = "http://localhost:5173"
    raw = (f"OPTIONS {IMAGE_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           f"Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n"
           "Access-Control-Request-Headers: authorization, content-type\r\n\r\n").encode()
    status, headers, _ = send(server, raw)
    assert status == 204
    assert headers["access-control-allow-origin"] == origin
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "authorization, content-type"
    reply = Doofinder(server.http).search("query=print", headers={"Origin": origin})
    assert reply.headers["access-control-allow-origin"] == origin


def test_head_on_a_get_operation(server):
    status, headers, body = send(server, request("HEAD", f"/6/{DOCS_HASHID}/_search"))
    assert status == 200 and body == b""
    assert headers["content-type"].startswith("application/json")


def test_a_client_that_disconnects_mid_body_logs_no_error(server, caplog):
    partial = request("POST", IMAGE_PATH, GOOD[:100], [("Content-Length", "5000")],
                      content_length=False)
    split = urlsplit(server.http)
    with socket.create_connection((split.hostname, split.port), timeout=5) as sock:
        sock.sendall(partial)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the server notices; wait until it has journaled it
        _, _, raw = Doofinder(server.http).raw("GET", "/_emulator/requests?limit=1")
        if json.loads(raw)["requests"][-1]["outcome"] == "499":
            break
        time.sleep(0.05)
    assert json.loads(raw)["requests"][-1]["outcome"] == "499"
    assert not server_errors(caplog)
