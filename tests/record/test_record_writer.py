"""What the recorder writes beyond Yandex image bytes and first text pages: Doofinder
engines, Yandex ``url`` and CBIR-id queries and later text pages, sequences for repeated
requests answered differently. A second emulator stands for the upstream; each recording
is replayed offline by a third and compared with what the upstream answered."""

from __future__ import annotations

import base64
import io
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from PIL import Image
from pydoof.search_api.api_client import SearchAPIClient

from emulator._cli import main
from emulator.core import load_fixtures
from support.doofinder_client import DOCS_HASHID, DOCS_KEY, RED_SQUARE, Doofinder
from support.recording import record
from support.server import Running, start




def admin(base: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


@pytest.fixture(scope="module")
def upstream() -> Iterator[Running]:
    with start() as running:
        yield running


def resized(picture: bytes, size: tuple[int, int] = (200, 200)) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(picture)).convert("RGB").resize(size).save(out, "JPEG", quality=70)
    return out.getvalue()


# -- Doofinder ---------------------------------------------------------------------------

#: (name, operation, query) of the recorded Doofinder session; image calls post RED_SQUARE
DOOFINDER_CALLS = [
    ("image", "image", {"rpp": 5}),
    ("image-page-2", "image", {"rpp": 5, "page": 2}),
    ("image-red", "image", {"rpp": 5, "filter[color][]": "red"}),
    ("image-cheap", "image", {"rpp": 5, "sort[0][price]": "asc"}),
    ("search", "search", {"query": "poster", "rpp": 5}),
    ("search-2", "search", {"query": "poster", "rpp": 5, "page": 2}),
    ("suggest", "suggest", {"query": "po"}),
]


def doofinder_session(client: Doofinder, dfid: str | None = None) -> dict[str, dict]:
    seen = {}
    for name, operation, query in DOOFINDER_CALLS:
        if operation == "image":
            reply = client.image_search(RED_SQUARE, query)
        else:
            reply = getattr(client, operation)(query)
        assert reply.status == 200, (name, reply)
        seen[name] = reply.body
    if dfid is not None:
        reply = client.similar({"dfid": dfid, "rpp": 4})
        assert reply.status == 200, reply
        seen["similar"] = reply.body
    return seen


@pytest.fixture(scope="module")
def doofinder(upstream, tmp_path_factory):
    out = tmp_path_factory.mktemp("doofinder") / "fixtures"
    dfid = Doofinder(upstream.http).image_search(RED_SQUARE, {"rpp": 1}).body["results"][0]["dfid"]
    with record(out, doofinder_upstream=upstream.http) as proxy:
        seen = doofinder_session(Doofinder(proxy), dfid)
        pydoof = SearchAPIClient(search_url=proxy, token=DOCS_KEY)
        body = {"image": base64.b64encode(RED_SQUARE).decode()}
        seen["pydoof"] = pydoof.post(f"/6/{DOCS_HASHID}/_image_search", json=body,
                                     query_params={"rpp": 3})
    direct = doofinder_session(Doofinder(upstream.http), dfid)
    return out, dfid, seen, direct


def test_doofinder_answers_through_the_proxy_are_the_upstreams(doofinder):
    _, _, seen, direct = doofinder
    for name, body in direct.items():
        assert seen[name] == body, name
    assert seen["pydoof"]["results"] == direct["image"]["results"][:3]


def comparable(body: dict | list) -> dict | list:
    """What replays exactly: the items and their order, and the query name (counts and
    facets are of the recorded items only, see docs/recording.md)."""
    if isinstance(body, list):
        return body
    return {"results": body["results"], "query_name": body["query_name"]}


