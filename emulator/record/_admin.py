"""The record command's own control plane: ``/_emulator/recording`` starts (``POST``),
reports (``GET``) and stops (``DELETE``) a recording in the running proxy, as WireMock's
``/__admin/recordings/start|status|stop`` do, in the shape of the emulator's control plane
(a resource with its methods; errors ``{"error": ..., "place": ...}``)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .._config import RECORD_MODES, ConfigError, validate
from ..admin._common import _authorized, error_response
from ..admin._spec import message, validator
from ..core._fixtures import _json_path as json_path
from ._modes import effective_mode

if TYPE_CHECKING:
    from . import RecordingProxy

log = logging.getLogger("emulator.record")

PATH = "/_emulator/recording"
#: the query parameters each method takes (any other is refused, as the control plane does)
_PARAMS = {"GET": (), "POST": (), "DELETE": ("replay",)}
_BOOLS = {"true": True, "false": False}

__all__ = ["PATH", "add_routes"]


def add_routes(app: web.Application, proxy: RecordingProxy) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        if not _authorized(request, proxy.config.admin_token):
            return error_response(401, "admin token required: Authorization: Bearer <token>")
        unknown = sorted(set(request.query) - set(_PARAMS[request.method]))
        if unknown:
            return error_response(400, f"unknown query parameter {unknown[0]!r}")
        if request.method == "GET":
            return web.json_response(proxy.status())
        if request.method == "POST":
            return await _start(request, proxy)
        return await _stop(request, proxy)

    for method in _PARAMS:
        app.router.add_route(method, PATH, handle)


async def _start(request: web.Request, proxy: RecordingProxy) -> web.Response:
    raw = await request.read()
    try:
        data: Any = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return error_response(400, f"the body is not JSON: {exc}")
    error = validator("RecordingStart").best_error(data)
    if error is not None:
        return error_response(400, message(error), json_path(error.absolute_path))
    upstreams = data.get("upstreams", {})
    mode = data.get("mode", proxy.config.record_mode)
    assert mode in RECORD_MODES
    if not upstreams and effective_mode(mode, Path(data["out"])) != "none":
        return error_response(400, f"mode {mode} forwards: give upstreams (yandex, doofinder "
                                   "or both)", "$.upstreams")
    try:
        config = validate(dataclasses.replace(
            proxy.config, record_out=Path(data["out"]), record_mode=mode,
            yandex_upstream=upstreams.get("yandex"),
            doofinder_upstream=upstreams.get("doofinder")))
    except ConfigError as exc:
        name = str(exc).split(" ", 1)[0].removesuffix("_upstream")
        return error_response(400, str(exc), f"$.upstreams.{name}")
    if proxy.recorder is not None:
        return error_response(409, "a recording is in progress (into "
                                   f"{proxy.recorder.session.out}): DELETE {PATH} first")
    try:
        await proxy.begin(config)
    except (OSError, ValueError) as exc:
        return error_response(400, f"cannot record into {data['out']}: {exc}", "$.out")
    log.info("record: started over the control plane, mode %s, writing %s", mode, data["out"])
    return web.json_response(proxy.status(), status=201)


async def _stop(request: web.Request, proxy: RecordingProxy) -> web.Response:
    replay = request.query.get("replay", "false")
    if replay not in _BOOLS:
        return error_response(400, f"replay: expected true or false, got {replay!r}")
    if proxy.recorder is None:
        return error_response(404, "no recording in progress")
    await proxy.end(replay=_BOOLS[replay])
    return web.json_response(proxy.status())
