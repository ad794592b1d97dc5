"""The HTTP operations of the Doofinder Search API v6, over the engines of the fixtures.

Contract: ``doofinder-search-v6.yaml``. Every operation checks, in this order: a declared
body over the limit (413), the client's address and credentials (403), the hashid (404),
the rate limit when on (429), the runtime faults of the control plane, then its own
parameters; the first failure answers, in the vendor's ``{"error": ...}`` form. Image
searches and text searches consult runtime stubs before the catalog. Catalog work and
large bodies run in the work pool, never on the event loop. Every call goes through the
call pipeline (``emulator._pipeline``); this module is Doofinder's adapter to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .._http import HttpReplays, allowed_methods
from .._http_faults import deliver
from .._pipeline import RESET_OUTCOME, Adapter, Pipeline
from ..core import (MATCH_HEADER, CatalogEngine, EngineAnswer, EngineRule, Fault,
                    Fingerprint, Item, Match, NotAnImage, Quota, RateLimiter, Services,
                    StubQuery, StubStep, TextMode, Tier, image_query,
                    image_record, run_query, search_text, suggestions)
from . import _access, _query, _stats
from ._body import MAX_BODY_BYTES, check_declared_size, decode_base64, json_object, read_body
from ._call import VENDOR, Call, Operation
from ._errors import (DoofinderError, DfidImageNotFound, EmbeddingFailed, EntityTooLarge,
                      FieldsMissing, BadRequest, ConnectionReset, ImageSearchDisabled, Internal,
                      MappingNotFound, MethodNotAllowed, PathNotFound, SuggestionsUnavailable,
                      SuggestQueryInvalid, TooManyRequests, Unavailable, from_fault)
from ._params import merge
from ._render import search_response

PREFIX = "/6/"
#: Contract: 20 requests a second per search engine, when rate limits are on.
QUOTA = Quota(20, 1.0)
#: Fields whose values ``_suggest`` offers.
SUGGESTION_FIELDS = ("title", "brand", "categories")
#: Emulator decision: a ``_search`` a stub answers reports the query_name asked for, else
#: ``match_and`` (the first the vendor tries).
STUBBED_QUERY_NAME = TextMode.ALL_WORDS


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DoofinderApi(HttpReplays, Adapter[Call, Any, web.Response]):
    """Doofinder's part of the call pipeline, and its operations."""

    max_body_bytes = MAX_BODY_BYTES

    vendor = VENDOR
    errors = (DoofinderError, ConnectionReset)

    def __init__(self, engine: Services, pipeline: Pipeline, *, rate_limits: bool) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.limiter = RateLimiter((QUOTA,), store=engine.state, scope="doofinder") \
            if rate_limits else None

    async def offload(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Catalog work: in the work pool, off the event loop."""
        return await self.pipeline.pool.run(fn, *args)

    # -- the pipeline's vendor steps ---------------------------------------------------------
    async def admit(self, call: Call) -> None:
        if call.request.method in ("POST", "PUT"):
            check_declared_size(call.request)
        engine = _access.admit(self.engine.store.engines, call.hashid, call.request,
                               call.unknown_engine)
        if self.limiter is not None and not await call.take(self.limiter, engine.id):
            raise TooManyRequests()
        call.admitted = engine
        call.lookup = {"hashid": engine.id}

    async def operate(self, call: Call, pipeline: Pipeline) -> Any:
        return await call.run(self, call)

    def fault_error(self, call: Call, fault: Fault, by: str | None) -> Exception:
        """Emulator decision: a fault's error names the fault as the call's match."""
        call.match = Match(Tier.FAULT, by)
        return from_fault(fault)

    def id_parts(self, call: Call) -> tuple[int, tuple[bytes, ...]]:
        """Emulator decision: derived from the request itself, so identical requests
        journal identical ids."""
        return 16, (call.request.method.encode(),
                    call.request.path_qs.encode("utf-8", "surrogateescape"), call.body)

    def set_request_id(self, call: Call, digest: bytes) -> None:
        call.request_id = digest.hex()

    def _headers(self, call: Call) -> dict[str, str]:
        return {MATCH_HEADER: call.match.header()} if call.match is not None else {}

    def render(self, call: Call, answer: Any) -> tuple[web.Response, str]:
        return json_response(call.request, answer, 200, self._headers(call)), "OK"

    def render_error(self, call: Call, error: Exception) -> tuple[web.Response, str]:
        if not isinstance(error, DoofinderError):  # a reset: the connection is dropped
            return web.Response(status=500), RESET_OUTCOME
        return json_response(call.request, error.to_json(), error.status,
                             self._headers(call)), str(error.status)

    def internal_error(self) -> Exception:
        return Internal()

    def unavailable_error(self) -> Exception:
        return Unavailable()

    def reset_error(self) -> Exception:
        return ConnectionReset()

    def gone(self, call: Call) -> tuple[web.Response, str]:
        return web.Response(status=499), "499"

    def journal_request(self, call: Call) -> dict[str, Any]:
        """An image is kept as its digest and size, never its bytes."""
        return {"hashid": call.hashid, "params": call.params.tree, **call.record}

    def handler(self, operation: str, run: Operation,
                unknown_engine: type[DoofinderError] = MappingNotFound,
                ) -> Callable[[web.Request], Awaitable]:
        """``unknown_engine``: the answer to a hashid no engine has."""
        async def handle(request: web.Request) -> web.StreamResponse:
            call = Call.create(request, operation, run, unknown_engine)
            sent = await self.pipeline.run(self, call)
            return await deliver(request, sent.response, sent.plan)

        return handle

    # -- the steps the operations share -----------------------------------------------------
    async def stubbed(self, call: Call, query: StubQuery) -> StubStep | None:
        """The runtime stub's step for this query, if one matches: its error raised."""
        hit = await self.pipeline.stub(call, query)
        if hit is None:
            return None
        if hit.step.fault is not None:
            raise from_fault(hit.step.fault)
        return hit.step

    def _listed(self, engine: CatalogEngine, step: StubStep, listing: _query.Listing,
                query_name: str, indices: frozenset[str] | None = None) -> dict:
        """A stub's results: the engine's items of those ids, then filtered, faceted, sorted
        and paged as any answer is."""
        items = [i for i in engine.catalog.listed(step.results or ())
                 if indices is None or i.index in indices]
        return search_response(self.engine, engine.id, run_query(items, listing.query),
                               listing, query_name)

    async def recorded(self, call: Call, rule: EngineRule, match: Match) -> EngineAnswer:
        """The answer of a fixture rule of the engine (a recorded one): its one answer, or the
        step of its sequence this call takes, counted in the state store (so every worker
        sharing it steps one sequence); its error raised."""
        call.match = match
        answer = rule.steps[0]
        if len(rule.steps) > 1:
            call.replayable = False  # a sequence steps
            content = hashlib.sha256(repr(rule.steps).encode()).hexdigest()[:16]
            n = await self.engine.state.next_number(f"rule-steps:{rule.id}:{content}") - 1
            last = len(rule.steps) - 1
            answer = rule.steps[n if n <= last else (n % len(rule.steps) if rule.repeat
                                                     else last)]
        if answer.fault is not None:
            raise from_fault(answer.fault)
        return answer

    def _answered(self, engine: CatalogEngine, answer: EngineAnswer, listing: _query.Listing,
                  query_name: str, indices: frozenset[str] | None = None) -> dict:
        return self._listed(engine, StubStep(answer.results or ()), listing,
                            answer.query_name or query_name, indices)

    async def body_json(self, call: Call) -> dict[str, Any] | None:
        call.body = await read_body(call.request)
        return await self.pipeline.offload(len(call.body), json_object, call.body)

    # -- image search -----------------------------------------------------------------------
    async def _query_image(self, call: Call, body: dict[str, Any], image: Any) -> Fingerprint:
        """The query image's fingerprint; 424 when it is not base64 of an image (the
        real service could not embed it either)."""
        call.record["body"] = {k: v for k, v in body.items() if k != "image"}
        data = None
        if isinstance(image, str):
            data = await self.pipeline.offload(len(image), decode_base64, image)
        call.record["image"] = {"sha256": None, "bytes": len(data or b"")}
        if data is None:
            raise EmbeddingFailed()
        try:
            fp = await self.engine.fingerprint(data)
        except NotAnImage:
            call.record["image"]["sha256"] = await self.offload(_sha256, data)
            raise EmbeddingFailed() from None
        call.record["image"]["sha256"] = fp.sha256
        call.image = image_record(fp, len(data))
        call.image_data = data
        return fp

    def _ranked(self, call: Call, engine: CatalogEngine, listing: _query.Listing,
                fp: Fingerprint, skip: Item | None = None):
        """The engine's items, nearest picture first; the match names the nearest item the
        filters kept (``exact`` when it shows the very picture)."""
        result, top = image_query(engine.catalog.ranked(fp, skip), listing.query)
        call.match = engine.catalog.match(top, fp)
        return search_response(self.engine, engine.id, result, listing, image_query_name(engine))

    async def image_search(self, call: Call) -> dict:
        """Contract order: 400 missing image, 400 not enabled, 400 rpp, 424, 200; then a
        stub for the image, else the catalog by similarity."""
        engine = call.engine
        try:
            body = await self.body_json(call) or {}
        except BadRequest:  # a body that is not a JSON object has no image field either
            body = {}
        image = body.get("image")
        if image is None or image == "":
            raise FieldsMissing(["image"])
        if not engine.image_search:
            raise ImageSearchDisabled()
        listing = _query.listing(call.params, paged=False, switches=_query.IMAGE_SWITCHES)
        fp = await self._query_image(call, body, image)
        step = await self.stubbed(call, StubQuery(call.caller, engine.id, fp.key, fp))
        if step is not None:
            return await self.offload(self._listed, engine, step, listing, image_query_name(engine))
        found = engine.rules.for_image(fp, self.engine.store.settings.perceptual_distance)
        if found is not None:
            answer = await self.recorded(call, *found)
            return await self.offload(self._answered, engine, answer, listing,
                                      image_query_name(engine))
        return await self.offload(self._ranked, call, engine, listing, fp)

    async def visually_similar(self, call: Call) -> dict:
        """The items that look most like the one a dfid names (itself left out unless
        ``exclude_self=false``); ``fields`` is read and checked, and changes nothing."""
        engine = call.engine
        dfid = _query.text(call.params, "dfid")
        if not dfid:
            raise FieldsMissing(["dfid"])
        call.note(dfid=dfid)
        if not engine.image_search:
            raise ImageSearchDisabled()
        listing = _query.listing(call.params, paged=False, switches=_query.IMAGE_SWITCHES)
        exclude_self = _query.boolean(call.params, "exclude_self", True)
        _query.strings(call.params, "fields")
        rule = engine.rules.similar.get(dfid)
        if rule is not None:
            answer = await self.recorded(call, rule, Match(Tier.ALIAS, rule.name))
            return await self.offload(self._answered, engine, answer, listing,
                                      image_query_name(engine))
        item = await self.offload(item_for_dfid, engine, dfid)
        if item is None:
            raise DfidImageNotFound()
        return await self.offload(lambda: self._ranked(call, engine, listing, item.image,
                                                       item if exclude_self else None))

    # -- text -------------------------------------------------------------------------------
    def _text_results(self, engine: CatalogEngine, query: _query.TextQuery) -> dict:
        used, found = search_text(engine.catalog.in_indices(query.indices), query.text,
                                  query.mode)
        return search_response(self.engine, engine.id, run_query(found, query.listing.query),
                               query.listing, _query.MODE_NAMES[used])

    async def search(self, call: Call) -> dict:
        """The parameters checked, then a text stub, else the engine's text search."""
        engine = call.engine
        if call.request.method == "POST":
            body = await self.body_json(call)
            call.params = merge(call.params, body or {})
        query = await self.offload(_query.text_query, call.params, engine.catalog.indices)
        call.note(text=query.text)
        step = await self.stubbed(call, StubQuery(call.caller, engine.id, text=query.text))
        if step is not None:
            name = _query.MODE_NAMES[query.mode or STUBBED_QUERY_NAME]
            return await self.offload(self._listed, engine, step, query.listing, name,
                                      query.indices)
        rule = engine.rules.for_text(query.text)
        if rule is not None:
            answer = await self.recorded(call, rule, Match(Tier.TEXT, rule.name))
            name = _query.MODE_NAMES[query.mode or STUBBED_QUERY_NAME]
            return await self.offload(self._answered, engine, answer, query.listing, name,
                                      query.indices)
        return await self.offload(self._text_results, engine, query)

    async def suggest(self, call: Call) -> list[str]:
        engine = call.engine
        text = _query.query_text(call.params, SuggestQueryInvalid)
        call.note(text=text)
        indices = _query.indices(call.params, engine.catalog.indices)
        _query.session_id(call.params)
        _query.user_id(call.params)
        _query.boolean(call.params, "stats", True)
        if not engine.suggestions:
            raise SuggestionsUnavailable()
        rule = engine.rules.for_suggest(text)
        if rule is not None:
            answer = await self.recorded(call, rule, Match(Tier.TEXT, rule.name))
            return list(answer.suggestions or ())
        return await self.offload(suggestions, engine.catalog.in_indices(indices), text,
                                  SUGGESTION_FIELDS)

    # -- stats ------------------------------------------------------------------------------
    def stats(self, event: str) -> Operation:
        rules = _stats.EVENTS[event]

        async def run(api: DoofinderApi, call: Call) -> dict:
            engine = call.engine
            body = await api.body_json(call)
            call.params = merge(call.params, body or {})
            return await api.offload(rules, engine, call.params, dict(call.request.match_info))

        return run


def image_query_name(engine: CatalogEngine) -> str:
    """Emulator decision: what an engine reports as the query type of image answers (the
    vendor's is not on record) unless the fixture names one: ``match_and``."""
    return engine.query_name or _query.MODE_NAMES[TextMode.ALL_WORDS]


def item_for_dfid(engine: CatalogEngine, dfid: str) -> Item | None:
    """The item a dfid of this engine names (every item has a picture); None otherwise."""
    try:
        return _stats.find_item(engine, dfid)
    except DoofinderError:
        return None


def _cors_headers(request: web.BaseRequest) -> dict[str, str]:
    """Emulator decision: any page may read the answers (the API's own check is the
    engine's allowed domains, answered as 403), so storefront demos work from anywhere."""
    origin = request.headers.get("Origin")
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def json_response(request: web.BaseRequest, payload: Any, status: int,
                  headers: dict[str, str] | None = None) -> web.Response:
    """The answer as JSON; a 405 (unrouted, or injected by a fault) names the methods the
    path takes in ``Allow``, as RFC 9110 requires."""
    extra = {"Allow": allowed_methods(request)} if status == 405 else {}
    return web.Response(body=json.dumps(payload, ensure_ascii=False).encode(), status=status,
                        content_type="application/json",
                        headers={**_cors_headers(request), **extra, **(headers or {})})


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight of a browser page about to call the API."""
    asked = request.headers.get("Access-Control-Request-Headers", "Authorization, Content-Type")
    return web.Response(status=204, headers={
        **_cors_headers(request),
        "Access-Control-Allow-Methods": "GET, POST, PUT, OPTIONS",
        "Access-Control-Allow-Headers": asked,
        "Access-Control-Max-Age": "86400",
    })


def unmatched(request: web.BaseRequest, status: int) -> web.Response:
    """What aiohttp does not route (404, 405), refuses (413) or cannot parse (400), in the
    vendor's format."""
    error: DoofinderError
    if status == 404:
        error = PathNotFound()
    elif status == 405:
        error = MethodNotAllowed()
    elif status == 413:
        error = EntityTooLarge()
    elif 400 <= status < 500:
        error = BadRequest()
    else:
        error = Internal()
    return json_response(request, error.to_json(), error.status)


def add_routes(app: web.Application, api: DoofinderApi) -> None:
    base = PREFIX + "{hashid}"
    routes = [
        ("POST", "_image_search", DoofinderApi.image_search),
        ("GET", "_visually_similar", DoofinderApi.visually_similar),
        ("GET", "_search", DoofinderApi.search),
        ("POST", "_search", DoofinderApi.search),
        ("GET", "_suggest", DoofinderApi.suggest),
    ] + [("PUT", f"stats/{event}", api.stats(event)) for event in _stats.EVENTS]
    resources: dict[str, web.Resource] = {}
    for method, path, run in routes:
        name = path.split("/{")[0]
        unknown = _stats.UNKNOWN_ENGINE if path.startswith("stats/") else MappingNotFound
        handler = api.handler(f"{method} {name}", run, unknown)
        if path not in resources:  # one resource a path: its routes are the path's methods
            resources[path] = app.router.add_resource(f"{base}/{path}")
            resources[path].add_route("OPTIONS", preflight)
        if method == "GET":  # and HEAD, as HTTP servers answer it
            resources[path].add_route("HEAD", handler)
        resources[path].add_route(method, handler)
