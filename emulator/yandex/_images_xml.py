"""API v1 ``GET /images-xml``: query-string parameters in, ``yandexsearch`` XML out.

Contract: the vendor's API v1 image-search reference (GET requests, response format).
Every error is the vendor's ``<error code="N">`` document; Emulator decision: with HTTP 200
and an XML content type, as the legacy service answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from .._http import HttpReplays, allowed_methods
from .._http_faults import deliver
from .._pipeline import MAX_BODY_BYTES, RESET_OUTCOME, Adapter, Pipeline
from ..core import (CHROMATIC, GRAYSCALE, TENANT_HEADER, Access, Color, Fault, ImageFilter,
                    ImageFormat, Orientation, SizeClass, ascii_integer)
from . import _text_search
from ._call import CallInfo
from ._errors import ConnectionReset
from ._servicer import ImageSearchServicer
from ._validation import MAX_DOCS_ON_PAGE, MAX_FOLDER_ID, MAX_QUERY_TEXT, MAX_SITE
from ._render import FIXED_GROUPING, FORBIDDEN

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
                 query: _text_search.TextQuery | None = None, language: str = "ru",
                 status: int = 200) -> None:
        super().__init__(code)
        self.code, self.message, self.query, self.language = code, message, query, language
        self.status = status


#: Emulator decision: while the state store is down, v1 answers HTTP 503 (as the v2
#: gateway answers UNAVAILABLE) with the yandexsearch error 20, "unknown error".
UNAVAILABLE_CODE, UNAVAILABLE_STATUS = 20, 503


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
            site_holds_image=True,  # an XML answer: <domain> on the site too
        ),
        language=language,
    )
    return V1Request(params["folderid"], params["apikey"], query)


def _xml_response(body: bytes, info: CallInfo, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=CONTENT_TYPE, charset="utf-8",
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


@dataclass
class V1Call(CallInfo):
    """A v1 call: the aiohttp request, what it was read into, and what the journal keeps."""

    request: web.Request | None = None
    v1: V1Request | None = None
    sent: dict[str, Any] = field(default_factory=dict)


class V1Adapter(HttpReplays, Adapter[V1Call, tuple[bytes, "int | None"], web.Response]):
    """``GET /images-xml`` as the call pipeline runs it: every error is an XML document."""

    #: Emulator decision: a GET's body is read only to tell repeats apart (it changes no
    #: answer); one larger than a v2 body is answered in full.
    max_body_bytes = MAX_BODY_BYTES

    vendor = "yandex"
    errors = (XmlError, ConnectionReset)

    def __init__(self, servicer: ImageSearchServicer) -> None:
        self.servicer = servicer

    async def admit(self, call: V1Call) -> None:
        assert call.request is not None
        params = query_params(call.request)
        call.sent = {key: params.getall(key) for key in params}
        call.identify(API, call.request.headers.get(TENANT_HEADER), params.get("apikey"))
        v1 = call.v1 = parse(params, call.request.host)
        query = call.query = v1.query
        access = self.servicer.access(v1.api_key, v1.folder_id)
        if access is Access.UNKNOWN_KEY:
            raise XmlError(42, query=query, language=query.language)
        if access is Access.FOLDER_DENIED:
            raise XmlError(31, query=query, language=query.language)
        if not await self.servicer.quota_ok("images-xml", v1.folder_id, call):
            raise XmlError(55, query=query, language=query.language)
        call.lookup = {"folder": v1.folder_id, "text": query.text}

    def fault_error(self, call: V1Call, fault: Fault, by: str | None) -> Exception:
        query = call.query
        return XmlError(_text_search.xml_code(fault), fault.message or None, query=query,
                        language=query.language)

    async def operate(self, call: V1Call, pipeline: Pipeline) -> tuple[bytes, int | None]:
        assert call.v1 is not None
        query = call.v1.query
        code = query.precheck()
        if code is not None:
            raise XmlError(code, query=query, language=query.language)
        answer = await self.servicer.stepped(self.servicer.engine.by_text(
            query.text, call.v1.folder_id, query.filter, find=pipeline.stub_finder(call),
            caller=call.caller), call)
        call.match = answer.match
        await self.servicer.wait(answer, call)
        call.replayable = call.replayable and self.servicer.engine.clock_frozen  # tells the time
        await pipeline.request_id(self, call)  # the XML's reqid derives from it
        return _text_search.render(self.servicer.engine, query, answer, call.request_id)

    def id_parts(self, call: V1Call) -> tuple[int, tuple[bytes, ...]]:
        return call.id_parts()

    def set_request_id(self, call: V1Call, digest: bytes) -> None:
        call.set_ids(digest)

    def render(self, call: V1Call, answer: tuple[bytes, int | None]) -> tuple[web.Response, str]:
        body, code = answer
        return _xml_response(body, call), "OK" if code is None else str(code)

    def render_error(self, call: V1Call, error: Exception) -> tuple[web.Response, str]:
        if not isinstance(error, XmlError):  # a reset: nothing is sent
            return _xml_response(b"", call), RESET_OUTCOME
        body = _text_search.render_error(error.query, error.code, message=error.message,
                                         language=error.language)
        return _xml_response(body, call, error.status), str(error.code)

    def internal_error(self) -> Exception:
        return XmlError(20)

    def unavailable_error(self) -> Exception:
        return XmlError(UNAVAILABLE_CODE, "Service unavailable", status=UNAVAILABLE_STATUS)

    def reset_error(self) -> Exception:
        return ConnectionReset()

    def gone(self, call: V1Call) -> tuple[web.Response, str]:
        return web.Response(status=499), "CANCELLED"

    def journal_request(self, call: V1Call) -> dict[str, Any]:
        return call.sent


def handler(servicer: ImageSearchServicer) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    adapter = V1Adapter(servicer)
    operation = f"GET {PATH}"

    async def handle(request: web.Request) -> web.StreamResponse:
        call = V1Call(id_source=f"v1:{request.path_qs}", api=API, operation=operation,
                      request=request, sent={"raw_query": request.rel_url.raw_query_string})
        call.identify(API, request.headers.get(TENANT_HEADER))
        sent = await servicer.pipeline.run(adapter, call)
        return await deliver(request, sent.response, sent.plan)

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