def test_a_doofinder_recording_replays_offline_with_pydoof(doofinder):
    out, dfid, seen, _ = doofinder
    assert main(["fixtures", "check", str(out)]) == 0
    engine = load_fixtures(out).engines[DOCS_HASHID]
    assert len(engine.rules.images) == 1 and set(engine.rules.similar) == {dfid}
    assert set(engine.rules.texts) == {"poster"} and set(engine.rules.suggest) == {"po"}
    with start(out) as replay:
        again = doofinder_session(Doofinder(replay.http), dfid)
        pydoof = SearchAPIClient(search_url=replay.http, token="eu1-any-token")
        body = {"image": base64.b64encode(RED_SQUARE).decode()}
        assert pydoof.post(f"/6/{DOCS_HASHID}/_image_search", json=body,
                           query_params={"rpp": 3})["results"] == seen["pydoof"]["results"]
        copy = Doofinder(replay.http).image_search(resized(RED_SQUARE), {"rpp": 5})
    for name, body in seen.items():
        if name != "pydoof":
            assert comparable(again[name]) == comparable(body), name
    assert copy.status == 200 and copy.body["results"] == seen["image"]["results"]
    assert copy.headers["x-emulator-match"].startswith('perceptual; rule="recorded rec-')
    text = (out / "engines.json").read_text()
    assert DOCS_KEY not in text and DOCS_KEY.split("-", 1)[1] not in text


def test_a_doofinder_request_answered_differently_becomes_a_sequence(upstream, tmp_path):
    stub = admin(upstream.http, "POST", "/_emulator/stubs", {
        "vendor": "doofinder", "text": "flaky lamp", "sequence": [
            {"error": {"http_status": 503, "message": "try later"}},
            {"results": ["poster-red-square"]}, {"results": ["wallpaper-deep-blue"]}]})
    try:
        out = tmp_path / "fixtures"
        with record(out, doofinder_upstream=upstream.http) as proxy:
            seen = [Doofinder(proxy).search({"query": "flaky lamp"}) for _ in range(4)]
    finally:
        admin(upstream.http, "DELETE", f"/_emulator/stubs/{stub['id']}")
    assert [r.status for r in seen] == [503, 200, 200, 200]
    rule = json.loads((out / "engines.json").read_text())["engines"][0]["query_rules"][0]
    assert [sorted(step) for step in rule["sequence"]] == [["error"], ["query_name", "results"],
                                                           ["query_name", "results"]]
    with start(out) as replay:
        again = [Doofinder(replay.http).search({"query": "flaky lamp"}) for _ in range(4)]
    assert [(r.status, r.body) for r in again] == [(r.status, r.body) for r in seen]


# -- Yandex: url and CBIR-id queries, later text pages, sequences -------------------------

