"""Text -> images, answered as a ``yandexsearch`` XML document.

Shared by the v1 ``GET /images-xml`` API and the v2 ``Search`` RPC: both parse into a
:class:`TextQuery`, and both get the same XML from the same catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core import Answer, ErrorKind, Fault, ImageFilter, RuleSearch
from . import _render, _v2_enums as v2

#: Contract: a query of more than 40 words is error 10002.
MAX_WORDS = 40
#: Contract: asking past result 1000 is error 18.
RESULT_WINDOW = 1000
DEFAULT_GROUPS_ON_PAGE = 20


@dataclass(frozen=True, slots=True)
class TextQuery:
    text: str
    page: int
    groups_on_page: int
    filter: ImageFilter
    language: str = "ru"

    @classmethod
    def from_v2(cls, request) -> TextQuery:
        spec, query = request.image_spec, request.query
        return cls(
            text=query.query_text,
            page=query.page,
            groups_on_page=request.docs_on_page or DEFAULT_GROUPS_ON_PAGE,
            filter=ImageFilter(
                site=request.site or None,
                format=v2.FORMATS.get(spec.format),
                orientation=v2.ORIENTATIONS.get(spec.orientation),
                size=v2.SIZES.get(spec.size),
                colors=v2.COLORS.get(spec.color),
                family_strict=query.family_mode == v2.FAMILY_STRICT,
                site_holds_image=True,  # an XML answer: <domain> on the site too
            ),
            language=v2.LANGUAGES.get(query.search_type, "ru"),
        )

    @property
    def echo(self) -> _render.RequestEcho:
        return _render.RequestEcho(query=self.text, page=self.page, groups_on_page=self.groups_on_page)

    def precheck(self) -> int | None:
        """Errors the query itself causes, before any search: 10002, or 18 past result 1000."""
        if len(self.text.split()) > MAX_WORDS:
            return 10002
        if (self.page + 1) * self.groups_on_page > RESULT_WINDOW:
            return 18
        return None


#: Contract: v1 error 55, too many requests.
RATE_LIMITED_CODE = 55


def given_xml_code(fault: Fault) -> int | None:
    """The yandexsearch XML code a fault names, if any (a spent quota's is 55)."""
    if fault.kind is ErrorKind.RATE_LIMITED:
        return RATE_LIMITED_CODE
    code = fault.get("code")
    return code if isinstance(code, int) else None


def xml_code(fault: Fault) -> int:
    """Emulator decision: a query rule's fault in XML is its XML ``code``; a rule that gives
    only a gRPC ``status`` is 20 (unknown error) where no status can be sent (v1)."""
    code = given_xml_code(fault)
    return code if code is not None else 20


def render_error(query: TextQuery | None, code: int, *, message: str | None = None,
                 language: str = "ru") -> bytes:
    return _render.render_error(code, message=message, echo=query.echo if query else None,
                             language=query.language if query else language)


def render(engine: RuleSearch, query: TextQuery, answer: Answer,
           request_id: str) -> tuple[bytes, int | None]:
    """The XML for an answer (its results, the rule's error, or 15 when nothing is there)
    and the error code it carries, if any."""
    if answer.fault is not None:
        code = xml_code(answer.fault)
        return render_error(query, code, message=answer.fault.message or None), code
    results = answer.results
    start = query.page * query.groups_on_page
    docs = results.window(start, start + query.groups_on_page) if results is not None else []
    if results is None or not docs:
        return render_error(query, 15), 15
    now = engine.now()
    body = _render.render_results(query.echo, docs, found=results.total, now=now,
                               reqid=_render.make_reqid(request_id.encode(), now),
                               language=query.language)
    return body, None
