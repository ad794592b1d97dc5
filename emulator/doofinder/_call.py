"""One Doofinder call on its way through: what it asks, whose it is, and what the journal
keeps of it (never image bytes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .._pipeline import Call as PipelineCall
from ..core import TENANT_HEADER, CatalogEngine, Caller, tenant_from
from ._access import token
from ._errors import DoofinderError, MappingNotFound
from ._params import Params, parse_pairs

VENDOR = "doofinder"
JOURNAL_API = "doofinder.v6"


def tenant_of(request: web.BaseRequest) -> str | None:
    """Emulator decision: the X-Emulator-Tenant header, else the token as sent (zone
    prefix and all), else the hashid; so parallel tests that each use a key of their own,
    or an engine of their own, are isolated with no extra header."""
    return tenant_from(request.headers.get(TENANT_HEADER), token(request),
                     request.match_info.get("hashid") if isinstance(request, web.Request) else None)


#: An operation: the call in, the answer's JSON payload out (or a DoofinderError raised).
Operation = Callable[[Any, "Call"], Awaitable[Any]]


@dataclass
class Call(PipelineCall):
    """The request, its parameters, and what the operations note for the journal (the
    lookup names the hashid, and the text or dfid). ``operation`` is e.g.
    ``POST _image_search``: the journal's method, a fault's operation."""

    request: web.Request
    run: Operation
    params: Params
    record: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    #: the search engine admission found (set before any operation runs)
    admitted: CatalogEngine | None = None
    #: the answer to a hashid no engine has (the search operations' ``Mapping not found``)
    unknown_engine: type[DoofinderError] = MappingNotFound

    @classmethod
    def create(cls, request: web.Request, operation: str, run: Operation,
               unknown_engine: type[DoofinderError] = MappingNotFound) -> Call:
        return cls(request, run, parse_pairs(request.query.items()), tenant=tenant_of(request),
                   api=JOURNAL_API, operation=operation, unknown_engine=unknown_engine)

    @property
    def engine(self) -> CatalogEngine:
        assert self.admitted is not None, "an operation runs after admission"
        return self.admitted

    @property
    def hashid(self) -> str:
        return self.request.match_info.get("hashid", "")

    @property
    def caller(self) -> Caller:
        return Caller(VENDOR, self.tenant)

