"""The one renderer of the Yandex ``yandexsearch`` image XML (API v1 ``images-xml``, v2 rawData).

The layout copies the live service byte for byte where it can: the declaration with double
quotes and lowercase ``utf-8``, one tag per line and no indentation, the element order and
attributes of the recorded live document (``tests/vendor/yandex-image-search-recorded.xml``).
Clients written against the real service parse it in every way imaginable, regular expressions
included, so the shape matters as much as the content.

Everything is built with lxml elements (never string templates), so escaping is lxml's job;
every text value first passes :func:`_xml_text`, so that characters XML 1.0 forbids never reach
lxml (which would raise) or a client's parser. Every derived id comes from ``hashlib``: the same
input gives the same bytes in every process (``hash()`` is salted per process).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ..core import ImageDocument, ImageFormat

__all__ = [
    "ERROR_MESSAGES", "LANGUAGES", "XSD_PATH", "RequestEcho", "human_count", "make_reqid",
    "render_error", "render_results",
]

#: The schema of what this module emits (and of the recorded live document).
XSD_PATH = Path(__file__).with_name("yandexsearch.xsd")

#: Languages of the human-readable strings (``found-human``, error texts).
LANGUAGES = ("ru", "en", "tr")

#: lxml writes ``version='1.0'`` in single quotes; the live service uses double quotes.
_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'

#: The live layout: a newline after every tag and nothing else, so one tag per line.
_NEWLINE = "\n"

_PRIORITIES = ("phrase", "strict", "all")
_DATE_FORMAT = "%Y%m%dT%H%M%S"
_THUMBNAIL_PREFIX = "http://avatars.mds.yandex.net/i?id="
#: ``image-properties/mime-type`` where it differs from the format's value (JPEG is ``jpg``);
#: ``png``, ``gif`` and ``webp`` (seen in the live document) are the values themselves.
_MIME_TYPES: Mapping[ImageFormat, str] = {ImageFormat.JPEG: "jpg"}
#: The fixed ``<groupby>``/``<grouping>`` attributes of image search (the docs call them
#: service attributes with a single value); ``groups-on-page`` is inserted per request.
_GROUPING_ATTRS = {"attr": "ii", "mode": "deep"}
_GROUPING_TAIL_ATTRS = {"docs-in-group": "1", "curcateg": "-1"}
#: Every grouping setting but ``groups-on-page``, with the one value image search has.
FIXED_GROUPING = {**_GROUPING_ATTRS, **_GROUPING_TAIL_ATTRS}

#: Characters outside the XML 1.0 ``Char`` production: C0 controls except tab, LF and CR,
#: lone surrogates (e.g. from ``surrogateescape``-decoded input), U+FFFE and U+FFFF.
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_INT63 = 2**63 - 1

#: Default ``<error>`` texts per code and language; ``tr`` (and anything else) falls back
#: to ``en``. Code 15 keeps the live Russian text and the vendor's documented English one.
ERROR_MESSAGES: Mapping[int, Mapping[str, str]] = {
    1: {"ru": "Синтаксическая ошибка в запросе", "en": "Query syntax error"},
    2: {"ru": "Задан пустой поисковый запрос", "en": "Empty search query"},
    15: {
        "ru": "Искомая комбинация слов нигде не встречается",
        "en": "No matches found for your search query",
    },
    18: {"ru": "Недопустимые параметры запроса", "en": "Invalid request parameters"},
    19: {
        "ru": "Запрос содержит несовместимые параметры",
        "en": "The request contains incompatible parameters",
    },
    20: {"ru": "Неизвестная ошибка", "en": "Unknown error"},
    31: {"ru": "Каталог не зарегистрирован в сервисе", "en": "The folder is not registered"},
    32: {"ru": "Превышен суточный лимит запросов", "en": "Daily request limit exceeded"},
    33: {
        "ru": "Запрос отправлен с IP-адреса, не входящего в список разрешённых",
        "en": "The request came from an IP address that is not allowed",
    },
    37: {
        "ru": "Не задан обязательный параметр или заданы взаимоисключающие параметры",
        "en": "A required parameter is missing or mutually exclusive parameters were given",
    },
    42: {"ru": "Ключ, указанный в запросе, содержит ошибку", "en": "The API key is invalid"},
    44: {
        "ru": "Этот IP-адрес больше не поддерживается",
        "en": "This IP address is no longer supported",
    },
    48: {
        "ru": "Тип поиска не совпадает с указанным при регистрации",
        "en": "The search type does not match the registered one",
    },
    55: {
        "ru": "Превышено допустимое количество запросов в секунду",
        "en": "Per-second request limit exceeded",
    },
    100: {
        "ru": "Запрос, вероятно, отправлен роботом",
        "en": "The request looks like it was sent by a robot",
    },
    10002: {
        "ru": "Слишком много слов в запросе (не более 40)",
        "en": "Too many words in the query (the limit is 40)",
    },
}


@dataclass(frozen=True)
class RequestEcho:
    """What the ``<request>`` block echoes back: the query, the page (from 0) and the page size.

    The block reports what the server understood, so the caller passes the parsed values,
    not the raw parameters.
    """

    query: str
    page: int
    groups_on_page: int

    def __post_init__(self) -> None:
        if self.page < 0:
            raise ValueError(f"page must be >= 0, got {self.page}")
        if self.groups_on_page < 1:
            raise ValueError(f"groups_on_page must be >= 1, got {self.groups_on_page}")


# --- ids and dates -----------------------------------------------------------------------


def _digest(kind: str, value: str) -> bytes:
    """SHA-256 of ``value`` in a namespace ``kind``, so different ids never share a digest."""
    return hashlib.sha256(f"{kind}\0{value}".encode("utf-8", "surrogatepass")).digest()


def _number(kind: str, value: str) -> int:
    return int.from_bytes(_digest(kind, value)[:8], "big")


def _categ_id(host: str) -> str:
    """Host id: a positive int64 in decimal, like the live ``535644825314943887``."""
    return str(_number("categ", host) % _INT63 + 1)


def _doc_id(url: str) -> str:
    """Document id: ``Z`` and 16 uppercase hex digits, like the live ``ZA64C17ED39949943``."""
    return "Z" + _digest("doc", url)[:8].hex().upper()


def _thumbnail_id(url: str) -> str:
    """Thumbnail id: sha1 hex, a 7-8 digit number, ``images-thumbs`` (the live shape)."""
    sha1 = hashlib.sha1(url.encode("utf-8", "surrogatepass")).hexdigest()
    number = 1_000_000 + _number("thumb", url) % 99_000_000
    return f"{sha1}-{number}-images-thumbs"


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken as UTC; the wire carries UTC only."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC)


def _stamp(moment: dt.datetime) -> str:
    return _as_utc(moment).strftime(_DATE_FORMAT)


def make_reqid(seed: bytes, now: dt.datetime) -> str:
    """A request id in the live shape, deterministic in ``seed`` and ``now``.

    Live: ``1761670353977906-12338014383288838753-balancer-l7leveler-kubr-yp-vla-56-BAL``:
    epoch microseconds, a 19-20 digit number, a balancer name with a 2-digit instance. The
    number and instance come from the seed (and the time, so a seed reused at another
    moment still gives another id).
    """
    micros = (_as_utc(now) - _EPOCH) // dt.timedelta(microseconds=1)
    digest = hashlib.sha256(seed + b"\0" + str(micros).encode()).digest()
    big = 10**18 + int.from_bytes(digest[:8], "big") % (2**64 - 10**18)
    instance = 10 + int.from_bytes(digest[8:10], "big") % 90
    return f"{micros}-{big}-balancer-l7leveler-kubr-yp-vla-{instance}-BAL"


# --- human-readable counts -----------------------------------------------------------------


def _ru_plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _scaled(n: int) -> tuple[int, int]:
    """``(value, scale)`` with scale 0 (exact), 1 (thousands), 2 (millions), 3 (billions).

    Counts of 1000 and more are rounded half up, as the live ``2633`` -> ``3 тыс.`` is; a
    rounding that reaches 1000 of one unit moves to the next (999,600 is ``1 млн``).
    """
    if n < 1000:
        return n, 0
    scale = 1
    while True:
        unit = 1000**scale
        value = (n + unit // 2) // unit
        if value < 1000 or scale == 3:
            return value, scale
        scale += 1


def human_count(n: int, language: str, *, docs: bool = False) -> str:
    """The ``found-human`` (or, with ``docs``, ``found-docs-human``) text for ``n`` results.

    Live examples: ru ``Нашлось 3 тыс. ответов`` (2633) and ``нашёл 2 тыс. ответов`` (1773,
    docs); en ``11 thousand results found`` (both kinds). Below 1000 the count is exact, with
    the Russian plural (``Нашёлся 1 ответ``, ``Нашлось 2 ответа``, ``Нашлось 5 ответов``).
    """
    if n < 0:
        raise ValueError(f"count must be >= 0, got {n}")
    value, scale = _scaled(n)
    if language == "ru":
        if scale:
            amount = f"{value} {('тыс.', 'млн', 'млрд')[scale - 1]} ответов"
        else:
            amount = f"{value} {_ru_plural(value, 'ответ', 'ответа', 'ответов')}"
        if docs:
            return f"нашёл {amount}"
        verb = _ru_plural(value, "Нашёлся", "Нашлось", "Нашлось") if not scale else "Нашлось"
        return f"{verb} {amount}"
    if language == "en":
        unit = ("", " thousand", " million", " billion")[scale]
        noun = "result" if (value, scale) == (1, 0) else "results"
        return f"{value}{unit} {noun} found"
    if language == "tr":
        unit = ("", " bin", " milyon", " milyar")[scale]
        return f"{value}{unit} sonuç bulundu"
    raise ValueError(f"unsupported language {language!r}; expected one of {LANGUAGES}")


# --- element building ----------------------------------------------------------------------


def _xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can carry: forbidden characters are dropped.

    They cannot be escaped (XML 1.0 has no character reference for them), and lxml raises
    on them; dropping keeps the rest of the value intact.
    """
    return FORBIDDEN.sub("", str(value))


