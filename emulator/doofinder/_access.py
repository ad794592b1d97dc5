"""Who may use a search engine: banned addresses, API tokens and allowed web origins.

Contract: ``Authorization: Token <key>``; a key's zone prefix (``eu1-``) is optional and
ignored, and need not match the host (pydoof sends the key verbatim, the old npm client
strips the prefix). With no token, a page of one of the engine's allowed domains
(``Origin``) may search it. A banned client address gets ``banned ip``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import web

from ..core import CatalogEngine
from ._errors import BannedIp, DoofinderError, Forbidden, MappingNotFound

#: A zone prefix: ``eu1-``, ``us1-``, ``ap1-`` (any such short zone name).
_ZONE = re.compile(r"[a-z]{2,4}[0-9]{1,2}-")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def key_body(key: str) -> str:
    """The key without its zone prefix, which the vendor ignores."""
    match = _ZONE.match(key)
    return key[match.end():] if match else key


def token(request: web.BaseRequest) -> str | None:
    """The key of ``Token <key>`` (scheme compared case-insensitively, as HTTP's are);
    ``""`` for an Authorization header of any other form, None with no header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "token" and value and " " not in value else ""


def client_addresses(request: web.BaseRequest) -> list[Address]:
    """Emulator decision: the peer and every ``X-Forwarded-For`` address, so a test can
    play a banned client through a proxy (or directly) and a proxy cannot hide one."""
    candidates = [request.remote or ""]
    for header in request.headers.getall("X-Forwarded-For", []):
        candidates += [part.strip() for part in header.split(",")]
    found = []
    for text in candidates:
        try:
            found.append(ipaddress.ip_address(text.strip("[]")))
        except ValueError:
            continue
    return found


def _origin_host(request: web.BaseRequest) -> str | None:
    origin = request.headers.get("Origin")
    if not origin:
        return None
    try:
        return urlsplit(origin).hostname
    except ValueError:
        return None


def _domain(entry: str) -> str:
    """An allowed-domains entry as a host name (``https://shop.example.com/`` too)."""
    host = urlsplit(entry).hostname if "//" in entry else entry.split("/")[0].split(":")[0]
    return (host or "").lower().lstrip("*.")


def origin_allowed(engine: CatalogEngine, request: web.BaseRequest) -> bool:
    """Emulator decision: a domain allows its subdomains (``example.com`` lets
    ``shop.example.com`` in, never ``badexample.com``)."""
    host = _origin_host(request)
    if not host:
        return False
    host = host.lower()
    return any(host == d or host.endswith("." + d)
               for d in map(_domain, engine.allowed_origins) if d)


def key_allowed(engine: CatalogEngine, key: str) -> bool:
    """Emulator decision: an engine that lists no keys takes any token, as a mock that
    wants to be easy to start would; one that lists keys takes only those."""
    if not key:
        return False
    return not engine.keys or key_body(key) in {key_body(k) for k in engine.keys}


def _granted(engine: CatalogEngine, request: web.BaseRequest) -> bool:
    """Emulator decision: a token, when sent, decides alone (a wrong key from an allowed
    page is still refused); with no token the Origin decides."""
    key = token(request)
    return key_allowed(engine, key) if key is not None else origin_allowed(engine, request)


def admit(engines: Mapping[str, CatalogEngine], hashid: str, request: web.BaseRequest,
          unknown: type[DoofinderError] = MappingNotFound) -> CatalogEngine:
    """The contract's order: 403 (address, then credentials) before 404 (mapping).

    Emulator decision: for an unknown hashid, credentials any engine would take pass on
    to ``unknown`` (``Mapping not found``, or the stats events' answer: see
    ``_stats.UNKNOWN_ENGINE``), since a key belongs to an account, not to one engine."""
    engine = engines.get(hashid)
    if engine is None:
        if not any(_granted(e, request) for e in engines.values()):
            raise Forbidden()
        raise unknown()
    if any(engine.is_banned(a) for a in client_addresses(request)):
        raise BannedIp()
    if not _granted(engine, request):
        raise Forbidden()
    return engine
