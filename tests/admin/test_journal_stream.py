"""``GET /_emulator/requests/stream``: the journal as server-sent events, as it grows."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from support.adminhttp import Admin
from support.server import FIXTURES, start
from support.yandexcalls import rest_by_image, rest_search
from emulator.admin import _stream

RED_SQUARE = (FIXTURES / "images" / "red-square.png").read_bytes()


class Stream:
    """An open event stream, read event by event (a reader thread fills ``events``)."""

    def __init__(self, base: str, path: str = "/_emulator/requests/stream",
                 headers: dict[str, str] | None = None) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.events: list[dict[str, str]] = []
        self.comments: list[str] = []
        if self.response.status == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event: dict[str, str] = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if not line:
                    if event:
                        self.events.append(event)
                    event = {}
                elif line.startswith(":"):
                    self.comments.append(line)
                else:
                    name, _, value = line.partition(": ")
                    event[name] = value
        except Exception:  # the test closed the connection under the reader
            pass

    def wait(self, count: int, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len([e for e in self.events if e.get("event") == "request"]) < count:
            assert time.monotonic() < deadline, f"only {self.events} arrived"
            time.sleep(0.02)
        return [json.loads(e["data"]) | {"_id": e["id"]} for e in self.events
                if e.get("event") == "request"]

    def close(self) -> None:
        self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()


@pytest.fixture(scope="module")
def running():
    with start() as run:
        yield run


def test_a_new_entry_arrives_as_an_event_without_asking_again(running):
    stream = Stream(running.http, "/_emulator/requests/stream?tenant=live-1")
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        assert stream.response.getheader("Cache-Control") == "no-store"
        time.sleep(0.2)
        assert rest_by_image(running.http, "live-1", RED_SQUARE)[0] == 200
        (event,) = stream.wait(1)
        _, listed = Admin(running.http, "live-1")("GET", "/requests")
        assert event.pop("_id") == str(listed["requests"][-1]["seq"])
        assert event == listed["requests"][-1]  # the very entry the journal lists
        assert event["api"] == "yandex.v2.rest" and event["match"]["rule"] == "red square"
        assert stream.events[0] == {"retry": "2000"}
    finally:
        stream.close()


def test_the_stream_keeps_to_its_tenant_and_filters(running):
    stream = Stream(running.http, "/_emulator/requests/stream?tenant=live-2&api=yandex.v2.rest")
    try:
        time.sleep(0.2)
        rest_by_image(running.http, "live-other", RED_SQUARE)   # another tenant
        rest_search(running.http, "live-2", "yandex cloud")     # its tenant, its API
        rest_by_image(running.http, "live-2", RED_SQUARE)
        events = stream.wait(2)
        time.sleep(0.3)
        assert [(e["tenant"], e["method"]) for e in stream.wait(2)] == [
            ("live-2", "Search"), ("live-2", "SearchByImage")]
        assert len(events) == 2
    finally:
        stream.close()


def test_a_reconnecting_client_catches_up_from_its_last_event_id(running):
    for _ in range(3):
        rest_search(running.http, "live-3", "yandex cloud")
    _, listed = Admin(running.http, "live-3")("GET", "/requests")
    seqs = [e["seq"] for e in listed["requests"]]
    stream = Stream(running.http, "/_emulator/requests/stream?tenant=live-3",
                    {"Last-Event-ID": str(seqs[0])})
    by_query = Stream(running.http, f"/_emulator/requests/stream?tenant=live-3&after={seqs[1]}")
    try:
        assert [e["seq"] for e in stream.wait(2)] == seqs[1:]  # the kept ones after it
        assert [e["seq"] for e in by_query.wait(1)] == seqs[2:]
        rest_search(running.http, "live-3", "yandex cloud")
        got = [e["seq"] for e in stream.wait(3)]
        assert got == sorted(set(got)) and len(got) == 3  # then the new one, none twice
    finally:
        stream.close()
        by_query.close()


def test_open_streams_are_bounded(running, monkeypatch):
    monkeypatch.setattr(_stream, "MAX_STREAMS", 2)
    first, second = Stream(running.http), Stream(running.http)
    try:
        time.sleep(0.2)
        third = Stream(running.http)
        assert third.response.status == 503
        assert json.loads(third.response.read())["error"] == "2 journal streams are open already"
    finally:
        first.close()
        second.close()
    deadline = time.monotonic() + 5  # a closed stream is noticed within a second or so
    while (fourth := Stream(running.http)).response.status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    fourth.close()


def test_a_reader_that_falls_behind_is_ended_not_buffered(running, monkeypatch):
    monkeypatch.setattr(_stream, "MAX_BEHIND", 3)
    reader = _stream._Reader()
    for seq in range(1, 6):
        reader.add(seq)  # type: ignore[arg-type]
    assert list(reader.entries) == [1, 2, 3] and reader.ended


def test_quiet_streams_get_keep_alive_comments(running, monkeypatch):
    monkeypatch.setattr(_stream, "KEEPALIVE_S", 1.0)
    stream = Stream(running.http)
    try:
        deadline = time.monotonic() + 5
        while not stream.comments:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert stream.comments[0] == ": keep-alive"
    finally:
        stream.close()


def test_the_stream_needs_the_admin_token_and_refuses_bad_parameters():
    with start(admin_token="s3cret") as run:
        refused = Stream(run.http)
        assert refused.response.status == 401
        assert Stream(run.http, "/_emulator/requests/stream?after=x",
                      {"Authorization": "Bearer s3cret"}).response.status == 400
        allowed = Stream(run.http, headers={"Authorization": "Bearer s3cret"})
        assert allowed.response.status == 200
        allowed.close()


def test_an_open_stream_does_not_hold_up_stopping():
    thread = start(shutdown_grace=10.0)
    run = thread.__enter__()
    stream = Stream(run.http)
    assert stream.response.status == 200
    started = time.monotonic()
    thread.__exit__(None, None, None)
    assert time.monotonic() - started < 3  # not the 10 s grace
    stream.close()
