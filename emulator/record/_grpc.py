"""The recording proxy's gRPC side: every call is forwarded, as raw bytes, to the Yandex
gRPC upstream, and the client gets the upstream's answer unchanged (initial metadata,
messages, status code, details, trailing metadata with ``grpc-status-details-bin``).
Server reflection and health are forwarded like any other method, so ``grpcurl`` against
the proxy describes the upstream's services.

``ImageSearchService`` ``SearchByImage`` and ``Search`` exchanges go into the same
:class:`~._writer.Session` as the REST ones: the messages are turned into the REST JSON
shape through protobuf's JSON mapping (REST and gRPC are one service through it). The
record modes apply as on HTTP: those two methods are matched as their REST twins are
(:func:`grpc_key`); a recorded call is answered by the recording's emulator over gRPC, and
in mode ``none`` every other method (reflection, health) is too.

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
from ..yandex import _protos
from ._modes import Indexed, not_recorded_message, request_key
from ._proxy import UPSTREAM_TIMEOUT, Recorder, _now
from ._writer import Exchange

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


def grpc_key(method: str, request: bytes) -> str | None:
    """The matcher key of a recorded method's request: the key of its REST twin (``POST``
    on the operation's REST path, the message in protobuf's JSON mapping as the body); None
    for a message that does not decode.

    Emulator decision: a REST request written in the canonical JSON mapping (lowerCamelCase
    names, default values left out, as the SDKs send it) has the same key, so a call
    recorded on one side replays on the other; REST's matcher reads the body as sent, so a
    REST body spelled otherwise (snake_case names, a default written out) is another key."""
    path, request_name, _ = RECORDED[method]
    try:
        message = getattr(_protos.load(), request_name).FromString(request)
    except DecodeError:
        return None
    body = json.dumps(json_format.MessageToDict(message)).encode()
    return request_key("POST", path, (), body)


async def _first(requests: AsyncIterator[bytes]) -> bytes | None:
    async for message in requests:
        return message
    return None


async def _chain(first: bytes | None, requests: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
    async for message in requests:
        yield message


@dataclass(frozen=True)
class _Outcome:
    """How a relayed call ended: its status, trailing metadata and first messages."""

    code: grpc.StatusCode
    details: str
    trailing: Any
    sent: bytes | None
    answer: bytes | None


class GrpcForwarder:
    """The generic handler: every method a stream-stream call of raw bytes (a unary call is
    one message each way on the wire) to the upstream, or, as the record mode says, to the
    emulator over the recording (:class:`~._modes.Replayer`)."""

    def __init__(self, config: Config, recorder: Recorder) -> None:
        self.text = config.yandex_grpc_upstream
        self.upstream = GrpcUpstream.parse(config.yandex_grpc_upstream or "")
        self.ca = config.upstream_ca
        self.recorder = recorder
        self.session = recorder.session
        self.pool = recorder.pool
        self.channel: grpc.aio.Channel | None = None
        self.offline: tuple[str, grpc.aio.Channel] | None = None
        self.forwarded = 0

    async def start(self) -> None:
        if self.text:
            self.channel = self.upstream.channel(self.ca)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self.offline is not None:
            await self.offline[1].close()
            self.offline = None

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
        mode = self.recorder.mode
        recorded = method in RECORDED
        key: str | None = None
        if mode in ("none", "new_episodes") and recorded:
            first = await _first(requests)
            if first is not None:
                key = await self.pool.run(grpc_key, method, first)
            if key is not None and key in self.recorder.index:
                await self._replay(method, _chain(first, requests), context)
                return
            if mode == "none":
                what = not_recorded_message(METHOD, method)
                self.recorder.counts["not_recorded"] += 1
                self.recorder.last_error = {"at": _now(), "message": f"{METHOD} {method} is "
                                            "not in the recording"}
                log.error("record: %s %s is not in the recording in %s (record mode none); "
                          "not forwarded", METHOD, method, self.session.out)
                await context.abort(grpc.StatusCode.NOT_FOUND, what)
                return
            requests = _chain(first, requests)
        elif mode == "none":  # reflection, health: the recording's emulator answers
            await self._replay(method, requests, context)
            return
        if self.channel is None:
            log.error("record: no yandex gRPC upstream set (--yandex-grpc-upstream); %s not "
                      "forwarded", method)
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "upstream unavailable: no upstream configured")
            return
        outcome = await self._relay(self.channel, f"yandex gRPC upstream {self.text}", method,
                                    requests, context, recorded)
        if outcome is None:
            return
        self.forwarded += 1
        self.recorder.counts["forwarded"] += 1
        if outcome.sent is not None:
            await self._record(GrpcExchange(method, forwarded(context.invocation_metadata()),
                                            outcome.sent, outcome.code, outcome.details,
                                            outcome.answer))
        else:
            log.info("record: %s -> %s, not written", method, outcome.code.name)
        self._finish(context, outcome)

    async def _replay(self, method: str, requests: AsyncIterator[bytes],
                      context: grpc.aio.ServicerContext) -> None:
        """The call answered by the emulator over the recorded directory."""
        try:
            target = await self.recorder.replayer.grpc_target()
        except Exception as exc:  # a directory that does not load
            self.recorder._failed(f"the recording in {self.session.out} cannot answer "
                                  f"{METHOD} {method}: {exc}")
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"upstream unavailable: the recording cannot answer: {exc}")
            return
        if self.offline is None or self.offline[0] != target:
            if self.offline is not None:
                await self.offline[1].close()
            self.offline = (target, grpc.aio.insecure_channel(target, options=_OPTIONS))
        outcome = await self._relay(self.offline[1], f"the recording in {self.session.out}",
                                    method, requests, context, False)
        if outcome is None:
            self.recorder.counts["failed"] += 1
            return
        self.recorder.counts["replayed"] += 1
        log.info("record: %s %s -> %s, replayed from the recording", METHOD, method,
                 outcome.code.name)
        self._finish(context, outcome)

    @staticmethod
    def _finish(context: grpc.aio.ServicerContext, outcome: _Outcome) -> None:
        context.set_trailing_metadata(forwarded(outcome.trailing))
        if outcome.code != grpc.StatusCode.OK:
            context.set_code(outcome.code)
            context.set_details(outcome.details)

    async def _relay(self, channel: grpc.aio.Channel, via: str, method: str,
                     requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext,
                     keep: bool) -> _Outcome | None:
        """The call, made on ``channel``, its messages written to the client as they come;
        None (the client told UNAVAILABLE, ``via`` named in the log) when nothing came back
        at all."""
        metadata = forwarded(context.invocation_metadata())
        sent: list[bytes] = []

        async def outgoing() -> AsyncIterator[bytes]:
            async for message in requests:
                if keep and not sent:
                    sent.append(message)
                yield message

        remaining = context.time_remaining()
        capped = remaining is None or remaining > UPSTREAM_TIMEOUT
        timeout = UPSTREAM_TIMEOUT if capped else remaining
        invoke: Any = channel.stream_stream(method)  # raw bytes each way
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
            log.error("record: %s unreachable for %s: %s", via, method, details)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"upstream unavailable: {details}")
            return None
        return _Outcome(code, details, trailing, sent[0] if sent else None, first)

    async def _record(self, exchange: GrpcExchange) -> None:
        def write() -> tuple[str, str | None]:
            rest = as_rest(exchange)
            if rest is None:
                return "not written (a message that does not decode)", None
            return self.session.add(rest), grpc_key(exchange.method, exchange.request)

        try:
            kept, key = await self.pool.run(write)
            log.info("record: %s %s -> %s, %s", METHOD, exchange.method, exchange.code.name,
                     kept)
            if key is not None and not kept.startswith("not written"):
                self.recorder.counts["recorded"] += 1
                self.recorder.index.add(Indexed(key, METHOD, RECORDED[exchange.method][0],
                                                kept))
                self.session.extra["index"] = self.recorder.index.to_json()
                await self.pool.run(self.session.write)
                self.recorder.replayer.written()
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


def started(config: Config, recorder: Recorder) -> tuple[GrpcForwarder, GrpcServer] | None:
    """The gRPC side, when a gRPC upstream is set (else the proxy serves HTTP only)."""
    if not config.yandex_grpc_upstream:
        return None
    forwarder = GrpcForwarder(config, recorder)
    return forwarder, GrpcServer(config, forwarder)


__all__: list[str] = ["GrpcExchange", "GrpcForwarder", "GrpcServer", "GrpcUpstream", "as_rest",
                      "forwarded", "grpc_key", "started"]