def _add(
    parent: etree._Element,
    tag: str,
    text: object = None,
    attrs: Mapping[str, object] | None = None,
) -> etree._Element:
    """Append ``<tag>`` on its own line; ``text`` None leaves it empty (``<tag/>``)."""
    element = etree.SubElement(parent, tag)
    for name, value in (attrs or {}).items():
        element.set(name, _xml_text(value))
    if text is not None:
        element.text = _xml_text(text)
    element.tail = _NEWLINE
    return element


def _container(parent: etree._Element, tag: str, attrs: Mapping[str, object] | None = None
               ) -> etree._Element:
    """Append an element that will hold children: its text is the newline before the first."""
    element = _add(parent, tag, attrs=attrs)
    element.text = _NEWLINE
    return element


def _grouping_attrs(echo: RequestEcho) -> dict[str, object]:
    return {**_GROUPING_ATTRS, "groups-on-page": echo.groups_on_page, **_GROUPING_TAIL_ATTRS}


def _root() -> etree._Element:
    root = etree.Element("yandexsearch", {"version": "1.0"})
    root.text = _NEWLINE
    root.tail = _NEWLINE
    return root


def _add_request(root: etree._Element, echo: RequestEcho) -> None:
    request = _container(root, "request")
    _add(request, "query", echo.query)
    _add(request, "page", echo.page)
    _add(request, "sortby", "rlv", {"order": "descending", "priority": "no"})
    _add(request, "maxpassages", 1)
    groupings = _container(request, "groupings")
    _add(groupings, "groupby", attrs=_grouping_attrs(echo))


