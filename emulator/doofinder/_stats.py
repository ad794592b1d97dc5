"""``PUT /6/{hashid}/stats/...``: session and event logging, checked as the vendor checks.

Contract: the vendor's OpenAPI "Session & Events" operations (init, click, cart, image,
redirect, and the deprecated checkout that pydoof still calls). Parameters arrive in the
query string (what pydoof and js-doofinder send) or a JSON body (what the spec shows);
both are read. Each answers ``{"status": "registered"}``; nothing is kept but the journal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..core import CatalogEngine
from . import _query
from ._errors import (BadRequest, DfidInvalid, DfidOtherEngine, FieldsMissing, Forbidden,
                      InvalidCartData,
                      InvalidRedirectId, ItemNotFound, SessionIdTooLong, StatsFieldsMissing)
from ._params import Params
from ._render import md5_id

REGISTERED = {"status": "registered"}
#: Emulator decision: a stats event for a hashid no search engine has answers
#: ``403 forbidden``, never the search operations' ``404 Mapping not found``. The vendor's
#: document lists no 404 for init, image, redirect, checkout and cart (only 200, 400 and
#: 403), and click's 404 is for an item missing from an engine that exists; what each does
#: list for a caller it will not serve is 403, "missing or invalid API token ... or CORS
#: Origin not allowed": no token is valid for, and no page is an allowed domain of, an
#: engine that does not exist. Answering 200 instead would let a wrong hashid in a client's
#: set-up go unnoticed, so every event, click included, refuses it alike.
UNKNOWN_ENGINE = Forbidden
_DFID = re.compile(r"([0-9a-f]{32})@([^@]+)@([0-9a-f]{32})")


def _value(params: Params, name: str) -> Any:
    if name in params.malformed:
        raise BadRequest()
    return params.tree.get(name)


def _missing(params: Params, names: tuple[str, ...]) -> list[str]:
    """Required fields absent or empty, in the order the vendor's text lists them."""
    return [n for n in names if _value(params, n) in (None, "", [])]


def require(params: Params, names: tuple[str, ...]) -> None:
    """The ``[session_id, id] fields are missing`` form."""
    missing = _missing(params, names)
    if missing:
        raise StatsFieldsMissing(missing)


def _session_id(value: Any) -> None:
    if not isinstance(value, str):
        raise BadRequest()
    if len(value) > _query.MAX_SESSION_ID:
        raise SessionIdTooLong()


def _numeric_id(params: Params) -> None:
    """Contract: banner and redirect ids are numeric."""
    if _query.integer(_value(params, "id")) is None:
        raise InvalidRedirectId()


def find_item(engine: CatalogEngine, dfid: Any):
    """The item a dfid names: DfidInvalid for a malformed one, DfidOtherEngine for one of
    another engine, None when this engine has no such item."""
    match = _DFID.fullmatch(dfid) if isinstance(dfid, str) else None
    if match is None:
        raise DfidInvalid()
    hashid, index, digest = match.groups()
    if hashid != engine.id:
        raise DfidOtherEngine()
    return next((i for i in engine.catalog.items
                 if i.index == index and md5_id(i.id) == digest), None)


def init(engine: CatalogEngine, params: Params, path: dict[str, str]) -> dict:
    require(params, ("session_id",))
    _session_id(_value(params, "session_id"))
    _query.user_id(params)
    return REGISTERED


def checkout(engine: CatalogEngine, params: Params, path: dict[str, str]) -> dict:
    return init(engine, params, path)


def click(engine: CatalogEngine, params: Params, path: dict[str, str]) -> dict:
    require(params, ("dfid", "session_id"))
    _session_id(_value(params, "session_id"))
    _query.user_id(params)
    position = _value(params, "position")
    if position is not None and (_query.integer(position) or 0) < 1:
        raise BadRequest()  # contract: positions count from 1
    if find_item(engine, _value(params, "dfid")) is None:
        raise ItemNotFound()
    return REGISTERED


def cart(engine: CatalogEngine, params: Params, path: dict[str, str]) -> dict:
    """The ``Following fields are missing: [...]`` form; amount and price must be numbers."""
    _session_id(path["session_id"])
    missing = _missing(params, ("id", "index", "title"))
    if missing:
        raise FieldsMissing(missing)
    amount, price = _value(params, "amount"), _value(params, "price")
    if amount is not None and _query.integer(amount) is None:
        raise InvalidCartData()
    if price is not None and _query.number(price) is None:
        raise InvalidCartData()
    return REGISTERED


def _numbered(params: Params, required: tuple[str, ...]) -> dict:
    """A banner image click or a redirection: a numeric id within a session."""
    require(params, required)
    _session_id(_value(params, "session_id"))
    _numeric_id(params)
    return REGISTERED


def image(engine: CatalogEngine, params: Params, path: dict[str, str]) -> dict:
    return _numbered(params, ("id", "session_id"))


def redirect(engine: CatalogEngine, params: Params, path: dict[str, str]) -> dict:
    return _numbered(params, ("session_id", "id"))  # the vendor's text lists them so


#: path under ``stats/`` -> its rules
EVENTS: dict[str, Callable[[CatalogEngine, Params, dict[str, str]], dict]] = {
    "init": init, "click": click, "image": image, "redirect": redirect,
    "checkout": checkout, "cart/{session_id}": cart,
}
