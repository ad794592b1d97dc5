"""``GET /_emulator/images/...``: the pictures that results point to, served locally.

* ``placeholder/{W}x{H}/{rrggbb}.{png|jpg|gif|webp}?label=...``: a generated placeholder,
  drawn from its URL alone (any process draws the same picture);
* ``files/{name}[?size=WxH]``: a file of the fixtures' ``images/`` folder, as it is or
  resized to exactly ``W`` x ``H``.

As a static file server answers: ``ETag``, ``Cache-Control`` (placeholders are immutable,
fixture files revalidate), ``304`` on ``If-None-Match``, ``HEAD``. Anything else is the
emulator's own JSON error (404 for what is not there, 400 for a request it cannot honour).
Drawing and resizing run in the engine's image pool, never on the event loop.
"""

from __future__ import annotations

from aiohttp import web

from . import _http
from .core import IMAGES_PATH, Services
from .core._served import NotServed, ServedImage, fixture_file, parse_size, placeholder


def _respond(request: web.Request, image: ServedImage) -> web.Response:
    headers = {"ETag": image.etag, "Cache-Control": image.cache_control}
    wanted = request.headers.get("If-None-Match", "")
    if image.etag in (tag.strip() for tag in wanted.split(",")) or wanted.strip() == "*":
        return web.Response(status=304, headers=headers)
    return web.Response(body=image.body, content_type=image.content_type, headers=headers)


def add_routes(app: web.Application, engine: Services) -> None:
    async def serve_placeholder(request: web.Request) -> web.Response:
        try:
            image = await engine.in_image_pool(placeholder, request.match_info["tail"],
                                               request.query.get("label", ""))
        except NotServed as exc:
            return _http.admin_error(request, exc.status, exc.reason)
        return _respond(request, image)

    async def serve_file(request: web.Request) -> web.Response:
        try:
            size = parse_size(request.query["size"]) if "size" in request.query else None
            image = await engine.in_image_pool(fixture_file, engine.store.image_dir,
                                               request.match_info["name"], size)
        except NotServed as exc:
            return _http.admin_error(request, exc.status, exc.reason)
        return _respond(request, image)

    app.router.add_get(f"{IMAGES_PATH}/placeholder/{{tail:.+}}", serve_placeholder)
    app.router.add_get(f"{IMAGES_PATH}/files/{{name:.+}}", serve_file)