def _add_counts(parent: etree._Element, tag: str, found: int) -> None:
    for priority in _PRIORITIES:
        _add(parent, tag, found, {"priority": priority})


def _add_doc(grouping: etree._Element, doc: ImageDocument) -> None:
    group = _container(grouping, "group")
    _add(group, "categ", attrs={"attr": "ii", "id": _categ_id(doc.host)})
    _add(group, "doccount", 1)
    _add(group, "relevance", attrs={"priority": "all"})
    element = _container(group, "doc", {"id": _doc_id(doc.url)})
    _add(element, "relevance", attrs={"priority": "all"})
    _add(element, "url", doc.url)
    _add(element, "domain", doc.domain)
    _add(element, "modtime", _stamp(doc.modified))
    _add(element, "size", 0)
    _add(element, "charset", "utf-8")
    props = _container(element, "image-properties")
    thumbnail_id = _thumbnail_id(doc.url)
    _add(props, "id", thumbnail_id)
    _add(props, "shard", 0)
    _add(props, "thumbnail-link", doc.thumbnail_url or _THUMBNAIL_PREFIX + thumbnail_id)
    _add(props, "thumbnail-width", doc.thumbnail_width)
    _add(props, "thumbnail-height", doc.thumbnail_height)
    _add(props, "original-width", doc.width)
    _add(props, "original-height", doc.height)
    _add(props, "html-link", doc.page_url)
    _add(props, "image-link", doc.url)
    _add(props, "file-size", doc.file_size)
    _add(props, "mime-type", _MIME_TYPES.get(doc.format, doc.format.value))
    _add(element, "mime-type", "text/html")
    _add(element, "properties")


