"""Where the vendor's Doofinder document is itself looser or stricter than the vendor: the one
table of exceptions the contract tests make to it, each with its reason.

``tests/vendor/doofinder-search-v6.yaml`` is the vendor's own document and stays as
published. Every test that checks answers against it (``doofinder_client`` and the
schemathesis run) reads it through :func:`vendor_document` and :func:`checks_excluded`, so
an exception is made here or nowhere.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from support.server import VENDOR

OPENAPI = VENDOR / "doofinder-search-v6.yaml"


@dataclass(frozen=True)
class SchemaFix:
    """A part of the document read otherwise than written."""

    where: str
    change: Callable[[dict[str, Any]], None]
    reason: str


@dataclass(frozen=True)
class CheckWaived:
    """A schemathesis check not run on some operations (``*`` for every one)."""

    check: str
    operations: tuple[str, ...]
    reason: str


def _facets_any_of(doc: dict[str, Any]) -> None:
    facets = doc["components"]["schemas"]["SearchResponse"]["properties"]["facets"]["items"]
    facets["anyOf"] = facets.pop("oneOf")


SCHEMA_FIXES: tuple[SchemaFix, ...] = (
    SchemaFix(
        "components.schemas.SearchResponse.properties.facets.items: oneOf read as anyOf",
        _facets_any_of,
        "both alternatives (TermFacetResponse, RangeFacetResponse) have no required keys, so "
        "any facet matches both and oneOf can never hold (contracts/doofinder.md)"),
)

CHECKS_WAIVED: tuple[CheckWaived, ...] = (
    CheckWaived(
        "missing_required_header", ("*",),
        "the one required header is Authorization, and the vendor answers a request without "
        "it 403 forbidden (every operation's 403: \"missing or invalid API token\"), where "
        "the check accepts only 401"),
    CheckWaived(
        "positive_data_acceptance",
        ("GET /6/{hashid}/_search", "POST /6/{hashid}/_search",
         "POST /6/{hashid}/_image_search", "GET /6/{hashid}/_visually_similar"),
        "the schemas leave out limits the document states in words: rpp is any integer where "
        "its description allows at most 100 with rpp * page within the 1000-result window "
        "(else the vendor's documented 400 Invalid rpp), and the required dfid has the form "
        "{hashid}@{index}@{md5id} (an empty one is 'Following fields are missing')"),
    CheckWaived(
        "positive_data_acceptance",
        ("PUT /6/{hashid}/stats/init", "PUT /6/{hashid}/stats/checkout",
         "PUT /6/{hashid}/stats/click", "PUT /6/{hashid}/stats/image",
         "PUT /6/{hashid}/stats/redirect", "PUT /6/{hashid}/stats/cart/{session_id}"),
        "the schemas allow an empty string for every required field, where the vendor's "
        "documented answer to an empty session_id, dfid, id, index or title is its 400 "
        "'fields are missing'; banner and redirect ids must be numeric ('Invalid redirect "
        "id'), and a dfid must have the form its description gives"),
)


@functools.lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    doc = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    for fix in SCHEMA_FIXES:
        fix.change(doc)
    return doc


def vendor_document() -> dict[str, Any]:
    """The vendor's document with :data:`SCHEMA_FIXES` applied (a copy of its own)."""
    return copy.deepcopy(_document())


def waived_checks() -> dict[str, Any]:
    """:data:`CHECKS_WAIVED` as schemathesis configuration: the ``checks`` of every
    operation and the ``operations`` entries of the others."""
    everywhere = {w.check: {"enabled": False} for w in CHECKS_WAIVED if "*" in w.operations}
    operations = [{"include-name": name, "checks": {w.check: {"enabled": False}}}
                  for w in CHECKS_WAIVED if "*" not in w.operations for name in w.operations]
    return {"checks": everywhere, "operations": operations}
