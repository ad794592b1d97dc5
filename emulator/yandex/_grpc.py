"""gRPC transport: the ImageSearchService servicer on a ``grpc.aio`` server.

Requests arrive as raw bytes and are decoded here, so that undecodable or ambiguous
messages get the vendor's INVALID_ARGUMENT rather than the gRPC library's own error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ..core import MAX_BODY_BYTES, TENANT_HEADER, StateStore
from ..core._replay import RequestKey
from ._call import CallInfo
from ._decoding import from_wire
from ._errors import YandexError
from ._protos import SERVICE, Protos
from ._servicer import ImageSearchServicer, V2Adapter

#: Room for a 3 MiB image plus the rest of the message, so an oversized image gets the
#: vendor's INVALID_ARGUMENT; beyond this gRPC itself answers RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = MAX_BODY_BYTES
API = "yandex.v2.grpc"
#: Emulator decision: requests in flight at once on one HTTP/2 connection, bounded so one
#: connection cannot hold unbounded work, and well above what one client channel sends at
#: once in a load test (a cancelled call keeps its stream until the server sees the cancel,
#: and a stream refused at the limit would reach the client as UNAVAILABLE).
MAX_CONCURRENT_STREAMS = 1024


@dataclass(frozen=True)
class ConnectionLimits:
    """grpcio's equivalents of the HTTP bounds (``max_connections``, ``header_timeout``):
    incoming connections at once (gRPC core refuses the ones over), and how long a
    connection has to finish its handshake (TLS and the HTTP/2 preface and settings)."""

    max_connections: int
    handshake_timeout: float  # seconds; 0: gRPC core's own default (120 s)

    def options(self) -> list[tuple[str, int]]:
        options = [("grpc.max_allowed_incoming_connections", self.max_connections),
                   ("grpc.max_concurrent_streams", MAX_CONCURRENT_STREAMS)]
        if self.handshake_timeout > 0:
            options.append(("grpc.server_handshake_timeout_ms",
                            max(1, round(self.handshake_timeout * 1000))))
        return options


#: the metadata entries a call reads (the first of each, its name in lower case)
_READ = ("authorization", "x-client-request-id", TENANT_HEADER.lower())


def _metadata(metadata: tuple[tuple[str, str | bytes], ...]) -> list[str | None]:
    """The first value of each of ``_READ``, in one pass over the call's metadata."""
    found: list[str | None] = [None] * len(_READ)
    for key, value in metadata:
        name = key.lower()
        if name in _READ:
            i = _READ.index(name)
            if found[i] is None:
                found[i] = value if isinstance(value, str) else value.decode("latin-1")
    return found


@dataclass(frozen=True, slots=True)
class Reply:
    """What a gRPC call answers: the response's bytes, or a status to abort with."""

    message: bytes | None = None
    status: Any = None  # grpc_status's Status


@dataclass
class GrpcCall(CallInfo):
    """A v2 call over gRPC: the metadata it came with."""

    metadata: tuple[tuple[str, str | bytes], ...] = ()


