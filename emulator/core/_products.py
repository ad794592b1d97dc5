"""Generated product catalogs: a count, a seed and field recipes make the same items anywhere.

Every value is a pure function of (seed, item number, field name) through a keyed hash;
text that needs words comes from Faker (pinned, so its word lists cannot drift), seeded
from the same hash. Nothing depends on the process, the clock or the machine.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


from ._document import Color

#: Emulator decision: the catalog a generated index holds when its recipes say nothing.
BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adventure Works",
          "Proseware", "Wingtip")
STYLES = ("Classic", "Slim", "Vintage", "Sport", "Urban", "Essential", "Relaxed", "Premium")
KINDS = ("Sneakers", "Boots", "T-Shirt", "Hoodie", "Jacket", "Jeans", "Dress", "Skirt",
         "Backpack", "Cap", "Scarf", "Sweater")
DEPARTMENTS = ("Women", "Men", "Kids")
AVAILABILITY = ("in stock",) * 4 + ("out of stock",)
SIZES = ("XS", "S", "M", "L", "XL")

#: Recipe kinds, and the fields each may carry besides ``share``.
KIND_KEYS = {"choices": {"pick"}, "range": {"decimals"}, "faker": set(), "value": set(),
             "template": set(), "discount": {"decimals"}}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class RecipeError(ValueError):
    """A recipe that cannot make values: the field it is for, and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name


@dataclass(frozen=True)
class Recipe:
    """How one field is made. ``share`` of the items get it (the rest leave it out);
    names starting with ``_`` are made for templates only, never written to the item."""

    kind: str
    spec: Mapping[str, Any]
    share: float = 1.0

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Recipe:
        kind = next(k for k in KIND_KEYS if k in raw)
        return cls(kind, dict(raw), raw.get("share", 1.0))


DEFAULT_RECIPES: dict[str, Recipe] = {
    "id": Recipe("template", {"template": "{n}"}),
    "_department": Recipe("choices", {"choices": list(DEPARTMENTS)}),
    "_kind": Recipe("choices", {"choices": list(KINDS)}),
    "_style": Recipe("choices", {"choices": list(STYLES)}),
    "brand": Recipe("choices", {"choices": list(BRANDS)}),
    "title": Recipe("template", {"template": "{brand} {_style} {_kind}"}),
    "description": Recipe("faker", {"faker": "sentence"}),
    "color": Recipe("choices", {"choices": [c.value for c in Color]}),
    "categories": Recipe("template", {"template": ["{_department}", "{_department} > {_kind}"]}),
    "size": Recipe("choices", {"choices": list(SIZES), "pick": [1, 3]}),
    "price": Recipe("range", {"range": [5, 250], "decimals": 2}),
    "sale_price": Recipe("discount", {"discount": [10, 50], "decimals": 2}, share=0.3),
    "availability": Recipe("choices", {"choices": list(AVAILABILITY)}),
    "link": Recipe("template", {"template": "https://shop.example.com/products/{n}"}),
}


