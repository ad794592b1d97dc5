"""SearchResponse bodies: items with their dfid, facets in the schema's form, counts.

Contract: the vendor's OpenAPI ``SearchResponse`` (``results``, ``count``, ``total``,
``query_name``, ``facets`` when asked for) and ``Item`` (the indexed document plus
``dfid`` = ``{hashid}@{index}@{md5(id)}``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from ..core import CatalogResult, Facet, Item, RangeFacet, Services, TermFacet
from ._query import RESULT_WINDOW, Listing


def md5_id(item_id: str) -> str:
    return hashlib.md5(item_id.encode("utf-8", "surrogatepass")).hexdigest()


def dfid(hashid: str, item: Item) -> str:
    """Contract: ``{hashid}@{index}@{md5 of the item id}``."""
    return f"{hashid}@{item.index}@{md5_id(item.id)}"


def image_link(engine: Services, item: Item) -> str | None:
    """The one place an item's served picture URL is made (absolute, on this server)."""
    return None if item.image_path is None else engine.public_url(item.image_path)


def item_json(engine: Services, hashid: str, item: Item) -> dict[str, Any]:
    """The document as the catalog holds it, its picture's URL where it names none of its
    own, and its dfid."""
    body = dict(item.fields)
    link = image_link(engine, item)
    if link is not None:
        body["image_link"] = link
    body["dfid"] = dfid(hashid, item)
    return body


def _range_json(facet: RangeFacet) -> dict[str, Any]:
    """Emulator decision: ``min``/``max`` are left out when no item has a number there;
    ``from``/``to`` appear only while a range filter on the field is active."""
    body = {name: value for name, value in (("min", facet.min), ("max", facet.max),
                                            ("from", facet.start), ("to", facet.stop))
            if value is not None}
    return {"key": facet.field, "range": body}


def facet_json(facet: Facet) -> dict[str, Any]:
    if isinstance(facet, TermFacet):
        return {"key": facet.field, "terms": {
            "items": [{"name": t.name, "count": t.count} for t in facet.items],
            "selected": [{"name": t.name, "count": t.count} for t in facet.selected]}}
    return _range_json(facet)


def search_response(engine: Services, hashid: str, result: CatalogResult,
                    listing: Listing, query_name: str) -> dict[str, Any]:
    """``total`` is what can be fetched. Emulator decision: ``min(count, 1000)``, the
    result window."""
    page: Sequence[Item] = result.items[listing.start:listing.start + listing.rpp]
    body: dict[str, Any] = {
        "results": [item_json(engine, hashid, item) for item in page],
        "count": result.count,
        "total": min(result.count, RESULT_WINDOW),
        "query_name": query_name,
    }
    if listing.query.facets:
        body["facets"] = [facet_json(f) for f in result.facets]
    return body
