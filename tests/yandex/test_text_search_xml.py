"""Text -> images as ``yandexsearch`` XML: API v1 ``GET /images-xml`` and API v2 ``Search``.

Contract: the vendor's API v1 image-search reference (GET requests, response format) and
API v2 ImageSearchService.Search.
Every XML document any test here receives is validated against the emulator's XSD.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import urllib.error
import urllib.request
from urllib.parse import quote, quote_plus, urlsplit

import grpc
import pytest
import requests
from lxml import etree
from PIL import Image

from emulator.yandex import _protos
from emulator.yandex._render import XSD_PATH

from support.server import FIXTURES, catalog_url, start

SCHEMA = etree.XMLSchema(file=str(XSD_PATH))
PROTOS = _protos.load()
SEARCH_PATH = "/yandex.cloud.searchapi.v2.ImageSearchService/Search"
AUTH = (("authorization", "Api-Key k"),)
REST_HEADERS = {"Authorization": "Api-Key k"}
NASTY = '<a & "b"> Лев 🦁'
NOT_FOUND_RU = "Искомая комбинация слов нигде не встречается"

CATALOG = {d["id"]: d for d in json.loads((FIXTURES / "catalog.json").read_text())["documents"]}
SAMPLES = ("red-square", "blue-wallpaper", "gray-sketch", "adult-poster")
YANDEX_CLOUD = tuple(f"yandex-cloud-{i:02d}" for i in range(1, 21))
_BY_PICTURE = {d.get("url") or d["image"]: i for i, d in CATALOG.items()}


class _UrlToId(dict):
    """Catalog id by answered URL: a recorded url as it is, a served picture by its file
    (the emulator's own URLs carry its port)."""

    def __missing__(self, url: str) -> str:
        if "/_emulator/images/files/" in url:
            return _BY_PICTURE[url.split("/_emulator/images/files/", 1)[1].split("?", 1)[0]]
        return _BY_PICTURE[url]


URL_TO_ID = _UrlToId()
MIME = {"jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp"}


# --- helpers ---------------------------------------------------------------------------


def parse_valid(body: bytes) -> etree._Element:
    """Parse a yandexsearch document and assert it is valid against the XSD."""
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), body[:80]
    root = etree.fromstring(body)
    assert SCHEMA.validate(root), f"XSD: {SCHEMA.error_log}\n{body[:2000].decode()}"
    assert root.tag == "yandexsearch"
    return root


