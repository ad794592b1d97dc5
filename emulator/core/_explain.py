"""Explain: which stub or fixture rule answers a query, or why none does.

Tests that get generated results where they expected a rule ask this: it lists the closest
candidates (by perceptual distance for images, by text similarity for texts) and, for each,
what kept it from answering (another folder, too far, another tenant's vendor, used up).
Nothing here changes state: stub sequences are only peeked at.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from ._catalog import Item, catalog_match
from ._filters import ImageFilter
from ._fingerprint import (MAX_COLOUR_DISTANCE, OTHER_COLOURS, PERCEPTUAL_DISTANCE, TOO_FAR,
                           TOO_PLAIN, Fingerprint, visual_distance)
from ._match import Match, Tier
from ._rules import normalize_text
from ._search import Answer, RuleSearch
from ._services import Services
from ._stubs import Stub, StubQuery

#: Emulator decision: explain lists the 5 closest candidates unless asked for more.
DEFAULT_CANDIDATES = 5
#: What a scope is called in explanations: a Yandex folder, a catalog search engine.
FOLDER, ENGINE = "folder", "engine"


@dataclass
class Candidate:
    source: str  # "stub", "fixture" or "catalog" (an item of a search engine)
    rule: str
    matcher: str  # "image", "sha256", "url", "cbir_id" or "text"
    matched: bool = False
    distance: int | None = None  # perceptual hash bits, where both images are known
    visual_distance: float | None = None
    similarity: float | None = None  # of the normalized texts, 0..1
    stub_id: str | None = None
    why_not: list[str] = field(default_factory=list)

    def sort_key(self) -> tuple:
        far = self.distance if self.distance is not None else 65
        return (not self.matched, far, -(self.similarity or 0.0), self.rule)


def _image_reasons(c: Candidate, key: bytes | None, fp: Fingerprint | None,
                   rule_key: bytes | None, rule_fp: Fingerprint | None,
                   max_distance: int) -> None:
    """The tests of :meth:`RuleBook.for_image` (the same digest, else
    :meth:`Fingerprint.mismatch`), each failure said in words."""
    if key is not None and key == rule_key:
        c.matched, c.distance = True, 0 if fp is not None and rule_fp is not None else None
        return
    if fp is None or rule_fp is None:
        c.why_not.append("a different image (SHA-256), and no perceptual hash to compare")
        return
    c.distance = fp.distance(rule_fp)
    c.visual_distance = round(visual_distance(fp, rule_fp), 4)
    verdict = rule_fp.mismatch(fp, max_distance)
    if verdict == TOO_PLAIN:
        c.why_not.append("one of the images is too plain (flat or a gradient) to match on")
    elif verdict == TOO_FAR:
        c.why_not.append(f"perceptual distance {c.distance} bits is over {max_distance}")
    elif verdict == OTHER_COLOURS:
        c.why_not.append(f"colour distance {fp.colour_distance(rule_fp):.3f} is over "
                         f"{MAX_COLOUR_DISTANCE}")
    else:
        c.matched = True


def _text_reasons(c: Candidate, text: str, rule_text: str) -> None:
    wanted = normalize_text(text)
    c.similarity = round(difflib.SequenceMatcher(None, wanted, rule_text).ratio(), 4)
    if wanted == rule_text:
        c.matched = True
    else:
        c.why_not.append(f"its text {rule_text!r} is not {wanted!r}")


def _scope(c: Candidate, rule_scope: str | None, scope: str | None, noun: str = FOLDER) -> None:
    if rule_scope is not None and rule_scope != scope:
        c.matched = False
        c.why_not.append(f"scoped to {noun} {rule_scope!r}, the request's is {scope!r}")


def _fixture_candidates(engine: RuleSearch, q: StubQuery) -> list[Candidate]:
    store, out = engine.store, []
    if q.text is not None:
        for rule in store.rules.query_rules:
            c = Candidate("fixture", rule.name, "text")
            _text_reasons(c, q.text, rule.text)
            _scope(c, rule.folder, q.scope)
            out.append(c)
        return out
    key, fp = q.key, q.fingerprint
    if q.url is not None and q.url in store.urls:
        key, fp = store.urls[q.url]
    for image_rule in store.rules.image_rules:
        c = Candidate("fixture", image_rule.name, "image" if image_rule.fingerprint else "sha256")
        if q.alias is not None and image_rule.cbir_alias == q.alias:
            c.matched, c.matcher = True, "cbir_id"
        else:
            _image_reasons(c, key, fp, image_rule.key, image_rule.fingerprint,
                           store.settings.perceptual_distance if image_rule.max_distance is None
                           else image_rule.max_distance)
        _scope(c, image_rule.folder, q.scope)
        out.append(c)
    return out


def _stub_candidate(stub: Stub, q: StubQuery, noun: str = FOLDER) -> Candidate | None:
    kind = ("text" if stub.text is not None else "url" if stub.url is not None
            else "cbir_id" if stub.alias is not None and stub.key is None
            else "image" if stub.fingerprint is not None else "sha256")
    if (kind == "text") != (q.text is not None):
        return None
    c = Candidate("stub", stub.name, kind, stub_id=stub.id)
    if kind == "text" and q.text is not None and stub.text is not None:
        _text_reasons(c, q.text, stub.text)
    elif stub.closeness(q) is not None:
        c.matched = True
        if stub.fingerprint is not None and q.fingerprint is not None:
            c.distance = stub.fingerprint.distance(q.fingerprint)
    elif kind == "url":
        c.why_not.append(f"its URL {stub.url!r} is not the request's")
    elif kind == "cbir_id":
        c.why_not.append(f"its image id {stub.alias!r} is not the request's")
    else:
        _image_reasons(c, q.key, q.fingerprint, stub.key, stub.fingerprint, PERCEPTUAL_DISTANCE)
    if stub.vendor is not None and q.caller.vendor not in (None, stub.vendor):
        c.matched = False
        c.why_not.append(f"for vendor {stub.vendor!r} only")
    _scope(c, stub.scope, q.scope, noun)
    if stub.used_up:
        c.matched = False
        c.why_not.append(f"used up: it answered its {stub.times} requests")
    return c


def _answer(engine: RuleSearch, q: StubQuery) -> Answer | None:
    """The very decisions serving makes, with runtime stubs only peeked at."""
    flt, caller, find = ImageFilter(), q.caller, engine.peek
    if q.text is not None:
        return engine.by_text(q.text, q.scope, flt, find=find, caller=caller)
    if q.url is not None:
        return engine.by_url(q.url, q.scope, flt, find=find, caller=caller)
    if q.alias is not None:
        answer = engine.by_alias(q.alias, q.scope, flt, find=find, caller=caller)
        if answer is not None or q.key is None:
            return answer
    if q.key is None:
        return None
    return engine.by_image(q.key, q.fingerprint, q.scope, flt, find=find, caller=caller)


def explain(engine: RuleSearch, q: StubQuery, limit: int = DEFAULT_CANDIDATES) -> dict[str, Any]:
    """What answers ``q`` now, why, and the closest candidates (a JSON object)."""
    answer = _answer(engine, q)
    hit = engine.stubs.match(q, consume=False)
    candidates = _fixture_candidates(engine, q)
    candidates += [c for c in (_stub_candidate(s, q) for s in engine.stubs.visible(q)) if c]
    winner = answer.match.rule if answer is not None and answer.match.tier is not Tier.NEAREST \
        else None
    for c in candidates:
        if c.matched and c.rule != winner:
            c.why_not.append(f"it matches, but {winner!r} comes first")
    candidates.sort(key=Candidate.sort_key)
    if answer is None:
        source, reason = "none", "no stub or rule lists this image id, and no emulator issued it"
    elif answer.match.tier is Tier.STUB:
        source, reason = "stub", f"runtime stub {winner!r} matches"
    elif answer.match.tier in (Tier.GENERATED, Tier.NEAREST):
        source, reason = "generated", "no stub or fixture rule matches: generated results"
        near = next((c for c in candidates if c.why_not), None)
        if near is not None:
            reason += f"; the closest is {near.source} {near.rule!r}: {near.why_not[0]}"
    else:
        source, reason = "fixture", f"fixture rule {winner!r} matches ({answer.match.tier.value})"
    return {
        "source": source,
        "reason": reason,
        "match": answer.match.to_json() if answer is not None else None,
        "stub_id": hit.stub.id if hit is not None and source == "stub" else None,
        "outcome": None if answer is None else
        "error" if answer.fault is not None else "results",
        "candidates": [asdict(c) for c in candidates[:limit]],
    }


# -- catalogs (search engines) ----------------------------------------------------------
def _stub_candidates(engine: Services, q: StubQuery, winner: str | None,
                     limit: int) -> list[Candidate]:
    found = [c for c in (_stub_candidate(s, q, ENGINE) for s in engine.stubs.visible(q)) if c]
    for c in found:
        if c.matched and c.rule != winner:
            c.why_not.append(f"it matches, but {winner!r} comes first")
    return sorted(found, key=Candidate.sort_key)[:limit]


def _item_candidates(ranked: list[tuple[Item, float]], fp: Fingerprint,
                     limit: int) -> list[Candidate]:
    """The nearest items, in the order the catalog ranks them; an item matches (exact)
    when it shows the very picture."""
    out: list[Candidate] = []
    for rank, (item, distance) in enumerate(ranked[:limit], 1):
        c = Candidate("catalog", item.id, "image", distance=fp.distance(item.image),
                      visual_distance=round(distance, 4))
        if item.image.sha256 == fp.sha256:
            c.matched = True
            if out and out[0].matched:
                c.why_not.append(f"it matches, but {out[0].rule!r} comes first")
        else:
            c.why_not.append(f"a different image (SHA-256): ranked {rank} by visual distance")
        out.append(c)
    return out


def _catalog_answer(engine: Services, q: StubQuery, limit: int
                    ) -> tuple[str, str, Match | None, list[Candidate]]:
    """(source, reason, match, item candidates) when no stub answers."""
    found = engine.store.engines.get(q.scope) if q.scope is not None else None
    if q.text is not None:
        return "catalog", "no stub matches: the engine's text search answers", None, []
    if found is None:
        return "none", f"no search engine {q.scope!r}: name one by its hashid", None, []
    if q.fingerprint is None:
        return "none", "the catalog ranks by the picture itself: send the image", None, []
    ranked = found.catalog.by_image(q.fingerprint)
    items = _item_candidates(ranked, q.fingerprint, limit)
    match = catalog_match(ranked[0][0] if ranked else None, q.fingerprint)
    if match.tier is Tier.EXACT:
        reason = f"no stub matches: item {match.rule!r} shows the very image, ranked first"
    elif match.rule is not None:
        reason = (f"no stub matches: the catalog of engine {found.id!r}, nearest first; the "
                  f"nearest is item {match.rule!r} at {match.distance} bits")
    else:
        reason = f"no stub matches, and engine {found.id!r} has no items"
    return "catalog", reason, match, items


def explain_catalog(engine: Services, q: StubQuery,
                    limit: int = DEFAULT_CANDIDATES) -> dict[str, Any]:
    """What answers ``q`` on a catalog search engine (``q.scope`` its id): a runtime stub,
    or the engine's own ranking. Candidates: up to ``limit`` stubs, then up to ``limit``
    of the nearest items (for an image)."""
    hit = engine.stubs.match(q, consume=False)
    winner = hit.stub.name if hit is not None else None
    source, reason, match, items = _catalog_answer(engine, q, limit)
    if hit is not None:
        source, reason, match = "stub", f"runtime stub {winner!r} matches", hit.match
    return {
        "source": source,
        "reason": reason,
        "match": match.to_json() if match is not None else None,
        "stub_id": hit.stub.id if hit is not None else None,
        "outcome": None if source == "none" else
        "error" if hit is not None and hit.step.fault is not None else "results",
        "candidates": [asdict(c) for c in _stub_candidates(engine, q, winner, limit) + items],
    }
