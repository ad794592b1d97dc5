"""The Yandex Search API's errors: one exception per vendor error, as ``google.rpc.Status``.

Contract: the vendor's API v2 reference, errors on both transports. The REST body and the gRPC
``grpc-status-details-bin`` trailer carry the same Status, with a RequestInfo detail.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, json_format
from google.rpc import error_details_pb2, status_pb2

from .._rpc_status import GRPC_HTTP_STATUS
from ..core import ErrorKind, Fault

#: gRPC code -> HTTP status, as the vendor's gateway maps them (grpc-gateway's table).
HTTP_STATUS = {code: GRPC_HTTP_STATUS[code.name] for code in grpc.StatusCode
               if code.name in GRPC_HTTP_STATUS}


class YandexError(Exception):
    """Base of every vendor error; ``code`` is the gRPC status code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_message = "Unknown error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def to_status(self, request_id: str) -> status_pb2.Status:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RequestInfo(request_id=request_id))
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail])

    def to_json(self, request_id: str) -> dict:
        return json_format.MessageToDict(self.to_status(request_id))


class InvalidArgument(YandexError):
    """Validation failures (contract: 3 INVALID_ARGUMENT / HTTP 400)."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    default_message = "Request validation error"


class NotFound(YandexError):
    """Emulator decision: an unknown CBIR id (5 NOT_FOUND / HTTP 404); also unknown REST paths."""

    code = grpc.StatusCode.NOT_FOUND
    default_message = "Not Found"


class PermissionDenied(YandexError):
    """A valid key used on a folder it may not use (7 PERMISSION_DENIED / HTTP 403)."""

    code = grpc.StatusCode.PERMISSION_DENIED
    default_message = "Permission denied"


class ResourceExhausted(YandexError):
    """Quota: 10 requests/s and 36,000/hour per folder (8 RESOURCE_EXHAUSTED / HTTP 429)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_message = "Quota limit exceeded"


class Unavailable(YandexError):
    """Contract (yandex.md, the status table): 14 UNAVAILABLE / HTTP 503, a backend
    failure. Emulator decision: what every v2 call gets while the state store is down."""

    code = grpc.StatusCode.UNAVAILABLE
    default_message = "Service unavailable"


class Internal(YandexError):
    """Backend failure (13 INTERNAL / HTTP 500)."""

    code = grpc.StatusCode.INTERNAL
    default_message = "Internal error"


class Unauthenticated(YandexError):
    """Missing or invalid credentials; the one documented text (16 UNAUTHENTICATED / 401)."""

    code = grpc.StatusCode.UNAUTHENTICATED
    default_message = "Token is invalid or has expired."


class MethodNotAllowed(YandexError):
    """Emulator decision: a known REST path with another method answers HTTP 405."""

    code = grpc.StatusCode.UNIMPLEMENTED
    default_message = "Method Not Allowed"

    @property
    def http_status(self) -> int:
        return 405


_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def status_code(status: str | int) -> grpc.StatusCode:
    """A fixture's gRPC status, by name or number (the schema admits only valid ones)."""
    return _CODES_BY_NUMBER[status] if isinstance(status, int) else grpc.StatusCode[status]


class InjectedFault(YandexError):
    """Any status a fixture rule asks for (fault injection)."""

    def __init__(self, code: grpc.StatusCode, message: str | None = None) -> None:
        self.code = code
        super().__init__(message or code.name.replace("_", " ").capitalize())


class ConnectionReset(YandexError):
    """A connection-reset fault: HTTP transports drop the connection unanswered; gRPC
    answers what its clients report for a reset connection (14 UNAVAILABLE)."""

    code = grpc.StatusCode.UNAVAILABLE
    default_message = "Connection reset by peer"


#: HTTP status -> the gRPC code the gateway maps to it (the first one in HTTP_STATUS).
_CODES_BY_HTTP: dict[int, grpc.StatusCode] = {}
for _code, _http in HTTP_STATUS.items():
    _CODES_BY_HTTP.setdefault(_http, _code)


def has_status(fault: Fault) -> bool:
    """Whether the fault names a status (gRPC, or HTTP) rather than only an XML code."""
    return fault.kind is not ErrorKind.NAMED or fault.get("status") is not None \
        or fault.get("http_status") is not None


def from_fault(fault: Fault) -> YandexError:
    """The v2 error for a rule's, stub's or fault's :class:`~emulator.core.Fault`: its gRPC
    ``status``; else the code its ``http_status`` maps to; else UNKNOWN. A rate limit with
    no message of its own is the vendor's quota error."""
    if fault.kind is ErrorKind.RATE_LIMITED:
        return ResourceExhausted()
    if fault.get("status") is not None:
        code = status_code(fault.get("status"))
    else:
        code = _CODES_BY_HTTP.get(fault.get("http_status"), grpc.StatusCode.UNKNOWN)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and not fault.message:
        return ResourceExhausted()
    return InjectedFault(code, fault.message)
