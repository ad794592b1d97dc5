"""``/_emulator/explain``: which stub or rule answers a query, or why none does; and the
latest misses of the journal, explained from what the journal kept (never image bytes)."""

from __future__ import annotations


from typing import Any

from aiohttp import web

from ..core import (Caller, JournalEntry, JournalFilter, StubQuery, Tier, explain,
                    explain_catalog, recorded_fingerprint)
from ..core._explain import DEFAULT_CANDIDATES
from ..doofinder import VENDOR as DOOFINDER, item_for_dfid
from ..yandex import _cbir
from ._common import AdminState, integer_param, read_json, state, tenant_of
from ._images import resolve

#: Emulator decision: the misses endpoint explains the 10 latest misses unless asked.
DEFAULT_MISSES = 10


def _query(caller: Caller, raw: dict[str, Any], key: bytes | None, fp) -> StubQuery:
    alias = raw.get("cbir_id")
    if alias is not None and key is None and caller.vendor == "yandex":
        key = _cbir.decode(alias)  # an id the emulator issued carries the image's key
    return StubQuery(caller, raw.get("folder") or raw.get("hashid"), key, fp,
                     url=raw.get("url"), alias=alias, text=raw.get("text"))


def _dfid_picture(admin: AdminState, raw: dict[str, Any], key: bytes | None, fp):
    """A Doofinder dfid stands for its item's picture (what visually-similar ranks by)."""
    engine = admin.engine.store.engines.get(raw.get("hashid", ""))
    if "dfid" not in raw or fp is not None or engine is None:
        return key, fp
    item = item_for_dfid(engine, raw["dfid"])
    return (item.image.key, item.image) if item is not None else (key, fp)


def _explained(admin: AdminState, caller: Caller, raw: dict[str, Any], key: bytes | None, fp,
               limit: int = DEFAULT_CANDIDATES) -> dict[str, Any]:
    """A catalog search engine's explanation for Doofinder, the fixture rules' otherwise."""
    if caller.vendor == DOOFINDER:
        key, fp = _dfid_picture(admin, raw, key, fp)
        return explain_catalog(admin.engine, _query(caller, raw, key, fp), limit)
    if "dfid" in raw:  # the schema's oneOf: a dfid is the query's only lookup
        return {"source": "none", "match": None, "stub_id": None, "outcome": None,
                "candidates": [], "reason": f"a dfid names a Doofinder item: explain it with "
                                            f"vendor {DOOFINDER!r} and its search engine's hashid"}
    return explain(admin.engine, _query(caller, raw, key, fp), limit)


async def explain_query(request: web.Request) -> web.Response:
    admin = state(request)
    raw = await read_json(request, "ExplainQuery")
    key, fp = await resolve(admin, raw)
    caller = Caller(raw.get("vendor", "yandex"), tenant_of(request))
    # JSON Schema's integer admits 2.0, a count all the same
    limit = int(raw.get("limit", DEFAULT_CANDIDATES))
    # ranking a catalog (and drawing its pictures, before warm-up ends) is CPU work
    explanation = await admin.engine.control.run(
        _explained, admin, caller, raw, key, fp, limit)
    return web.json_response(explanation)


def _explain_entry(admin: AdminState, entry: JournalEntry) -> dict[str, Any]:
    fp = recorded_fingerprint(entry.image)
    explanation = _explained(admin, Caller(entry.vendor, entry.tenant), entry.lookup or {},
                             fp.key if fp else None, fp)
    return {"entry": entry.to_json(), "explanation": explanation}


async def explain_misses(request: web.Request) -> web.Response:
    """Misses are the requests answered with generated data: no stub or rule matched
    (the nearest rule, if any, was too far)."""
    admin = state(request)
    missed = {Tier.GENERATED.value, Tier.NEAREST.value}
    recorded = await admin.engine.journal.entries(where=JournalFilter(tenant=tenant_of(request)))
    entries = [e for e in recorded if e.lookup and (e.match or {}).get("tier") in missed]
    limit = integer_param(request, "limit")
    entries = entries[-(limit or DEFAULT_MISSES):]
    misses = await admin.engine.control.run(lambda: [_explain_entry(admin, e) for e in entries])
    return web.json_response({"misses": misses})
