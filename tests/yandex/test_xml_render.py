"""The yandexsearch image XML renderer, checked against the live recording and our XSD."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import re

import pytest
from lxml import etree

from support.server import VENDOR
from emulator.core import Color, ImageDocument, ImageFormat
from emulator.yandex._render import (
    ERROR_MESSAGES,
    XSD_PATH,
    RequestEcho,
    human_count,
    make_reqid,
    render_error,
    render_results,
)

LIVE_XML = VENDOR / "yandex-image-search-recorded.xml"

UTC = dt.timezone.utc
NOW = dt.datetime(2025, 10, 28, 16, 52, 34, 977906, tzinfo=UTC)
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
NASTY = '<a & "b"> Лев 🦁'
#: One tag per line: an empty element, an opening or closing tag, or a leaf with its text.
ONE_TAG_LINE = re.compile(r'<[\w-]+(?: [\w-]+="[^"]*")*/>|<[\w-]+(?: [\w-]+="[^"]*")*>|</[\w-]+>'
                          r'|<([\w-]+)(?: [\w-]+="[^"]*")*>[^<]*</\1>')


def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def live_tree() -> etree._ElementTree:
    return etree.parse(str(LIVE_XML))


def make_doc(
    url: str = "https://img.example.com/cats/1.jpg",
    *,
    page_url: str = "https://cats.example.ru/gallery/1",
    host: str = "cats.example.ru",
    image_format: ImageFormat = ImageFormat.JPEG,
    modified: dt.datetime = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    title: str = "Кошки",
) -> ImageDocument:
    return ImageDocument(
        doc_id="doc-1", url=url, page_url=page_url, page_title=title, passage="Кот ",
        width=800, height=600, format=image_format, file_size=57435,
        thumbnail_width=427, thumbnail_height=320, modified=modified, color=Color.GRAY,
        family_safe=True, host=host,
    )


def render(docs: list[ImageDocument] | None = None, *, query: str = "cats", page: int = 0,
           groups_on_page: int = 20, found: int = 2633, language: str = "ru") -> bytes:
    docs = [make_doc()] if docs is None else docs
    return render_results(
        RequestEcho(query, page, groups_on_page), docs, found=found, now=NOW,
        reqid=make_reqid(b"seed", NOW), language=language,
    )


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def assert_valid(data: bytes | etree._Element) -> None:
    xsd = schema()
    root = parse(data) if isinstance(data, bytes) else data
    assert xsd.validate(root), xsd.error_log


def skeleton(element: etree._Element) -> list[tuple[str, list[str]]]:
    """Tag names in document order, each with its attribute names in order."""
    return [(el.tag, list(el.attrib.keys())) for el in element.iter()]


# --- schema --------------------------------------------------------------------------------


def test_live_recorded_document_validates():
    assert_valid(live_tree().getroot())


def test_rendered_results_validate():
    docs = [
        make_doc("https://a.example.com/1.jpg", image_format=ImageFormat.JPEG),
        make_doc("https://b.example.com/2.png", image_format=ImageFormat.PNG, host="b.example.org"),
        make_doc("https://c.example.com/3.gif", image_format=ImageFormat.GIF, host="c.example.net"),
    ]
    for language in ("ru", "en", "tr"):
        assert_valid(render(docs, page=3, groups_on_page=3, found=1_234_567, language=language))


def test_rendered_error_documents_validate():
    echo = RequestEcho("cats", 0, 20)
    for code in ERROR_MESSAGES:
        assert_valid(render_error(code))
        assert_valid(render_error(code, echo=echo, language="en", now=NOW,
                                  reqid=make_reqid(b"x", NOW)))


def test_schema_rejects_wrong_order():
    root = parse(render())
    doc = root.find(".//doc")
    url, domain = doc.find("url"), doc.find("domain")
    doc.remove(domain)
    url.addprevious(domain)  # <domain> before <url>
    assert [el.tag for el in doc][1:3] == ["domain", "url"]
    assert not schema().validate(root)

    live = live_tree().getroot()
    response = live.find("response")
    live.remove(response)
    live.append(response)  # <response> after <resource-usage>
    assert not schema().validate(live)


def test_schema_rejects_missing_element_and_bad_values():
    xsd = schema()

    root = parse(render())
    props = root.find(".//image-properties")
    props.remove(props.find("file-size"))
    assert not xsd.validate(root)

    root = parse(render())
    root.find(".//image-properties/mime-type").text = "bmp"
    assert not xsd.validate(root)

    root = parse(render())
    root.find(".//doc").set("id", "Zabc")
    assert not xsd.validate(root)

    root = parse(render())
    root.find(".//grouping/found-docs").text = "many"
    assert not xsd.validate(root)

    root = parse(render())
    root.find("response").set("date", "2025-10-28T16:52:34")
    assert not xsd.validate(root)

    root = parse(render_error(15))
    root.find(".//error").set("code", "fifteen")
    assert not xsd.validate(root)

    root = parse(render())
    root.find(".//found").set("priority", "sometimes")
    assert not xsd.validate(root)


# --- layout --------------------------------------------------------------------------------


def test_declaration_and_one_tag_per_line():
    for data in (render(), render_error(15, echo=RequestEcho(NASTY, 1, 10), now=NOW)):
        assert data.startswith(DECLARATION)
        assert data.endswith(b"</yandexsearch>\n")
        lines = data.decode("utf-8").splitlines()
        assert lines[0] == '<?xml version="1.0" encoding="utf-8"?>'
        for line in lines[1:]:
            assert line == line.lstrip(), line
            assert ONE_TAG_LINE.fullmatch(line), line


def test_live_document_has_the_same_line_layout():
    """The line check above is the live layout, not an invented one."""
    lines = LIVE_XML.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '<?xml version="1.0" encoding="utf-8"?>'
    assert all(ONE_TAG_LINE.fullmatch(line) for line in lines[1:])


def test_one_doc_group_matches_live_first_group():
    live_group = live_tree().getroot().find("response/results/grouping/group")
    ours = parse(render()).find("response/results/grouping/group")
    assert [el.tag for el in ours.iter()] == [el.tag for el in live_group.iter()]
    assert skeleton(ours) == skeleton(live_group)


def test_whole_document_matches_live_skeleton():
    live = copy.deepcopy(live_tree().getroot())
    live.remove(live.find("resource-usage"))  # we leave it out, by design
    grouping = live.find("response/results/grouping")
    for group in grouping.findall("group")[1:]:
        grouping.remove(group)
    assert skeleton(parse(render())) == skeleton(live)


def test_fixed_service_values_match_live():
    live = live_tree().getroot()
    ours = parse(render())
    for path in ("request/sortby", "request/maxpassages", "request/groupings/groupby",
                 "response/is-local", "response/results/grouping"):
        assert ours.find(path).attrib == live.find(path).attrib, path
        assert ours.find(path).text == live.find(path).text, path
    for path in ("categ", "doccount", "relevance", "doc/relevance", "doc/size", "doc/charset",
                 "doc/image-properties/shard", "doc/mime-type", "doc/properties"):
        live_el = live.find(f"response/results/grouping/group/{path}")
        our_el = ours.find(f"response/results/grouping/group/{path}")
        assert our_el.text == live_el.text, path
        assert list(our_el.attrib) == list(live_el.attrib), path


# --- content -------------------------------------------------------------------------------


def test_counts_and_page_attributes():
    docs = [make_doc(f"https://img.example.com/{i}.jpg") for i in range(3)]
    root = parse(render(docs, page=2, groups_on_page=5, found=13, language="en"))
    assert root.findtext("request/page") == "2"
    assert root.find("request/groupings/groupby").get("groups-on-page") == "5"
    grouping = root.find("response/results/grouping")
    assert grouping.get("groups-on-page") == "5"
    page = grouping.find("page")
    assert (page.get("first"), page.get("last"), page.text) == ("11", "13", "2")
    assert len(grouping.findall("group")) == 3
    for parent, tag in ((root.find("response"), "found"), (grouping, "found"),
                        (grouping, "found-docs")):
        counts = parent.findall(tag)
        assert [c.get("priority") for c in counts] == ["phrase", "strict", "all"]
        assert [c.text for c in counts] == ["13", "13", "13"]
    assert root.findtext("response/found-human") == "13 results found"
    assert grouping.findtext("found-docs-human") == "13 results found"


def test_first_page_echo_and_dates():
    when = dt.datetime(2025, 10, 28, 19, 52, 34, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    doc = make_doc(modified=dt.datetime(2025, 9, 21, 9, 31, 1,
                                        tzinfo=dt.timezone(dt.timedelta(hours=3))))
    root = parse(render_results(RequestEcho("yandex cloud", 0, 20), [doc], found=2633,
                                now=when, reqid="1-2-x", language="ru"))
    assert root.findtext("request/query") == "yandex cloud"
    assert root.find("response").get("date") == "20251028T165234"
    assert root.findtext(".//doc/modtime") == "20250921T063101"
    assert root.findtext("response/reqid") == "1-2-x"
    assert root.findtext("response/found-human") == "Нашлось 3 тыс. ответов"
    assert root.findtext(".//found-docs-human") == "нашёл 3 тыс. ответов"
    page = root.find(".//grouping/page")
    assert (page.get("first"), page.get("last"), page.text) == ("1", "1", "0")


def test_doc_fields():
    doc = make_doc("https://upload.example.org/x/1200px-logo.png", image_format=ImageFormat.PNG)
    props = parse(render([doc])).find(".//doc/image-properties")
    element = props.getparent()
    assert element.findtext("url") == doc.url
    assert element.findtext("domain") == "upload.example.org"
    assert props.findtext("image-link") == doc.url
    assert props.findtext("html-link") == doc.page_url
    assert props.findtext("thumbnail-width") == "427"
    assert props.findtext("thumbnail-height") == "320"
    assert props.findtext("original-width") == "800"
    assert props.findtext("original-height") == "600"
    assert props.findtext("file-size") == "57435"
    assert props.findtext("mime-type") == "png"
    image_id = props.findtext("id")
    assert re.fullmatch(r"[0-9a-f]{40}-\d{7,8}-images-thumbs", image_id)
    assert image_id.startswith(hashlib.sha1(doc.url.encode()).hexdigest() + "-")
    assert props.findtext("thumbnail-link") == "http://avatars.mds.yandex.net/i?id=" + image_id
    assert re.fullmatch(r"Z[0-9A-F]{16}", element.get("id"))
    categ_id = int(element.getparent().find("categ").get("id"))
    assert 0 < categ_id < 2**63


def test_mime_type_per_format():
    docs = [make_doc(f"https://i.example.com/{fmt.value}", image_format=fmt) for fmt in ImageFormat]
    root = parse(render(docs))
    assert_valid(root)
    expected = {"jpeg": "jpg", "gif": "gif", "png": "png", "webp": "webp"}  # by format value
    mime_types = [t.text for t in root.iterfind(".//image-properties/mime-type")]
    assert mime_types == [expected[fmt.value] for fmt in ImageFormat]


def test_escaping_round_trip():
    url = "https://img.example.com/search?q=" + NASTY
    page_url = "https://page.example.ru/" + NASTY + "?a=1&b=2"
    data = render([make_doc(url, page_url=page_url, title=NASTY)], query=NASTY)
    assert b"&lt;a &amp;" in data and b"<a " not in data
    root = parse(data)
    assert_valid(root)
    assert root.findtext("request/query") == NASTY
    assert root.findtext(".//doc/url") == url
    assert root.findtext(".//image-link") == url
    assert root.findtext(".//html-link") == page_url
    # The live layout has no title element: page titles are not part of the image XML.
    assert root.find(".//title") is None

    error = parse(render_error(1, message=NASTY, echo=RequestEcho(NASTY, 0, 20)))
    assert error.findtext("response/error") == NASTY
    assert error.findtext("request/query") == NASTY


def test_forbidden_characters_are_stripped_not_raised():
    query = "ca\x00t\x1fs\x0b\ud800\ufffe ok\tfine"
    url = "https://img.example.com/\x01a.jpg"
    root = parse(render([make_doc(url)], query=query))
    assert root.findtext("request/query") == "cats ok\tfine"
    assert root.findtext(".//doc/url") == "https://img.example.com/a.jpg"
    error = parse(render_error(20, message="bad\x07 news"))
    assert error.findtext("response/error") == "bad news"


def test_determinism():
    docs = [make_doc(f"https://img.example.com/{i}.jpg", host=f"h{i}.example.com")
            for i in range(5)]
    assert render(docs) == render(list(docs))
    assert render_error(15, echo=RequestEcho("x", 0, 20), now=NOW) == render_error(
        15, echo=RequestEcho("x", 0, 20), now=NOW)
    root = parse(render(docs))
    doc_ids = [d.get("id") for d in root.iterfind(".//doc")]
    image_ids = [t.text for t in root.iterfind(".//image-properties/id")]
    categ_ids = [c.get("id") for c in root.iterfind(".//categ")]
    assert len(set(doc_ids)) == len(set(image_ids)) == len(set(categ_ids)) == 5
    # categ ids follow the page host, not the image url
    same_host = parse(render([make_doc("https://x.example.com/1.jpg"),
                              make_doc("https://y.example.com/2.jpg")]))
    assert len({c.get("id") for c in same_host.iterfind(".//categ")}) == 1


def test_make_reqid_shape_and_determinism():
    reqid = make_reqid(b"seed", NOW)
    match = re.fullmatch(r"(\d{16})-(\d{19,20})-balancer-l7leveler-kubr-yp-vla-(\d{2})-BAL", reqid)
    assert match, reqid
    assert match.group(1) == "1761670354977906"
    assert 10**18 <= int(match.group(2)) < 2**64
    assert make_reqid(b"seed", NOW) == reqid
    assert make_reqid(b"other", NOW) != reqid
    assert make_reqid(b"seed", NOW + dt.timedelta(microseconds=1)) != reqid
    assert make_reqid(b"seed", NOW.replace(tzinfo=None)) == reqid  # naive means UTC


# --- human counts and error texts ----------------------------------------------------------


@pytest.mark.parametrize(("n", "language", "docs", "text"), [
    (2633, "ru", False, "Нашлось 3 тыс. ответов"),
    (1773, "ru", True, "нашёл 2 тыс. ответов"),
    (11132, "en", False, "11 thousand results found"),
    (8432, "en", True, "8 thousand results found"),
    (1, "ru", False, "Нашёлся 1 ответ"),
    (2, "ru", False, "Нашлось 2 ответа"),
    (4, "ru", True, "нашёл 4 ответа"),
    (5, "ru", False, "Нашлось 5 ответов"),
    (11, "ru", False, "Нашлось 11 ответов"),
    (12, "ru", True, "нашёл 12 ответов"),
    (14, "ru", False, "Нашлось 14 ответов"),
    (20, "ru", False, "Нашлось 20 ответов"),
    (21, "ru", True, "нашёл 21 ответ"),
    (22, "ru", False, "Нашлось 22 ответа"),
    (111, "ru", False, "Нашлось 111 ответов"),
    (2_400_000, "ru", False, "Нашлось 2 млн ответов"),
    (999_600, "ru", False, "Нашлось 1 млн ответов"),
    (1, "en", False, "1 result found"),
    (532, "en", False, "532 results found"),
    (3000, "en", False, "3 thousand results found"),
    (2_000_000, "en", True, "2 million results found"),
    (2633, "tr", False, "3 bin sonuç bulundu"),
    (7, "tr", False, "7 sonuç bulundu"),
])
def test_human_count(n, language, docs, text):
    assert human_count(n, language, docs=docs) == text


def test_human_count_rejects_unknown_language_and_negative_counts():
    with pytest.raises(ValueError):
        human_count(5, "de")
    with pytest.raises(ValueError):
        human_count(-1, "en")


def test_error_messages():
    assert set(ERROR_MESSAGES) == {1, 2, 15, 18, 19, 20, 31, 32, 33, 37, 42, 44, 48, 55, 100,
                                   10002}
    assert all(texts["ru"] and texts["en"] for texts in ERROR_MESSAGES.values())

    ru = parse(render_error(15))
    assert ru.find("request") is None
    assert ru.find("response").get("date") is None
    error = ru.find("response/error")
    assert error.get("code") == "15"
    assert error.text == "Искомая комбинация слов нигде не встречается"
    assert parse(render_error(15, language="en")).findtext(".//error") == (
        "No matches found for your search query")
    assert parse(render_error(15, language="tr")).findtext(".//error") == (
        "No matches found for your search query")
    assert parse(render_error(42, message="custom")).findtext(".//error") == "custom"
    # a fixture's own code with no text: the code stays, the text is "unknown error"
    unknown = parse(render_error(999)).find("response/error")
    assert unknown.get("code") == "999" and unknown.text == ERROR_MESSAGES[20]["ru"]


def test_error_with_echo_date_and_reqid():
    root = parse(render_error(2, echo=RequestEcho("", 0, 20), now=NOW, reqid="1-2-x"))
    assert [el.tag for el in root] == ["request", "response"]
    assert root.findtext("request/query") in ("", None)
    response = root.find("response")
    assert response.get("date") == "20251028T165234"
    assert [el.tag for el in response] == ["error", "reqid"]
    assert response.findtext("error") == ERROR_MESSAGES[2]["ru"]
    assert_valid(root)


def test_request_echo_validation():
    with pytest.raises(ValueError):
        RequestEcho("x", -1, 20)
    with pytest.raises(ValueError):
        RequestEcho("x", 0, 0)
    with pytest.raises(ValueError):
        render_results(RequestEcho("x", 0, 20), [make_doc(), make_doc()], found=1, now=NOW,
                       reqid="1-2-x", language="ru")
