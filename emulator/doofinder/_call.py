"""One Doofinder call on its way through: what it asks, whose it is, and what the journal
keeps of it (never image bytes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..core import TENANT_HEADER, CallNotes, Caller, FaultTarget
from ._access import token
from ._params import Params, parse_pairs

VENDOR = "doofinder"
JOURNAL_API = "doofinder.v6"


def tenant_of(request: web.BaseRequest) -> str | None:
    """Emulator decision: the X-Emulator-Tenant header, else the token as sent (zone
    prefix and all), else the hashid; so parallel tests that each use a key of their own,
    or an engine of their own, are isolated with no extra header."""
    return (request.headers.get(TENANT_HEADER) or token(request)
            or (request.match_info.get("hashid") if isinstance(request, web.Request) else None)
            or None)


@dataclass
class Call(CallNotes):
    """The request, its parameters, and what the operations note for the journal (the
    lookup names the hashid, and the text or dfid)."""

    request: web.Request
    operation: str  # e.g. "POST _image_search": the journal's method, a fault's operation
    params: Params
    record: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def create(cls, request: web.Request, operation: str) -> Call:
        return cls(request, operation, parse_pairs(request.query.items()),
                   tenant=tenant_of(request))

    @property
    def hashid(self) -> str:
        return self.request.match_info.get("hashid", "")

    @property
    def caller(self) -> Caller:
        return Caller(VENDOR, self.tenant)

    def fault_target(self) -> FaultTarget:
        return FaultTarget(VENDOR, JOURNAL_API, self.operation, self.tenant)
