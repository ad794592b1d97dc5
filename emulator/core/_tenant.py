"""Whose a call is: the tenant rule, for every vendor and for the control plane."""

from __future__ import annotations

#: Which tenant a call belongs to (gRPC: metadata ``x-emulator-tenant``).
#:
#: Emulator decision: on a vendor call an empty header (or metadata value) is no header, and
#: the call's tenant is what that vendor's rule takes next (Yandex: the credential;
#: Doofinder: the token, else the hashid). The header is the emulator's, not the vendor's,
#: so it never turns a call the vendor would answer into an error; and a vendor call only
#: reads its own tenant's and the global stubs and faults, so it can never act on another
#: tenant. The admin API, whose document says ``minLength: 1``, refuses an empty one (400).
TENANT_HEADER = "X-Emulator-Tenant"


def tenant_from(header: str | None, *fallbacks: str | None) -> str | None:
    """Emulator decision: the X-Emulator-Tenant header, else the first of what the caller
    names itself by (a vendor's credential, say); so parallel tests that each use a key of
    their own are isolated with no extra header. None: the call has no tenant."""
    for value in (header, *fallbacks):
        if value:
            return value
    return None
