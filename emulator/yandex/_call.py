"""What a call carries besides its message: credentials and request ids, on any transport."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .._pipeline import Call as PipelineCall
from .._pipeline import request_digest
from ..core import MATCH_HEADER, Caller, tenant_from
from ._errors import Unauthenticated

#: Contract: ``Authorization: Bearer <IAM token>`` or ``Api-Key <key>``, schemes compared
#: case-insensitively, the same value in gRPC metadata ``authorization``.
AUTH_SCHEMES = ("bearer", "api-key")


def _sendable(value: str) -> bool:
    """A header value that arrived as invalid UTF-8 (surrogate-escaped) cannot be echoed
    as it came; such an id is left out of the answer rather than altered."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\r" not in value and "\n" not in value


@dataclass
class CallInfo(PipelineCall):
    """One call, from the transport's view: who is calling and the ids it is answered
    with; the servicer notes what the journal should say about it (the tenant is the
    X-Emulator-Tenant header, else the credential). ``api`` names the transport
    (``yandex.v2.rest``), ``operation`` the method (``SearchByImage``)."""

    authorization: str | None = None
    client_request_id: str | None = None
    #: what the ids are derived from, with the payload (the transport and its method)
    id_source: str = ""
    #: the call's message bytes (a REST body once read, a gRPC message)
    payload: bytes = b""
    server_trace_id: str = ""
    #: the yandexsearch error code an otherwise successful Search answer carries
    xml_code: int | None = None
    #: the SHA-256 of the query image, once it has been fingerprinted
    image_sha256: str | None = None
    #: the decoded request (None until decoded; the journal says so)
    message: Any = None
    #: a text search's plain query (``_text_search.TextQuery``), once read
    query: Any = None

    @classmethod
    def start(cls, api: str, operation: str, id_source: str, authorization: str | None,
              client_request_id: str | None, tenant_header: str | None,
              payload: bytes = b"") -> CallInfo:
        """A call whose ids the pipeline derives once it has been read."""
        call = cls(authorization=authorization, client_request_id=client_request_id,
                   id_source=id_source, payload=payload, api=api, operation=operation)
        call.identify(api, tenant_header)
        return call

    @classmethod
    def create(cls, method: str, payload: bytes, authorization: str | None,
               client_request_id: str | None) -> CallInfo:
        """A call with its ids, for answers outside the pipeline (an unrouted request)."""
        call = cls(authorization=authorization, client_request_id=client_request_id,
                   id_source=method, payload=payload)
        call.set_ids(request_digest(*call.id_parts()))
        return call

    def id_parts(self) -> tuple[int, tuple[bytes, ...]]:
        """Emulator decision: request ids derive from the call itself, so the same request
        gets the same answer, bodies included; clients that send a fresh
        ``x-client-request-id`` per call (the SDKs do) get a fresh id each time."""
        return 24, (self.id_source.encode("utf-8", "surrogateescape"), self.payload,
                    (self.client_request_id or "").encode("utf-8", "surrogateescape"))

    def set_ids(self, raw: bytes) -> None:
        self.request_id = str(uuid.UUID(bytes=raw[:16], version=4))
        self.server_trace_id = raw[16:].hex()

    def id_headers(self) -> list[tuple[str, str]]:
        """The ids the answer carries (gRPC: initial metadata)."""
        headers = [("x-request-id", self.request_id), ("x-server-trace-id", self.server_trace_id)]
        if self.client_request_id and _sendable(self.client_request_id):
            headers.append(("x-client-request-id", self.client_request_id))  # echoed
        return headers

    def response_headers(self) -> list[tuple[str, str]]:
        return self.id_headers() + self.match_metadata()

    def match_metadata(self) -> list[tuple[str, str]]:
        """The explanation of the answer, once there is one (gRPC: trailing metadata)."""
        return [(MATCH_HEADER.lower(), self.match.header())] if self.match else []

    @cached_property
    def _token(self) -> str | None:
        scheme, _, token = (self.authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in AUTH_SCHEMES or not token or any(c.isspace() for c in token):
            return None
        return token

    @property
    def caller(self) -> Caller:
        return Caller("yandex", self.tenant)

    def identify(self, api: str, tenant_header: str | None, credential: str | None = None) -> None:
        """Emulator decision: the tenant is the X-Emulator-Tenant header, else the credential."""
        self.api = api
        self.tenant = tenant_from(tenant_header, credential, self._token)

    def credential(self) -> str:
        """The token or key after a known scheme; anything else is UNAUTHENTICATED."""
        if self._token is None:
            raise Unauthenticated()
        return self._token
