"""Fixture rules: an image or a query text mapped to results, an error, or a delay."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._document import ImageDocument
from ._fingerprint import Fingerprint, visual_distance
from ._match import Match, Tier


class ErrorKind(enum.Enum):
    """What kind of error a :class:`Fault` is, in no vendor's words."""

    #: the error a fixture rule, a runtime stub or a fault names (see ``Fault.fields``)
    NAMED = "named"
    #: too many calls: a fault's quota is spent
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class Fault:
    """An error to answer: a neutral kind and, for a named one, the fields of the error
    object as the fixture, stub or fault gives them (the vendors' status and code fields)
    and its message. Each vendor's errors module reads the fields its vendor speaks and
    renders the error; the core does not interpret them."""

    kind: ErrorKind = ErrorKind.NAMED
    fields: tuple[tuple[str, Any], ...] = ()
    message: str = ""

    @classmethod
    def named(cls, fields: Mapping[str, Any], message: str = "") -> Fault:
        return cls(ErrorKind.NAMED, tuple(sorted(fields.items())), message)

    def get(self, name: str) -> Any:
        """The error object's field ``name``; None when it does not give one."""
        return next((value for key, value in self.fields if key == name), None)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a rule answers: documents in order, or a fault; after ``delay_ms``."""

    docs: tuple[ImageDocument, ...] | None = None
    fault: Fault | None = None
    delay_ms: int = 0
    #: a sequence: one outcome a call, in turn (the last repeats, unless ``repeat``)
    steps: tuple[Outcome, ...] = ()
    repeat: bool = False
    #: what names the sequence's count in the state store (the rule's place and content)
    sequence: str = ""


@dataclass(frozen=True, slots=True)
class ImageRule:
    name: str
    key: bytes
    fingerprint: Fingerprint | None
    cbir_alias: str | None
    folder: str | None
    outcome: Outcome
    #: the rule's own perceptual distance; None: the fixtures' setting
    max_distance: int | None = None
    #: the file of the fixtures' images/ folder the rule names (None: a digest)
    image_file: str | None = None


@dataclass(frozen=True, slots=True)
class ImageMatch:
    """The rule an image query found (None: no rule within its distance), and why."""

    rule: ImageRule | None
    match: Match


@dataclass(frozen=True, slots=True)
class QueryRule:
    name: str
    text: str
    folder: str | None
    outcome: Outcome


def url_key(url: str) -> bytes:
    """The key a URL no fixture lists seeds results and image ids with (and a rule of that
    ``url`` matches by)."""
    return hashlib.blake2b(f"url:{url}".encode(), digest_size=16).digest()


def normalize_text(text: str) -> str:
    """Emulator decision: query texts match ignoring case and runs of whitespace."""
    return " ".join(text.casefold().split())


def _in_folder(rules, folder: str | None) -> list:
    return [r for r in rules if r.folder is not None and r.folder == folder]


def _unscoped(rules) -> list:
    return [r for r in rules if r.folder is None]


def _scoped(rules, folder: str | None):
    """Rules for this folder first, then the unscoped ones."""
    yield from _in_folder(rules, folder)
    yield from _unscoped(rules)


@dataclass(frozen=True)
class RuleBook:
    image_rules: tuple[ImageRule, ...] = ()
    query_rules: tuple[QueryRule, ...] = ()

    def for_image(self, key: bytes, fp: Fingerprint | None, folder: str | None,
                  max_distance: int, via: Tier | None = None) -> ImageMatch:
        """Matching in tiers: the rule of the same image (by digest), else the closest
        look-alike within its distance (the folder's rules before the unscoped ones), else
        none, naming the nearest rule and its distance. ``via`` names how an image reached
        by digest was sent when not as bytes (a fixture URL)."""
        for rule in _scoped(self.image_rules, folder):
            if rule.key == key:
                return ImageMatch(rule, Match(via or Tier.EXACT, rule.name,
                                              0 if fp is not None else None))
        if fp is None:
            return ImageMatch(None, Match(Tier.GENERATED))
        for group in (_in_folder(self.image_rules, folder), _unscoped(self.image_rules)):
            close = [(fp.distance(r.fingerprint), i, r) for i, r in enumerate(group)
                     if r.fingerprint is not None and r.fingerprint.looks_like(
                         fp, max_distance if r.max_distance is None else r.max_distance)]
            if close:
                distance, _, rule = min(close, key=lambda c: c[:2])
                return ImageMatch(rule, Match(Tier.PERCEPTUAL, rule.name, distance))
        return ImageMatch(None, self._nearest(fp, folder))

    def _nearest(self, fp: Fingerprint, folder: str | None) -> Match:
        """Emulator decision: the nearest rule is the one that looks most alike (visual
        distance: colour and shape), reported with its hash distance in bits."""
        ranked = [(visual_distance(fp, r.fingerprint), i, r)
                  for i, r in enumerate(_scoped(self.image_rules, folder))
                  if r.fingerprint is not None]
        if not ranked:
            return Match(Tier.GENERATED)
        _, _, rule = min(ranked, key=lambda c: c[:2])
        return Match(Tier.NEAREST, rule.name, fp.distance(rule.fingerprint))

    def for_alias(self, cbir_id: str, folder: str | None) -> ImageRule | None:
        return next((r for r in _scoped(self.image_rules, folder) if r.cbir_alias == cbir_id), None)

    def for_text(self, text: str, folder: str | None) -> QueryRule | None:
        wanted = normalize_text(text)
        return next((r for r in _scoped(self.query_rules, folder) if r.text == wanted), None)
