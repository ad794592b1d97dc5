"""Request logs: one line per request, text or JSON, from the journal; never blocking."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from types import SimpleNamespace

import grpc

from support.server import FIXTURES, ROOT
from emulator import _logs
from emulator.core import Match, Tier
from emulator.yandex._protos import load

RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()
METHOD = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def entry(**extra) -> SimpleNamespace:
    """A journal entry as the journal records it, with optional newer fields."""
    return SimpleNamespace(api="yandex.v2.grpc", method="SearchByImage", outcome="OK",
                           request_id="0b6d3cc4-8a0e-4a3c-9c69-000000000001", **extra)


def logged(log_format: str, *entries, worker: int | None = None) -> list[str]:
    stream = io.StringIO()
    stop = _logs.configure(log_format, "info", worker=worker, stream=stream)
    try:
        for item in entries:
            _logs.log_request(item)
    finally:
        stop()
    return stream.getvalue().splitlines()


def test_text_line_has_every_field():
    full = entry(latency_ms=12.345, match=Match(Tier.PERCEPTUAL, "red square", 3), tenant="ci")
    [line] = logged("text", full)
    assert re.fullmatch(
        TIME + r' INFO emulator\.requests: request vendor=yandex api=yandex\.v2\.grpc '
        r'operation=SearchByImage status=OK latency_ms=12\.3 '
        r'match="perceptual; rule=\\"red square\\"; distance=3" tenant=ci '
        r'request_id=0b6d3cc4-8a0e-4a3c-9c69-000000000001', line), line


def test_fields_an_entry_lacks_are_unknown_not_guessed():
    [text] = logged("text", entry())
    assert " latency_ms=- match=- tenant=- " in text
    [line] = logged("json", entry())
    record = json.loads(line)
    assert record["latency_ms"] is None and record["match"] is None and record["tenant"] is None


def test_json_line_is_one_object():
    full = entry(latency_ms=7, match=Match(Tier.EXACT, "cats", 0), tenant=None)
    [line] = logged("json", full, worker=2)
    record = json.loads(line)
    assert re.fullmatch(TIME, record.pop("time"))
    assert record == {"level": "info", "logger": "emulator.requests", "message": "request",
                      "vendor": "yandex", "api": "yandex.v2.grpc", "operation": "SearchByImage",
                      "status": "OK", "latency_ms": 7, "match": {"tier": "exact", "rule": "cats",
                                                                 "distance": 0},
                      "tenant": None, "request_id": "0b6d3cc4-8a0e-4a3c-9c69-000000000001",
                      "worker": 2}


def test_server_messages_and_errors_are_json_too():
    stream = io.StringIO()
    stop = _logs.configure("json", "info", stream=stream)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("emulator.yandex._rest").exception("SearchByImage failed")
    finally:
        stop()
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["message"] == "SearchByImage failed"
    assert "RuntimeError: boom" in record["exception"]


def test_level_warning_silences_request_lines():
    stream = io.StringIO()
    stop = _logs.configure("text", "warning", stream=stream)
    _logs.log_request(entry())
    stop()
    assert stream.getvalue() == ""


class StalledStream(io.StringIO):
    """stderr nobody reads: every write waits until released."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.released.wait()
        return super().write(text)


def test_a_stalled_reader_never_blocks_logging(monkeypatch):
    monkeypatch.setattr(_logs, "QUEUE_LINES", 3)
    stream = StalledStream()
    stop = _logs.configure("text", "info", stream=stream)
    caller = threading.Thread(target=lambda: [_logs.log_request(entry()) for _ in range(10)])
    caller.start()
    caller.join(30)
    finished = not caller.is_alive()
    stream.released.set()
    stop()
    assert finished, "logging blocked on a stalled stream"
    lines = stream.getvalue().splitlines()
    requests = [line for line in lines if " request vendor=" in line]
    [note] = [line for line in lines if "log lines were dropped" in line]
    dropped = int(note.split()[0])
    assert len(requests) + dropped == 10 and dropped >= 6


def test_every_transport_logs_one_line_per_request():
    """The server itself: REST, gRPC and v1 XML requests, each one JSON line whose fields
    are the journal's."""
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--http-port", "0",
                             "--grpc-port", "0", "--log-format", "json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline()
        http = re.search(r"HTTP (\S+)", ready).group(1)
        grpc_target = re.search(r"gRPC (\S+)", ready).group(1)
        body = json.dumps({"folderId": "f", "data": base64.b64encode(RED_SQUARE).decode()})
        with urllib.request.urlopen(urllib.request.Request(
                http + "/v2/image/search_by_image", data=body.encode(),
                headers={"Authorization": "Api-Key k"}), timeout=10) as reply:
            rest_id = reply.headers["x-request-id"]
        request = load().ImageSearchByImageRequest(folder_id="f", url="https://e.com/a.jpg")
        with grpc.insecure_channel(grpc_target) as channel:
            try:
                channel.unary_unary(METHOD)(request.SerializeToString(), timeout=10)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
        with urllib.request.urlopen(http + "/images-xml?folderid=f&apikey=k&text=no+such+images",
                                    timeout=10) as reply:
            reply.read()
        with urllib.request.urlopen(http + "/_emulator/requests", timeout=10) as reply:
            journal = json.loads(reply.read())["requests"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.splitlines()]
    requests = [line for line in lines if line["message"] == "request"]
    assert [(r["vendor"], r["api"], r["operation"], r["status"], r["request_id"])
            for r in requests] == [
        ("yandex", e["api"], e["method"], e["outcome"], e["request_id"]) for e in journal]
    assert [r["status"] for r in requests] == ["OK", "UNAUTHENTICATED", "15"]
    assert requests[0]["request_id"] == rest_id
