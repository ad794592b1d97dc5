"""REST transport: the vendor's gateway routes onto the same servicer as gRPC.

JSON goes through protobuf's own mapping (``google.protobuf.json_format``): camelCase
out, both spellings in, int64 as strings, enums as names. No Content-Type is required,
as the vendor's curl example sends none.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Awaitable, Callable

from aiohttp import web
from google.protobuf import json_format

from .._http import BodyTooLarge, BodyUnreadable, ClientGone, allowed_methods, read_body
from .._http_faults import deliver
from ..core import TENANT_HEADER
from ._call import CallInfo
from ._decoding import from_json
from ._errors import Internal, InvalidArgument, MethodNotAllowed, NotFound, YandexError
from ._servicer import ImageSearchServicer

log = logging.getLogger(__name__)

#: A 3 MiB image is 4 MiB of base64; bodies up to this size are read so that an oversized
#: image gets the vendor's INVALID_ARGUMENT, larger ones are refused unread.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Bodies from this size on are decoded in a worker thread.
OFFLOAD_BYTES = 256 * 1024

ROUTES = {
    "/v2/image/search_by_image": ("SearchByImage", True),
    "/v2/image/search": ("Search", False),
}


def json_response(body: dict, status: int, info: CallInfo) -> web.Response:
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(), status=status,
        content_type="application/json", headers=info.response_headers())


def error_response(error: YandexError, info: CallInfo) -> web.Response:
    return json_response(error.to_json(info.request_id), error.http_status, info)


API = "yandex.v2.rest"


def _call_info(request: web.Request, payload: bytes) -> CallInfo:
    info = CallInfo.create(f"rest:{request.method} {request.path}", payload,
                           request.headers.get("Authorization"),
                           request.headers.get("x-client-request-id"))
    info.identify(API, request.headers.get(TENANT_HEADER))
    return info


async def _read_body(request: web.Request) -> bytes:
    try:
        return await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge:
        raise InvalidArgument(f"request body must be at most {MAX_BODY_BYTES} bytes") from None
    except BodyUnreadable as exc:
        raise InvalidArgument(f"request body could not be read: {exc}") from None


#: JSON and base64 of a photo-sized body take tens of milliseconds: off the loop, in a
#: small pool of their own (so at most two large bodies are being decoded at once).
_DECODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="json-decode")


async def _decode(request_type: type, body: bytes, by_image: bool):
    if len(body) < OFFLOAD_BYTES:
        return from_json(request_type, body, image_oneof=by_image)
    return await asyncio.get_running_loop().run_in_executor(
        _DECODERS, functools.partial(from_json, request_type, body, image_oneof=by_image))


def _render(response) -> dict:
    """Emulator decision: every field, also when empty or 0 (``images: []``, ``page: "0"``,
    ``maxPage``), as grpc-gateway's default marshaller (EmitUnpopulated) writes them."""
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)


#: Rendered JSON bodies kept for repeats, by the answer's wire bytes (a page of 40 images
#: takes 0.4 ms to render and 20 us to serialize); at most 256 bodies of a few KiB.
RENDERED_BODIES = 256


@functools.lru_cache(maxsize=RENDERED_BODIES)
def _rendered(response_type, wire: bytes) -> bytes:
    return json.dumps(_render(response_type.FromString(wire)), ensure_ascii=False).encode()


def ok_response(response, info: CallInfo) -> web.Response:
    """The answer as JSON: rendered once for each distinct answer (a pure function of its
    message), so a load test's repeated request costs no JSON printing."""
    return web.Response(body=_rendered(type(response), response.SerializeToString()),
                        status=200, content_type="application/json",
                        headers=info.response_headers())


def _handler(servicer: ImageSearchServicer, path: str) -> Callable[[web.Request], Awaitable]:
    method, by_image = ROUTES[path]
    request_type = (servicer.protos.ImageSearchByImageRequest if by_image
                    else servicer.protos.ImageSearchRequest)
    call = servicer.search_by_image if by_image else servicer.search

    async def handle(request: web.Request) -> web.Response:
        info = _call_info(request, b"")
        message = None
        try:
            info.credential()  # credentials are checked before the body is read
            body = await _read_body(request)
            info = _call_info(request, body)
            message = await _decode(request_type, body, by_image)
            response = ok_response(await call(message, info), info)
            servicer.record(API, method, info, message, "OK")
            return await deliver(request, response, info.plan)
        except YandexError as exc:
            error = exc
        except ClientGone:
            servicer.record(API, method, info, None, "CANCELLED")
            return web.Response(status=499)
        except Exception:
            log.exception("%s failed", method)
            error = Internal()
        servicer.record(API, method, info, message, error.code.name)
        return await deliver(request, error_response(error, info), info.plan)

    return handle


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue`` is answered; any other expectation is ignored (RFC 9110
    lets a server do so) rather than refused in aiohttp's plain text."""
    if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def add_routes(app: web.Application, servicer: ImageSearchServicer) -> None:
    for path in ROUTES:
        app.router.add_post(path, _handler(servicer, path), expect_handler=_expect)


def unmatched(request: web.BaseRequest, status: int) -> web.Response:
    """The gateway's answer to what it does not route (404, 405), cannot parse (400) or
    fails on (500): the JSON error body, never the HTTP server's own text. A 405 names the
    methods the path takes in ``Allow`` (RFC 9110)."""
    info = _call_info(request, b"")
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