def _jsonable(value: Any) -> Any:
    """Faker's dates and decimals as JSON can carry them."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class ProductGenerator:
    """Makes item ``n`` (1-based) of a generated index; the recipes are checked up front."""

    def __init__(self, seed: str | int, recipes: Mapping[str, Mapping[str, Any] | None],
                 locale: str = "en_US") -> None:
        self._key = hashlib.blake2b(str(seed).encode(), digest_size=32).digest()
        merged = dict(DEFAULT_RECIPES)
        for name, raw in recipes.items():
            if raw is None:
                merged.pop(name, None)
            else:
                merged[name] = Recipe.parse(raw)
        if "id" not in merged:
            raise RecipeError("id", "every item needs an id: the id recipe cannot be removed")
        self.recipes = merged
        from faker import Faker  # only a generated catalog that is not cached needs it

        try:
            self._faker = Faker(locale)
        except AttributeError:
            raise RecipeError("locale", f"Faker has no locale {locale!r}") from None
        self._check()

    def _check(self) -> None:
        known = {"n"}
        for name, recipe in self.recipes.items():
            if recipe.kind == "template":
                for ref in _PLACEHOLDER.findall(str(recipe.spec["template"])):
                    if ref not in known:
                        raise RecipeError(name, f"template names {{{ref}}}, which no earlier "
                                                f"field makes")
            if recipe.kind == "faker":
                method = getattr(self._faker, recipe.spec["faker"], None)
                if not callable(method) or recipe.spec["faker"].startswith("_"):
                    raise RecipeError(name, f"Faker has no method {recipe.spec['faker']!r}")
            if recipe.kind == "discount" and "price" not in known:
                raise RecipeError(name, "a discount needs a price field made before it")
            for pair in ("range", "discount", "pick"):
                low_high = recipe.spec.get(pair)
                if low_high is not None and low_high[0] > low_high[1]:
                    raise RecipeError(name, f"{pair} must be [low, high]")
            known.add(name)
        self.product(1)  # a recipe that fails (a Faker method needing arguments) fails now

    def _digest(self, n: int, name: str) -> bytes:
        return hashlib.blake2b(f"{name}\0{n}".encode(), key=self._key, digest_size=32).digest()

    def product(self, n: int) -> dict[str, Any]:
        made: dict[str, Any] = {"n": n}
        for name, recipe in self.recipes.items():
            digest = self._digest(n, name)
            if _unit(digest, 24) >= recipe.share:
                continue
            try:
                value = self._value(recipe, digest, made)
            except Exception as exc:  # Faker methods raise many kinds
                raise RecipeError(name, f"{recipe.kind} recipe failed: {exc}") from None
            if value is not None:
                made[name] = value
        return {k: v for k, v in made.items() if k != "n" and not k.startswith("_")}

    def _value(self, recipe: Recipe, digest: bytes, made: dict[str, Any]) -> Any:
        spec = recipe.spec
        if recipe.kind == "value":
            return spec["value"]
        if recipe.kind == "choices":
            return _choose(spec["choices"], spec.get("pick"), digest)
        if recipe.kind == "range":
            return _number(spec["range"], spec.get("decimals", 0), _unit(digest, 0))
        if recipe.kind == "discount":
            price = made.get("price")
            if not isinstance(price, (int, float)) or isinstance(price, bool):
                return None
            off = _number(spec["discount"], 4, _unit(digest, 0))
            return round(price * (100 - off) / 100, spec.get("decimals", 2))
        if recipe.kind == "template":
            template = spec["template"]
            if isinstance(template, list):
                return [_fill(t, made) for t in template]
            return _fill(template, made)
        self._faker.seed_instance(int.from_bytes(digest[:8], "big"))
        return _jsonable(getattr(self._faker, spec["faker"])())


def _unit(digest: bytes, at: int) -> float:
    """A number in [0, 1) from six bytes of the digest."""
    return int.from_bytes(digest[at:at + 6], "big") / 2 ** 48


def _number(bounds: list[float], decimals: int, unit: float) -> int | float:
    low, high = bounds
    value = round(low + unit * (high - low), decimals)
    return int(value) if decimals == 0 else value


def _choose(choices: list[Any], pick: list[int] | None, digest: bytes) -> Any:
    if pick is None:
        return choices[int.from_bytes(digest[:8], "big") % len(choices)]
    low, high = min(pick[0], len(choices)), min(pick[1], len(choices))
    count = low + int.from_bytes(digest[8:12], "big") % (high - low + 1)
    order = sorted(range(len(choices)),
                   key=lambda i: hashlib.blake2b(i.to_bytes(4, "big"), key=digest[:16],
                                                 digest_size=8).digest())
    return [choices[i] for i in sorted(order[:count])]


def _fill(template: str, made: Mapping[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(made.get(m.group(1), "")), template)
