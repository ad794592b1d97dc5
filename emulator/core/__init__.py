"""The core: fixtures, fingerprints, rules, generated catalogs and quotas; no wire formats."""

from ._base64 import b64decode_strict
from ._digest import update_framed
from ._access import Access, AccessList
from ._document import Color, ImageDocument, ImageFormat, Orientation, SizeClass
from ._filters import CHROMATIC, GRAYSCALE, ImageFilter
from ._fingerprint import Fingerprint, NotAnImage, fingerprint, visual_distance
from ._faults import (NO_FAULTS, RATE_LIMITED, Drip, FaultBook, FaultError, FaultPlan,
                      FaultSpec, FaultTarget, fault_spec_from_json)
from ._journal import (CallNotes, Journal, JournalEntry, JournalFilter, image_record,
                       recorded_fingerprint)
from ._match import MATCH_HEADER, Match, Tier
from ._numbers import ascii_integer
from ._palette import RGB
from ._placeholder import IMAGES_PATH, placeholder_fingerprint, placeholder_path, render_placeholder
from ._fixtures import FixtureError, FixtureStore, Settings, load_fixtures
from ._ratelimit import Quota, RateLimiter
from ._results import ResultSet
from ._rules import Fault
from ._search import Answer, SearchEngine
from ._stubs import (Caller, Stub, StubBook, StubConflict, StubError, StubHit, StubQuery,
                     StubStep, stub_from_json)
from ._explain import explain, explain_catalog
from ._reload import FixtureReloader
from ._catalog import (Catalog, CatalogQuery, CatalogResult, Clause, Facet, FacetKind,
                       FacetRequest, Filters, Item, RangeClause, RangeFacet, SortKey, TermClause,
                       TermCount, TermFacet, catalog_match, run_query, term_name)
from ._engines import CatalogEngine
from ._text_match import TextMode, search_text, suggestions

#: Which tenant a call belongs to (gRPC: metadata ``x-emulator-tenant``).
#:
#: Emulator decision: on a vendor call an empty header (or metadata value) is no header, and
#: the call's tenant is what that vendor's rule takes next (Yandex: the credential;
#: Doofinder: the token, else the hashid). The header is the emulator's, not the vendor's,
#: so it never turns a call the vendor would answer into an error; and a vendor call only
#: reads its own tenant's and the global stubs and faults, so it can never act on another
#: tenant. The admin API, whose document says ``minLength: 1``, refuses an empty one (400).
TENANT_HEADER = "X-Emulator-Tenant"

__all__ = [
    "CHROMATIC", "GRAYSCALE", "IMAGES_PATH", "MATCH_HEADER", "NO_FAULTS", "RATE_LIMITED", "RGB",
    "TENANT_HEADER", "Access", "AccessList", "Answer", "CallNotes", "Caller", "Catalog",
    "CatalogEngine", "CatalogQuery", "CatalogResult", "Clause", "Color", "Drip", "Facet",
    "FacetKind", "FacetRequest", "Fault", "FaultBook", "FaultError", "FaultPlan", "FaultSpec",
    "FaultTarget", "Filters", "Fingerprint", "FixtureError", "FixtureReloader", "FixtureStore",
    "ImageDocument", "ImageFilter", "ImageFormat", "Item", "Journal", "JournalEntry",
    "JournalFilter", "Match", "NotAnImage", "Orientation", "Quota", "RangeClause", "RangeFacet",
    "RateLimiter", "ResultSet", "SearchEngine", "Settings", "SizeClass", "SortKey", "Stub",
    "StubBook", "StubConflict", "StubError", "StubHit", "StubQuery", "StubStep", "TermClause",
    "TermCount", "TermFacet", "TextMode", "Tier", "ascii_integer", "b64decode_strict",
    "catalog_match", "explain", "explain_catalog", "fault_spec_from_json", "fingerprint",
    "image_record", "load_fixtures", "placeholder_fingerprint", "placeholder_path",
    "recorded_fingerprint", "render_placeholder", "run_query", "search_text", "stub_from_json",
    "suggestions", "term_name", "update_framed", "visual_distance",
]
