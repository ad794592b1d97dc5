"""ImageSearchService: one servicer behind both the gRPC and the REST transport.

It takes typed protobuf requests and a :class:`CallInfo`, and returns protobuf responses or
raises a :class:`YandexError`. It knows no transport.
"""

from __future__ import annotations

import asyncio
import hashlib
import math

import grpc
from google.protobuf import json_format

from ..core import Access, Answer, ImageFilter, NotAnImage, Quota, RateLimiter, SearchEngine
from . import _text_search
from ._call import CallInfo
from ._errors import (InjectedFault, InvalidArgument, NotFound, PermissionDenied,
                      ResourceExhausted, Unauthenticated)
from ._protos import Protos
from ._validation import validate_search, validate_search_by_image

#: Contract: 40 images per page in live traffic.
IMAGES_PER_PAGE = 40
#: Contract: image-by-image quota, 10 requests/s and 36,000/hour per folder.
QUOTAS = (Quota(10, 1.0), Quota(36_000, 3600.0))
FAMILY_STRICT = 3  # SearchQuery.FamilyMode.FAMILY_MODE_STRICT


def quota_limiter() -> RateLimiter:
    return RateLimiter(QUOTAS)


class ImageSearchServicer:
    def __init__(self, engine: SearchEngine, protos: Protos, limiter: RateLimiter | None = None):
        self.engine = engine
        self.protos = protos
        self.limiter = limiter

    # -- journal ------------------------------------------------------------------------
    def record(self, api: str, method: str, call: CallInfo, request, outcome: str) -> None:
        """Journal a call; image bytes become their digest and size, never kept."""
        if request is None:
            summary: dict = {"undecodable": True}
        else:
            summary = json_format.MessageToDict(request, preserving_proto_field_name=True)
            if request.DESCRIPTOR.fields_by_name.get("data") is not None \
                    and request.WhichOneof("image") == "data":
                summary["data"] = _digest_of(request.data, "bytes")
        self.engine.journal.record(api, method, call.request_id, _bounded(summary), outcome)

    def record_params(self, api: str, method: str, call: CallInfo, params, outcome: str) -> None:
        summary = {key: params.getall(key) for key in params}
        self.engine.journal.record(api, method, call.request_id, _bounded(summary), outcome)

    # -- shared steps -------------------------------------------------------------------
    def _authorize(self, call: CallInfo, folder_id: str) -> None:
        access = self.engine.store.access.check(call.credential(), folder_id or None)
        if access is Access.UNKNOWN_KEY:
            raise Unauthenticated()
        if access is Access.FOLDER_DENIED:
            raise PermissionDenied(f"Permission denied to folder {folder_id}")

    def _take_quota(self, call: CallInfo, folder_id: str) -> None:
        if self.limiter is not None and not self.limiter.allow(folder_id or call.credential()):
            raise ResourceExhausted()

    @staticmethod
    async def _settle(answer: Answer) -> None:
        if answer.delay_ms:
            await asyncio.sleep(answer.delay_ms / 1000)
        if answer.fault is not None and answer.fault.status is not None:
            raise InjectedFault(grpc.StatusCode[answer.fault.status], answer.fault.message)

    # -- SearchByImage ------------------------------------------------------------------
    async def _image_answer(self, request, flt: ImageFilter) -> Answer:
        folder = request.folder_id or None
        source = request.WhichOneof("image")
        if source == "url":
            return self.engine.by_url(request.url, folder, flt)
        if source == "id":
            answer = self.engine.by_cbir_id(request.id, folder, flt)
            if answer is None:
                raise NotFound(f"Image with id {request.id} not found")
            return answer
        try:
            fp = await self.engine.fingerprint(request.data)
        except NotAnImage:
            raise InvalidArgument("data: the image could not be decoded") from None
        return self.engine.by_image(fp.key, fp, folder, flt)

    async def search_by_image(self, request, call: CallInfo):
        call.credential()
        validate_search_by_image(request)
        self._authorize(call, request.folder_id)
        self._take_quota(call, request.folder_id)
        flt = ImageFilter(site=request.site or None,
                          family_strict=request.family_mode == FAMILY_STRICT)
        answer = await self._image_answer(request, flt)
        await self._settle(answer)
        results = answer.results
        max_page = max(0, math.ceil(results.total / IMAGES_PER_PAGE) - 1)
        start = request.page * IMAGES_PER_PAGE
        docs = results.window(start, start + IMAGES_PER_PAGE) if request.page <= max_page else []
        info = self.protos.ImageSearchByImageResponse.ImageInfo
        return self.protos.ImageSearchByImageResponse(
            images=[info(url=d.url, format=_FORMAT_NUMBERS.get(d.format.value, 0), width=d.width,
                         height=d.height, passage=d.passage, host=d.host,
                         page_title=d.page_title, page_url=d.page_url) for d in docs],
            page=request.page,
            max_page=max_page,
            id=request.id if request.WhichOneof("image") == "id" else (answer.cbir_id or ""),
        )

    # -- Search (text) ------------------------------------------------------------------
    async def search(self, request, call: CallInfo):
        call.credential()
        validate_search(request)
        self._authorize(call, request.folder_id)
        self._take_quota(call, request.folder_id)
        query = _text_search.TextQuery.from_v2(request)
        code = query.precheck()
        if code is not None:
            return self.protos.ImageSearchResponse(raw_data=_text_search.render_error(query, code))
        answer = self.engine.by_text(query.text, request.folder_id or None, query.filter)
        await self._settle(answer)
        raw, _ = _text_search.render(self.engine, query, answer, call.request_id)
        return self.protos.ImageSearchResponse(raw_data=raw)


#: Journal entries keep strings up to this length; longer ones (refused anyway) become
#: their digest, so 1000 entries stay small.
JOURNAL_STRING_LIMIT = 2048


def _digest_of(value: bytes, unit: str) -> dict:
    return {"sha256": hashlib.sha256(value).hexdigest(), unit: len(value)}


def _bounded(value):
    if isinstance(value, str) and len(value) > JOURNAL_STRING_LIMIT:
        return _digest_of(value.encode("utf-8", "surrogatepass"), "bytes")
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


#: ImageSpec.ImageFormat numbers by the core's format names; a format the enum lacks
#: (webp, seen in live XML) is IMAGE_FORMAT_UNSPECIFIED.
_FORMAT_NUMBERS = {"jpeg": 1, "gif": 2, "png": 3}
