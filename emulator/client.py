"""A small client of the emulator's admin API, for tests in any framework (stdlib only).

    from emulator.client import AdminClient

    admin = AdminClient("http://127.0.0.1:8080", tenant="my-test")
    admin.stub(text="cats", results=["red-square"])
    ...  # run the code under test, sending X-Emulator-Tenant: my-test (or Api-Key my-test)
    assert admin.count(method="Search") == 1
    admin.reset()
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TENANT_HEADER = "X-Emulator-Tenant"


class AdminError(Exception):
    """The admin API refused a call: its HTTP status and error body."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error") if isinstance(body, dict) else body
        place = body.get("place") if isinstance(body, dict) else None
        super().__init__(f"{status}: {message}" + (f" at {place}" if place else ""))
        self.status, self.body = status, body


def _inline_image(fields: dict[str, Any]) -> dict[str, Any]:
    """``image=b"..."`` sends the bytes inline; ``image="name.png"`` names a fixture file."""
    if isinstance(fields.get("image"), (bytes, bytearray)):
        fields = dict(fields)
        fields["image_base64"] = base64.b64encode(fields.pop("image")).decode()
    return fields


class AdminClient:
    def __init__(self, base_url: str, *, tenant: str | None = None,
                 token: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant, self.token, self.timeout = tenant, token, timeout

    def for_tenant(self, tenant: str | None) -> AdminClient:
        return AdminClient(self.base_url, tenant=tenant, token=self.token, timeout=self.timeout)

    def call(self, method: str, path: str, body: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        """One admin call; the decoded JSON answer (None for 204). Raises AdminError."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}/_emulator{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json"}
        if self.tenant is not None:  # an empty tenant is sent, and refused: never "every tenant"
            headers[TENANT_HEADER] = self.tenant
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            raise AdminError(exc.code, payload) from None
        return json.loads(raw) if raw else None

    # -- journal ----------------------------------------------------------------------
    def requests(self, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries, oldest first; filters: vendor, api, method, outcome, rule, tier, after."""
        return self.call("GET", "/requests", params={"limit": limit, **filters})["requests"]

    def count(self, **filters: Any) -> int:
        return self.call("GET", "/requests/count", params=filters)["count"]

    def clear_requests(self) -> None:
        self.call("DELETE", "/requests")

    # -- stubs ------------------------------------------------------------------------
    def stub(self, **rule: Any) -> dict[str, Any]:
        """Add a stub: a fixture rule's fields plus priority, vendor, sequence, repeat, times."""
        return self.call("POST", "/stubs", _inline_image(rule))

    def stubs(self) -> list[dict[str, Any]]:
        return self.call("GET", "/stubs")["stubs"]

    def remove_stub(self, stub_id: str) -> None:
        self.call("DELETE", f"/stubs/{urllib.parse.quote(stub_id, safe='')}")

    def clear_stubs(self) -> None:
        self.call("DELETE", "/stubs")

    # -- faults -----------------------------------------------------------------------
    def fault(self, **spec: Any) -> dict[str, Any]:
        """Add a fault: latency, error (+ rate), reset, drip or quota, narrowed by vendor,
        api and operation."""
        return self.call("POST", "/faults", spec)

    def faults(self) -> list[dict[str, Any]]:
        return self.call("GET", "/faults")["faults"]

    def remove_fault(self, fault_id: str) -> None:
        self.call("DELETE", f"/faults/{urllib.parse.quote(fault_id, safe='')}")

    def clear_faults(self) -> None:
        self.call("DELETE", "/faults")

    # -- explain, fixtures, reset -------------------------------------------------------
    def explain(self, **query: Any) -> dict[str, Any]:
        """Which stub or rule answers: image (bytes), sha256, url, cbir_id or text, + folder."""
        return self.call("POST", "/explain", _inline_image(query))

    def misses(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self.call("GET", "/explain/misses", params={"limit": limit})["misses"]

    def fixtures(self) -> dict[str, Any]:
        return self.call("GET", "/fixtures")

    def reload(self) -> dict[str, Any]:
        """Reload the fixtures now; raises AdminError (422, with the status) if broken."""
        return self.call("POST", "/fixtures/reload")

    def reset(self) -> None:
        """Delete this tenant's stubs, faults and journal entries."""
        self.call("POST", "/reset")

    def openapi(self) -> dict[str, Any]:
        return self.call("GET", "/openapi.json")
