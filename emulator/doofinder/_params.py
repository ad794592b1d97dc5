"""Query strings in every bracket dialect real Doofinder clients send, read into a tree.

Contract (the vendor's parameter docs, and what pydoof and js-doofinder emit):
``filter[color][]=blue``, ``filter[color][0]=blue``, ``filter[brand]=Nike``, repeated
``exclude[size]=M&exclude[size]=S``, ``filter[price][gte]=4.36``,
``facets[0][field]=brand``, ``sort[0][price]=asc``, ``sort[]=price``; brackets may arrive
percent-encoded (the HTTP layer has decoded them). The tree has the shape a JSON body
would have (``{"filter": {"color": ["blue"]}}``), so both feed the same parameter rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
#: Emulator decision: keys nest at most this deep (``facets[0][field]`` is 3); deeper
#: keys are malformed, which bounds the work a long query string can cause.
MAX_DEPTH = 6


class Conflict(ValueError):
    """One parameter given in shapes that cannot both hold (``a=1&a[b]=2``)."""


@dataclass
class _Node:
    scalars: list[str] = field(default_factory=list)  # values given at exactly this key
    named: dict[str, _Node] = field(default_factory=dict)  # [name] children, in order
    pushed: list[_Node] = field(default_factory=list)  # [] children, in order

    def add(self, path: list[str], value: str) -> None:
        if not path:
            self.scalars.append(value)
            return
        head, rest = path[0], path[1:]
        if head == "":
            child = _Node()
            self.pushed.append(child)
        else:
            child = self.named.setdefault(head, _Node())
        child.add(rest, value)

    def value(self) -> Any:
        """``[0]``, ``[1]`` children make a list (in index order); other names a dict;
        repeated or ``[]`` values a list; a single value stays a scalar."""
        if self.named:
            if self.scalars:
                raise Conflict()
            if all(k.isascii() and k.isdigit() for k in self.named):
                # by numeric value without int(): an index of 5000 digits is still a number
                ordered = sorted(self.named.items(),
                                 key=lambda kv: (len(kv[0].lstrip("0")), kv[0].lstrip("0")))
                return [c.value() for _, c in ordered] + [c.value() for c in self.pushed]
            if self.pushed:
                raise Conflict()
            return {k: c.value() for k, c in self.named.items()}
        values = self.scalars + [c.value() for c in self.pushed]
        return values[0] if len(values) == 1 and not self.pushed else values


@dataclass(frozen=True)
class Params:
    """Top-level parameters as a tree; ``malformed`` names those that could not be read."""

    tree: dict[str, Any]
    malformed: frozenset[str] = frozenset()


def split_key(key: str) -> tuple[str, list[str]] | None:
    """``filter[color][]`` -> ("filter", ["color", ""]); None when not well bracketed."""
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    return match.group(1), _SEGMENT.findall(match.group(2))


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    roots: dict[str, _Node] = {}
    malformed: set[str] = set()
    for key, value in pairs:
        split = split_key(key)
        if split is None or len(split[1]) > MAX_DEPTH:
            malformed.add(key.split("[", 1)[0])
            continue
        name, path = split
        roots.setdefault(name, _Node()).add(path, value)
    tree = {}
    for name, node in roots.items():
        try:
            tree[name] = node.value()
        except Conflict:
            malformed.add(name)
    return Params({k: v for k, v in tree.items() if k not in malformed}, frozenset(malformed))


def merge(query: Params, body: dict[str, Any]) -> Params:
    """A JSON body's parameters beside the query string's. Emulator decision: one given in
    both must say the same in both; otherwise it is malformed (neither is preferred)."""
    tree = dict(query.tree)
    malformed = set(query.malformed)
    for name, value in body.items():
        if name in tree and tree[name] != value:
            malformed.add(name)
            del tree[name]
        elif name not in malformed:
            tree[name] = value
    return Params(tree, frozenset(malformed))
