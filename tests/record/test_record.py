"""``image-search-emulator record``: a second emulator (on the built-in fixtures, over TLS
and plaintext) stands for the real APIs; what the proxy answers is what the upstream
answers, what it writes is ordinary fixtures that replay offline, with no secret in them."""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from PIL import Image
from pydoof.search_api.api_client import SearchAPIClient

from emulator._cli import main
from emulator._config import Config
from emulator.core import load_fixtures
from emulator.record import RecordingProxy
from support.doofinder_client import DOCS_HASHID, DOCS_KEY, RED_SQUARE
from support.recording import record
from support.server import FIXTURES, Running, start

KEY = "AQVNrecordingsecretkey0123456789"
FOLDER = "b1grecordfolder77"
TOLSTOY = (FIXTURES / "images" / "tolstoy-portrait.jpg").read_bytes()




@pytest.fixture(scope="module")
def upstream_fixtures(tmp_path_factory) -> Path:
    """The built-in fixtures, accepting only KEY on FOLDER: a credential the proxy changed
    on the way would be refused."""
    directory = tmp_path_factory.mktemp("upstream") / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "access.json").write_text(json.dumps(
        {"version": 1, "keys": [{"key": KEY, "folders": [FOLDER]}]}))
    return directory


@pytest.fixture(scope="module")
def upstream(upstream_fixtures) -> Iterator[Running]:
    with start(upstream_fixtures, tls=True, https_port=0, grpc_tls_port=0) as running:
        yield running


def https(running: Running) -> str:
    TRUST["ca"] = running.emulator.certificate
    return f"https://127.0.0.1:{running.emulator.https_port}"


#: the upstream's self-signed certificate, which direct HTTPS calls of the tests trust
TRUST: dict[str, Path] = {}


def call(base: str, path: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers or {})
    try:
        context = ssl.create_default_context(cafile=str(TRUST["ca"])) \
            if base.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


AUTH = {"Authorization": f"Api-Key {KEY}"}


def by_image(base: str, picture: bytes, page: int = 0):
    return call(base, "/v2/image/search_by_image",
                {"folderId": FOLDER, "data": base64.b64encode(picture).decode(),
                 "page": str(page)}, AUTH)


def by_text(base: str, text: str):
    return call(base, "/v2/image/search",
                {"folderId": FOLDER, "query": {"searchType": "SEARCH_TYPE_RU", "queryText": text}},
                AUTH)


def v1(base: str, text: str):
    query = urllib.parse.urlencode({"folderid": FOLDER, "apikey": KEY, "text": text})
    return call(base, f"/images-xml?{query}")


