"""Admin API calls for tests: every answer is checked against the OpenAPI document the
emulator serves (the documented status for that operation, and its response schema)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import jsonschema
import pytest

from support.server import start


def http(base: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Admin:
    """``admin("POST", "/stubs", {...})`` -> (status, decoded JSON or None)."""

    def __init__(self, base: str, tenant: str | None = None, token: str | None = None) -> None:
        self.base, self.tenant, self.token = base, tenant, token
        status, _, raw = http(base, "GET", "/_emulator/openapi.json")
        assert status == 200
        self.doc = json.loads(raw)

    def for_tenant(self, tenant: str | None) -> Admin:
        other = Admin.__new__(Admin)
        other.base, other.tenant, other.token, other.doc = self.base, tenant, self.token, self.doc
        return other

    def _operation(self, method: str, path: str) -> dict[str, Any]:
        for template, item in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method.lower() in item:
                return item[method.lower()]
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")

    def check(self, method: str, path: str, status: int, data: Any) -> None:
        responses = self._operation(method, path)["responses"]
        assert str(status) in responses, f"{method} {path}: status {status} is not documented"
        response = responses[str(status)]
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        if "content" not in response:
            assert data is None, f"{method} {path} {status} has no documented body"
            return
        schema = dict(response["content"]["application/json"]["schema"])
        schema["components"] = self.doc["components"]
        jsonschema.Draft202012Validator(schema).validate(data)

    def __call__(self, method: str, path: str, body: Any = None,
                 params: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        if self.tenant:
            sent.setdefault("X-Emulator-Tenant", self.tenant)
        if self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        raw = None
        if body is not None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        url = "/_emulator" + path + ("?" + urllib.parse.urlencode(params) if params else "")
        status, _, answer = http(self.base, method, url, raw, sent)
        data = json.loads(answer) if answer else None
        self.check(method, "/_emulator" + path, status, data)
        return status, data


def tenant_admin(prefix: str):
    """A fixture: an Admin for a tenant named after the test, on the module's ``running``
    emulator, reset when the test ends."""

    @pytest.fixture
    def admin(running, request):
        client = Admin(running.http, f"{prefix}-{request.node.name}")
        yield client
        client("POST", "/reset")

    return admin


def module_emulator():
    """A fixture: one emulator on the default fixtures for the test module."""

    @pytest.fixture(scope="module")
    def running():
        with start() as run:
            yield run

    return running
