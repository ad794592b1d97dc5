"""Parameter rules of the search operations: one function per rule, each raising the
vendor's error for a value it cannot take, so nothing a client sends is silently altered.

Contract: the vendor's OpenAPI parameter docs (filter, exclude, filter_execution, facets,
sort, rpp, page, query, query_name, indices, session_id, user_id and the switches).
Values come from a query string (texts) or a JSON body (JSON types); both are read here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..core import (CatalogQuery, Clause, FacetKind, FacetRequest, Filters, RangeClause,
                    SortKey, TermClause, TextMode, ascii_integer, term_name)
from ._errors import (BadQuery, DoofinderError, IndexNotFound, InvalidRpp, InvalidUserId,
                      SessionIdTooLong)
from ._params import Params

#: Contract: rpp at most 100.
MAX_RPP = 100
#: Emulator decision: 20 results a page when rpp is not given.
DEFAULT_RPP = 20
#: Contract: rpp * page within the first 1000 results. Emulator decision: ``<= 1000``
#: (the docs say ``< 1000``, a live report ``<= 1000``).
RESULT_WINDOW = 1000
#: Contract: a term facet lists at most 50 terms. Emulator decision: 50 when size is not
#: given, and a larger size lists the vendor's maximum of 50.
MAX_FACET_SIZE = 50
DEFAULT_FACET_SIZE = MAX_FACET_SIZE
#: Contract: a query of at most 200 characters and 10 words.
MAX_QUERY_CHARS, MAX_QUERY_WORDS = 200, 10
#: Contract: session_id at most 32 characters, user_id at most 36.
MAX_SESSION_ID, MAX_USER_ID = 32, 36

_RANGE_KEYS = ("gte", "gt", "lte", "lt")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", re.ASCII)
_DIRECTIONS = {"asc": False, "desc": True}
_FACET_KINDS = {k.value: k for k in FacetKind}
#: Contract: the ``query_name`` values, and the text mode each names.
QUERY_NAMES = {"match_and": TextMode.ALL_WORDS, "match_or": TextMode.ANY_WORD,
               "fuzzy": TextMode.FUZZY}
#: The ``query_name`` an answer reports for a text mode.
MODE_NAMES = {mode: name for name, mode in QUERY_NAMES.items()}


def _given(params: Params, name: str, error: type[DoofinderError] = BadQuery) -> Any:
    """The parameter's value (None when absent); a malformed one is the rule's error."""
    if name in params.malformed:
        raise error()
    return params.tree.get(name)


def integer(value: Any) -> int | None:
    """An integer as a query string (ASCII digits) or JSON (a number, not a bool) has it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return ascii_integer(value) if isinstance(value, str) else None


