"""Query and header parameters of admin operations, checked against the parameters the
OpenAPI document declares for each operation: the document is the one place that says
which parameters an operation takes and what values they allow, limits included.

Emulator decision: ``after`` and ``limit`` go up to 2**63 - 1 (the document's ``maximum``),
the largest signed 64-bit integer, so a client holding a seq or a count in a typed int64
can send any value it has; a larger one is refused, naming the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web

from ._spec import document


class ParameterError(Exception):
    """A parameter the operation does not take, or a value its schema does not allow."""


@dataclass(frozen=True)
class Rule:
    """What the document allows for one parameter (the keywords its schemas use)."""

    name: str
    kind: str  # "string" or "integer"
    min_length: int = 0
    minimum: int | None = None
    maximum: int = 0  # integers only: the document must give one (see _rule)
    enum: tuple[str, ...] = ()

    def check(self, raw: str) -> None:
        if self.kind == "integer":
            self._check_integer(raw)
        elif self.enum and raw not in self.enum:
            raise ParameterError(f"{self.name} must be one of: " + ", ".join(self.enum))
        elif len(raw) < self.min_length:
            raise ParameterError(f"{self.name} must not be empty" if self.min_length == 1
                                 else f"{self.name} must be at least {self.min_length} characters")

    def _check_integer(self, raw: str) -> None:
        value = integer(raw, self.maximum)
        if value is None or (self.minimum is not None and value < self.minimum):
            low = "" if self.minimum is None else f" from {self.minimum}"
            raise ParameterError(f"{self.name} must be an integer{low} to {self.maximum}")


def integer(raw: str, maximum: int) -> int | None:
    """The value of ASCII digits, at most ``maximum``; None for anything else. Leading
    zeros do not count towards the length (the request line bounds how many there are)."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None


#: The schema keywords :class:`Rule` understands; a document using others is refused at
#: the first request of that operation rather than half-checked.
_KEYWORDS = {"type", "minLength", "minimum", "maximum", "enum", "description"}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = document()["components"][section][name]
    return node


def _rule(parameter: dict[str, Any]) -> Rule:
    schema = _resolve(parameter.get("schema", {}))
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise ValueError(f"parameter {parameter['name']}: unsupported keywords {sorted(unknown)}")
    kind = schema.get("type", "string")
    if kind not in ("string", "integer"):
        raise ValueError(f"parameter {parameter['name']}: unsupported type {kind!r}")
    if kind == "integer" and "maximum" not in schema:  # every limit is written down
        raise ValueError(f"parameter {parameter['name']}: an integer needs a maximum")
    return Rule(parameter["name"], kind, schema.get("minLength", 0), schema.get("minimum"),
                schema.get("maximum", 0), tuple(schema.get("enum", ())))


@dataclass(frozen=True)
class Parameters:
    """An operation's query parameters and header parameters, by name."""

    query: dict[str, Rule]
    headers: dict[str, Rule]  # by lower-case name: header names are case-insensitive

    def check(self, request: web.Request) -> None:
        unknown = sorted(set(request.query) - set(self.query))
        if unknown:
            raise ParameterError(f"unknown query parameter {unknown[0]!r}; known: "
                                 + ", ".join(self.query))
        for name, rule in self.query.items():
            for raw in request.query.getall(name, ()):
                rule.check(raw)
        for name, rule in self.headers.items():
            for raw in request.headers.getall(name, ()):
                rule.check(raw)


@cache
def parameters(method: str, path: str) -> Parameters:
    """What the document declares for ``method`` on ``path`` (path-level ones included)."""
    item = document()["paths"][path]
    declared = [_resolve(p) for p in (*item.get("parameters", ()),
                                       *item[method.lower()].get("parameters", ()))]
    return Parameters(
        query={p["name"]: _rule(p) for p in declared if p["in"] == "query"},
        headers={p["name"].lower(): _rule(p) for p in declared if p["in"] == "header"})
