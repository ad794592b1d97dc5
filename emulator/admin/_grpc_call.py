"""``/_emulator/grpc/{operation}``: one call of the emulator's own Yandex v2 gRPC service,
made over real gRPC to its own port, for clients that cannot speak gRPC (a browser).

The message is given in protobuf's JSON mapping (what grpcurl takes) and the answer comes
back the same way, with the status, the details and both sets of metadata, so the call is
journaled as the gRPC call it is (``yandex.v2.grpc``).
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format

from ..core import MAX_BODY_BYTES
from ..yandex import _protos
from ._common import AdminError, read_json, state

#: The operations and their request and response message types.
OPERATIONS = {"SearchByImage": ("ImageSearchByImageRequest", "ImageSearchByImageResponse"),
              "Search": ("ImageSearchRequest", "ImageSearchResponse")}
#: Emulator decision: a call given up after 60 s (a fault's latency may be long, not endless).
TIMEOUT_S = 60.0
CHANNEL_OPTIONS = (("grpc.max_receive_message_length", MAX_BODY_BYTES),
                   ("grpc.max_send_message_length", MAX_BODY_BYTES))


def _metadata(pairs: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs or ():
        out[key] = value if isinstance(value, str) else value.hex()  # -bin values: hex
    return out


def _message(operation: str, given: dict[str, Any]) -> bytes:
    kind = getattr(_protos.load(), OPERATIONS[operation][0])
    try:
        return json_format.ParseDict(given, kind()).SerializeToString()
    except (json_format.ParseError, TypeError, ValueError, RecursionError) as exc:
        raise AdminError(400, f"not a {OPERATIONS[operation][0]}: {exc}", "$.message") from None


def _answer(operation: str, body: bytes) -> dict[str, Any]:
    kind = getattr(_protos.load(), OPERATIONS[operation][1])
    return json_format.MessageToDict(kind.FromString(body))


async def grpc_call(request: web.Request) -> web.Response:
    admin = state(request)
    operation = request.match_info["operation"]
    if operation not in OPERATIONS:
        raise AdminError(404, f"no operation {operation!r}; known: " + ", ".join(OPERATIONS))
    raw = await read_json(request, "GrpcCall")
    if admin.grpc_target is None:
        raise AdminError(503, "the gRPC server is not listening")
    serialized = await admin.engine.control.run(_message, operation, raw["message"])
    metadata = tuple(raw.get("metadata", {}).items())
    started = time.perf_counter()
    async with grpc.aio.insecure_channel(admin.grpc_target, options=CHANNEL_OPTIONS) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{_protos.SERVICE}/{operation}")
        rpc = call(serialized, metadata=metadata, timeout=TIMEOUT_S)
        try:
            body: bytes | None = await rpc
            code, details = "OK", None
        except grpc.aio.AioRpcError as exc:
            body, code, details = None, exc.code().name, exc.details()
        initial, trailing = await rpc.initial_metadata(), await rpc.trailing_metadata()
    return web.json_response({
        "target": admin.grpc_target, "method": f"{_protos.SERVICE}/{operation}",
        "code": code, "details": details,
        "initial_metadata": _metadata(initial), "trailing_metadata": _metadata(trailing),
        "message": None if body is None else await admin.engine.control.run(_answer, operation, body),
        "latency_ms": round((time.perf_counter() - started) * 1000, 3)})
