"""API v1 ``GET /images-xml``: query-string parameters in, ``yandexsearch`` XML out.

Contract: the vendor's API v1 image-search reference (GET requests, response format).
Every error is the vendor's ``<error code="N">`` document; Emulator decision: with HTTP 200
and an XML content type, as the legacy service answered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from .._http import allowed_methods
from .._http_faults import deliver
from ..core import (CHROMATIC, GRAYSCALE, TENANT_HEADER, Access, Color, ImageFilter,
                    ImageFormat, Orientation, SizeClass, ascii_integer)
from . import _text_search
from ._call import CallInfo
from ._errors import ConnectionReset
from ._servicer import ImageSearchServicer
from ._validation import MAX_DOCS_ON_PAGE, MAX_FOLDER_ID, MAX_QUERY_TEXT, MAX_SITE
from ._xml import FIXED_GROUPING, FORBIDDEN

log = logging.getLogger(__name__)

PATH = "/images-xml"
API = "yandex.v1.xml"
CONTENT_TYPE = "text/xml"
#: Emulator decision: groups-on-page accepts the same range as v2's docs_on_page.
MAX_GROUPS_ON_PAGE = MAX_DOCS_ON_PAGE

_ITYPES = {"jpg": ImageFormat.JPEG, "gif": ImageFormat.GIF, "png": ImageFormat.PNG}
_IORIENTS = {o.value: o for o in Orientation}
_ISIZES = {s.value: s for s in SizeClass}
_ICOLORS = {"gray": GRAYSCALE, "color": CHROMATIC,
            **{c.value: frozenset({c}) for c in Color if c is not Color.GRAY}}
#: Emulator decision: ``l10n`` picks the language of texts; else the Host's Yandex domain.
_L10N = {"ru": "ru", "uk": "ru", "be": "ru", "kk": "ru", "en": "en", "tr": "tr"}
_SINGLE = ("folderid", "apikey", "text", "groupby", "p", "fyandex", "site", "itype", "iorient",
           "isize", "icolor", "l10n")


class XmlError(Exception):
    """A yandexsearch error document, with the query when it got that far."""

    def __init__(self, code: int, message: str | None = None,
                 query: _text_search.TextQuery | None = None, language: str = "ru") -> None:
        super().__init__(code)
        self.code, self.message, self.query, self.language = code, message, query, language


def _language(params: MultiDictProxy, host: str) -> str:
    if "l10n" in params:
        if params["l10n"] not in _L10N:
            raise XmlError(18, f"Invalid l10n value: {params['l10n']}")
        return _L10N[params["l10n"]]
    host = host.split(":")[0].lower()
    return "tr" if host.endswith(".com.tr") else "en" if host.endswith("yandex.com") else "ru"


def _choice(params: MultiDictProxy, name: str, table: dict, language: str):
    if name not in params:
        return None
    if params[name] not in table:
        raise XmlError(18, f"Invalid {name} value: {params[name]}", language=language)
    return table[params[name]]


def _integer(params: MultiDictProxy, name: str, default: int, low: int, high: int,
             language: str) -> int:
    raw = params.get(name, str(default))
    value = ascii_integer(raw)
    if value is None or not low <= value <= high:
        raise XmlError(18, f"Invalid {name} value: {raw}", language=language)
    return value


def _groupby_settings(raw: str) -> dict[str, str] | None:
    """``name=value`` parts joined by dots, each name once; None when malformed."""
    pairs = [part.partition("=") for part in raw.split(".")]
    if any(not sep for _, sep, _ in pairs):
        return None
    settings = {name: value for name, _, value in pairs}
    return settings if len(settings) == len(pairs) else None


def _groups_on_page(params: MultiDictProxy, language: str) -> int:
    """``groupby=attr=ii.groups-on-page=N`` (the docs' default is 20 groups). The other
    settings are service attributes with one documented value each (the ones the XML
    echoes); any other value could not be honoured as sent, so it is error 18."""
    raw = params.get("groupby")
    if raw is None:
        return _text_search.DEFAULT_GROUPS_ON_PAGE
    settings = _groupby_settings(raw)
    if settings is None:
        raise XmlError(18, f"Invalid groupby value: {raw}", language=language)
    value = ascii_integer(settings.pop("groups-on-page",
                                       str(_text_search.DEFAULT_GROUPS_ON_PAGE)))
    if any(FIXED_GROUPING.get(name) != given for name, given in settings.items()) \
            or value is None or not 1 <= value <= MAX_GROUPS_ON_PAGE:
        raise XmlError(18, f"Invalid groupby value: {raw}", language=language)
    return value


@dataclass(frozen=True, slots=True)
class V1Request:
    folder_id: str
    api_key: str
    query: _text_search.TextQuery


def parse(params: MultiDictProxy, host: str) -> V1Request:
    language = _language(params, host)
    for name in _SINGLE:
        if len(params.getall(name, ())) > 1:
            raise XmlError(18, f"Parameter {name} is given more than once", language=language)
    for name in ("folderid", "apikey"):
        if not params.get(name, "").strip():
            raise XmlError(37, f"Required parameter {name} is missing", language=language)
    text = params.get("text", "")
    if not text.strip():
        raise XmlError(2, language=language)
    if FORBIDDEN.search(text):
        raise XmlError(18, "The query contains characters XML cannot carry", language=language)
    if len(params["folderid"]) > MAX_FOLDER_ID or len(text) > MAX_QUERY_TEXT \
            or len(params.get("site", "")) > MAX_SITE:
        raise XmlError(18, "A parameter is too long", language=language)
    fyandex = _integer(params, "fyandex", 0, 0, 1, language)
    query = _text_search.TextQuery(
        text=text,
        page=_integer(params, "p", 0, 0, 10**9, language),
        groups_on_page=_groups_on_page(params, language),
        filter=ImageFilter(
            site=params.get("site") or None,
            format=_choice(params, "itype", _ITYPES, language),
            orientation=_choice(params, "iorient", _IORIENTS, language),
            size=_choice(params, "isize", _ISIZES, language),
            colors=_choice(params, "icolor", _ICOLORS, language),
            family_strict=fyandex == 1,
        ),
        language=language,
    )
    return V1Request(params["folderid"], params["apikey"], query)


def _xml_response(body: bytes, info: CallInfo) -> web.Response:
    return web.Response(body=body, status=200, content_type=CONTENT_TYPE, charset="utf-8",
                        headers=info.response_headers())


def query_params(request: web.Request) -> MultiDictProxy:
    """The query string, decoded strictly: invalid UTF-8 is error 18, not U+FFFD searched
    as if the client had sent it."""
    try:
        pairs = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True,
                          errors="strict", max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise XmlError(18, "The query string is not valid UTF-8") from None
    return MultiDictProxy(MultiDict(pairs))


async def _answer(servicer: ImageSearchServicer, params: MultiDictProxy, host: str,
                  info: CallInfo) -> tuple[bytes, int | None]:
    v1 = parse(params, host)
    query = v1.query
    access = servicer.access(v1.api_key, v1.folder_id)
    if access is Access.UNKNOWN_KEY:
        raise XmlError(42, query=query, language=query.language)
    if access is Access.FOLDER_DENIED:
        raise XmlError(31, query=query, language=query.language)
    if not servicer.quota_ok("images-xml", v1.folder_id):
        raise XmlError(55, query=query, language=query.language)
    info.lookup = {"folder": v1.folder_id, "text": query.text}
    fault = await servicer.inject(info, f"GET {PATH}")
    if fault is not None:
        raise XmlError(_text_search.xml_code(fault), fault.message or None, query=query,
                       language=query.language)
    code = query.precheck()
    if code is not None:
        raise XmlError(code, query=query, language=query.language)
    answer = servicer.engine.by_text(query.text, v1.folder_id, query.filter,
                                     caller=info.caller)
    info.match = answer.match
    await servicer.wait(answer)
    return _text_search.render(servicer.engine, query, answer, info.request_id)


def handler(servicer: ImageSearchServicer):
    async def handle(request: web.Request) -> web.Response:
        info = CallInfo.create(f"v1:{request.path_qs}", b"", None, None)
        info.identify(API, request.headers.get(TENANT_HEADER))
        sent: dict = {"raw_query": request.rel_url.raw_query_string}
        try:
            params = query_params(request)
            sent = {key: params.getall(key) for key in params}
            info.identify(API, request.headers.get(TENANT_HEADER), params.get("apikey"))
            body, code = await _answer(servicer, params, request.host, info)
            outcome = "OK" if code is None else str(code)
        except ConnectionReset:
            body, outcome = b"", "CONNECTION_RESET"
        except XmlError as exc:
            body, outcome = _text_search.render_error(
                exc.query, exc.code, message=exc.message, language=exc.language), str(exc.code)
        except Exception:
            log.exception("images-xml failed")
            body, outcome = _text_search.render_error(None, 20), "20"
        servicer.record_params(API, f"GET {PATH}", info, sent, outcome)
        return await deliver(request, _xml_response(body, info), info.plan)

    return handle


def unmatched(request: web.BaseRequest, status: int) -> web.Response:
    """Another method on ``/images-xml`` (405) or a malformed request (400): the XML error
    document with the HTTP status; a failure of ours is 20 (unknown error)."""
    info = CallInfo.create(f"v1:{request.method} {request.path_qs}", b"", None, None)
    code = 20 if status >= 500 else 18
    message = "Only GET is supported" if status == 405 else None
    response = _xml_response(_text_search.render_error(None, code, message=message), info)
    response.set_status(status)
    if status == 405:  # RFC 9110: a 405 names the methods the path takes
        response.headers["Allow"] = allowed_methods(request)
    return response


def add_routes(app: web.Application, servicer: ImageSearchServicer) -> None:
    app.router.add_get(PATH, handler(servicer))
