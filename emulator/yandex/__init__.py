"""Yandex Search API: v2 ImageSearchService (gRPC and REST) and the v1 images XML."""

from __future__ import annotations

from aiohttp import web

from .. import _http
from .._pipeline import Pipeline
from ..core import RuleSearch, StateStore
from . import _grpc, _images_xml, _protos, _rest
from ._servicer import ImageSearchServicer, quota_limiters

MAX_BODY_BYTES = _rest.MAX_BODY_BYTES
GrpcLimits = _grpc.ConnectionLimits

__all__ = ["MAX_BODY_BYTES", "GrpcLimits", "ImageSearchServicer", "grpc_listen_tls", "grpc_server",
           "mount", "rest_unmatched"]

#: The REST gateway's answer to a request it does not route.
rest_unmatched = _rest.unmatched


def mount(app: web.Application, engine: RuleSearch, pipeline: Pipeline, *,
          rate_limits: bool) -> ImageSearchServicer:
    """Add the Yandex REST routes to the app; the servicer is shared with gRPC."""
    servicer = ImageSearchServicer(engine, _protos.load(), pipeline,
                                   quota_limiters(engine.state) if rate_limits else None)
    engine.stubs.catalogs["yandex"] = lambda doc_id, _scope: doc_id in engine.store.documents
    _rest.add_routes(app, servicer)
    _images_xml.add_routes(app, servicer)
    _http.add_fallback(app, _images_xml.PATH, _images_xml.unmatched)
    return servicer


async def grpc_server(servicer: ImageSearchServicer, address: str, *, reuse_port: bool = False,
                      limits: GrpcLimits | None = None, state: StateStore | None = None):
    return await _grpc.build_server(servicer, servicer.protos, address, reuse_port=reuse_port,
                                    limits=limits, state=state)


grpc_listen_tls = _grpc.listen_tls
