"""Text -> images, answered as a ``yandexsearch`` XML document.

Shared by the v1 ``GET /images-xml`` API and the v2 ``Search`` RPC: both parse into a
:class:`TextQuery`, and both get the same XML from the same catalog.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..core import CHROMATIC, GRAYSCALE, Answer, Color, ImageFilter, ImageFormat, Orientation, \
    SearchEngine, SizeClass
from . import _xml

#: Contract: a query of more than 40 words is error 10002.
MAX_WORDS = 40
#: Contract: asking past result 1000 is error 18.
RESULT_WINDOW = 1000
DEFAULT_GROUPS_ON_PAGE = 20

_V2_FORMATS = {1: ImageFormat.JPEG, 2: ImageFormat.GIF, 3: ImageFormat.PNG}
_V2_ORIENTATIONS = {1: Orientation.VERTICAL, 2: Orientation.HORIZONTAL, 3: Orientation.SQUARE}
_V2_SIZES = {1: SizeClass.ENORMOUS, 2: SizeClass.LARGE, 3: SizeClass.MEDIUM, 4: SizeClass.SMALL,
             5: SizeClass.TINY, 6: SizeClass.WALLPAPER}
_V2_COLORS = {1: CHROMATIC, 2: GRAYSCALE, 3: frozenset({Color.RED}), 4: frozenset({Color.ORANGE}),
              5: frozenset({Color.YELLOW}), 6: frozenset({Color.GREEN}),
              7: frozenset({Color.CYAN}), 8: frozenset({Color.BLUE}),
              9: frozenset({Color.VIOLET}), 10: frozenset({Color.WHITE}),
              11: frozenset({Color.BLACK})}
#: Emulator decision: the search type picks the language of the human-readable counts.
_V2_LANGUAGES = {2: "tr", 3: "en"}  # all others: Russian, as on yandex.ru
FAMILY_STRICT = 3


@dataclass(frozen=True, slots=True)
class TextQuery:
    text: str
    page: int
    groups_on_page: int
    filter: ImageFilter
    language: str = "ru"

    @classmethod
    def from_v2(cls, request) -> "TextQuery":
        spec, query = request.image_spec, request.query
        return cls(
            text=query.query_text,
            page=query.page,
            groups_on_page=request.docs_on_page or DEFAULT_GROUPS_ON_PAGE,
            filter=ImageFilter(
                site=request.site or None,
                format=_V2_FORMATS.get(spec.format),
                orientation=_V2_ORIENTATIONS.get(spec.orientation),
                size=_V2_SIZES.get(spec.size),
                colors=_V2_COLORS.get(spec.color),
                family_strict=query.family_mode == FAMILY_STRICT,
            ),
            language=_V2_LANGUAGES.get(query.search_type, "ru"),
        )

    @property
    def echo(self) -> _xml.RequestEcho:
        return _xml.RequestEcho(query=self.text, page=self.page, groups_on_page=self.groups_on_page)

    def precheck(self) -> int | None:
        """Errors the query itself causes, before any search: 10002, or 18 past result 1000."""
        if len(self.text.split()) > MAX_WORDS:
            return 10002
        if (self.page + 1) * self.groups_on_page > RESULT_WINDOW:
            return 18
        return None


def reqid(query: TextQuery, request_id: str, engine: SearchEngine) -> str:
    seed = hashlib.blake2b(f"{request_id}|{query}".encode(), digest_size=16).digest()
    return _xml.make_reqid(seed, engine.now())


def render_error(query: TextQuery | None, code: int, *, message: str | None = None,
                 language: str = "ru") -> bytes:
    return _xml.render_error(code, message=message, echo=query.echo if query else None,
                             language=query.language if query else language)


def render(engine: SearchEngine, query: TextQuery, answer: Answer,
           request_id: str) -> tuple[bytes, int | None]:
    """The XML for an answer (its results, the rule's error, or 15 when nothing is there)
    and the error code it carries, if any."""
    if answer.fault is not None and answer.fault.code is not None:
        code = answer.fault.code
        return render_error(query, code, message=answer.fault.message or None), code
    results = answer.results
    start = query.page * query.groups_on_page
    docs = results.window(start, start + query.groups_on_page) if results is not None else []
    if not docs:
        return render_error(query, 15), 15
    return _xml.render_results(query.echo, docs, found=results.total, now=engine.now(),
                               reqid=reqid(query, request_id, engine),
                               language=query.language), None