def with_gps(picture: bytes) -> bytes:
    """The picture as a JPEG carrying EXIF (a camera, GPS) and an XMP packet."""
    image = Image.open(io.BytesIO(picture)).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    exif.get_ifd(0x8825)[2] = (55.0, 45.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes(),
               xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>SecretXmp</x:xmpmeta>")
    return out.getvalue()


def xml_docs(xml: bytes) -> list[dict]:
    root = etree.fromstring(xml)
    docs = []
    for doc in root.iterfind("response/results/grouping/group/doc"):
        # the thumbnail's id and link are made from the image URL on replay (see
        # docs/recording.md, what may differ)
        docs.append({el.tag: el.text for el in doc.iter()
                     if el.tag not in ("doc", "id", "thumbnail-link")})
    found = [f.text for f in root.iterfind("response/found")]
    error = root.find("response/error")
    return [{"found": found, "error": None if error is None else (error.get("code"), error.text)},
            *docs]


def images_of(body: bytes) -> dict:
    answer = json.loads(body)
    answer.pop("id", None)  # the CBIR id: the replaying emulator issues its own
    return answer


@pytest.fixture(scope="module")
def session(upstream, tmp_path_factory):
    """One recorded session of every Yandex HTTP call, over TLS, with what the proxy answered."""
    out = tmp_path_factory.mktemp("recorded") / "fixtures"
    gps = with_gps(RED_SQUARE)
    seen = {}
    with record(out, yandex_upstream=https(upstream),
                upstream_ca=upstream.emulator.certificate) as proxy:
        seen["image"] = by_image(proxy, gps)
        seen["tolstoy"] = by_image(proxy, TOLSTOY)
        seen["tolstoy-1"] = by_image(proxy, TOLSTOY, 1)
        seen["unavailable"] = by_image(proxy, (FIXTURES / "images/unavailable.png").read_bytes())
        seen["text"] = by_text(proxy, "emulator samples")
        seen["v1"] = v1(proxy, "yandex cloud")
        seen["v1-error"] = v1(proxy, "no such images")
    return out, gps, seen


def test_the_client_gets_the_upstreams_answer_unchanged(upstream, session):
    _, gps, seen = session
    direct = {"image": by_image(https(upstream), gps),
              "unavailable": by_image(https(upstream),
                                      (FIXTURES / "images/unavailable.png").read_bytes()),
              "text": by_text(https(upstream), "emulator samples"),
              "v1-error": v1(https(upstream), "no such images")}
    for name, (status, headers, body) in direct.items():
        got_status, got_headers, got_body = seen[name]
        assert got_status == status, name
        assert got_body == body, name
        assert got_headers["Content-Type"] == headers["Content-Type"]
        # the vendor's headers, as it spells them (request ids differ call by call)
        assert {"x-request-id", "x-server-trace-id", "x-emulator-match"} <= set(got_headers)
    assert seen["image"][0] == 200 and json.loads(seen["image"][2])["images"]
    assert seen["unavailable"][0] == 503 and json.loads(seen["unavailable"][2])["code"] == 14


def test_the_recording_loads_and_replays_offline(session):
    out, gps, seen = session
    store = load_fixtures(out)
    assert len(store.rules.image_rules) == 3 and len(store.rules.query_rules) == 3
    assert main(["fixtures", "check", str(out)]) == 0
    with start(out) as replay:
        base = replay.http
        for name, again in [("image", by_image(base, gps)), ("tolstoy", by_image(base, TOLSTOY)),
                            ("tolstoy-1", by_image(base, TOLSTOY, 1))]:
            assert again[0] == 200, name
            assert images_of(again[2]) == images_of(seen[name][2]), name
        status, _, body = by_image(base, (FIXTURES / "images/unavailable.png").read_bytes())
        assert status == 503
        assert json.loads(body)["message"] == json.loads(seen["unavailable"][2])["message"]
        raw = json.loads(by_text(base, "emulator samples")[2])["rawData"]
        assert xml_docs(base64.b64decode(raw)) == xml_docs(
            base64.b64decode(json.loads(seen["text"][2])["rawData"]))
        assert xml_docs(v1(base, "yandex cloud")[2]) == xml_docs(seen["v1"][2])
        assert xml_docs(v1(base, "no such images")[2]) == xml_docs(seen["v1-error"][2])


def test_a_resized_copy_of_a_recorded_picture_hits_its_answer(session):
    out, _, seen = session
    image = Image.open(io.BytesIO(RED_SQUARE)).convert("RGB").resize((200, 200))
    copy = io.BytesIO()
    image.save(copy, "JPEG", quality=70)
    with start(out) as replay:
        status, headers, body = by_image(replay.http, copy.getvalue())
    assert status == 200 and images_of(body) == images_of(seen["image"][2])
    assert headers["x-emulator-match"].startswith("perceptual; rule=\"recorded rec-")


def test_no_secret_and_no_picture_metadata_is_written(session):
    out, _, _ = session
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in (KEY, FOLDER, "SecretCam", "SecretXmp"):
                assert secret.encode() not in data, (path, secret)
    for picture in (out / "images").iterdir():
        with Image.open(picture) as image:
            assert not image.getexif() and "xmp" not in image.info and image.format == "PNG"
    provenance = json.loads((out / "recording.json").read_text())
    assert provenance["upstreams"]["yandex"].startswith("https://")
    assert len(provenance["redaction"]["rules_digest"]) == 64
    placeholders = {s["placeholder"] for s in provenance["redaction"]["secrets"]}
    assert {p.split("-")[1] for p in placeholders} >= {"authorization", "apikey", "folderid"}
    header = provenance["exchanges"][0]["headers"]["Authorization"]
    assert header in placeholders  # the same value, the same placeholder, every time
    assert all(e["headers"]["Authorization"] == header for e in provenance["exchanges"]
               if "Authorization" in e["headers"])


def test_fixtures_check_secrets_finds_a_secret_anywhere(session, tmp_path, capsys):
    out, _, _ = session
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert main(["fixtures", "check", "--secrets", str(copy)]) == 0
    catalog = json.loads((copy / "catalog.json").read_text())
    catalog["documents"][0]["page_url"] = f"https://example.com/?k={KEY}&x=1"
    (copy / "catalog.json").write_text(json.dumps(catalog))
    assert main(["fixtures", "check", "--secrets", str(copy)]) == 1
    assert "catalog.json: holds the secret written elsewhere as REDACTED-" in \
        capsys.readouterr().err
    (copy / "catalog.json").write_text((out / "catalog.json").read_text())
    (copy / "images" / "note.bin").write_bytes(b"\x00\xff" + FOLDER.encode() + b"\x00")
    assert main(["fixtures", "check", "--secrets", str(copy)]) == 1
    assert main(["fixtures", "check", "--secrets", str(tmp_path)]) == 1  # no provenance


def test_pydoof_through_the_proxy_over_plaintext(tmp_path):
    with start() as plain, record(tmp_path / "out", doofinder_upstream=plain.http) as proxy:
        through = SearchAPIClient(search_url=proxy, token=DOCS_KEY)
        direct = SearchAPIClient(search_url=plain.http, token=DOCS_KEY)
        body = {"image": base64.b64encode(RED_SQUARE).decode()}
        path = f"/6/{DOCS_HASHID}/_image_search"
        assert through.post(path, json=body, query_params={"rpp": 5}) == \
            direct.post(path, json=body, query_params={"rpp": 5})
        assert through.get(f"/6/{DOCS_HASHID}/_search", query_params={"query": "red"}) == \
            direct.get(f"/6/{DOCS_HASHID}/_search", query_params={"query": "red"})
        status, _, answer = call(proxy, f"/6/{DOCS_HASHID}/_search?query=x",
                                 headers={"Authorization": "Token eu1-wrong"})
        assert status == 403 and "error" in json.loads(answer)
    provenance = json.loads((tmp_path / "out" / "recording.json").read_text())
    assert [e["status"] for e in provenance["exchanges"]] == [200, 200, 403]
    assert DOCS_KEY not in (tmp_path / "out" / "recording.json").read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_upstream_that_is_down_is_the_vendors_unavailable_error(tmp_path, caplog):
    down = f"http://127.0.0.1:{free_port()}"
    caplog.set_level(logging.ERROR, "emulator.record")
    with record(tmp_path / "out", yandex_upstream=down, doofinder_upstream=down) as proxy:
        status, headers, body = by_image(proxy, RED_SQUARE)
        assert status == 503 and json.loads(body)["code"] == 14
        assert headers["Content-Type"].startswith("application/json")
        status, headers, body = v1(proxy, "x")
        assert status == 503 and etree.fromstring(body).find("response/error").get("code") == "20"
        status, _, body = call(proxy, f"/6/{DOCS_HASHID}/_search?query=x")
        assert status == 503 and json.loads(body) == {"error": "Service Unavailable"}
    lines = [r.getMessage() for r in caplog.records]
    assert any(f"yandex upstream {down} unreachable" in line for line in lines)
    assert any(f"doofinder upstream {down} unreachable" in line for line in lines)


def test_a_body_over_the_limit_is_the_vendors_error(tmp_path):
    big = b"{" + b" " * (8 * 1024 * 1024 + 10) + b"}"
    down = f"http://127.0.0.1:{free_port()}"
    with record(tmp_path / "out", yandex_upstream=down, doofinder_upstream=down) as proxy:
        for path, check in [("/v2/image/search_by_image", lambda b: b["code"] == 3),
                            (f"/6/{DOCS_HASHID}/_image_search", lambda b: "error" in b)]:
            request = urllib.request.Request(proxy + path, data=big)
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(request, timeout=30)
            assert error.value.code in (400, 413) and check(json.loads(error.value.read()))


def test_an_upstream_whose_certificate_is_not_trusted_is_not_used(upstream, tmp_path):
    with record(tmp_path / "out", yandex_upstream=https(upstream)) as proxy:
        status, _, body = by_image(proxy, RED_SQUARE)
    assert status == 503 and "CERTIFICATE_VERIFY_FAILED" in json.loads(body)["message"]


def test_the_record_command(upstream, tmp_path):
    """The real command line: its ready line, then a call through it, then Ctrl-C."""
    import signal
    import subprocess
    import sys

    assert main(["record", "--yandex-upstream", "http://x"]) == 2  # no --out
    assert main(["record", "--out", str(tmp_path)]) == 2  # no upstream
    assert main(["record", "--out", str(tmp_path), "--yandex-upstream", "ftp://x"]) == 2
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "record", "--http-port", "0", "--out", str(out),
         "--yandex-upstream", https(upstream), "--upstream-ca", str(upstream.emulator.certificate)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("image-search-emulator recording: http://127.0.0.1:"), line
        base = line.split()[2]
        assert by_text(base, "emulator samples")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "record: POST /v2/image/search -> 200, rules.json query_rules" in err
    assert [r["text"] for r in json.loads((out / "rules.json").read_text())["query_rules"]] == \
        ["emulator samples"]


def test_a_compressed_answer_is_read_uncompressed_and_bounded():
    import gzip
    import zlib

    from emulator.core._limits import MAX_BODY_BYTES
    from emulator.record._proxy import decoded

    body = json.dumps({"images": []}).encode()
    assert decoded(gzip.compress(body), "gzip") == body
    assert decoded(zlib.compress(body), "deflate") == body
    assert decoded(body, "") == body and decoded(b"not gzip", "gzip") == b"not gzip"
    bomb = gzip.compress(b"\0" * (MAX_BODY_BYTES * 4))
    assert len(decoded(bomb, "gzip")) == MAX_BODY_BYTES


def test_the_provenance_names_no_password_of_an_upstream(tmp_path):
    proxy = RecordingProxy(Config(record_out=tmp_path, yandex_upstream="https://u:pw@h.test:8443/a"))
    assert proxy.recorder.session.upstreams == {"yandex": "https://h.test:8443/a"}
