"""The benchmark harness (bench/): its images, fixtures, bare server, parsers and report."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys
import threading
import urllib.request
from dataclasses import replace as _dataclass_replace
from pathlib import Path

import pytest
from aiohttp import web

from support.server import ROOT, start
from emulator.core import fingerprint, load_fixtures

sys.path.insert(0, str(ROOT))
from bench import _cases, _load, _procs, _profile, _report, _wiremock
from bench._images import BenchImage, photo_jpeg


@pytest.fixture(scope="module")
def image() -> BenchImage:
    return BenchImage("bench-test.jpg", photo_jpeg((640, 480), 60_000, seed=5))


def test_photo_jpeg_is_the_same_bytes_for_the_same_seed_and_differs_for_another():
    first = photo_jpeg((320, 240), 20_000, seed=1)
    assert first == photo_jpeg((320, 240), 20_000, seed=1)
    assert first != photo_jpeg((320, 240), 20_000, seed=2)


def test_photo_jpeg_lands_near_its_target_and_never_over_its_limit(image):
    assert abs(len(image.data) - 60_000) < 6_000
    capped = photo_jpeg((640, 480), 60_000, seed=5, limit=len(image.data) - 1)
    assert len(capped) < len(image.data)
    fp = fingerprint(image.data)
    assert (fp.format, fp.width, fp.height) == ("jpeg", 640, 480)
    assert fp.distinctive  # a fixture rule can match it


def test_written_fixtures_load_and_make_the_image_a_fixture_hit(tmp_path, image):
    fixtures = _cases.write_fixtures(tmp_path / "fixtures", [image])
    store = load_fixtures(fixtures)
    assert any(r.name == f"bench {image.name}" for r in store.rules.image_rules)
    request = _cases.rest_search_by_image(image)
    with start(fixtures) as running:
        reply = urllib.request.urlopen(urllib.request.Request(
            running.http + request.path, data=request.body, headers=dict(request.headers)))
        body = reply.read()
    assert _cases.IMAGE_HIT_MARK in body
    assert len(json.loads(body)["images"]) == len(_cases.RULE_RESULTS)


def test_grpc_frame_is_the_length_prefixed_message():
    request = _cases.Request("grpc", "POST", "/x", (), b"abc")
    assert request.grpc_frame() == b"\x00\x00\x00\x00\x03abc"


def test_lua_strings_escape_every_byte_with_three_digits():
    # "\95" followed by "8" would read as "\958" without the padding
    assert _load._lua_string("/tmp/a_8b") == '"\\047tmp\\047a\\0958b"'
    assert _load._lua_string("é") == '"\\195\\169"'


def test_wrk_summary_is_read_from_the_scripts_json_line():
    out = ("Running 1s test @ http://127.0.0.1:1/x\n"
           'BENCH-JSON {"requests": 110, "duration_us": 2000000, "connect": 0, "read": 1, '
           '"write": 0, "status": 10, "timeout": 2, "p50_us": 1500.0, "p99_us": 9000.0}\n')
    result = _load.parse_wrk(out)
    assert (result.ok, result.errors, result.seconds) == (100, 13, 2.0)
    assert (result.p50_ms, result.p99_ms, result.rps) == (1.5, 9.0, 50.0)
    with pytest.raises(RuntimeError):
        _load.parse_wrk("Running 1s test\n--- stderr ---\nwrk.lua:2: invalid escape sequence")


H2LOAD_OUT = """finished in 3.00ms, 2000.00 req/s, 494.14KB/s
requests: 6 total, 6 started, 6 done, 6 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 6 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 1.48KB (1518) total, 708B (708) headers (space savings 0.00%), 600B (600) data
"""
H2LOAD_LOG = "".join(f"17961181786800{n}\t200\t{us}\n"
                     for n, us in enumerate((646, 986, 386, 305, 491, 558)))


def test_h2load_summary_and_log_give_counts_and_percentiles():
    result = _load.parse_h2load(H2LOAD_OUT, H2LOAD_LOG, None)
    assert (result.ok, result.errors, result.seconds) == (6, 0, 0.003)
    assert (result.p50_ms, result.p99_ms) == (0.491, 0.986)


def test_h2load_answers_without_the_whole_message_are_errors():
    # 600 DATA bytes cannot hold six 150-byte gRPC answers: four at most
    result = _load.parse_h2load(H2LOAD_OUT, H2LOAD_LOG, 150)
    assert (result.ok, result.errors) == (4, 2)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert _load.percentile(values, 50) == 50.0
    assert _load.percentile(values, 99) == 99.0
    assert _load.percentile([7.0], 99) == 7.0
    assert _load.percentile([], 50) == 0.0


def test_profile_summary_is_per_request_and_per_thread():
    raw = ("thread (1): MainThread;main (a.py:1);handle (/x/_rest.py:5) 97\n"
           "thread (1): MainThread;main (a.py:1) 97\n"
           "thread (2): image-decode_0;fingerprint (/x/_fingerprint.py:9) 194\n")
    profile = _profile.summarize("t", raw, requests=10)
    assert dict(profile.threads) == pytest.approx({"MainThread": 200.0, "image-decode": 200.0})
    top = {h.function: h for h in profile.hotspots}
    assert top["_rest.py:handle"].self_ms == pytest.approx(100.0)
    assert top["a.py:main"].inclusive_ms == pytest.approx(200.0)
    assert top["a.py:main"].self_ms == pytest.approx(100.0)


def _result(rps: float) -> _load.Result:
    return _load.Result("wrk", int(rps), 0, 1.0, 1.0, 2.0)


def test_report_judges_each_target_from_its_figures():
    report = _report.Report("python bench/run.py", [("machine", "test")], ["wrk"])
    report.rows = [_report.Row("rest-100k", "REST, 100 KB", 16, _result(800), _result(1000), True),
                   _report.Row("rest-3m", "REST, 3 MiB", 16, _result(10), _result(1000), True)]
    report.startup = _report.Startup([0.5, 0.6, 0.4], [0.2, 0.3, 0.2])
    report.soak = _report.Soak(6000, "1 MiB", 16, [("REST hit", 50.0)], 80_000, 100_000,
                               [104_000, 112_000], 150_000, 0, 10.0)
    text = _report.render(report)
    targets = text.split("## Targets")[1].split("##")[0]
    assert "lowest 0.80 (REST, 100 KB, 16 conn.) | met" in targets  # the 3 MiB row is not judged
    assert "+12.0%" in targets and "**missed**" in targets.split("RSS growth")[1].split("\n")[0]
    assert "2.50x (500 ms vs 200 ms) | **missed**" in targets
    report.soak.requests = 100
    assert "not judged" in _report.render(report).split("RSS growth")[1].split("\n")[0]


def test_bare_server_answers_the_canned_bytes_by_path_and_request_size(tmp_path):
    (tmp_path / "a.bin").write_bytes(b'{"answer": 1}')
    (tmp_path / "g.bin").write_bytes(b"\x0a\x03abc")
    manifest = {"http": [{"path": "/v2/x", "request_bytes": 3, "status": 200,
                          "content_type": "application/json",
                          "headers": [["x-request-id", "r1"]], "body_file": "a.bin"}],
                "grpc": [{"path": "/pkg.Service/Method", "request_bytes": 2,
                          "headers": [["x-request-id", "g1"]], "body_file": "g.bin"}]}
    canned = tmp_path / "canned.json"
    canned.write_text(json.dumps(manifest))
    probe = _cases.Request("http", "POST", "/v2/x", (), b"abc")
    argv = lambda h, g: _procs.bare_argv(canned, h, g)  # noqa: E731
    with _procs.launch("bare", argv, probe, tmp_path / "bare.log") as bare:
        answer = _procs.http_exchange(bare.http_port, probe)
        assert answer.body == b'{"answer": 1}'
        assert ("x-request-id", "r1") in answer.headers
        other_size = _procs.http_exchange(bare.http_port, _cases.Request(
            "http", "POST", "/v2/x", (), b"abcd"))
        assert other_size.status == 404
        call = _procs.grpc_exchange(bare.grpc_port, _cases.Request(
            "grpc", "POST", "/pkg.Service/Method", (), b"hi"))
        assert (call.status, call.body) == (0, b"\x0a\x03abc")
        assert ("x-request-id", "g1") in call.headers


def test_the_harness_runs_end_to_end_and_writes_its_report(tmp_path):
    """A minimal run on the asyncio client (no wrk or h2load needed)."""
    out = tmp_path / "REPORT.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--python-client", "--only", "xml",
         "grpc-100k", "--connections", "2", "--seconds", "1", "--startup-runs", "1",
         "--soak", "60", "--output", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text in done.stdout
    rows = [line for line in text.splitlines() if line.startswith("| Yandex")]
    assert [r.split(" | ")[0] for r in rows] == ["| Yandex v2 gRPC SearchByImage, 100 KB image",
                                                "| Yandex v1 XML /images-xml"]
    grpc_row, xml_row = ([c.strip() for c in row.strip("|").split("|")] for row in rows)
    assert grpc_row[13] == "0/0"  # no errors on either server; WireMock serves no gRPC
    assert xml_row[13] == "0/0/0"  # nor on WireMock, which replays the XML answer
    for cells in (grpc_row, xml_row):
        assert float(cells[2]) > 0 and float(cells[5]) > 0
    assert float(xml_row[9]) > 0 and xml_row[12].endswith("x") and grpc_row[9] == ""
    assert "## Soak" in text and "## Start-up" in text
    assert "WireMock 3.13.2" in text


def test_wiremock_replays_each_canned_answer_by_path_and_request_size(tmp_path):
    """The peer the report compares with: a real WireMock, from the jar bench/package.json
    pins, answering the bytes the emulator answered (two images on one path apart)."""
    assert _wiremock.missing() is None, _wiremock.missing()
    (tmp_path / "small.bin").write_bytes(b'{"answer": "small"}')
    (tmp_path / "large.bin").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "xml.bin").write_bytes(b"<yandexsearch/>")
    entries = [{"path": "/6/h/_image_search", "method": "POST", "request_bytes": n,
                "status": 200, "content_type": "application/json",
                "headers": [["x-request-id", f"r{n}"]], "body_file": f"{name}.bin"}
               for n, name in ((3, "small"), (5, "large"))]
    entries.append({"path": "/images-xml", "method": "GET", "request_bytes": 0, "status": 200,
                    "content_type": "text/xml", "headers": [], "body_file": "xml.bin"})
    canned = tmp_path / "canned.json"
    canned.write_text(json.dumps({"http": entries, "grpc": []}))
    root = _wiremock.write_stubs(canned, tmp_path / "wiremock")
    probe = _cases.Request("http", "GET", "/images-xml?text=a", ())
    argv = lambda h, g: _wiremock.argv(root, h)  # noqa: E731
    with _procs.launch("wiremock", argv, probe, tmp_path / "wiremock.log", grpc=False) as peer:
        assert _procs.http_exchange(peer.http_port, probe).body == b"<yandexsearch/>"
        for body, expected in ((b"abc", "small.bin"), (b"abcde", "large.bin")):
            request = _cases.Request("http", "POST", "/6/h/_image_search",
                                     (("content-type", "application/json"),), body)
            answer = _procs.http_exchange(peer.http_port, request)
            assert (answer.status, answer.body) == (200, (tmp_path / expected).read_bytes())
            headers = {k.lower(): v for k, v in answer.headers}
            assert headers["x-request-id"] == f"r{len(body)}"
            assert headers["content-type"] == "application/json"
        pid = peer.pid
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_report_judges_the_emulator_against_wiremock_at_16_connections():
    report = _report.Report("python bench/run.py", [("machine", "test")], ["wrk"])
    report.rows = [
        _report.Row("doofinder-100k", "Doofinder, 100 KB", 16, _result(900), _result(1000), True,
                    _result(1000)),
        _report.Row("xml", "XML", 16, _result(3000), _result(4000), True, _result(1500)),
        _report.Row("grpc-100k", "gRPC, 100 KB", 16, _result(900), _result(1000), True)]
    text = _report.render(report)
    targets = text.split("## Targets")[1].split("##")[0]
    assert "lowest 0.90x (Doofinder, 100 KB) | **missed**" in targets
    assert "| 1000 | 1.00 | 2.00 | 0.90x |" in text  # WireMock's columns beside the bare ones
    assert "| gRPC, 100 KB | 16 | 900 |" in text and "| 0.90 | | | | | 0/0 |" in text
    report.rows[0] = _report.Row("doofinder-100k", "D", 16, _result(900), _result(1000), True,
                                 _result(500))
    assert "lowest 1.80x (D) | met" in _report.render(report)


def test_the_catalog_bench_launches_cold_then_warm_and_prints_its_figures():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "catalog.py"), "--count", "300", "--images", "3",
         "--repeats", "3"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Catalog of 424 items (300 generated)" in done.stdout  # and the docs engine's 124
    figures = dict((cell.strip() for cell in line.strip("|").split(" | "))
                   for line in done.stdout.splitlines()
                   if line.startswith("| ") and " | " in line and "figure" not in line)
    assert float(figures["warm start-up: launch to first answer"].split()[0]) > 0
    assert figures["new image (3, one at a time): p50 / p99"].endswith(" ms")
    p50, p99 = (float(v) for v in figures["repeated image (3): p50 / p99"].split()[0:3:2])
    assert 0 < p50 <= p99


def test_a_varying_photo_is_a_new_file_of_the_same_picture_on_every_send(image):
    photo = _cases.varying_photo(image)
    request = _cases.rest_search_by_image(photo)
    sends = [json.loads(_dataclass_replace(request, varies=True).numbered(n)[1])["data"]
             for n in (1, 2, 3)]
    files = [base64.b64decode(s, validate=True) for s in sends]
    assert len(set(files)) == 3 and all(len(f) == len(photo.data) for f in files)
    prints = [fingerprint(f) for f in files]
    assert {p.seed for p in prints} == {fingerprint(image.data).seed}
    assert all((p.format, p.width, p.height) == ("jpeg", 640, 480) for p in prints)


class _Recorder:
    """A tiny HTTP server in a thread that answers 200 and keeps what each request sent."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path_qs, await request.read()))
        return web.Response(text="ok")

    def __enter__(self) -> _Recorder:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self.handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        self.thread = threading.Thread(target=lambda: (
            self.loop.run_until_complete(serve()), self.loop.run_forever()), daemon=True)
        self.thread.start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.mark.parametrize("tool", ["wrk", "python"])
