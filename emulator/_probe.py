"""``image-search-emulator ready``: is a running emulator ready? For container health checks.

It asks the emulator itself, as a client would: ``GET /readyz`` on the HTTP port and
``grpc.health.v1.Health/Check`` on the gRPC port, both plaintext. So the image needs no
curl, and the check reads the same configuration (flags, ``EMULATOR_*``, config file) as
the server it checks.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ._config import Config
from ._server import address


def _http_problem(config: Config, timeout: float) -> str | None:
    url = f"http://{config.url_host()}:{config.http_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"{url}: HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code} {_status(exc.read())}"
    except (OSError, ValueError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"


def _status(body: bytes) -> str:
    try:
        return str(json.loads(body).get("status", ""))
    except (ValueError, AttributeError):
        return ""


def _grpc_problem(config: Config, timeout: float) -> str | None:
    target = address(config.client_host, config.grpc_port)
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    except grpc.RpcError as exc:
        return f"gRPC {target}: {exc.code().name}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"gRPC {target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


def problems(config: Config, timeout: float) -> list[str]:
    """Why the emulator at ``config``'s address is not ready; empty when it is."""
    return [p for p in (_http_problem(config, timeout), _grpc_problem(config, timeout)) if p]
