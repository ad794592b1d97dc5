"""Fixture rules: an image or a query text mapped to results, an error, or a delay."""

from __future__ import annotations

from dataclasses import dataclass

from ._document import ImageDocument
from ._fingerprint import Fingerprint


@dataclass(frozen=True, slots=True)
class Fault:
    """An error a rule asks for, as the fixture gives it: ``status`` a gRPC code (name or
    number), ``code`` a yandexsearch XML code, ``http_status`` an HTTP status (runtime
    stubs and faults, for HTTP-only vendors). Each adapter renders the one its vendor
    speaks; the core does not interpret them."""

    status: str | int | None = None
    code: int | None = None
    message: str = ""
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a rule answers: documents in order, or a fault; after ``delay_ms``."""

    docs: tuple[ImageDocument, ...] | None = None
    fault: Fault | None = None
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class ImageRule:
    name: str
    key: bytes
    fingerprint: Fingerprint | None
    cbir_alias: str | None
    folder: str | None
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class QueryRule:
    name: str
    text: str
    folder: str | None
    outcome: Outcome


def normalize_text(text: str) -> str:
    """Emulator decision: query texts match ignoring case and runs of whitespace."""
    return " ".join(text.casefold().split())


def _scoped(rules, folder: str | None):
    """Rules for this folder first, then the unscoped ones."""
    yield from (r for r in rules if r.folder is not None and r.folder == folder)
    yield from (r for r in rules if r.folder is None)


@dataclass(frozen=True)
class RuleBook:
    image_rules: tuple[ImageRule, ...] = ()
    query_rules: tuple[QueryRule, ...] = ()

    def for_image(self, key: bytes, fp: Fingerprint | None, folder: str | None) -> ImageRule | None:
        """The rule of the same image (by digest), else of a look-alike (perceptual hash)."""
        for rule in _scoped(self.image_rules, folder):
            if rule.key == key:
                return rule
        if fp is not None:
            for rule in _scoped(self.image_rules, folder):
                if rule.fingerprint is not None and rule.fingerprint.looks_like(fp):
                    return rule
        return None

    def for_alias(self, cbir_id: str, folder: str | None) -> ImageRule | None:
        return next((r for r in _scoped(self.image_rules, folder) if r.cbir_alias == cbir_id), None)

    def for_text(self, text: str, folder: str | None) -> QueryRule | None:
        wanted = normalize_text(text)
        return next((r for r in _scoped(self.query_rules, folder) if r.text == wanted), None)