@pytest.mark.parametrize("where", ["body", "path"])
def test_every_send_of_a_varying_request_is_new_in_every_run(tmp_path, tool, where):
    """Both generators number each send, and a second run never repeats the first's."""
    tools = _load.Tools.find()
    if tool == "wrk" and tools.wrk is None:
        pytest.fail("wrk is not installed (.ci/run installs Debian's wrk)")
    tools = tools if tool == "wrk" else _load.Tools(None, None)
    request = (_cases.Request("http", "POST", "/x", (("content-type", "application/json"),),
                              json.dumps({"url": f"https://h/{_cases.VARY}.jpg"}).encode(),
                              varies=True)
               if where == "body" else
               _dataclass_replace(_cases.xml_search(f"miss {_cases.VARY}"), varies=True))
    with _Recorder() as recorder:
        for _ in range(2):
            result = _load.drive(tools, recorder.port, request, _load.Load(2, seconds=1),
                                 tmp_path)
            assert result.ok > 0 and result.errors == 0
    sent = [path if where == "path" else body.decode() for path, body in recorder.seen]
    assert len(sent) >= 2 and len(set(sent)) == len(sent)  # no send repeats another
    pattern = (r'\{"url": "https://h/\d{16}\.jpg"\}' if where == "body" else
               r"/images-xml\?.*text=miss\+\d{16}&.*")
    assert all(re.fullmatch(pattern, s) for s in sent), sent[:3]
