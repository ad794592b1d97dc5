"""ImageSearchService: one servicer behind both the gRPC and the REST transport.

It takes typed protobuf requests and a :class:`CallInfo`, and returns protobuf responses or
raises a :class:`YandexError`. It knows no transport. The steps every Yandex API shares
(access, quotas, rule delays, the journal) are its public methods, which the v1 XML API
calls too.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Mapping
from typing import cast

from google.protobuf import json_format

from ..core import (Access, Answer, Fault, FaultTarget, ImageFilter, NotAnImage, Quota,
                    RateLimiter, SearchEngine, image_record)
from . import _cbir, _text_search, _v2_enums as v2
from ._call import CallInfo
from ._errors import (ConnectionReset, InvalidArgument, NotFound, PermissionDenied,
                      ResourceExhausted, Unauthenticated, from_fault)
from ._protos import Protos
from ._validation import validate_search, validate_search_by_image

#: Contract: 40 images per page in live traffic.
IMAGES_PER_PAGE = 40
#: Contract: image-by-image quota, 10 requests/s and 36,000/hour per folder.
QUOTAS = (Quota(10, 1.0), Quota(36_000, 3600.0))
#: Emulator decision: each API has a quota of its own, all of the image-by-image size
#: (the contract gives no other); text searches never use up the image-by-image quota.
APIS = ("SearchByImage", "Search", "images-xml")


def quota_limiters() -> dict[str, RateLimiter]:
    return {api: RateLimiter(QUOTAS) for api in APIS}


def _image_digest(data: bytes, sha256: str | None) -> dict:
    """What the journal keeps of an image: its SHA-256 (the fingerprint's, once computed)."""
    return {"sha256": sha256 or hashlib.sha256(data).hexdigest(), "bytes": len(data)}


class ImageSearchServicer:
    def __init__(self, engine: SearchEngine, protos: Protos,
                 limiters: dict[str, RateLimiter] | None = None):
        self.engine = engine
        self.protos = protos
        self.limiters = limiters

    # -- steps every Yandex API shares --------------------------------------------------
    def access(self, credential: str, folder_id: str) -> Access:
        """Emulator decision: a request with no folder uses the key's own folder, as a
        service-account key does, so a folder-restricted key is granted it."""
        return self.engine.store.access.check(credential, folder_id or None)

    def quota_ok(self, api: str, key: str) -> bool:
        return self.limiters is None or self.limiters[api].allow(key)

    @staticmethod
    async def wait(answer: Answer) -> None:
        """A rule's delay, before its answer."""
        if answer.delay_ms:
            await asyncio.sleep(answer.delay_ms / 1000)

    async def inject(self, call: CallInfo, operation: str) -> Fault | None:
        """The runtime faults for this call: waits out their latency, raises
        ConnectionReset for a reset, and returns the error to answer, if any."""
        call.plan = plan = self.engine.faults.plan(
            FaultTarget("yandex", call.api, operation, call.tenant))
        if plan.delay_ms:
            await asyncio.sleep(plan.delay_ms / 1000)
        if plan.reset:
            raise ConnectionReset()
        return plan.error

    def record(self, api: str, method: str, call: CallInfo, request, outcome: str) -> None:
        """Journal a call; image bytes become their digest and size, never kept."""
        if outcome == "OK" and call.xml_code is not None:
            outcome = str(call.xml_code)
        if call.plan.reset:
            outcome = "CONNECTION_RESET"
        if request is None:
            summary: dict = {"undecodable": True}
        elif "data" in request.DESCRIPTOR.fields_by_name and request.WhichOneof("image") == "data":
            rest = type(request)()  # every field but the image, which is never copied
            for field, value in request.ListFields():
                if field.name == "data":
                    continue
                if field.message_type is not None:
                    getattr(rest, field.name).CopyFrom(value)
                else:
                    setattr(rest, field.name, value)
            summary = json_format.MessageToDict(rest, preserving_proto_field_name=True)
            summary["data"] = _image_digest(request.data, call.image_sha256)
        else:
            summary = json_format.MessageToDict(request, preserving_proto_field_name=True)
        self.engine.journal.record(api, method, call.request_id, summary, outcome,
                                   **call.journal_details())

    def record_params(self, api: str, method: str, call: CallInfo,
                      params: Mapping[str, list[str]], outcome: str) -> None:
        if call.plan.reset:
            outcome = "CONNECTION_RESET"
        self.engine.journal.record(api, method, call.request_id, dict(params), outcome,
                                   **call.journal_details())

    # -- the v2 checks ------------------------------------------------------------------
    def _admit(self, api: str, call: CallInfo, folder_id: str) -> None:
        access = self.access(call.credential(), folder_id)
        if access is Access.UNKNOWN_KEY:
            raise Unauthenticated()
        if access is Access.FOLDER_DENIED:
            raise PermissionDenied(f"Permission denied to folder {folder_id}")
        if not self.quota_ok(api, folder_id or call.credential()):
            raise ResourceExhausted()

    async def _settle(self, answer: Answer, call: CallInfo, *, xml: bool = False) -> None:
        """A rule's delay, then its fault as a status (``xml``: a fault with an XML code is
        answered inside the XML instead)."""
        call.match = answer.match
        await self.wait(answer)
        fault = answer.fault
        if fault is not None and not (xml and fault.code is not None):
            raise from_fault(fault)

    # -- SearchByImage ------------------------------------------------------------------
    async def _image_answer(self, request, flt: ImageFilter, call: CallInfo) -> Answer:
        folder = request.folder_id or None
        source = request.WhichOneof("image")
        caller = call.caller
        call.lookup = {"folder": folder}
        if source == "url":
            call.lookup["url"] = request.url
            own = await self.engine.own_fingerprint(request.url)
            if own is not None:  # a picture the emulator serves: the picture itself
                return self.engine.by_image(own.key, own, folder, flt, caller=caller)
            return self.engine.by_url(request.url, folder, flt, caller=caller)
        if source == "id":
            call.lookup["cbir_id"] = request.id
            answer = self.engine.by_alias(request.id, folder, flt, caller=caller)
            key = _cbir.decode(request.id) if answer is None else None
            if key is not None:
                answer = self.engine.by_image(key, None, folder, flt, caller=caller)
            if answer is None:
                raise NotFound(f"Image with id {request.id} not found")
            return answer
        try:
            fp = await self.engine.fingerprint(request.data)
        except NotAnImage as exc:
            raise InvalidArgument(f"data: the image could not be decoded: {exc}") from None
        call.image_sha256 = fp.sha256
        call.image = image_record(fp, len(request.data))
        return self.engine.by_image(fp.key, fp, folder, flt, caller=caller)

    async def _faults(self, call: CallInfo, operation: str) -> None:
        fault = await self.inject(call, operation)
        if fault is not None:
            raise from_fault(fault)

    async def search_by_image(self, request, call: CallInfo):
        validate_search_by_image(request)
        self._admit("SearchByImage", call, request.folder_id)
        await self._faults(call, "SearchByImage")
        flt = ImageFilter(site=request.site or None,
                          family_strict=request.family_mode == v2.FAMILY_STRICT)
        answer = await self._image_answer(request, flt, call)
        await self._settle(answer, call)
        results = answer.results
        assert results is not None  # an answer without results has a fault, raised by _settle
        max_page = max(0, math.ceil(results.total / IMAGES_PER_PAGE) - 1)
        start = request.page * IMAGES_PER_PAGE
        docs = results.window(start, start + IMAGES_PER_PAGE) if request.page <= max_page else []
        info = self.protos.ImageSearchByImageResponse.ImageInfo
        by_id = request.WhichOneof("image") == "id"
        return self.protos.ImageSearchByImageResponse(
            images=[info(url=d.url, format=v2.format_number(d.format), width=d.width,
                         height=d.height, passage=d.passage, host=d.host,
                         page_title=d.page_title, page_url=d.page_url) for d in docs],
            page=request.page,
            max_page=max_page,
            id=request.id if by_id else (answer.alias or _cbir.encode(cast(bytes, answer.key))),
        )

    # -- Search (text) ------------------------------------------------------------------
    async def search(self, request, call: CallInfo):
        validate_search(request)
        self._admit("Search", call, request.folder_id)
        query = _text_search.TextQuery.from_v2(request)
        call.lookup = {"folder": request.folder_id or None, "text": query.text}
        fault = await self.inject(call, "Search")
        code = query.precheck()
        if fault is not None and fault.status is None and fault.http_status is None:
            code = code or _text_search.xml_code(fault)
        elif fault is not None:
            raise from_fault(fault)
        if code is not None:
            call.xml_code = code
            return self.protos.ImageSearchResponse(raw_data=_text_search.render_error(query, code))
        answer = self.engine.by_text(query.text, request.folder_id or None, query.filter,
                                     caller=call.caller)
        await self._settle(answer, call, xml=True)
        raw, call.xml_code = _text_search.render(self.engine, query, answer, call.request_id)
        return self.protos.ImageSearchResponse(raw_data=raw)