def v1_raw(base: str, query: str) -> tuple[int, str, bytes]:
    """GET /images-xml with a query string sent exactly as given."""
    try:
        with urllib.request.urlopen(f"{base}/images-xml?{query}", timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def v1(base: str, query: str = "", *, auth: bool = True) -> etree._Element:
    """A v1 call: HTTP 200, an XML content type, a valid document."""
    if auth:
        query = "folderid=f&apikey=k" + ("&" + query if query else "")
    status, ctype, body = v1_raw(base, query)
    assert status == 200, (status, body[:500])
    assert "xml" in ctype.lower(), ctype
    return parse_valid(body)


def text(words: str) -> str:
    return "text=" + quote_plus(words)


def error_code(root: etree._Element) -> int | None:
    error = root.find("response/error")
    return None if error is None else int(error.get("code"))


def assert_error(root: etree._Element, code: int) -> etree._Element:
    error = root.find("response/error")
    assert error is not None, etree.tostring(root)[:1500]
    assert error.get("code") == str(code), (error.get("code"), error.text)
    assert (error.text or "").strip(), "an error carries a text"
    assert root.find("response/results") is None
    return error


def docs(root: etree._Element) -> list[dict]:
    assert error_code(root) is None, etree.tostring(root, encoding="unicode")[:1500]
    out = []
    for doc in root.iterfind("response/results/grouping/group/doc"):
        props = doc.find("image-properties")
        out.append({
            "url": doc.findtext("url"),
            "domain": doc.findtext("domain"),
            "width": int(props.findtext("original-width")),
            "height": int(props.findtext("original-height")),
            "mime": props.findtext("mime-type"),
            "file_size": int(props.findtext("file-size")),
            "html_link": props.findtext("html-link"),
            "image_link": props.findtext("image-link"),
        })
    return out


def ids(root: etree._Element) -> list[str]:
    return [URL_TO_ID[d["url"]] for d in docs(root)]


def found(root: etree._Element) -> int:
    """All found / found-docs counts agree; returns the common value."""
    response = root.find("response")
    grouping = response.find("results/grouping")
    values = {}
    for where, tag in ((response, "found"), (grouping, "found"), (grouping, "found-docs")):
        elements = where.findall(tag)
        assert [e.get("priority") for e in elements] == ["phrase", "strict", "all"], tag
        for e in elements:
            values[(where.tag, tag, e.get("priority"))] = int(e.text)
    assert len(set(values.values())) == 1, values
    assert (response.findtext("found-human") or "").strip()
    assert (grouping.findtext("found-docs-human") or "").strip()
    return next(iter(values.values()))


def page_of(root: etree._Element) -> tuple[int, int, int]:
    page = root.find("response/results/grouping/page")
    return int(page.text), int(page.get("first")), int(page.get("last"))


def groups_on_page(root: etree._Element) -> int:
    grouping = root.find("response/results/grouping")
    assert root.find("request/groupings/groupby").get("groups-on-page") == \
        grouping.get("groups-on-page")
    return int(grouping.get("groups-on-page"))


def contract_size_ok(size: str, w: int, h: int) -> bool:
    """The contract's size buckets (boundaries taken inclusively on the lower class)."""
    if size == "enormous":
        return w > 1600 or h > 1200
    if size == "large":
        return w <= 1600 and h <= 1200 and (w >= 800 or h >= 600)
    if size == "medium":
        return w <= 800 and h <= 600 and (w >= 150 or h >= 150)
    if size == "small":
        return w <= 150 and h <= 150 and (w >= 32 or h >= 32)
    if size == "tiny":
        return w <= 32 and h <= 32
    if size == "wallpaper":
        return w >= 1024 and w > h
    raise AssertionError(size)


def orientation_ok(orient: str, w: int, h: int) -> bool:
    if orient == "square":
        return abs(w - h) <= 0.05 * max(w, h)
    if orient == "horizontal":
        return w > h and abs(w - h) > 0.05 * max(w, h)
    return h > w and abs(w - h) > 0.05 * max(w, h)


# --- v2 helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc) as ch:
        yield ch


def grpc_search(channel, request) -> bytes:
    call = channel.unary_unary(SEARCH_PATH, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=PROTOS.ImageSearchResponse.FromString)
    return call(request, metadata=AUTH, timeout=30).raw_data


def v2_request(query_text: str = "emulator samples", *, search_type: int = 1, page: int = 0,
               family_mode: int = 0, docs_on_page: int = 0, site: str = "", spec=None,
               folder_id: str = "f"):
    return PROTOS.ImageSearchRequest(
        query=PROTOS.SearchQuery(search_type=search_type, query_text=query_text, page=page,
                                 family_mode=family_mode),
        image_spec=PROTOS.ImageSpec(**(spec or {})), site=site, docs_on_page=docs_on_page,
        folder_id=folder_id)


def rest_post(base: str, path: str, body: dict) -> requests.Response:
    return requests.post(base + path, data=json.dumps(body), headers=REST_HEADERS, timeout=30)


def rest_search(base: str, body: dict) -> bytes:
    response = rest_post(base, "/v2/image/search", body)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return base64.b64decode(response.json()["rawData"])


def rest_body(query_text: str = "emulator samples", *, search_type: str = "SEARCH_TYPE_RU",
              **extra) -> dict:
    query = {"searchType": search_type, "queryText": query_text}
    query.update(extra.pop("query_extra", {}))
    return {"query": query, "folderId": "f", **extra}


# --- the contract's example URL --------------------------------------------------------


@pytest.mark.parametrize("groupby", ["attr%3Dii.groups-on-page%3D5", "attr=ii.groups-on-page=5"])
def test_contract_example_url(server, groupby):
    status, ctype, body = v1_raw(
        server.http, f"folderid=any-folder&apikey=any-key&text=cats&groupby={groupby}&p=1")
    assert status == 200
    assert ctype.startswith(("text/xml", "application/xml")), ctype
    root = parse_valid(body)
    assert root.findtext("request/query") == "cats"
    assert root.findtext("request/page") == "1"
    assert len(root.findall("response/results/grouping/group")) == 5
    assert groups_on_page(root) == 5
    page = root.find("response/results/grouping/page")
    assert (page.text, page.get("first"), page.get("last")) == ("1", "6", "10")
    assert found(root) >= 10
    for group in root.iterfind("response/results/grouping/group"):
        assert group.findtext("doccount") == "1"
        assert len(group.findall("doc")) == 1


def test_default_is_20_groups_from_page_0(server):
    root = v1(server.http, text("cats"))
    assert len(docs(root)) == 20
    assert groups_on_page(root) == 20
    assert page_of(root) == (0, 1, 20)


# --- every v1 parameter filters --------------------------------------------------------

SAMPLE_FILTERS = [
    ("itype=gif", ["gray-sketch"]),
    ("itype=png", ["red-square"]),
    ("itype=jpg", ["blue-wallpaper", "adult-poster"]),
    ("iorient=vertical", ["gray-sketch", "adult-poster"]),
    ("iorient=horizontal", ["blue-wallpaper"]),
    ("iorient=square", ["red-square"]),
    ("isize=large", ["adult-poster"]),
    ("isize=enormous", ["blue-wallpaper"]),
    ("isize=medium", ["red-square", "gray-sketch"]),
    ("isize=wallpaper", ["blue-wallpaper"]),
    ("icolor=gray", ["gray-sketch"]),
    ("icolor=red", ["red-square"]),
    ("icolor=blue", ["blue-wallpaper"]),
    ("icolor=black", ["adult-poster"]),
    ("icolor=color", ["red-square", "blue-wallpaper", "adult-poster"]),
    ("site=shapes.example.com", ["red-square"]),
    ("site=example.com", list(SAMPLES)),
    ("fyandex=1", ["red-square", "blue-wallpaper", "gray-sketch"]),
    ("fyandex=0", list(SAMPLES)),
    ("itype=jpg&iorient=vertical", ["adult-poster"]),
    ("itype=jpg&fyandex=1", ["blue-wallpaper"]),
]


def test_samples_unfiltered(server):
    root = v1(server.http, text("emulator samples"))
    assert ids(root) == list(SAMPLES)
    assert found(root) == 4


@pytest.mark.parametrize("param,expected", SAMPLE_FILTERS, ids=[p for p, _ in SAMPLE_FILTERS])
def test_v1_filters_samples(server, param, expected):
    root = v1(server.http, f"{text('emulator samples')}&{param}")
    got = docs(root)
    assert [URL_TO_ID[d["url"]] for d in got] == expected
    assert found(root) == len(expected)
    for d in got:
        for name, value in (p.split("=") for p in param.split("&")):
            if name == "itype":
                assert d["mime"] == value
            elif name == "iorient":
                assert orientation_ok(value, d["width"], d["height"])
            elif name == "isize":
                assert contract_size_ok(value, d["width"], d["height"]), (value, d)
            elif name == "site":
                host = urlsplit(d["html_link"]).hostname
                assert host == value or host.endswith("." + value)


@pytest.mark.parametrize("param", ["isize=small", "isize=tiny", "icolor=green",
                                   "site=images.example.com", "site=nowhere.example.org"])
def test_v1_filter_leaving_nothing_is_error_15(server, param):
    """``site`` matches the page's host (html-link), not the image's (domain)."""
    root = v1(server.http, f"{text('emulator samples')}&{param}")
    assert_error(root, 15)


def on_site(host: str | None, site: str) -> bool:
    return host is not None and (host == site or host.endswith("." + site))


def assert_thumbnail_served(base: str, root: etree._Element) -> None:
    """Every thumbnail-link is the emulator's own and loads, at the size the document claims."""
    for doc in root.iterfind("response/results/grouping/group/doc"):
        props = doc.find("image-properties")
        link = props.findtext("thumbnail-link")
        assert link.startswith(base + "/_emulator/images/"), link
        response = requests.get(link, timeout=30)
        assert response.status_code == 200, (link, response.status_code)
        assert response.headers["Content-Type"].startswith("image/")
        with Image.open(io.BytesIO(response.content)) as img:
            assert img.size == (int(props.findtext("thumbnail-width")),
                                int(props.findtext("thumbnail-height")))


def test_site_puts_served_picture_on_the_page_host(server):
    """With ``site``, the picture the emulator serves moves onto the page's host: ``<url>``,
    ``<image-link>`` and ``<domain>`` all name it (in live documents ``<domain>`` is the host
    of ``<url>``), while the thumbnail is still the emulator's, so it shows."""
    plain = docs(v1(server.http, text("emulator samples")))
    assert plain[0]["domain"] == urlsplit(server.http).hostname  # no site: served as it is
    root = v1(server.http, f"{text('emulator samples')}&site=shapes.example.com")
    (doc,) = docs(root)
    path = catalog_url("red-square")  # the emulator's own path for the picture
    assert doc["url"] == doc["image_link"] == "https://shapes.example.com" + path
    assert doc["domain"] == urlsplit(doc["url"]).hostname == "shapes.example.com"
    assert urlsplit(doc["html_link"]).hostname == "shapes.example.com"
    assert_thumbnail_served(server.http, root)
    # no page is on the emulator's own host: site= that host leaves nothing
    assert_error(v1(server.http, f"{text('emulator samples')}&site={urlsplit(server.http).hostname}"),
                 15)


def test_site_every_domain_is_the_host_of_its_url(server):
    root = v1(server.http, f"{text('emulator samples')}&site=www.example.com")
    got = docs(root)
    assert [URL_TO_ID[d["url"]] for d in got] == list(SAMPLES)
    for d in got:
        assert d["domain"] == urlsplit(d["url"]).hostname == urlsplit(d["html_link"]).hostname
        assert on_site(d["domain"], "example.com") and d["url"].startswith("https://")
    assert_thumbnail_served(server.http, root)


def test_site_on_generated_pages_puts_every_picture_on_the_site(server):
    base = "&" + text("blue mountains") + "&groupby=attr%3Dii.groups-on-page%3D50"
    root = v1(server.http, base + "&site=somepics.ru")
    got = docs(root)
    assert len(got) == 50
    for d in got:
        assert d["domain"] == "somepics.ru" and d["url"] == d["image_link"]
        assert urlsplit(d["url"]).hostname == urlsplit(d["html_link"]).hostname == "somepics.ru"
        assert urlsplit(d["url"]).path.startswith("/_emulator/images/placeholder/")
    assert_thumbnail_served(server.http, root)
    # the same pictures as without site, only on the site's host
    unrestricted = docs(v1(server.http, base))
    assert [urlsplit(d["url"]).path for d in got] == [urlsplit(d["url"]).path for d in unrestricted]
    assert {d["domain"] for d in unrestricted} == {urlsplit(server.http).hostname}


@pytest.mark.parametrize("site,expected", [
    ("wikimedia.org", ["yandex-cloud-01"]),  # page on commons., picture on upload.wikimedia.org
    ("beltel.ru", ["yandex-cloud-06"]),
    ("infostart.ru", []),  # the page is on the site, its recorded picture is not
])
def test_site_on_recorded_documents_needs_page_and_picture_on_it(server, channel, site, expected):
    for root in (v1(server.http, f"{text('yandex cloud')}&site={site}"),
                 parse_valid(grpc_search(channel, v2_request("yandex cloud", site=site))),
                 parse_valid(rest_search(server.http, rest_body("yandex cloud", site=site)))):
        if not expected:
            assert_error(root, 15)
            continue
        got = docs(root)
        assert [URL_TO_ID[d["url"]] for d in got] == expected
        assert found(root) == len(expected)
        for d, doc_id in zip(got, expected, strict=True):
            assert d["url"] == CATALOG[doc_id]["url"]  # a recorded URL is never rewritten
            assert d["domain"] == urlsplit(d["url"]).hostname and on_site(d["domain"], site)


def test_v2_search_site_puts_domains_on_the_site(server, channel):
    for root in (parse_valid(grpc_search(channel, v2_request(site="example.com"))),
                 parse_valid(rest_search(server.http, rest_body(site="example.com")))):
        got = docs(root)
        assert [URL_TO_ID[d["url"]] for d in got] == list(SAMPLES)
        for d in got:
            assert d["domain"] == urlsplit(d["url"]).hostname == urlsplit(d["html_link"]).hostname
            assert on_site(d["domain"], "example.com")
        assert_thumbnail_served(server.http, root)
    generated = docs(parse_valid(grpc_search(channel, v2_request("blue mountains",
                                                                 site="somepics.ru"))))
    assert len(generated) == 20
    assert {d["domain"] for d in generated} == {"somepics.ru"}
    assert {urlsplit(d["url"]).hostname for d in generated} == {"somepics.ru"}


@pytest.mark.parametrize("param,check", [
    ("itype=png", lambda d: d["mime"] == "png"),
    ("itype=gif", lambda d: d["mime"] == "gif"),
    ("itype=jpg", lambda d: d["mime"] == "jpg"),
    ("iorient=vertical", lambda d: orientation_ok("vertical", d["width"], d["height"])),
    ("iorient=horizontal", lambda d: orientation_ok("horizontal", d["width"], d["height"])),
    ("iorient=square", lambda d: orientation_ok("square", d["width"], d["height"])),
    ("isize=large", lambda d: contract_size_ok("large", d["width"], d["height"])),
    ("isize=enormous", lambda d: contract_size_ok("enormous", d["width"], d["height"])),
    ("isize=medium", lambda d: contract_size_ok("medium", d["width"], d["height"])),
    ("isize=small", lambda d: contract_size_ok("small", d["width"], d["height"])),
    ("isize=tiny", lambda d: contract_size_ok("tiny", d["width"], d["height"])),
    ("isize=wallpaper", lambda d: contract_size_ok("wallpaper", d["width"], d["height"])),
    ("site=pics.example.net", lambda d: urlsplit(d["html_link"]).hostname == "pics.example.net"),
])
def test_v1_filters_generated(server, param, check):
    base = "&" + text("blue mountains") + "&groupby=attr%3Dii.groups-on-page%3D50"
    everything = v1(server.http, base)
    total = found(everything)
    assert total >= 50
    root = v1(server.http, base + "&" + param)
    got = docs(root)
    assert got, "a generated pool of 200+ images has some of every kind"
    assert all(check(d) for d in got), [d for d in got if not check(d)]
    if not param.startswith("site="):
        assert found(root) < total
    else:
        assert found(root) == total  # generated pages move onto the site


def test_generated_itype_png_shrinks_found(server):
    plain = v1(server.http, text("blue mountains"))
    png = v1(server.http, text("blue mountains") + "&itype=png")
    assert 0 < found(png) < found(plain)
    assert {d["mime"] for d in docs(plain)} > {"png"}
    assert {d["mime"] for d in docs(png)} == {"png"}


def test_generated_icolor_and_fyandex_shrink_found(server):
    plain = found(v1(server.http, text("blue mountains")))
    for param in ("icolor=gray", "icolor=red", "fyandex=1"):
        assert found(v1(server.http, text("blue mountains") + "&" + param)) < plain, param
    assert found(v1(server.http, text("blue mountains") + "&fyandex=0")) == plain


# --- paging and counts ---------------------------------------------------------------


def walk(base: str, query: str, groups: int) -> tuple[list[dict], int, int]:
    """All pages until error 15; returns the docs, the common found, and the page count."""
    seen, totals, page = [], set(), 0
    while True:
        root = v1(base, f"{query}&groupby=attr%3Dii.groups-on-page%3D{groups}&p={page}")
        if error_code(root) == 15:
            break
        got = docs(root)
        totals.add(found(root))
        assert root.findtext("request/page") == str(page)
        first = page * groups + 1
        assert page_of(root) == (page, first, first + len(got) - 1)
        assert 1 <= len(got) <= groups
        seen.extend(got)
        page += 1
        assert page < 200
    assert len(totals) == 1, totals
    return seen, totals.pop(), page


def test_walk_recorded_rule_pages(server):
    seen, total, pages = walk(server.http, text("yandex cloud"), 3)
    assert total == 20 == len(seen)
    assert pages == 7
    assert [URL_TO_ID[d["url"]] for d in seen] == list(YANDEX_CLOUD)


def test_walk_generated_pages_found_equals_docs(server):
    seen, total, _pages = walk(server.http, text("blue mountains") + "&itype=gif", 40)
    assert total == len(seen) > 0
    assert len({d["url"] for d in seen}) == len(seen)
    assert all(d["mime"] == "gif" for d in seen)


def test_walk_samples_with_filter(server):
    seen, total, pages = walk(server.http, text("emulator samples") + "&fyandex=1", 1)
    assert total == len(seen) == pages == 3


def test_found_counts_and_human_texts(server):
    root = v1(server.http, text("yandex cloud"))
    assert found(root) == 20
    response = root.find("response")
    assert response.findtext("found-human").strip()
    assert response.find("results/grouping").findtext("found-docs-human").strip()
    assert re.fullmatch(r"\d{8}T\d{6}", response.get("date"))
    assert response.findtext("reqid")


def test_page_beyond_last_is_15(server):
    root = v1(server.http, text("yandex cloud") + "&p=1")
    assert_error(root, 15)
    root = v1(server.http, text("yandex cloud") + "&groupby=attr%3Dii.groups-on-page%3D7&p=3")
    assert_error(root, 15)
    last = v1(server.http, text("yandex cloud") + "&groupby=attr%3Dii.groups-on-page%3D7&p=2")
    assert len(docs(last)) == 6


@pytest.mark.parametrize("query", [
    "p=50",  # (50+1) * 20 > 1000
    "p=10&groupby=attr%3Dii.groups-on-page%3D100",
    "p=999999",
])
def test_past_result_1000_is_18(server, query):
    assert_error(v1(server.http, text("blue mountains") + "&" + query), 18)


def test_result_1000_itself_is_allowed(server):
    """(49 + 1) * 20 == 1000: inside the window, so not 18 (the rule has 20 docs: 15)."""
    assert_error(v1(server.http, text("yandex cloud") + "&p=49"), 15)
    root = v1(server.http, text("blue mountains") + "&p=9&groupby=attr%3Dii.groups-on-page%3D100")
    assert error_code(root) in (None, 15)


@pytest.mark.parametrize("query", [
    "groupby=attr%3Dii.groups-on-page%3D0",
    "groupby=attr%3Dii.groups-on-page%3Dabc",
    "groupby=attr=ii.groups-on-page=0",
    "groupby=attr=ii.groups-on-page=abc",
    "groupby=attr%3Dii.groups-on-page%3D-5",
    "itype=bmp", "itype=", "iorient=diagonal", "isize=huge", "icolor=pink",
    "fyandex=2", "fyandex=yes", "fyandex=-1",
    "p=-1", "p=x", "p=1.5", "p=",
    # str.isdigit() accepts these, int() does not: still invalid parameters, not a crash
    "p=%C2%B2", "fyandex=%C2%B9", "groupby=attr%3Dii.groups-on-page%3D%C2%B2",
])
def test_invalid_parameters_are_18(server, query):
    assert_error(v1(server.http, text("emulator samples") + "&" + query), 18)


# --- errors in the vendor layout ------------------------------------------------------------


@pytest.mark.parametrize("query,code", [
    ("apikey=k&text=cats", 37),
    ("folderid=f&text=cats", 37),
    ("folderid=&apikey=k&text=cats", 37),
    ("folderid=f&apikey=&text=cats", 37),
    ("folderid=f&apikey=k", 2),
    ("folderid=f&apikey=k&text=", 2),
    ("folderid=f&apikey=k&text=+++", 2),
])
def test_missing_parameters(server, query, code):
    assert_error(v1(server.http, query, auth=False), code)


def test_more_than_40_words_is_10002(server):
    assert_error(v1(server.http, text(" ".join(["w"] * 41))), 10002)
    root = v1(server.http, text(" ".join(["w"] * 40)))
    assert error_code(root) != 10002


def test_no_such_images_rule_is_15(server):
    error = assert_error(v1(server.http, text("no such images")), 15)
    assert error.text == NOT_FOUND_RU


@pytest.fixture(scope="module")
def access_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("access") / "fixtures"
    shutil.copytree(FIXTURES, directory)
    (directory / "access.json").write_text(json.dumps(
        {"version": 1, "keys": [{"key": "good", "folders": ["f1"]}]}))
    with start(directory) as running:
        yield running


@pytest.mark.parametrize("query,code", [
    ("folderid=f1&apikey=bad", 42),
    ("folderid=f2&apikey=good", 31),
    ("folderid=f1&apikey=good", None),
])
def test_access_errors(access_server, query, code):
    root = v1(access_server.http, query + "&" + text("emulator samples"), auth=False)
    if code is None:
        assert ids(root) == list(SAMPLES)
    else:
        assert_error(root, code)


def test_rate_limit_is_55():
    with start(FIXTURES, rate_limits=True) as running:
        query = "folderid=busy&apikey=k&" + text("emulator samples")
        codes = [error_code(v1(running.http, query, auth=False)) for _ in range(30)]
        assert codes[0] is None
        assert 55 in codes, codes
        error = assert_error(v1(running.http, "folderid=busy&apikey=k&" + text("cats"),
                                auth=False), 55)
        assert error.text
        # another folder has its own quota
        assert error_code(v1(running.http, "folderid=calm&apikey=k&" + text("cats"),
                             auth=False)) is None


# --- escaping and determinism --------------------------------------------------------------


@pytest.mark.parametrize("encode", [lambda s: quote(s, safe=""), quote_plus])
def test_escaping_round_trip(server, encode):
    status, ctype, body = v1_raw(server.http, f"folderid=f&apikey=k&text={encode(NASTY)}")
    assert status == 200 and "xml" in ctype
    root = parse_valid(body)
    assert root.findtext("request/query") == NASTY
    assert b"&lt;a &amp;" in body


def test_escaping_round_trip_in_error_document(server):
    nasty = " ".join([NASTY] * 9)  # 45 words: error 10002 still echoes the request
    root = v1(server.http, "text=" + quote(nasty, safe=""))
    assert_error(root, 10002)
    echoed = root.findtext("request/query")
    assert echoed is None or echoed == nasty


def test_v2_escaping_round_trip(server, channel):
    root = parse_valid(grpc_search(channel, v2_request(NASTY)))
    assert root.findtext("request/query") == NASTY
    root = parse_valid(rest_search(server.http, rest_body(NASTY)))
    assert root.findtext("request/query") == NASTY


@pytest.mark.parametrize("query", [
    text("yandex cloud"),
    text("blue mountains") + "&itype=png&groupby=attr%3Dii.groups-on-page%3D7&p=2",
    text("no such images"),
])
def test_v1_is_deterministic(server, query):
    full = "folderid=f&apikey=k&" + query
    first, second = v1_raw(server.http, full)[2], v1_raw(server.http, full)[2]
    parse_valid(first)
    assert first == second


def test_v2_is_deterministic(server, channel):
    request = v2_request("blue mountains", docs_on_page=7, page=2)
    assert grpc_search(channel, request) == grpc_search(channel, request)
    body = rest_body("blue mountains", docsOnPage=7, query_extra={"page": "2"})
    assert rest_search(server.http, body) == rest_search(server.http, body)


# --- v2 Search, gRPC and REST ---------------------------------------------------------------


def test_v2_docs_on_page(server, channel):
    for raw in (grpc_search(channel, v2_request("yandex cloud", docs_on_page=5)),
                rest_search(server.http, rest_body("yandex cloud", docsOnPage=5))):
        root = parse_valid(raw)
        assert len(root.findall("response/results/grouping/group")) == 5
        assert groups_on_page(root) == 5
        assert page_of(root) == (0, 1, 5)
        assert ids(root) == list(YANDEX_CLOUD[:5])
        assert found(root) == 20


def test_v2_default_docs_on_page_is_20(server, channel):
    root = parse_valid(grpc_search(channel, v2_request("cats")))
    assert len(docs(root)) == 20 and groups_on_page(root) == 20


def test_v2_query_page(server, channel):
    v1_root = v1(server.http, text("yandex cloud") + "&groupby=attr%3Dii.groups-on-page%3D5&p=1")
    for raw in (grpc_search(channel, v2_request("yandex cloud", docs_on_page=5, page=1)),
                rest_search(server.http, rest_body("yandex cloud", docsOnPage=5,
                                                   query_extra={"page": "1"})),
                rest_search(server.http, rest_body("yandex cloud", docsOnPage=5,
                                                   query_extra={"page": 1}))):
        root = parse_valid(raw)
        assert page_of(root) == (1, 6, 10)
        assert root.findtext("request/page") == "1"
        assert docs(root) == docs(v1_root)
    past = parse_valid(grpc_search(channel, v2_request("yandex cloud", docs_on_page=5, page=4)))
    assert_error(past, 15)
    window = parse_valid(grpc_search(channel, v2_request("cats", docs_on_page=20, page=50)))
    assert_error(window, 18)


V2_SPECS = [
    ({"format": 2}, "IMAGE_FORMAT_GIF", ["gray-sketch"]),
    ({"format": 3}, "IMAGE_FORMAT_PNG", ["red-square"]),
    ({"format": 1}, "IMAGE_FORMAT_JPEG", ["blue-wallpaper", "adult-poster"]),
    ({"orientation": 1}, "IMAGE_ORIENTATION_VERTICAL", ["gray-sketch", "adult-poster"]),
    ({"orientation": 2}, "IMAGE_ORIENTATION_HORIZONTAL", ["blue-wallpaper"]),
    ({"orientation": 3}, "IMAGE_ORIENTATION_SQUARE", ["red-square"]),
    ({"size": 2}, "IMAGE_SIZE_LARGE", ["adult-poster"]),
    ({"size": 1}, "IMAGE_SIZE_ENORMOUS", ["blue-wallpaper"]),
    ({"size": 3}, "IMAGE_SIZE_MEDIUM", ["red-square", "gray-sketch"]),
    ({"size": 6}, "IMAGE_SIZE_WALLPAPER", ["blue-wallpaper"]),
    ({"color": 2}, "IMAGE_COLOR_GRAYSCALE", ["gray-sketch"]),
    ({"color": 3}, "IMAGE_COLOR_RED", ["red-square"]),
    ({"color": 8}, "IMAGE_COLOR_BLUE", ["blue-wallpaper"]),
    ({"color": 1}, "IMAGE_COLOR_COLOR", ["red-square", "blue-wallpaper", "adult-poster"]),
]
V2_SPEC_KEYS = {"format": "format", "orientation": "orientation", "size": "size", "color": "color"}


@pytest.mark.parametrize("spec,name,expected", V2_SPECS, ids=[n for _, n, _ in V2_SPECS])
def test_v2_image_spec_filters(server, channel, spec, name, expected):
    (field,) = spec
    by_grpc = parse_valid(grpc_search(channel, v2_request(spec=spec)))
    by_rest = parse_valid(rest_search(server.http, rest_body(imageSpec={field: name})))
    assert ids(by_grpc) == expected
    assert ids(by_rest) == expected
    assert found(by_grpc) == found(by_rest) == len(expected)


def test_v2_site_and_family_filters(server, channel):
    root = parse_valid(grpc_search(channel, v2_request(site="shapes.example.com")))
    assert ids(root) == ["red-square"]
    root = parse_valid(rest_search(server.http, rest_body(site="shapes.example.com")))
    assert ids(root) == ["red-square"]
    root = parse_valid(grpc_search(channel, v2_request(family_mode=3)))
    assert ids(root) == ["red-square", "blue-wallpaper", "gray-sketch"]
    root = parse_valid(rest_search(server.http, rest_body(
        query_extra={"familyMode": "FAMILY_MODE_STRICT"})))
    assert ids(root) == ["red-square", "blue-wallpaper", "gray-sketch"]
    root = parse_valid(grpc_search(channel, v2_request(family_mode=1)))
    assert ids(root) == list(SAMPLES)


def test_v2_spec_agrees_with_v1_on_generated(server, channel):
    v1_root = v1(server.http, text("blue mountains") + "&itype=png&iorient=horizontal")
    v2_root = parse_valid(grpc_search(channel, v2_request(
        "blue mountains", spec={"format": 3, "orientation": 2})))
    assert found(v1_root) == found(v2_root)
    assert [(d["url"], d["mime"]) for d in docs(v1_root)] == \
        [(d["url"], d["mime"]) for d in docs(v2_root)]
    assert all(d["mime"] == "png" for d in docs(v2_root))


def test_v2_nothing_found_is_xml_error_15(server, channel):
    error = assert_error(parse_valid(grpc_search(channel, v2_request("no such images"))), 15)
    assert error.text == NOT_FOUND_RU
    assert_error(parse_valid(rest_search(server.http, rest_body("no such images"))), 15)
    assert_error(parse_valid(grpc_search(channel, v2_request("emulator samples",
                                                             spec={"size": 5}))), 15)


INVALID_V2 = [
    ("no query", PROTOS.ImageSearchRequest(folder_id="f"), {"folderId": "f"}),
    ("unspecified type", v2_request(search_type=0),
     rest_body(search_type="SEARCH_TYPE_UNSPECIFIED")),
    ("empty text", v2_request(""), rest_body("")),
    ("blank text", v2_request("   "), rest_body("   ")),
    ("docs_on_page 101", v2_request(docs_on_page=101), rest_body(docsOnPage=101)),
    ("negative page", v2_request(page=-1), rest_body(query_extra={"page": "-1"})),
]


@pytest.mark.parametrize("name,message,body", INVALID_V2, ids=[n for n, _, _ in INVALID_V2])
def test_v2_invalid_argument(server, channel, name, message, body):
    with pytest.raises(grpc.RpcError) as caught:
        grpc_search(channel, message)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    response = rest_post(server.http, "/v2/image/search", body)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert error["code"] == 3 and error["message"]
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.RequestInfo"


def test_v2_docs_on_page_100_is_allowed(server, channel):
    root = parse_valid(grpc_search(channel, v2_request("cats", docs_on_page=100)))
    assert len(docs(root)) == 100


ENGLISH_HUMAN = re.compile(r"\d+( thousand| million| billion)? results? found")


def test_v2_search_type_com_is_english(server, channel):
    for raw in (grpc_search(channel, v2_request("yandex cloud", search_type=3)),
                rest_search(server.http, rest_body("yandex cloud", search_type="SEARCH_TYPE_COM"))):
        root = parse_valid(raw)
        assert root.findtext("response/found-human") == "20 results found"
        assert ENGLISH_HUMAN.fullmatch(
            root.findtext("response/results/grouping/found-docs-human"))
    generated = parse_valid(grpc_search(channel, v2_request("cats", search_type=3)))
    assert ENGLISH_HUMAN.fullmatch(generated.findtext("response/found-human"))
    russian = parse_valid(grpc_search(channel, v2_request("yandex cloud", search_type=1)))
    human = russian.findtext("response/found-human")
    assert re.search("[а-яё]", human, re.I) and "20" in human
    english_error = parse_valid(grpc_search(channel, v2_request("no such images", search_type=3)))
    assert assert_error(english_error, 15).text == "No matches found for your search query"


# --- three-way agreement --------------------------------------------------------------------

COMPARED = ("url", "domain", "width", "height", "mime", "file_size")


def test_three_way_agreement_yandex_cloud(server, channel):
    by_v1 = docs(v1(server.http, text("yandex cloud")))
    by_grpc = docs(parse_valid(grpc_search(channel, v2_request("yandex cloud"))))
    by_rest = docs(parse_valid(rest_search(server.http, rest_body("yandex cloud"))))
    project = lambda rows: [tuple(r[k] for k in COMPARED) for r in rows]  # noqa: E731
    assert len(by_v1) == 20
    assert project(by_v1) == project(by_grpc) == project(by_rest)
    for row, doc_id in zip(by_v1, YANDEX_CLOUD, strict=False):
        entry = CATALOG[doc_id]
        assert row["url"] == entry["url"] == row["image_link"]
        assert row["html_link"] == entry["page_url"]
        assert (row["width"], row["height"]) == (entry["width"], entry["height"])
        assert row["mime"] == MIME[entry["format"]]
        assert row["file_size"] == entry["file_size"]
        assert row["domain"] == urlsplit(entry["url"]).hostname


@pytest.fixture(scope="module")
def red_things_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("redthings") / "fixtures"
    shutil.copytree(FIXTURES, directory)
    rules = json.loads((directory / "rules.json").read_text())
    rules["query_rules"].append(
        {"text": "red things", "results": ["red-square", "gray-sketch", "adult-poster"]})
    (directory / "rules.json").write_text(json.dumps(rules))
    with start(directory) as running:
        yield running


V2_FORMATS = {"IMAGE_FORMAT_PNG": "png", "IMAGE_FORMAT_JPEG": "jpg", "IMAGE_FORMAT_GIF": "gif"}


def test_search_by_image_agrees_with_xml(red_things_server):
    data = base64.b64encode((FIXTURES / "images" / "red-square.png").read_bytes()).decode()
    response = rest_post(red_things_server.http, "/v2/image/search_by_image",
                         {"data": data, "familyMode": "FAMILY_MODE_NONE", "folderId": "f"})
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    xml_docs = docs(v1(red_things_server.http, text("red things") + "&fyandex=0"))
    assert [URL_TO_ID[d["url"]] for d in xml_docs] == ["red-square", "gray-sketch", "adult-poster"]
    assert len(images) == len(xml_docs) == 3
    for image, doc in zip(images, xml_docs, strict=True):
        assert image["url"] == doc["url"] == doc["image_link"]
        assert int(image["width"]) == doc["width"]
        assert int(image["height"]) == doc["height"]
        assert V2_FORMATS[image["format"]] == doc["mime"]
        assert image["pageUrl"] == doc["html_link"]
        assert image["host"] == urlsplit(doc["html_link"]).hostname
    # and v2 Search (REST) over the same server lists the same documents
    v2_docs = docs(parse_valid(rest_search(red_things_server.http, rest_body(
        "red things", query_extra={"familyMode": "FAMILY_MODE_NONE"}))))
    assert v2_docs == xml_docs


def test_xml_is_the_same_under_any_python_hash_seed(tmp_path):
    """Sets of colours (icolor=color) must not leak Python's per-process hash order."""
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    bodies = []
    with socket.socket() as s:  # both at one address: results link to pictures served there
        s.bind(("127.0.0.1", 0))
        http_port = s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        grpc_port = s.getsockname()[1]
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.Popen([sys.executable, "-m", "emulator", "--http-port", str(http_port),
                                 "--grpc-port", str(grpc_port)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert "ready" in proc.stdout.readline()
            url = (f"http://127.0.0.1:{http_port}/images-xml?folderid=f&apikey=k"
                   "&text=blue+mountains&icolor=color")
            with urllib.request.urlopen(url, timeout=10) as reply:
                bodies.append(reply.read())
        finally:
            proc.terminate()
            proc.wait(10)
    assert b"<reqid>" in bodies[0]
    assert bodies[0] == bodies[1]
