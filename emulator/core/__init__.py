"""The core: fixtures, fingerprints, rules, generated catalogs and quotas; no wire formats.

:class:`Services` is what every vendor shares; :class:`RuleSearch` adds the decisions the
Yandex APIs answer with (Doofinder's catalogs decide in ``_catalog``).
"""

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
from ._limits import MAX_BODY_BYTES, OFFLOAD_BYTES
from ._pool import POOL_THREADS, WorkPool
from ._tenant import TENANT_HEADER, tenant_from
from ._ratelimit import Quota, RateLimiter
from ._results import ResultSet
from ._rules import ErrorKind, Fault
from ._search import Answer, RuleSearch
from ._services import Services
from ._store import (FAULTS, STUBS, BookFull, MemoryStore, NotNow, RecordTaken, Snapshot,
                     StateStore, StoreUnavailable)
from ._thumbnails import THUMBNAIL_TYPE, Thumbnails
from ._stubs import (Caller, Stub, StubBook, StubClaim, StubConflict, StubError, StubHit,
                     StubQuery, StubStep, stub_from_json)
from ._explain import explain, explain_catalog
from ._reload import FixtureReloader
from ._catalog import (Catalog, CatalogQuery, CatalogResult, Clause, Facet, FacetKind,
                       FacetRequest, Filters, Item, RangeClause, RangeFacet, SortKey, TermClause,
                       TermCount, TermFacet, catalog_match, image_query, run_query, term_name)
from ._engines import CatalogEngine
from ._engine_rules import EngineAnswer, EngineRule, EngineRules
from ._text_match import TextMode, search_text, suggestions


__all__ = [
    "CHROMATIC", "FAULTS", "GRAYSCALE", "IMAGES_PATH", "MATCH_HEADER", "MAX_BODY_BYTES",
    "NO_FAULTS",
    "OFFLOAD_BYTES", "POOL_THREADS",
    "RATE_LIMITED", "RGB", "STUBS",
    "TENANT_HEADER", "THUMBNAIL_TYPE", "Access", "AccessList", "Answer", "BookFull", "CallNotes",
    "Caller", "Catalog",
    "CatalogEngine", "CatalogQuery", "CatalogResult", "Clause", "Color", "Drip", "EngineAnswer",
    "EngineRule", "EngineRules", "ErrorKind",
    "Facet",
    "FacetKind", "FacetRequest", "Fault", "FaultBook", "FaultError", "FaultPlan", "FaultSpec",
    "FaultTarget", "Filters", "Fingerprint", "FixtureError", "FixtureReloader", "FixtureStore",
    "ImageDocument", "ImageFilter", "ImageFormat", "Item", "Journal", "JournalEntry",
    "JournalFilter", "Match", "MemoryStore", "NotAnImage", "NotNow", "Orientation", "Quota",
    "RangeClause", "RangeFacet",
    "RateLimiter", "RecordTaken", "ResultSet", "RuleSearch", "Services", "Settings", "SizeClass",
    "Snapshot", "SortKey", "StateStore", "StoreUnavailable", "Stub",
    "StubBook", "StubClaim", "StubConflict", "StubError", "StubHit", "StubQuery", "StubStep",
    "TermClause",
    "TermCount", "TermFacet", "TextMode", "Thumbnails", "Tier", "WorkPool", "ascii_integer",
    "b64decode_strict",
    "catalog_match", "explain", "explain_catalog", "fault_spec_from_json", "fingerprint",
    "image_query", "image_record", "load_fixtures", "placeholder_fingerprint", "placeholder_path",
    "recorded_fingerprint", "render_placeholder", "run_query", "search_text", "stub_from_json",
    "suggestions", "tenant_from", "term_name", "update_framed", "visual_distance",
]
