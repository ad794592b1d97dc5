"""gRPC status codes and the HTTP status each maps to: google.rpc.Code's documented
mapping (grpc-gateway's table, which the Yandex gateway follows), by name and by number, as
fixtures and stubs may give either. Yandex answers by it; Doofinder reads a stub's gRPC
status through it. A transport's standard, so neither the core's nor one vendor's.
"""

from __future__ import annotations

#: gRPC code name -> HTTP status, in code-number order (CANCELLED is 1).
GRPC_HTTP_STATUS: dict[str, int] = {
    "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400, "ABORTED": 409,
    "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503,
    "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}
_BY_NUMBER = dict(zip(range(1, 17), GRPC_HTTP_STATUS.values(), strict=True))


def http_status_of(status: str | int | None) -> int | None:
    """The HTTP status of a gRPC code given by name or number; None for anything else."""
    if isinstance(status, int):
        return _BY_NUMBER.get(status)
    return GRPC_HTTP_STATUS.get(status) if isinstance(status, str) else None
