"""Doofinder Search API v6 errors: one exception per vendor error, ``{"error": "<text>"}``.

Contract: the vendor's OpenAPI document (``doofinder-search-v6.yaml``, the source of every
Search API page of its docs): every non-200 answer is an ErrorResponse with the status and
the text each operation lists. Texts are the vendor's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from .._rpc_status import http_status_of
from ..core import ErrorKind, Fault


class DoofinderError(Exception):
    status = 400
    text = "Bad request"

    def __init__(self, text: str | None = None) -> None:
        super().__init__(text or self.text)
        self.text = text or self.text

    def to_json(self) -> dict:
        return {"error": self.text}


class BadRequest(DoofinderError):
    """The generic validation failure (``stats/checkout``). Emulator decision: also a body
    that cannot be read as JSON, anywhere."""


class Forbidden(DoofinderError):
    """Missing or invalid token, or an Origin not allowed (every operation's 403)."""

    status, text = 403, "forbidden"


class BannedIp(DoofinderError):
    """The client's address is blocked (every operation's 403)."""

    status, text = 403, "banned ip"


class MappingNotFound(DoofinderError):
    """No search engine has this hashid (every search operation's 404)."""

    status, text = 404, "Mapping not found"


class FieldsMissing(DoofinderError):
    """``_image_search``, ``_visually_similar``, ``stats/cart``: required fields absent, in
    the JSON-list form ``Following fields are missing: ["image"]``."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__("Following fields are missing: [" +
                         ", ".join(f'"{n}"' for n in names) + "]")


class StatsFieldsMissing(DoofinderError):
    """``stats/init``, ``click``, ``image``, ``redirect``: the other form of the same
    error, ``[dfid, session_id] fields are missing``."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(f"[{', '.join(names)}] fields are missing")


class ImageSearchDisabled(DoofinderError):
    """``_image_search`` and ``_visually_similar`` on an engine without the feature."""

    text = "Image Search is not enabled for this search engine"


class InvalidRpp(DoofinderError):
    """``rpp`` over 100 or the page past the result window (``_search``, ``_image_search``)."""

    text = "Invalid rpp"


class BadQuery(DoofinderError):
    """``_search``: an invalid parameter value (query, query_name, sort, filter_execution).
    Emulator decision: every search operation answers it for a malformed parameter the
    vendor lists no text for, rather than ignoring or altering what the client sent."""

    text = "Bad request, bad query"


class SessionIdTooLong(DoofinderError):
    """Every operation taking a ``session_id``: over 32 characters."""

    text = "session_id should have 32 characters or less"


class InvalidUserId(DoofinderError):
    """``stats/init``, ``stats/checkout``: a ``user_id`` over 36 characters. Emulator
    decision: the search operations, which list no text for it, answer the same."""

    text = "invalid_user_id"


class EmbeddingFailed(DoofinderError):
    """``_image_search``: the image could not be embedded (here: it does not decode)."""

    status, text = 424, "There was an error obtaining the embeddings, please try again."


class SuggestQueryInvalid(DoofinderError):
    """``_suggest``: a query over 200 characters or 10 words."""

    text = '"query" has an invalid value'


class SuggestionsUnavailable(DoofinderError):
    """``_suggest`` on an engine with suggestions off (the vendor answers 429)."""

    status, text = 429, "Suggestions not available"


class IndexNotFound(DoofinderError):
    """``_suggest``: a requested index the engine does not have. Emulator decision:
    ``_search`` answers the same rather than searching nothing."""

    status = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"Index {name} not found.")


class DfidImageNotFound(DoofinderError):
    """``_visually_similar``: no item (so no image) for the dfid in this engine."""

    status, text = 404, "Image for the given dfid not found"


class DfidInvalid(DoofinderError):
    """``stats/click``: a dfid not of the form ``{hashid}@{index}@{md5}``."""

    text = "Bad request, dfid is invalid"


class DfidOtherEngine(DoofinderError):
    """``stats/click``: a dfid of another search engine."""

    text = "Item hashid must be the same as search engine hashid"


class ItemNotFound(DoofinderError):
    """``stats/click``: the dfid names no item of this engine."""

    status, text = 404, "Not found"


class InvalidCartData(DoofinderError):
    """``stats/cart``: an amount or price that is not a number."""

    text = "Invalid cart item data"


class InvalidRedirectId(DoofinderError):
    """``stats/image`` and ``stats/redirect``: an id that is not numeric."""

    text = "Invalid redirect id"


class TooManyRequests(DoofinderError):
    """Over 20 requests a second to one engine, when rate limits are on."""

    status, text = 429, "Too many requests"


class Unavailable(DoofinderError):
    """Emulator decision: what every call gets while the state store is down: 503, in the
    vendor's ``{"error": ...}`` format."""

    status, text = 503, "Service unavailable"


class EntityTooLarge(DoofinderError):
    """Emulator decision: a body over 8 MB (any POST or PUT), in the vendor's format."""

    status, text = 413, "Request entity too large"


class PathNotFound(DoofinderError):
    """Emulator decision: a path no operation has, with the vendor's own "not found" text."""

    status, text = 404, "Not found"


class MethodNotAllowed(DoofinderError):
    """Emulator decision: a known path with a method it does not take."""

    status, text = 405, "Method not allowed"


class Internal(DoofinderError):
    """Emulator decision: an unexpected failure, still in the vendor's format."""

    status, text = 500, "Internal server error"


class InjectedFault(DoofinderError):
    """An error a runtime stub or fault asks for: its HTTP status, and its message or the
    vendor's own text for that status."""

    def __init__(self, status: int, text: str | None = None) -> None:
        self.status = status
        super().__init__(text or default_text(status))


class ConnectionReset(Exception):
    """A reset fault: the connection is dropped, nothing is answered."""


#: The vendor's generic text for each status it answers (errors that name no particular
#: field or parameter).
_VENDOR_TEXTS = {error.status: error.text for error in (
    BadRequest, Forbidden, PathNotFound, MethodNotAllowed, EntityTooLarge, EmbeddingFailed,
    TooManyRequests, Internal)}
#: Emulator decision: a stub or fault that names neither an HTTP status nor a gRPC one
#: (only a yandexsearch XML code, say) is answered 500.
DEFAULT_FAULT_STATUS = 500


def default_text(status: int) -> str:
    """Emulator decision: the vendor's generic text for the status (``Too many requests``
    for 429); for a status the vendor has none for, the HTTP reason phrase."""
    if status in _VENDOR_TEXTS:
        return _VENDOR_TEXTS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def from_fault(fault: Fault) -> DoofinderError:
    """The answer to a :class:`~emulator.core.Fault`: a spent quota is the vendor's 429;
    a named error is its ``http_status``, else the HTTP status of its gRPC ``status``
    (Emulator decision: as the gRPC gateways map it), else 500."""
    if fault.kind is ErrorKind.RATE_LIMITED:
        return TooManyRequests()
    status = fault.get("http_status") or http_status_of(fault.get("status")) \
        or DEFAULT_FAULT_STATUS
    return InjectedFault(status, fault.message or None)
