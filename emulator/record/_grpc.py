"""The recording proxy's gRPC side: every call is forwarded, as raw bytes, to the Yandex
gRPC upstream, and the client gets the upstream's answer unchanged (initial metadata,
messages, status code, details, trailing metadata with ``grpc-status-details-bin``).
Server reflection and health are forwarded like any other method, so ``grpcurl`` against
the proxy describes the upstream's services.

``ImageSearchService`` ``SearchByImage`` and ``Search`` exchanges go into the same
:class:`~._writer.Session` as the REST ones: the messages are turned into the REST JSON
shape through protobuf's JSON mapping (REST and gRPC are one service through it).

Contract: gRPC metadata; ``:``-prefixed pseudo headers, ``grpc-`` reserved keys and HTTP/2
connection headers are the transport's, not the call's, and are not forwarded.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from .. import _tls
from .._config import Config
from .._rpc_status import http_status_of
from ..core._limits import MAX_BODY_BYTES
from ..core._pool import WorkPool
from ..yandex import _protos
from ._proxy import UPSTREAM_TIMEOUT
from ._writer import Exchange, Session

log = logging.getLogger("emulator.record")

SERVICE = _protos.SERVICE
#: the recorded methods: gRPC method -> (the REST path of the same operation, request and
#: response message names)
RECORDED = {
    f"/{SERVICE}/SearchByImage": ("/v2/image/search_by_image", "ImageSearchByImageRequest",
                                  "ImageSearchByImageResponse"),
    f"/{SERVICE}/Search": ("/v2/image/search", "ImageSearchRequest", "ImageSearchResponse"),
}
#: Emulator decision: a recorded exchange is listed in recording.json with this method
#: and the REST path of its operation.
METHOD = "gRPC"
_TRANSPORT = frozenset(("te", "content-type", "user-agent", "host", "connection",
                        "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"))
_OPTIONS = [("grpc.max_receive_message_length", MAX_BODY_BYTES),
            ("grpc.max_send_message_length", MAX_BODY_BYTES)]


@dataclass(frozen=True)
class GrpcUpstream:
    """Where the gRPC calls go: ``host:port`` and whether over TLS."""

    target: str
    tls: bool

    @classmethod
    def parse(cls, text: str) -> GrpcUpstream:
        """``host:port`` or ``grpcs://host:port``: TLS; ``grpc://host:port``: plaintext."""
        scheme, sep, rest = text.partition("://")
        if not sep:
            return cls(text, True)
        return cls(rest, scheme == "grpcs")

    def channel(self, ca: Path | None) -> grpc.aio.Channel:
        if not self.tls:
            return grpc.aio.insecure_channel(self.target, options=_OPTIONS)
        return grpc.aio.secure_channel(
            self.target, grpc.ssl_channel_credentials(root_certificates=_roots(ca)),
            options=_OPTIONS)


def _roots(ca: Path | None) -> bytes | None:
    """The PEM roots the upstream is verified with: ``ca``, else the system's trust store
    (OpenSSL's default CA file), else gRPC's own bundled roots."""
    if ca is not None:
        return ca.read_bytes()
    cafile = ssl.get_default_verify_paths().cafile
    try:
        return Path(cafile).read_bytes() if cafile else None
    except OSError:
        return None


def forwarded(metadata: Any) -> tuple[tuple[str, str | bytes], ...]:
    """The call's own metadata: no pseudo headers, reserved ``grpc-`` keys (but the
    status details) or connection headers."""
    kept = []
    for key, value in metadata or ():
        low = key.lower()
        if low.startswith(":") or low in _TRANSPORT:
            continue
        if low.startswith("grpc-") and low != "grpc-status-details-bin":
            continue
        kept.append((key, value))
    return tuple(kept)


@dataclass(frozen=True)
class GrpcExchange:
    """One recorded call as it went: the method, metadata, message bytes and status."""

    method: str
    metadata: tuple[tuple[str, str | bytes], ...]
    request: bytes
    code: grpc.StatusCode
    details: str
    response: bytes | None


def as_rest(exchange: GrpcExchange) -> Exchange | None:
    """The exchange in the REST JSON shape the writer reads (protobuf's JSON mapping);
    None for a message that is not the service's."""
    path, request_name, response_name = RECORDED[exchange.method]
    protos = _protos.load()
    try:
        request = getattr(protos, request_name).FromString(exchange.request)
        body = json.dumps(json_format.MessageToDict(request)).encode()
        if exchange.code == grpc.StatusCode.OK and exchange.response is not None:
            answer = json_format.MessageToDict(
                getattr(protos, response_name).FromString(exchange.response))
    except DecodeError:
        return None
    if exchange.code == grpc.StatusCode.OK and exchange.response is not None:
        status = 200
    else:
        code = exchange.code.value[0]
        answer = {"code": code, "message": exchange.details, "details": []}
        status = http_status_of(code) or 500
    headers = tuple((k, v) for k, v in exchange.metadata if isinstance(v, str))
    return Exchange("yandex", METHOD, path, (), headers, body, status,
                    json.dumps(answer).encode())