def _serialize(root: etree._Element) -> bytes:
    """The live declaration, then the tree (its trailing newline included)."""
    return _DECLARATION + etree.tostring(root, encoding="utf-8", xml_declaration=False)


# --- documents -----------------------------------------------------------------------------


def render_results(
    echo: RequestEcho,
    docs: Sequence[ImageDocument],
    *,
    found: int,
    now: dt.datetime,
    reqid: str,
    language: str,
) -> bytes:
    """A results document: ``docs`` is this page, ``found`` the total number of matches.

    The live service reports several estimates; we know the exact total, so all six
    ``found`` and the three ``found-docs`` carry ``found``. ``<page>`` numbers the page's
    groups from 1 across pages (``first`` = page * groups_on_page + 1).
    """
    if found < len(docs):
        raise ValueError(f"found ({found}) is less than the page's {len(docs)} documents")
    found_human = human_count(found, language)
    found_docs_human = human_count(found, language, docs=True)
    root = _root()
    _add_request(root, echo)
    response = _container(root, "response", {"date": _stamp(now)})
    _add(response, "reqid", reqid)
    _add_counts(response, "found", found)
    _add(response, "found-human", found_human)
    _add(response, "is-local", "no")
    results = _container(response, "results")
    grouping = _container(results, "grouping", _grouping_attrs(echo))
    first = echo.page * echo.groups_on_page + 1
    _add(grouping, "page", echo.page, {"first": first, "last": first + len(docs) - 1})
    for doc in docs:
        _add_doc(grouping, doc)
    _add_counts(grouping, "found", found)
    _add_counts(grouping, "found-docs", found)
    _add(grouping, "found-docs-human", found_docs_human)
    return _serialize(root)


def render_error(
    code: int,
    *,
    message: str | None = None,
    echo: RequestEcho | None = None,
    language: str = "ru",
    now: dt.datetime | None = None,
    reqid: str | None = None,
) -> bytes:
    """An error document: ``<response><error code="N">text</error></response>``.

    The vendor's docs say ``<request>`` may be missing on errors, so it is written only with
    an ``echo``; ``date`` only with ``now``; and ``<reqid>`` after the error only with a
    ``reqid`` (the vendor's documented code-15 example has one there). Without ``message``
    the text comes from :data:`ERROR_MESSAGES` in ``language`` (English when missing; the
    text of code 20, unknown error, for a code it does not list).
    """
    if message is None:
        # a code of the fixtures' choosing with no text of ours reads "unknown error" (20)
        texts = ERROR_MESSAGES.get(code) or ERROR_MESSAGES[20]
        message = texts.get(language) or texts["en"]
    root = _root()
    if echo is not None:
        _add_request(root, echo)
    response = _container(root, "response", {"date": _stamp(now)} if now is not None else None)
    _add(response, "error", message, {"code": code})
    if reqid is not None:
        _add(response, "reqid", reqid)
    return _serialize(root)
