"""What a call carries besides its message: credentials and request ids, on any transport."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from functools import cached_property

from ..core import MATCH_HEADER, CallNotes, Caller, update_framed
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
class CallInfo(CallNotes):
    """One call, from the transport's view: who is calling and the ids it is answered
    with; the servicer notes what the journal should say about it (the tenant is the
    X-Emulator-Tenant header, else the credential)."""

    authorization: str | None
    client_request_id: str | None
    request_id: str
    server_trace_id: str
    #: the yandexsearch error code an otherwise successful Search answer carries
    xml_code: int | None = None
    #: the SHA-256 of the query image, once it has been fingerprinted
    image_sha256: str | None = None
    #: the transport, as the journal names it (``yandex.v2.rest``)
    api: str = ""

    @classmethod
    def create(cls, method: str, payload: bytes, authorization: str | None,
               client_request_id: str | None) -> CallInfo:
        """Emulator decision: request ids derive from the call itself, so the same request
        gets the same answer, bodies included; clients that send a fresh
        ``x-client-request-id`` per call (the SDKs do) get a fresh id each time."""
        raw = update_framed(hashlib.blake2b(digest_size=24),
                            method.encode("utf-8", "surrogateescape"), payload,
                            (client_request_id or "").encode("utf-8", "surrogateescape")).digest()
        return cls(authorization, client_request_id, str(uuid.UUID(bytes=raw[:16], version=4)),
                   raw[16:].hex())

    def response_headers(self) -> list[tuple[str, str]]:
        headers = [("x-request-id", self.request_id), ("x-server-trace-id", self.server_trace_id)]
        if self.client_request_id and _sendable(self.client_request_id):
            headers.append(("x-client-request-id", self.client_request_id))  # echoed
        headers.extend(self.match_metadata())
        return headers

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
        self.tenant = tenant_header or credential or self._token

    def credential(self) -> str:
        """The token or key after a known scheme; anything else is UNAUTHENTICATED."""
        if self._token is None:
            raise Unauthenticated()
        return self._token
