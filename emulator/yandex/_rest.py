"""REST transport: the vendor's gateway routes onto the same servicer as gRPC.

JSON goes through protobuf's own mapping (``google.protobuf.json_format``): camelCase
out, both spellings in, int64 as strings, enums as names. No Content-Type is required,
as the vendor's curl example sends none.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf import json_format

from .. import _pipeline
from .._http import BodyTooLarge, BodyUnreadable, HttpReplays, allowed_methods, read_body
from .._http_faults import deliver
from ..core import TENANT_HEADER
from ..core._lru import BoundedLRU
from ._call import CallInfo
from ._decoding import from_json
from ._errors import Internal, InvalidArgument, MethodNotAllowed, NotFound, YandexError
from ._servicer import ImageSearchServicer, V2Adapter

#: Contract: a 3 MiB image is 4 MiB of base64; bodies up to the pipeline's limit are read
#: so that an oversized image gets the vendor's INVALID_ARGUMENT, larger ones are refused
#: unread.
MAX_BODY_BYTES = _pipeline.MAX_BODY_BYTES

ROUTES = {
    "/v2/image/search_by_image": "SearchByImage",
    "/v2/image/search": "Search",
}
API = "yandex.v2.rest"
#: Rendered JSON bodies kept for repeats, by the answer's wire bytes (a page of 40 images
#: takes 0.4 ms to render and 20 us to serialize); at most 256 bodies of a few KiB.
RENDERED_BODIES = 256


def json_response(body: dict, status: int, info: CallInfo) -> web.Response:
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(), status=status,
        content_type="application/json", headers=info.response_headers())


def error_response(error: YandexError, info: CallInfo) -> web.Response:
    return json_response(error.to_json(info.request_id), error.http_status, info)


@dataclass
class RestCall(CallInfo):
    """A v2 call over REST: the aiohttp request it came as."""

    request: web.Request | None = None

    @classmethod
    def of(cls, request: web.Request, operation: str) -> RestCall:
        call = cls(authorization=request.headers.get("Authorization"),
                   client_request_id=request.headers.get("x-client-request-id"),
                   id_source=f"rest:{request.method} {request.path}", api=API,
                   operation=operation, request=request)
        call.identify(API, request.headers.get(TENANT_HEADER))
        return call


def _call_info(request: web.BaseRequest) -> CallInfo:
    """Ids for an answer outside the pipeline (an unrouted request)."""
    return CallInfo.create(f"rest:{request.method} {request.path}", b"",
                           request.headers.get("Authorization"),
                           request.headers.get("x-client-request-id"))


async def _read_body(request: web.Request) -> bytes:
    try:
        return await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge:
        raise InvalidArgument(f"request body must be at most {MAX_BODY_BYTES} bytes") from None
    except BodyUnreadable as exc:
        raise InvalidArgument(f"request body could not be read: {exc}") from None


def _render(response) -> dict:
    """Emulator decision: every field, also when empty or 0 (``images: []``, ``page: "0"``,
    ``maxPage``), as grpc-gateway's default marshaller (EmitUnpopulated) writes them."""
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)


class RestAdapter(HttpReplays, V2Adapter[web.Response]):
    """The v2 operations over the vendor's REST gateway: JSON in, JSON out."""

    max_body_bytes = MAX_BODY_BYTES

    def __init__(self, servicer: ImageSearchServicer, operation: str,
                 rendered: BoundedLRU[bytes]) -> None:
        super().__init__(servicer, operation)
        self.rendered = rendered

    async def read(self, call: CallInfo) -> Any:
        assert isinstance(call, RestCall) and call.request is not None
        body = call.payload = await _read_body(call.request)
        return await self.servicer.pipeline.offload(
            len(body), functools.partial(from_json, image_oneof=self.by_image),
            self.request_type, body)

    def reply(self, call: CallInfo, response: Any) -> web.Response:
        """The answer as JSON: rendered once for each distinct answer (a pure function of
        its message), so a load test's repeated request costs no JSON printing."""
        wire = response.SerializeToString()
        key = (type(response), wire)
        body = self.rendered.get(key)
        if body is None:
            body = json.dumps(_render(response), ensure_ascii=False).encode()
            self.rendered.put(key, body)
        return web.Response(body=body, status=200, content_type="application/json",
                            headers=call.response_headers())

    def reply_error(self, call: CallInfo, error: YandexError) -> web.Response:
        return error_response(error, call)

    def gone(self, call: CallInfo) -> tuple[web.Response, str]:
        return web.Response(status=499), "CANCELLED"

    def handler(self) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            sent = await self.servicer.pipeline.run(self, RestCall.of(request, self.operation))
            return await deliver(request, sent.response, sent.plan)

        return handle


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue`` is answered; any other expectation is ignored (RFC 9110
    lets a server do so) rather than refused in aiohttp's plain text."""
    if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def add_routes(app: web.Application, servicer: ImageSearchServicer) -> None:
    rendered: BoundedLRU[bytes] = BoundedLRU(RENDERED_BODIES)
    for path, operation in ROUTES.items():
        app.router.add_post(path, RestAdapter(servicer, operation, rendered).handler(),
                            expect_handler=_expect)


def unmatched(request: web.BaseRequest, status: int) -> web.Response:
    """The gateway's answer to what it does not route (404, 405), cannot parse (400) or
    fails on (500): the JSON error body, never the HTTP server's own text. A 405 names the
    methods the path takes in ``Allow`` (RFC 9110)."""
    info = _call_info(request)
    if status == 404:
        error: YandexError = NotFound()
    elif status == 405:
        error = MethodNotAllowed()
    elif 400 <= status < 500:
        error = InvalidArgument("malformed HTTP request")
    else:
        error = Internal()
    response = error_response(error, info)
    if response.status == 405:
        response.headers["Allow"] = allowed_methods(request)
    return response