class GrpcForwarder:
    """The generic handler: every method a stream-stream call of raw bytes to the
    upstream (a unary call is one message each way on the wire)."""

    def __init__(self, config: Config, session: Session, pool: WorkPool) -> None:
        self.text = config.yandex_grpc_upstream
        self.upstream = GrpcUpstream.parse(config.yandex_grpc_upstream or "")
        self.ca = config.upstream_ca
        self.session = session
        self.pool = pool
        self.channel: grpc.aio.Channel | None = None
        self.forwarded = 0

    async def start(self) -> None:
        if self.text:
            self.channel = self.upstream.channel(self.ca)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()

    def handler(self) -> grpc.GenericRpcHandler:
        forward = self.forward

        class Generic(grpc.GenericRpcHandler):
            def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
                method = str(details.method)

                async def behaviour(requests: AsyncIterator[bytes],
                                    context: grpc.aio.ServicerContext) -> None:
                    await forward(method, requests, context)

                return grpc.stream_stream_rpc_method_handler(behaviour)

        return Generic()

    async def forward(self, method: str, requests: AsyncIterator[bytes],
                      context: grpc.aio.ServicerContext) -> None:
        if self.channel is None:
            log.error("record: no yandex gRPC upstream set (--yandex-grpc-upstream); %s not "
                      "forwarded", method)
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "upstream unavailable: no upstream configured")
            return
        metadata = forwarded(context.invocation_metadata())
        recorded = method in RECORDED
        sent: list[bytes] = []

        async def outgoing() -> AsyncIterator[bytes]:
            async for message in requests:
                if recorded and not sent:
                    sent.append(message)
                yield message

        remaining = context.time_remaining()
        capped = remaining is None or remaining > UPSTREAM_TIMEOUT
        timeout = UPSTREAM_TIMEOUT if capped else remaining
        invoke: Any = self.channel.stream_stream(method)  # raw bytes each way
        call = invoke(outgoing(), metadata=metadata, timeout=timeout)
        first: bytes | None = None
        try:
            initial = await call.initial_metadata()
            if initial:
                await context.send_initial_metadata(forwarded(initial))
            async for message in call:
                if first is None:
                    first = message
                await context.write(message)
            code = await call.code()
            details = await call.details() or ""
            trailing = await call.trailing_metadata()
        except grpc.aio.AioRpcError as error:  # the upstream's status, when not OK
            code, details = error.code(), error.details() or ""
            initial, trailing = error.initial_metadata(), error.trailing_metadata()
        finally:
            call.cancel()  # nothing, when the call has ended; else the client went away
        if not initial and not trailing and (code == grpc.StatusCode.UNAVAILABLE or (
                code == grpc.StatusCode.DEADLINE_EXCEEDED and capped)):
            # no word from the upstream at all: it was not reached (refused, a certificate
            # that does not verify, no answer in our time; the client's own deadline
            # passing is its DEADLINE_EXCEEDED)
            log.error("record: yandex gRPC upstream %s unreachable for %s: %s", self.text,
                      method, details)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"upstream unavailable: {details}")
            return
        self.forwarded += 1
        if sent:
            await self._record(GrpcExchange(method, metadata, sent[0], code, details, first))
        else:
            log.info("record: %s -> %s, not written", method, code.name)
        context.set_trailing_metadata(forwarded(trailing))
        if code != grpc.StatusCode.OK:
            context.set_code(code)
            context.set_details(details)

    async def _record(self, exchange: GrpcExchange) -> None:
        def write() -> str:
            rest = as_rest(exchange)
            return "not written (a message that does not decode)" if rest is None \
                else self.session.add(rest)

        try:
            kept = await self.pool.run(write)
            log.info("record: %s %s -> %s, %s", METHOD, exchange.method, exchange.code.name,
                     kept)
        except Exception:  # the client still gets the upstream's answer
            log.exception("record: %s %s -> %s could not be written", METHOD, exchange.method,
                          exchange.code.name)


class GrpcServer:
    """The proxy's gRPC listener: plaintext on ``grpc_port``, and TLS on ``grpc_tls_port``
    when the emulator's TLS settings are given (a certificate, or a self-signed one)."""

    def __init__(self, config: Config, forwarder: GrpcForwarder) -> None:
        self.config = config
        self.forwarder = forwarder
        self.server: grpc.aio.Server | None = None
        self.generated: _tls.GeneratedFiles | None = None
        self.port = 0
        self.tls_port = 0
        self.certificate: Path | None = None

    async def start(self) -> None:
        from ..yandex._grpc import _listen

        server = grpc.aio.server(options=_OPTIONS)
        server.add_generic_rpc_handlers((self.forwarder.handler(),))
        host = self.config.host
        self.port = _listen(server, f"{host}:{self.config.grpc_port}")
        if self.config.tls_enabled:
            config, self.generated = _tls.with_certificate(self.config)
            assert config.tls_cert is not None and config.tls_key is not None
            pair = _tls.load(config.tls_cert, config.tls_key)
            self.certificate = config.tls_cert
            self.tls_port = _listen(server, f"{host}:{config.grpc_tls_port}",
                                    grpc.ssl_server_credentials([(pair.key_pem, pair.cert_pem)]))
        self.server = server
        await server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=1)
        if self.generated is not None:
            self.generated.remove()


def started(config: Config, session: Session, pool: WorkPool
            ) -> tuple[GrpcForwarder, GrpcServer] | None:
    """The gRPC side, when a gRPC upstream is set (else the proxy serves HTTP only)."""
    if not config.yandex_grpc_upstream:
        return None
    forwarder = GrpcForwarder(config, session, pool)
    return forwarder, GrpcServer(config, forwarder)


__all__: list[str] = ["GrpcExchange", "GrpcForwarder", "GrpcServer", "GrpcUpstream", "as_rest",
                      "forwarded", "started"]
