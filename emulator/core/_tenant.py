"""Whose a call is: the tenant rule, for every vendor and for the control plane."""

from __future__ import annotations

#: Which tenant a call belongs to (gRPC: metadata ``x-emulator-tenant``).
TENANT_HEADER = "X-Emulator-Tenant"


def tenant_from(header: str | None, *fallbacks: str | None) -> str | None:
    """Emulator decision: the X-Emulator-Tenant header, else the first of what the caller
    names itself by (a vendor's credential, say); so parallel tests that each use a key of
    their own are isolated with no extra header. None: the call has no tenant."""
    for value in (header, *fallbacks):
        if value:
            return value
    return None
