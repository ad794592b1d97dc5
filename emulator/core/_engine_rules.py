"""Fixture rules of one catalog search engine (``engines.json``): a recorded answer per
query picture, item (dfid), search text or suggestion text.

A rule answers item ids of its engine (then filtered, faceted, sorted and paged as the
request asks, as a runtime stub's are), suggestions, or an error; or a ``sequence`` of
such answers, taken in turn (see :mod:`._rule_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._fingerprint import Fingerprint
from ._match import Match, Tier
from ._rules import Fault, normalize_text


@dataclass(frozen=True, slots=True)
class EngineAnswer:
    """One answer of an engine rule: item ids (in order), suggestions, or an error."""

    results: tuple[str, ...] | None = None
    suggestions: tuple[str, ...] | None = None
    fault: Fault | None = None
    #: the ``query_name`` the answer reports (None: the operation's own)
    query_name: str | None = None


@dataclass(frozen=True, slots=True)
class EngineRule:
    """``id`` is the rule's place in the file (``<hashid>/image_rules[0]``): what names its
    sequence's steps in the state store."""

    id: str
    name: str
    steps: tuple[EngineAnswer, ...]
    repeat: bool = False
    key: bytes | None = None
    fingerprint: Fingerprint | None = None
    max_distance: int | None = None


@dataclass(frozen=True)
class EngineRules:
    images: tuple[EngineRule, ...] = ()
    similar: dict[str, EngineRule] = field(default_factory=dict)  # by dfid
    texts: dict[str, EngineRule] = field(default_factory=dict)  # by normalised text
    suggest: dict[str, EngineRule] = field(default_factory=dict)  # by normalised text

    def for_image(self, fp: Fingerprint, max_distance: int) -> tuple[EngineRule, Match] | None:
        """The rule of this very picture, else the closest look-alike within its distance."""
        for rule in self.images:
            if rule.key == fp.key:
                return rule, Match(Tier.EXACT, rule.name, 0)
        close = [(fp.distance(r.fingerprint), i, r) for i, r in enumerate(self.images)
                 if r.fingerprint is not None and r.fingerprint.looks_like(
                     fp, max_distance if r.max_distance is None else r.max_distance)]
        if not close:
            return None
        distance, _, rule = min(close, key=lambda c: c[:2])
        return rule, Match(Tier.PERCEPTUAL, rule.name, distance)

    def for_text(self, text: str) -> EngineRule | None:
        return self.texts.get(normalize_text(text))

    def for_suggest(self, text: str) -> EngineRule | None:
        return self.suggest.get(normalize_text(text))


def answer_of(raw: dict[str, Any]) -> EngineAnswer:
    error = raw.get("error")
    fault = None if error is None else Fault.named(
        {k: v for k, v in error.items() if k != "message"}, error.get("message", ""))
    results, suggestions = raw.get("results"), raw.get("suggestions")
    return EngineAnswer(tuple(results) if results is not None else None,
                        tuple(suggestions) if suggestions is not None else None,
                        fault, raw.get("query_name"))


def steps_of(raw: dict[str, Any]) -> tuple[EngineAnswer, ...]:
    return tuple(answer_of(s) for s in raw["sequence"]) if "sequence" in raw \
        else (answer_of(raw),)
