"""``/_emulator/fixtures/contents``: what the fixture set being served holds, with the URL
of every picture the emulator serves for it (its images, rules, documents and catalogs)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..core import FixtureStore, Services
from ..core._placeholder import files_path
from ..doofinder._render import image_link
from ._common import json_reply, state

#: Emulator decision: a catalog lists its first 500 items (with the count of all), so the
#: listing of a generated catalog of any size stays a bounded answer.
MAX_ITEMS = 500


def _picture(engine: Services, name: str | None) -> str | None:
    return None if name is None else engine.public_url(files_path(name))


def _outcome(outcome) -> dict[str, Any]:
    return {"results": None if outcome.docs is None else [d.doc_id for d in outcome.docs],
            "error": None if outcome.fault is None
            else {**dict(outcome.fault.fields), "message": outcome.fault.message},
            "delay_ms": outcome.delay_ms,
            **({"sequence": [_outcome(s) for s in outcome.steps]} if outcome.steps else {})}


def contents(engine: Services) -> dict[str, Any]:
    store: FixtureStore = engine.store
    images = sorted(p.name for p in store.image_dir.iterdir() if p.is_file()) \
        if store.image_dir is not None else []
    return {
        "images": [{"file": name, "url": _picture(engine, name)} for name in images],
        "image_rules": [{"name": r.name, "image": r.image_file, "url": _picture(engine, r.image_file),
                         "sha256": r.fingerprint.sha256 if r.fingerprint else None,
                         "cbir_id": r.cbir_alias, "folder": r.folder, **_outcome(r.outcome)}
                        for r in store.rules.image_rules],
        "query_rules": [{"name": r.name, "text": r.text, "folder": r.folder, **_outcome(r.outcome)}
                        for r in store.rules.query_rules],
        "documents": [{"id": d.doc_id, "url": d.url, "thumbnail_url": d.thumbnail_url,
                       "page_url": d.page_url, "page_title": d.page_title,
                       "width": d.width, "height": d.height}
                      for d in store.documents.values()],
        "engines": [{"hashid": e.id, "name": e.name, "keys": list(e.keys),
                     "image_search": e.image_search, "item_count": len(e.catalog),
                     "items": [{"id": i.id, "index": i.index, "title": i.fields.get("title"),
                                "image_link": i.fields.get("image_link") or image_link(engine, i)}
                               for i in e.catalog.items[:MAX_ITEMS]]}
                    for e in store.engines.values()],
    }


async def fixture_contents(request: web.Request) -> web.Response:
    engine = state(request).engine
    return await json_reply(request, lambda: contents(engine))
