"""SIGTERM: stop accepting, let requests in flight finish (within the grace), exit 0; and
``--workers N``: N processes on the same ports, each answering alike.

Requests are known to be in flight from what the server sends, never from sleeping: a
REST request is in its handler once the server answers ``Expect: 100-continue``, a gRPC
call once its initial metadata (sent first by the servicer) has arrived.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from support.server import FIXTURES, ROOT, catalog_url
from emulator.yandex._protos import load
from support.rawhttp import parse_response

METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
SLOW = (FIXTURES / "images" / "slow.png").read_bytes()
#: the slow rule's delay in the copy of the fixtures these tests serve: long enough that
#: what happens after SIGTERM happens while the slow answers are still being awaited
SLOW_MS = 4000


def slow_fixtures(directory: Path) -> Path:
    shutil.copytree(FIXTURES, directory)
    rules = json.loads((directory / "rules.json").read_text())
    [slow] = [rule for rule in rules["image_rules"] if rule.get("image") == "slow.png"]
    slow["delay_ms"] = SLOW_MS
    (directory / "rules.json").write_text(json.dumps(rules))
    return directory


@contextmanager
def emulator(*args: str, ready_line: list | None = None
             ) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """The CLI on free ports: (process, HTTP base URL, gRPC target); the ready line is
    appended to ``ready_line`` if given."""
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--http-port", "0",
                             "--grpc-port", "0", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready = proc.stdout.readline()
        assert "ready" in ready, proc.communicate(timeout=30)
        if ready_line is not None:
            ready_line.append(ready)
        yield (proc, re.search(r"HTTP (\S+)", ready).group(1),
               re.search(r"gRPC (\S+)", ready).group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def slow_rest_in_flight(base: str) -> socket.socket:
    """A slow REST request, sent and being handled (the 100 Continue says so)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    body = json.dumps({"folderId": "f", "data": base64.b64encode(SLOW).decode()}).encode()
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"POST /v2/image/search_by_image HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Api-Key k\r\nExpect: 100-continue\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode())
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    sock.sendall(body)
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data:
            status, headers, body = parse_response(data)
            if len(body) >= int(headers.get("content-length", 0)) and status != 100:
                break
    return data


def slow_grpc_in_flight(target: str) -> tuple[grpc.Channel, grpc.Future]:
    channel = grpc.insecure_channel(target)
    request = load().ImageSearchByImageRequest(folder_id="f", data=SLOW)
    # on the wire a unary call; as a client-streaming call, the client library hands over
    # the initial metadata as it arrives rather than with the answer
    call = channel.stream_unary(METHOD).future(iter([request.SerializeToString()]), timeout=60,
                                               metadata=(("authorization", "Api-Key k"),))
    call.initial_metadata()  # blocks until the servicer has started on the call
    return channel, call


def refused(base: str) -> bool:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (ConnectionRefusedError, ConnectionResetError):  # reset: queued as it closed
        return True
    return False


def wait_for_line(proc: subprocess.Popen, text: str) -> list[str]:
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} in the log: {seen}")


def test_sigterm_lets_requests_in_flight_finish(tmp_path):
    with emulator("--fixtures", str(slow_fixtures(tmp_path / "fx"))) as (proc, base, target):
        rest = slow_rest_in_flight(base)
        channel, call = slow_grpc_in_flight(target)
        proc.send_signal(signal.SIGTERM)
        wait_for_line(proc, "stopping")
        # no new connections from now on, while the slow answers are still due
        assert any(refused(base) for _ in range(200)), "still accepting after SIGTERM"
        status, _, body = parse_response(read_all(rest))
        assert status == 200
        assert json.loads(body)["images"][0]["url"] == catalog_url("red-square", base)
        assert call.result() and call.code() == grpc.StatusCode.OK
        channel.close()
        rest.close()
        assert proc.wait(30) == 0


def test_grace_is_bounded(tmp_path):
    with emulator("--fixtures", str(slow_fixtures(tmp_path / "fx")),
                  "--shutdown-grace", "0.2") as (proc, base, target):
        rest = slow_rest_in_flight(base)
        channel, call = slow_grpc_in_flight(target)
        proc.send_signal(signal.SIGTERM)
        # the process ends before the 4 s answers, and exits 0 all the same
        assert proc.wait(30) == 0
        assert b"HTTP/1.1 200" not in read_all(rest)
        assert call.exception() is not None and call.code() != grpc.StatusCode.OK
        channel.close()
        rest.close()


def test_workers_share_the_ports_and_answer_alike():
    ready_line: list[str] = []
    with emulator("--workers", "2", "--log-format", "json", "--tls", "--https-port", "0",
                  "--grpc-tls-port", "0", ready_line=ready_line) as (proc, base, target):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        https_port = int(re.search(r"HTTPS https://\S+:(\d+)", ready_line[0]).group(1))
        # one certificate, made once for every worker
        certificates = {ssl.get_server_certificate((host, https_port)) for _ in range(16)}
        body = json.dumps({"folderId": "f", "url": "https://example.com/cat.jpg"}).encode()
        answers = set()
        for _ in range(24):  # a new connection each: the kernel spreads them
            request = urllib.request.Request(base + "/v2/image/search_by_image", data=body,
                                             headers={"Authorization": "Api-Key k",
                                                      "Connection": "close"})
            with urllib.request.urlopen(request, timeout=10) as reply:
                answers.add((reply.headers["x-request-id"], reply.read()))
        ready = subprocess.run([sys.executable, "-m", "emulator", "ready", "--http-port", port,
                                "--grpc-port", target.rsplit(":", 1)[1]],
                               cwd=ROOT, capture_output=True, text=True, timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert ready.returncode == 0, ready.stderr
    assert proc.returncode == 0
    assert len(answers) == 1  # same request, same answer, whichever worker
    assert len(certificates) == 1
    requests = [json.loads(line) for line in err.splitlines()]
    workers = {r["worker"] for r in requests if r["message"] == "request"}
    assert workers == {1, 2}
    # every worker has exited: the port binds again without sharing
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT, not a listener
        sock.bind((host, int(port)))


def test_a_worker_that_cannot_start_stops_them_all(tmp_path):
    broken = tmp_path / "fx"
    shutil.copytree(FIXTURES, broken)
    (broken / "rules.json").write_text("{")
    proc = subprocess.run([sys.executable, "-m", "emulator", "--http-port", "0", "--grpc-port",
                           "0", "--workers", "2", "--fixtures", str(broken)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "ready" not in proc.stdout
    assert proc.stderr.splitlines()[0].startswith(f"error: cannot start: {broken}/rules.json")


def test_ready_reports_an_emulator_that_is_not_there():
    with socket.socket() as s, socket.socket() as t:
        s.bind(("127.0.0.1", 0))
        t.bind(("127.0.0.1", 0))
        port, other = str(s.getsockname()[1]), str(t.getsockname()[1])
    proc = subprocess.run([sys.executable, "-m", "emulator", "ready", "--http-port", port,
                           "--grpc-port", other, "--timeout", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("not ready: ") for line in lines)
    assert f"http://127.0.0.1:{port}/readyz" in lines[0] and "gRPC 127.0.0.1" in lines[1]
