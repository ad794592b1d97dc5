"""``/_emulator/ui/``: the web page for demos and debugging, static files of this package.

The page is built on the admin API alone (whatever it shows or does, a script can do with
the same requests), so it needs no access of its own: its files hold no data and are
served without the admin token; the page asks for the token and sends it on every call.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

from .._http import ADMIN, admin_error

UI = f"{ADMIN}/ui/"

#: The page's files and their types; nothing else is served from the folder.
FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}

#: Emulator decision: the page may load its own files and talk to this server only (no
#: CDN, no inline script); result pictures may come from anywhere a fixture points to.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src * data: blob:; "
          "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@cache
def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("ui").joinpath(name).read_bytes()


async def page_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info.get("name") or "index.html"
    if name not in FILES:
        return admin_error(request, 404, f"no file {name!r} in the page")
    return web.Response(body=_read(name), content_type=FILES[name], charset="utf-8", headers={
        "Content-Security-Policy": POLICY, "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


async def to_page(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(UI)


def add_routes(app: web.Application) -> None:
    app.router.add_get(UI.rstrip("/"), to_page)
    app.router.add_get(UI, page_file)
    app.router.add_get(UI + "{name}", page_file)
