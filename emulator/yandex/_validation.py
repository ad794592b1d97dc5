"""Request validation: one function per vendor rule, each on the parsed, typed request.

Rules come from the vendor's proto options (``yandex/cloud/searchapi/v2/*.proto``: lengths,
``required``, value ranges) and from the vendor's API v2 reference. Each raises
:class:`InvalidArgument` with a message naming the field.
"""

from __future__ import annotations

from ._errors import InvalidArgument
from ._render import FORBIDDEN

MAX_IMAGE_BYTES = 3 * 1024 * 1024  # data: <=3145728
MAX_SITE = 1024
MAX_FOLDER_ID = 50
MAX_URL = 1024
MAX_CBIR_ID = 1024
MAX_QUERY_TEXT = 400
MAX_USER_AGENT = 300
#: docs_on_page: "1-100" in the proto's validation option (the docs page says 1-60).
MAX_DOCS_ON_PAGE = 100


def check_length(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(f"{field}: length must be at most {limit} characters, got {len(value)}")


def check_one_image_source(request) -> None:
    """``url``, ``data`` and ``id`` form the oneof ``image``; exactly one must be set."""
    if request.WhichOneof("image") is None:
        raise InvalidArgument("image: exactly one of url, data or id must be set")


def check_image_size(data: bytes) -> None:
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidArgument(
            f"data: image must be at most {MAX_IMAGE_BYTES} bytes, got {len(data)}")


def check_not_empty(field: str, value: str | bytes) -> None:
    if not value:
        raise InvalidArgument(f"{field}: value is required")


def check_xml_text(field: str, value: str) -> None:
    """The query is echoed in XML, which cannot carry NUL, most C0 controls, U+FFFE/U+FFFF:
    refused rather than dropped from the echo (a silent change of what was sent)."""
    if FORBIDDEN.search(value):
        raise InvalidArgument(f"{field}: contains characters XML 1.0 cannot carry")


def check_page(field: str, page: int) -> None:
    if page < 0:
        raise InvalidArgument(f"{field}: must be greater than or equal to 0, got {page}")


def check_required_enum(field: str, value: int) -> None:
    if value == 0:
        raise InvalidArgument(f"{field}: value is required")


def check_docs_on_page(value: int) -> None:
    if not 0 <= value <= MAX_DOCS_ON_PAGE:
        raise InvalidArgument(f"docs_on_page: must be in range 1-{MAX_DOCS_ON_PAGE}, got {value}")


def validate_search_by_image(request) -> None:
    check_length("site", request.site, MAX_SITE)
    check_length("folder_id", request.folder_id, MAX_FOLDER_ID)
    check_one_image_source(request)
    source = request.WhichOneof("image")
    if source == "url":
        check_not_empty("url", request.url)
        check_length("url", request.url, MAX_URL)
    elif source == "id":
        check_not_empty("id", request.id)
        check_length("id", request.id, MAX_CBIR_ID)
    else:
        check_not_empty("data", request.data)
        check_image_size(request.data)
    check_page("page", request.page)


def validate_search(request) -> None:
    if not request.HasField("query"):
        raise InvalidArgument("query: value is required")
    query = request.query
    check_required_enum("query.search_type", query.search_type)
    check_not_empty("query.query_text", query.query_text.strip())
    check_length("query.query_text", query.query_text, MAX_QUERY_TEXT)
    check_xml_text("query.query_text", query.query_text)
    check_page("query.page", query.page)
    check_length("site", request.site, MAX_SITE)
    check_docs_on_page(request.docs_on_page)
    check_length("folder_id", request.folder_id, MAX_FOLDER_ID)
    check_length("user_agent", request.user_agent, MAX_USER_AGENT)