def v2(base: str, path: str, body: dict):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                     headers={"Authorization": "Api-Key AQVNwriterkey"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def by_image(base: str, page: int = 0, **image) -> tuple[int, dict]:
    return v2(base, "/v2/image/search_by_image", {"folderId": "b1gw", "page": str(page), **image})


def by_text(base: str, text: str, page: int = 0) -> tuple[int, dict]:
    return v2(base, "/v2/image/search", {"folderId": "b1gw", "query": {
        "searchType": "SEARCH_TYPE_RU", "queryText": text, "page": str(page)}})


def v1(base: str, text: str, page: int = 0) -> bytes:
    query = urllib.parse.urlencode({"folderid": "b1gw", "apikey": "k", "text": text, "p": page})
    with urllib.request.urlopen(f"{base}/images-xml?{query}", timeout=30) as answer:
        return answer.read()


def text_docs(answer: tuple[int, dict] | bytes) -> list[str]:
    """The documents' image URLs, in order (counts are of the recorded pages only)."""
    from lxml import etree

    xml = answer if isinstance(answer, bytes) else base64.b64decode(answer[1]["rawData"])
    return [d.findtext("url") for d in etree.fromstring(xml).iterfind(
        "response/results/grouping/group/doc")]


URL = "https://pictures.example.org/cat-on-a-roof.jpg"


def yandex_session(base: str, cbir: str | None = None) -> dict:
    seen: dict = {"url": by_image(base, url=URL), "url-1": by_image(base, 1, url=URL)}
    seen["id-2"] = by_image(base, 2, id=cbir or seen["url"][1]["id"])
    seen["text"] = [by_text(base, "roof cats", page) for page in (0, 1, 2)]
    seen["v1"] = [v1(base, "garden dogs", page) for page in (0, 1)]
    return seen


def test_url_and_id_queries_and_later_text_pages_replay_offline(upstream, tmp_path):
    out = tmp_path / "fixtures"
    with record(out, yandex_upstream=upstream.http) as proxy:
        seen = yandex_session(proxy)
    assert main(["fixtures", "check", str(out)]) == 0
    rules = json.loads((out / "rules.json").read_text())
    [rule] = rules["image_rules"]
    assert rule["url"] == URL and rule["cbir_id"] == seen["url"][1]["id"]
    assert len(rule["results"]) == 3 * 40  # page 0, 1 by url, 2 by the id
    assert [len(r["results"]) for r in rules["query_rules"]] == [60, 40]
    with start(out) as replay:
        again = yandex_session(replay.http, seen["url"][1]["id"])
    for name in ("url", "url-1", "id-2"):
        assert again[name][0] == 200, name
        assert again[name][1]["images"] == seen[name][1]["images"], name
        assert again[name][1]["id"] == seen[name][1]["id"], name  # the recorded id is issued
    assert [text_docs(a) for a in again["text"]] == [text_docs(s) for s in seen["text"]]
    assert [text_docs(a) for a in again["v1"]] == [text_docs(s) for s in seen["v1"]]
    assert all(len(text_docs(s)) == 20 for s in seen["text"])


def test_a_yandex_request_answered_differently_becomes_a_sequence(upstream, tmp_path):
    stub = admin(upstream.http, "POST", "/_emulator/stubs", {
        "vendor": "yandex", "text": "flaky cats", "sequence": [
            {"error": {"status": "UNAVAILABLE", "message": "try later"}},
            {"results": ["tolstoy-01", "tolstoy-02"]}, {"results": ["tolstoy-03"]}]})
    try:
        out = tmp_path / "fixtures"
        with record(out, yandex_upstream=upstream.http) as proxy:
            seen = [by_text(proxy, "flaky cats") for _ in range(4)]
    finally:
        admin(upstream.http, "DELETE", f"/_emulator/stubs/{stub['id']}")
    assert [s[0] for s in seen] == [503, 200, 200, 200]
    [rule] = json.loads((out / "rules.json").read_text())["query_rules"]
    assert [sorted(step) for step in rule["sequence"]] == [["error"], ["results"], ["results"]]
    with start(out) as replay:
        again = [by_text(replay.http, "flaky cats") for _ in range(4)]
    assert [a[0] for a in again] == [503, 200, 200, 200]
    assert again[0][1]["message"] == seen[0][1]["message"]
    assert [text_docs(a) for a in again[1:]] == [text_docs(s) for s in seen[1:]]


# -- pictures for offline demos ---------------------------------------------------------

def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, answer.read()


def test_recorded_thumbnails_are_served_offline(tmp_path):
    out = tmp_path / "fixtures"
    with start() as live, record(out, yandex_upstream=live.http, doofinder_upstream=live.http,
                                 record_thumbnails=True) as proxy:
        status, answer = by_image(proxy, url=URL)
        items = Doofinder(proxy).image_search(RED_SQUARE, {"rpp": 3}).body["results"]
    assert status == 200 and len(answer["images"]) == 40 and len(items) == 3
    assert all(i["url"].startswith(live.http) for i in answer["images"])  # the upstream's
    catalog = json.loads((out / "catalog.json").read_text())["documents"]
    assert all("url" not in d and (out / "images" / d["image"]).is_file() for d in catalog)
    engine = json.loads((out / "engines.json").read_text())["engines"][0]
    assert all("image_link" not in i and i["image_file"].startswith("rec-")
               for i in engine["indices"][0]["items"])
    provenance = json.loads((out / "recording.json").read_text())
    assert provenance["pictures"] == {"fetched": 43, "not_fetched": 0}
    with start(out) as replay:  # the upstream is gone: every picture comes from the replay
        again = by_image(replay.http, url=URL)[1]["images"]
        replayed = Doofinder(replay.http).image_search(RED_SQUARE, {"rpp": 3}).body["results"]
        assert [i["id"] for i in replayed] == [i["id"] for i in items]
        for image, was in zip(again, answer["images"], strict=True):
            assert image["url"].startswith(f"{replay.http}/_emulator/images/files/rec-")
            assert (image["width"], image["height"]) == (was["width"], was["height"])
        status, data = fetch(again[0]["url"])
        with Image.open(io.BytesIO(data)) as picture:
            assert status == 200 and picture.size == (int(again[0]["width"]), int(again[0]["height"]))
        for item in replayed:
            assert item["image_link"].startswith(f"{replay.http}/_emulator/images/files/rec-")
            assert fetch(item["image_link"])[0] == 200


def test_pictures_over_the_cap_keep_their_live_links(tmp_path):
    from emulator.record._pictures import PictureFetcher, PictureLimits
    from emulator.record._proxy import client_context
    from emulator.record._writer import Session

    with start() as live:
        session = Session(tmp_path, {})
        session.pictures = PictureFetcher(client_context(None), session.store_picture,
                                          PictureLimits(max_bytes=64, max_pictures=1))
        served = f"{live.http}/_emulator/images/placeholder/200x200/ff0000.png"
        assert session.pictures.file_for(served) is None  # over 64 bytes
        assert session.pictures.file_for(served + "?label=x") is None  # over the count
        assert session.pictures.file_for("file:///etc/passwd") is None
    assert session.pictures.failed == 1 and not (tmp_path / "images").exists()


def test_a_recorded_sequence_steps_once_over_processes_sharing_redis(upstream, tmp_path):
    from support.redisserver import emulator_processes, redis_server

    stubs = [admin(upstream.http, "POST", "/_emulator/stubs", body) for body in (
        {"vendor": "yandex", "text": "shared cats", "sequence": [
            {"error": {"status": "UNAVAILABLE"}}, {"results": ["tolstoy-01"]},
            {"results": ["tolstoy-02"]}]},
        {"vendor": "doofinder", "text": "shared lamp", "sequence": [
            {"results": ["poster-red-square"]}, {"results": ["wallpaper-deep-blue"]}]})]
    out = tmp_path / "fixtures"
    try:
        with record(out, yandex_upstream=upstream.http, doofinder_upstream=upstream.http) \
                as proxy:
            seen = [by_text(proxy, "shared cats")[0] for _ in range(3)]
            items = [Doofinder(proxy).search({"query": "shared lamp"}).body["results"][0]["id"]
                     for _ in range(2)]
    finally:
        for stub in stubs:
            admin(upstream.http, "DELETE", f"/_emulator/stubs/{stub['id']}")
    assert seen == [503, 200, 200] and items == ["poster-red-square", "wallpaper-deep-blue"]
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as redis, \
            emulator_processes(2, "--fixtures", str(out), "--state", redis.url) as (a, b):
        statuses = [by_text(p.http, "shared cats") for p in (a, b, a, b)]
        replayed = [Doofinder(p.http).search({"query": "shared lamp"}).body["results"][0]["id"]
                    for p in (b, a, b)]
    assert [s[0] for s in statuses] == [503, 200, 200, 200]
    assert text_docs(statuses[1]) != text_docs(statuses[2]) == text_docs(statuses[3])
    assert replayed == ["poster-red-square", "wallpaper-deep-blue", "wallpaper-deep-blue"]


def test_new_episodes_keeps_the_recorded_engines(doofinder, upstream, tmp_path):
    """A recording read back (``--record-mode new_episodes``) writes its engines again as
    they were, beside what it records next."""
    out, _dfid, seen, _ = doofinder
    again = tmp_path / "fixtures"
    shutil.copytree(out, again)
    before = json.loads((again / "engines.json").read_text())
    with record(again, doofinder_upstream=upstream.http, record_mode="new_episodes") as proxy:
        text = Doofinder(proxy).search({"query": "lamp", "rpp": 2})
        assert text.status == 200
    after = json.loads((again / "engines.json").read_text())
    [engine_before], [engine_after] = before["engines"], after["engines"]
    assert engine_after["indices"][0]["items"][:len(engine_before["indices"][0]["items"])] \
        == engine_before["indices"][0]["items"]
    assert engine_after["image_rules"] == engine_before["image_rules"]
    assert engine_after["suggest_rules"] == engine_before["suggest_rules"]
    texts = {rule["text"] for rule in engine_after["query_rules"]}
    assert texts == {r["text"] for r in engine_before["query_rules"]} | {"lamp"}
    with start(again) as replay:
        image = Doofinder(replay.http).image_search(RED_SQUARE, {"rpp": 5})
    assert image.status == 200 and image.body["results"] == seen["image"]["results"]