class GrpcAdapter(V2Adapter[Reply]):
    """The v2 operations over gRPC: bytes in, bytes out."""

    async def replay_key(self, call: CallInfo) -> RequestKey | None:
        """The message and every metadata entry (the peer's address changes no answer)."""
        assert isinstance(call, GrpcCall)
        return RequestKey((self, call.metadata), call.payload)

    def keep(self, response: Reply) -> tuple[Reply, int]:
        return response, len(response.message or b"")

    def revive(self, kept: Reply) -> Reply:
        return kept  # frozen: sent as it is

    async def read(self, call: CallInfo) -> Any:
        return from_wire(self.request_type, call.payload, image_oneof=self.by_image)

    def reply(self, call: CallInfo, response: Any) -> Reply:
        return Reply(message=response.SerializeToString())

    def reply_error(self, call: CallInfo, error: YandexError) -> Reply:
        return Reply(status=rpc_status.to_status(error.to_status(call.request_id)))

    def handler(self) -> grpc.RpcMethodHandler:
        async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            metadata = tuple(context.invocation_metadata() or ())
            authorization, client_request_id, tenant = _metadata(metadata)
            call = GrpcCall.start(API, self.operation, f"grpc:{self.operation}",
                                  authorization, client_request_id, tenant, payload=raw)
            assert isinstance(call, GrpcCall)
            call.metadata = metadata

            async def send_ids(call: CallInfo) -> None:
                await context.send_initial_metadata(call.id_headers())

            # the ids go out at once (the message is all there is to read): a client sees
            # the call has started while a slow answer is still due
            sent = await self.servicer.pipeline.run(self, call, ids=send_ids)
            reply = sent.response
            if reply.message is None:
                status = reply.status
                await context.abort(status.code, status.details,
                                    tuple(status.trailing_metadata) + tuple(call.match_metadata()))
            if sent.plan.drip is not None:  # a unary message cannot trickle: it comes late
                await asyncio.sleep(sent.plan.drip.duration_ms(len(reply.message)) / 1000)
            context.set_trailing_metadata(call.match_metadata())
            return reply.message

        return grpc.unary_unary_rpc_method_handler(handle)  # bytes in, bytes out


#: grpc.reflection.v1 has the same messages as v1alpha under another package; newer
#: clients (grpcurl 1.9+, Postman) ask for v1 first, older ones for v1alpha.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def _add_reflection(server: grpc.aio.Server, protos: Protos) -> None:
    listed = (SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
              reflection.SERVICE_NAME)
    servicer = reflection.ReflectionServicer(listed, pool=protos.pool)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers(tuple(
        grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler})
        for name in (reflection.SERVICE_NAME, REFLECTION_V1)))


async def build_server(servicer: ImageSearchServicer, protos: Protos,
                 address: str, *, reuse_port: bool = False,
                 limits: ConnectionLimits | None = None,
                 state: StateStore | None = None) -> tuple[grpc.aio.Server, int]:
    """The server (not started) and the port it is bound to. ``reuse_port`` lets worker
    processes share the port; off, a port in use is an error rather than shared. Its
    ``grpc.health.v1`` says NOT_SERVING while the ``state`` store is down (as ``/readyz``
    says 503), SERVING again once it answers."""
    server = grpc.aio.server(options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", int(reuse_port)),
        *(limits.options() if limits is not None else ()),
    ])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
        operation: GrpcAdapter(servicer, operation).handler()
        for operation in ("Search", "SearchByImage")}),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await _set_health(health_servicer, None if state is None else state.problem)
    if state is not None:
        changing: set[asyncio.Future] = set()  # held until done (bounded: one per change)

        def changed(problem: str | None) -> None:
            task = asyncio.ensure_future(_set_health(health_servicer, problem))
            changing.add(task)
            task.add_done_callback(changing.discard)

        state.on_health(changed)
    for module in (health_pb2, reflection_pb2, status_pb2, error_details_pb2):
        protos.add_file(module.DESCRIPTOR)
    _add_reflection(server, protos)
    return server, _listen(server, address)


async def _set_health(servicer: health.aio.HealthServicer, problem: str | None) -> None:
    """Every service SERVING, or NOT_SERVING while the state store has a problem."""
    status = health_pb2.HealthCheckResponse.SERVING if problem is None \
        else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", SERVICE):
        await servicer.set(name, status)


def _listen(server: grpc.aio.Server, address: str,
            credentials: grpc.ServerCredentials | None = None) -> int:
    try:
        port = (server.add_insecure_port(address) if credentials is None
                else server.add_secure_port(address, credentials))
    except RuntimeError:
        port = 0
    if port == 0:
        raise OSError(f"cannot listen for gRPC on {address} (is the port in use?)")
    return port


def listen_tls(server: grpc.aio.Server, address: str, cert_pem: bytes, key_pem: bytes) -> int:
    """Also serve on ``address`` over TLS with this certificate; the bound port."""
    return _listen(server, address, grpc.ssl_server_credentials([(key_pem, cert_pem)]))
