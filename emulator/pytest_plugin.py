"""pytest plugin: the emulator for a test session, and a tenant of its own for each test.

Installed with the package (entry point ``pytest11``), so any test can ask for::

    def test_search(emulator):
        emulator.stub(text="cats", results=["red-square"])
        ...  # call the code under test with emulator.http_url / emulator.grpc_target and
             # emulator.headers / emulator.grpc_metadata (or api_key as its credential)
        assert emulator.count(method="Search") == 1

Each test is a tenant: its stubs, faults and journal are its own, so tests run in
parallel (``pytest -n 4``) against one emulator without seeing each other. By default
each test process starts the emulator in-process on free ports; ``--emulator-url`` (and
``--emulator-grpc``) point every worker at one running emulator instead.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .client import TENANT_HEADER, AdminClient


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("image-search-emulator")
    group.addoption("--emulator-url", metavar="URL", default=os.environ.get("EMULATOR_URL"),
                    help="HTTP base URL of a running emulator to use instead of starting "
                         "one (env EMULATOR_URL)")
    group.addoption("--emulator-grpc", metavar="HOST:PORT",
                    default=os.environ.get("EMULATOR_GRPC"),
                    help="its gRPC address (env EMULATOR_GRPC)")
    group.addoption("--emulator-fixtures", metavar="DIR", default=None,
                    help="fixture directory of the in-process emulator (default: built-in)")
    group.addoption("--emulator-admin-token", metavar="TOKEN",
                    default=os.environ.get("EMULATOR_ADMIN_TOKEN"),
                    help="admin token of the emulator (env EMULATOR_ADMIN_TOKEN)")


@dataclass(frozen=True)
class EmulatorServer:
    http_url: str  # e.g. http://127.0.0.1:PORT
    grpc_target: str  # e.g. 127.0.0.1:PORT
    admin_token: str | None = None


@pytest.fixture(scope="session")
def emulator_server(pytestconfig: pytest.Config) -> Iterator[EmulatorServer]:
    """The emulator this test process uses: in-process on free ports, or --emulator-url."""
    url = pytestconfig.getoption("emulator_url")
    token = pytestconfig.getoption("emulator_admin_token")
    if url:
        yield EmulatorServer(url.rstrip("/"), pytestconfig.getoption("emulator_grpc") or "",
                             token)
        return
    from ._server import Config  # imported late: plugin loading stays cheap
    from .testing import run_in_thread

    fixtures = pytestconfig.getoption("emulator_fixtures")
    config = Config(http_port=0, grpc_port=0, fixtures=Path(fixtures) if fixtures else None,
                    admin_token=token)
    with run_in_thread(config) as running:
        yield EmulatorServer(running.http, running.grpc, token)


def tenant_for(nodeid: str) -> str:
    """Emulator decision: a test's tenant is a digest of the machine, the process and the
    test id, so two runs sharing one emulator never share a tenant."""
    seed = f"{socket.gethostname()}:{os.getpid()}:{nodeid}".encode()
    return "pytest-" + hashlib.blake2b(seed, digest_size=8).hexdigest()


class TestTenant:
    """One test's view of the emulator: URLs, credentials that name the tenant, and the
    admin API acting for it."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, server: EmulatorServer, tenant: str) -> None:
        self.server = server
        self.tenant = tenant
        self.admin = AdminClient(server.http_url, tenant=tenant, token=server.admin_token)

    @property
    def http_url(self) -> str:
        return self.server.http_url

    @property
    def grpc_target(self) -> str:
        return self.server.grpc_target

    def url(self, path: str) -> str:
        return self.server.http_url + path

    @property
    def api_key(self) -> str:
        """A credential that names the tenant, for clients that cannot send extra headers."""
        return self.tenant

    @property
    def headers(self) -> dict[str, str]:
        return {TENANT_HEADER: self.tenant, "Authorization": f"Api-Key {self.tenant}"}

    @property
    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return ((TENANT_HEADER.lower(), self.tenant), ("authorization", f"Api-Key {self.tenant}"))

    def stub(self, **rule: Any) -> dict[str, Any]:
        return self.admin.stub(**rule)

    def fault(self, **spec: Any) -> dict[str, Any]:
        return self.admin.fault(**spec)

    def requests(self, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        return self.admin.requests(limit, **filters)

    def count(self, **filters: Any) -> int:
        return self.admin.count(**filters)

    def explain(self, **query: Any) -> dict[str, Any]:
        return self.admin.explain(**query)

    def misses(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self.admin.misses(limit)

    def reset(self) -> None:
        self.admin.reset()


@pytest.fixture
def emulator(emulator_server: EmulatorServer, request: pytest.FixtureRequest) -> Iterator[TestTenant]:
    """The emulator for one test, as a tenant of its own; reset when the test ends."""
    handle = TestTenant(emulator_server, tenant_for(request.node.nodeid))
    yield handle
    handle.reset()