def number(value: Any) -> int | float | None:
    """A finite number, kept as written: ``10`` stays an integer, ``4.36`` a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        return None
    as_int = integer(value.lstrip("-"))
    if as_int is not None and "." not in value and "e" not in value.lower():
        return -as_int if value.startswith("-") else as_int
    parsed = float(value)
    return parsed if math.isfinite(parsed) else None


def boolean(params: Params, name: str, default: bool) -> bool:
    """Contract: switches are ``true`` or ``false``."""
    value = _given(params, name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise BadQuery()


def text(params: Params, name: str, error: type[DoofinderError] = BadQuery) -> str | None:
    value = _given(params, name, error)
    if value is not None and not isinstance(value, str):
        raise error()
    return value


# -- paging -----------------------------------------------------------------------------
def rpp(params: Params) -> int:
    """Contract: 1 to 100 results a page, else ``Invalid rpp``."""
    value = _given(params, "rpp", InvalidRpp)
    if value is None:
        return DEFAULT_RPP
    parsed = integer(value)
    if parsed is None or not 1 <= parsed <= MAX_RPP:
        raise InvalidRpp()
    return parsed


def page(params: Params) -> int:
    """Pages count from 1; anything else is outside the result window."""
    value = _given(params, "page", InvalidRpp)
    if value is None:
        return 1
    parsed = integer(value)
    if parsed is None or parsed < 1:
        raise InvalidRpp()
    return parsed


def window(per_page: int, number_: int) -> None:
    """Contract: ``rpp * page`` within the result window, else ``Invalid rpp``."""
    if per_page * number_ > RESULT_WINDOW:
        raise InvalidRpp()


# -- filters ----------------------------------------------------------------------------
def _terms(name: str, value: Any) -> TermClause:
    values = value if isinstance(value, list) else [value]
    if not values or any(v is None or isinstance(v, (list, dict)) for v in values):
        raise BadQuery()
    return TermClause(name, tuple(term_name(v) for v in values))


def _range(name: str, bounds: dict) -> RangeClause:
    """Contract: ``gte``, ``gt``, ``lte``, ``lt``, each a number."""
    if not bounds or any(k not in _RANGE_KEYS for k in bounds):
        raise BadQuery()
    parsed = {k: number(v) for k, v in bounds.items()}
    if any(v is None for v in parsed.values()):
        raise BadQuery()
    return RangeClause(name, **parsed)


def clauses(params: Params, name: str) -> tuple[Clause, ...]:
    """``filter`` and ``exclude``: field -> terms (any of them), or field -> range."""
    value = _given(params, name)
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise BadQuery()
    return tuple(_range(f, v) if isinstance(v, dict) else _terms(f, v) for f, v in value.items())


def filter_execution(params: Params) -> bool:
    """Contract: ``and`` (the default) or ``or``; True for ``or``."""
    value = text(params, "filter_execution")
    if value is None:
        return False
    if value not in ("and", "or"):
        raise BadQuery()
    return value == "or"


# -- facets and sort --------------------------------------------------------------------
def _facet(raw: Any) -> FacetRequest:
    spec = {"field": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, dict):
        raise BadQuery()
    field, size, kind = spec.get("field"), spec.get("size"), spec.get("type")
    if not isinstance(field, str) or not field:
        raise BadQuery()
    parsed = DEFAULT_FACET_SIZE if size is None else integer(size)
    if parsed is None or parsed < 1:
        raise BadQuery()
    if kind is not None and kind not in _FACET_KINDS:
        raise BadQuery()
    return FacetRequest(field, min(parsed, MAX_FACET_SIZE), _FACET_KINDS[kind] if kind is not None else None)


def facets(params: Params) -> tuple[FacetRequest, ...]:
    """Contract: a list of ``{field, size, type}`` (type ``term`` or ``range``)."""
    value = _given(params, "facets")
    if value is None:
        return ()
    if isinstance(value, str) or (isinstance(value, dict) and "field" in value):
        value = [value]
    if not isinstance(value, list):
        raise BadQuery()
    return tuple(_facet(v) for v in value)


def _sort_entry(entry: Any) -> list[SortKey]:
    if isinstance(entry, str) and entry:
        return [SortKey(entry)]
    if not isinstance(entry, dict) or not entry:
        raise BadQuery()
    keys = []
    for field, direction in entry.items():
        if not field or not isinstance(direction, str) or direction not in _DIRECTIONS:
            raise BadQuery()
        keys.append(SortKey(field, _DIRECTIONS[direction]))
    return keys


def sort(params: Params) -> tuple[SortKey, ...]:
    """Contract: ``[{"price": "asc"}, {"brand": "desc"}]``; ``sort[]=price`` ascends."""
    value = _given(params, "sort")
    if value is None:
        return ()
    entries = value if isinstance(value, list) else [value]
    return tuple(key for entry in entries for key in _sort_entry(entry))


# -- identity and text ------------------------------------------------------------------
def session_id(params: Params) -> str | None:
    value = text(params, "session_id")
    if value is not None and len(value) > MAX_SESSION_ID:
        raise SessionIdTooLong()
    return value


def user_id(params: Params) -> str | None:
    value = text(params, "user_id", InvalidUserId)
    if value is not None and len(value) > MAX_USER_ID:
        raise InvalidUserId()
    return value


def query_text(params: Params, error: type[DoofinderError] = BadQuery) -> str:
    """Contract: at most 200 characters and 10 words."""
    value = text(params, "query", error) or ""
    if len(value) > MAX_QUERY_CHARS or len(value.split()) > MAX_QUERY_WORDS:
        raise error()
    return value


def query_name(params: Params) -> TextMode | None:
    """Contract: ``match_and``, ``match_or`` or ``fuzzy``."""
    value = text(params, "query_name")
    if value is None:
        return None
    if value not in QUERY_NAMES:
        raise BadQuery()
    return QUERY_NAMES[value]


def indices(params: Params, known: tuple[str, ...]) -> frozenset[str] | None:
    """Contract: ``indices[]=product``; every one must be an index of the engine."""
    value = _given(params, "indices")
    if value is None:
        return None
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(n, str) for n in names):
        raise BadQuery()
    for name in names:
        if name not in known:
            raise IndexNotFound(name)
    return frozenset(names)


def strings(params: Params, name: str) -> tuple[str, ...]:
    """A list of texts (``fields[]=color``, ``skip_top_facet[]=brand``)."""
    value = _given(params, name)
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise BadQuery()
    return tuple(values)


# -- what every search operation shares -------------------------------------------------
#: Switches the vendor lists that change nothing in the emulator's catalogs; their
#: values are still checked.
SEARCH_SWITCHES = ("auto_filters", "custom_results", "excluded_results", "grouping",
                   "title_facet", "top_facet", "stats")
IMAGE_SWITCHES = ("excluded_results", "stats")


@dataclass(frozen=True)
class Listing:
    query: CatalogQuery
    rpp: int
    page: int = 1

    @property
    def start(self) -> int:
        return (self.page - 1) * self.rpp


def listing(params: Params, *, paged: bool, switches: tuple[str, ...]) -> Listing:
    """The filter, facet, sort and paging parameters, checked in the contract's order:
    the page window first, then the rest. ``paged``: whether the operation takes a page
    (image searches do not: they answer the first)."""
    per_page = rpp(params)
    number_ = page(params) if paged else 1
    window(per_page, number_)
    query = CatalogQuery(
        filters=Filters(clauses(params, "filter"), filter_execution(params)),
        exclude=clauses(params, "exclude"),
        facets=facets(params),
        sort=sort(params),
    )
    session_id(params)
    user_id(params)
    for name in switches:
        boolean(params, name, True)
    return Listing(query, per_page, number_)


@dataclass(frozen=True)
class TextQuery:
    """A ``_search`` request, checked: its listing, text, query_name and indices."""

    listing: Listing
    text: str
    mode: TextMode | None
    indices: frozenset[str] | None


def text_query(params: Params, known_indices: tuple[str, ...]) -> TextQuery:
    listing_ = listing(params, paged=True, switches=SEARCH_SWITCHES)
    text_ = query_text(params)
    mode = query_name(params)
    wanted = indices(params, known_indices)
    for name in ("with_variants", "skip_auto_filters", "skip_top_facet"):
        strings(params, name)
    return TextQuery(listing_, text_, mode, wanted)
