"""ImageSearchService: one servicer behind both the gRPC and the REST transport.

Its operations take a :class:`CallInfo` with the typed protobuf request, and return
protobuf responses or raise a :class:`YandexError`. It knows no transport: each transport
is a :class:`V2Adapter` to the call pipeline, which differs only in how it reads the
message and renders the answer. The steps every Yandex API shares (access, quotas, rule
delays) are its public methods, which the v1 XML API calls too.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any, TypeVar, cast

from google.protobuf import json_format

from .._pipeline import Adapter, Pipeline
from ..core import (Access, Answer, Fault, ImageFilter, NotAnImage, Quota, RateLimiter,
                    RuleSearch, StateStore, image_record)
from . import _cbir, _text_search, _v2_enums as v2
from ._call import CallInfo
from ._errors import (ConnectionReset, Internal, InvalidArgument, NotFound, PermissionDenied,
                      ResourceExhausted, Unauthenticated, Unavailable, YandexError, from_fault,
                      has_status)
from ._protos import Protos
from ._validation import validate_search, validate_search_by_image

#: Contract: 40 images per page in live traffic.
IMAGES_PER_PAGE = 40
#: Contract: image-by-image quota, 10 requests/s and 36,000/hour per folder.
QUOTAS = (Quota(10, 1.0), Quota(36_000, 3600.0))
#: Emulator decision: each API has a quota of its own, all of the image-by-image size
#: (the contract gives no other); text searches never use up the image-by-image quota.
APIS = ("SearchByImage", "Search", "images-xml")


def quota_limiters(store: StateStore | None = None) -> dict[str, RateLimiter]:
    """One limiter per API, its windows in ``store`` (shared by every process on it)."""
    return {api: RateLimiter(QUOTAS, store=store, scope=f"yandex:{api}") for api in APIS}


def _image_digest(data: bytes, sha256: str | None) -> dict:
    """What the journal keeps of an image: its SHA-256 (the fingerprint's, once computed)."""
    return {"sha256": sha256 or hashlib.sha256(data).hexdigest(), "bytes": len(data)}


class XmlAnswer(Exception):
    """A Search answered with a yandexsearch error inside a successful response (a fault
    that gives only an XML code): the error steps of the pipeline answer it as such."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ImageSearchServicer:
    """The steps every Yandex API shares, and the v2 operations; the REST and gRPC
    transports are its two adapters to the call pipeline (:class:`V2Adapter`)."""

    def __init__(self, engine: RuleSearch, protos: Protos, pipeline: Pipeline,
                 limiters: dict[str, RateLimiter] | None = None):
        self.engine = engine
        self.protos = protos
        self.pipeline = pipeline
        self.limiters = limiters

    # -- steps every Yandex API shares --------------------------------------------------
    def access(self, credential: str, folder_id: str) -> Access:
        """Emulator decision: a request with no folder uses the key's own folder, as a
        service-account key does, so a folder-restricted key is granted it."""
        return self.engine.store.access.check(credential, folder_id or None)

    async def quota_ok(self, api: str, key: str, call: CallInfo) -> bool:
        """One of the call's quota, counted on the call (a repeat counts it again)."""
        return self.limiters is None or await call.take(self.limiters[api], key)

    @staticmethod
    async def wait(answer: Answer, call: CallInfo) -> None:
        """A rule's (or stub's) delay, before its answer (a call that waits is answered in
        full on every repeat)."""
        if answer.delay_ms:
            call.replayable = False
            await asyncio.sleep(answer.delay_ms / 1000)

    # -- the v2 checks ------------------------------------------------------------------
    async def admit(self, api: str, call: CallInfo, folder_id: str) -> None:
        access = self.access(call.credential(), folder_id)
        if access is Access.UNKNOWN_KEY:
            raise Unauthenticated()
        if access is Access.FOLDER_DENIED:
            raise PermissionDenied(f"Permission denied to folder {folder_id}")
        if not await self.quota_ok(api, folder_id or call.credential(), call):
            raise ResourceExhausted()

    async def stepped(self, answer: Answer, call: CallInfo) -> Answer:
        """A fixture rule's sequence steps on every call (none is answered from the replay
        cache)."""
        if answer.steps:
            call.replayable = False
        return await self.engine.stepped(answer)

    async def _settle(self, answer: Answer, call: CallInfo, *, xml: bool = False) -> None:
        """A rule's delay, then its fault as a status (``xml``: a fault with an XML code is
        answered inside the XML instead)."""
        call.match = answer.match
        await self.wait(answer, call)
        fault = answer.fault
        if fault is not None and not (xml and _text_search.given_xml_code(fault) is not None):
            raise from_fault(fault)

    # -- SearchByImage ------------------------------------------------------------------
    async def admit_search_by_image(self, call: CallInfo) -> None:
        validate_search_by_image(call.message)
        await self.admit("SearchByImage", call, call.message.folder_id)

    async def _image_answer(self, request, flt: ImageFilter, call: CallInfo) -> Answer:
        folder = request.folder_id or None
        source = request.WhichOneof("image")
        caller, find = call.caller, self.pipeline.stub_finder(call)
        call.lookup = {"folder": folder}
        if source == "url":
            call.lookup["url"] = request.url
            own = await self.engine.own_fingerprint(request.url)
            if own is not None:  # a picture the emulator serves: the picture itself
                return self.engine.by_image(own.key, own, folder, flt, find=find, caller=caller)
            return self.engine.by_url(request.url, folder, flt, find=find, caller=caller)
        if source == "id":
            call.lookup["cbir_id"] = request.id
            answer = self.engine.by_alias(request.id, folder, flt, find=find, caller=caller)
            key = _cbir.decode(request.id) if answer is None else None
            if key is not None:
                answer = self.engine.by_image(key, None, folder, flt, find=find, caller=caller)
            if answer is None:
                raise NotFound(f"Image with id {request.id} not found")
            return answer
        try:
            fp = await self.engine.fingerprint(request.data)
        except NotAnImage as exc:
            raise InvalidArgument(f"data: the image could not be decoded: {exc}") from None
        call.image_sha256 = fp.sha256
        call.image = image_record(fp, len(request.data))
        call.image_data = request.data
        return self.engine.by_image(fp.key, fp, folder, flt, find=find, caller=caller)

    async def search_by_image(self, call: CallInfo):
        request = call.message
        flt = ImageFilter(site=request.site or None,
                          family_strict=request.family_mode == v2.FAMILY_STRICT)
        answer = await self.stepped(await self._image_answer(request, flt, call), call)
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
    async def admit_search(self, call: CallInfo) -> None:
        request = call.message
        validate_search(request)
        await self.admit("Search", call, request.folder_id)
        call.query = query = _text_search.TextQuery.from_v2(request)
        call.lookup = {"folder": request.folder_id or None, "text": query.text}

    def search_fault(self, call: CallInfo, fault: Fault) -> Exception:
        """A fault with a status is that status; one with only an XML code is answered in
        the XML, after the query's own errors."""
        if not has_status(fault):
            return XmlAnswer(call.query.precheck() or _text_search.xml_code(fault))
        return from_fault(fault)

    def xml_answer(self, call: CallInfo, code: int):
        call.xml_code = code
        return self.protos.ImageSearchResponse(
            raw_data=_text_search.render_error(call.query, code))

    async def search(self, call: CallInfo):
        request, query = call.message, call.query
        code = query.precheck()
        if code is not None:
            return self.xml_answer(call, code)
        answer = await self.stepped(self.engine.by_text(
            query.text, request.folder_id or None, query.filter,
            find=self.pipeline.stub_finder(call), caller=call.caller), call)
        await self._settle(answer, call, xml=True)
        call.replayable = call.replayable and self.engine.clock_frozen  # the XML tells the time
        raw, call.xml_code = _text_search.render(self.engine, query, answer, call.request_id)
        return self.protos.ImageSearchResponse(raw_data=raw)


def journal_summary(call: CallInfo) -> dict[str, Any]:
    """What the journal keeps of a v2 request; image bytes become their digest and size."""
    request = call.message
    if request is None:
        return {"undecodable": True}
    if "data" in request.DESCRIPTOR.fields_by_name and request.WhichOneof("image") == "data":
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
        return summary
    return json_format.MessageToDict(request, preserving_proto_field_name=True)


R = TypeVar("R")


class V2Adapter(Adapter[CallInfo, Any, R]):
    """One v2 operation on one transport, as the call pipeline runs it. A transport
    supplies :meth:`read` (the message, from what it received), :meth:`reply` and
    :meth:`reply_error`."""

    vendor = "yandex"
    errors = (YandexError, XmlAnswer)

    def __init__(self, servicer: ImageSearchServicer, operation: str) -> None:
        self.servicer = servicer
        self.operation = operation
        self.by_image = operation == "SearchByImage"
        self.request_type = (servicer.protos.ImageSearchByImageRequest if self.by_image
                             else servicer.protos.ImageSearchRequest)

    async def read(self, call: CallInfo) -> Any:
        """The typed request (raises InvalidArgument)."""
        raise NotImplementedError

    def reply(self, call: CallInfo, response: Any) -> R:
        raise NotImplementedError

    def reply_error(self, call: CallInfo, error: YandexError) -> R:
        raise NotImplementedError

    async def admit(self, call: CallInfo) -> None:
        call.credential()  # credentials are checked before the message is read
        call.message = await self.read(call)
        if self.by_image:
            await self.servicer.admit_search_by_image(call)
        else:
            await self.servicer.admit_search(call)

    def fault_error(self, call: CallInfo, fault: Fault, by: str | None) -> Exception:
        return from_fault(fault) if self.by_image else self.servicer.search_fault(call, fault)

    async def operate(self, call: CallInfo, pipeline: Pipeline) -> Any:
        await pipeline.request_id(self, call)  # read in full: a Search's XML carries it
        if self.by_image:
            return await self.servicer.search_by_image(call)
        return await self.servicer.search(call)

    def id_parts(self, call: CallInfo) -> tuple[int, tuple[bytes, ...]]:
        return call.id_parts()

    def set_request_id(self, call: CallInfo, digest: bytes) -> None:
        call.set_ids(digest)

    def render(self, call: CallInfo, answer: Any) -> tuple[R, str]:
        return self.reply(call, answer), "OK" if call.xml_code is None else str(call.xml_code)

    def render_error(self, call: CallInfo, error: Exception) -> tuple[R, str]:
        if isinstance(error, XmlAnswer):
            return self.render(call, self.servicer.xml_answer(call, error.code))
        assert isinstance(error, YandexError)
        return self.reply_error(call, error), error.code.name

    def internal_error(self) -> Exception:
        return Internal()

    def unavailable_error(self) -> Exception:
        return Unavailable()

    def reset_error(self) -> Exception:
        return ConnectionReset()

    def gone(self, call: CallInfo) -> tuple[R, str]:
        raise NotImplementedError

    def journal_request(self, call: CallInfo) -> dict[str, Any]:
        return journal_summary(call)
