"""Catalog search engines from ``engines.json``: who may query them and what they hold.

Each engine has an id, the keys and web origins that may use it, client addresses it
refuses, its features, and its indices of items: listed in the fixture, generated from
recipes, or both. Every item is shown with a picture: the fixture's image file, or a
placeholder drawn in the item's colour and labelled with its title; either way it is
fingerprinted here, once, so image queries only compare fingerprints.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import gc
import hashlib
import importlib.util
import ipaddress
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import _diskcache, _feeds, _products
from ._catalog import Catalog, Item, is_number
from ._document import Color
from ._engine_rules import EngineRule, EngineRules, steps_of
from ._fingerprint import Fingerprint, sha256_key
from ._placeholder import RGB, PlaceholderPicture, files_path
from ._products import ProductGenerator, RecipeError
from ._rules import normalize_text

FILE = "engines.json"
#: Emulator decision: placeholder pictures of items are 200 x 200, a thumbnail's size:
#: small enough to draw and fingerprint a few hundred items at start-up in well under a
#: second, and the very picture served at the item's ``image_link``.
PICTURE_SIZE = (200, 200)
#: Emulator decision: an item with no ``color`` is drawn in gray.
DEFAULT_COLOR = Color.GRAY
_DEFAULT_COLOR_NAME = DEFAULT_COLOR.value
#: The fixture key naming an item's image file; it is not part of the item itself.
IMAGE_FILE = "image_file"
#: Item fields the emulator derives when the fixture does not give them.
IMAGE_LINK, BEST_PRICE = "image_link", "best_price"
#: Emulator decision: an engine a fixture declares has image search on unless it says
#: otherwise (it is what the emulator is for), and suggestions on.
DEFAULT_IMAGE_SEARCH = True
DEFAULT_SUGGESTIONS = True

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (file, place, name) -> fingerprint of ``images/name``; raises FixtureError
ImageLoader = Callable[[str, str, str], Fingerprint]
#: (file, place, reason) -> the exception to raise
FixtureFault = Callable[[str, str, str], Exception]


@dataclass(frozen=True)
class CatalogEngine:
    """A catalog search engine as the fixtures declare it (all vendor-neutral data)."""

    id: str
    name: str
    keys: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    banned: tuple[Network, ...]
    image_search: bool
    suggestions: bool
    query_name: str | None  # what image answers report as their query type (None: the default)
    catalog: Catalog
    #: recorded answers (a recording's): consulted after runtime stubs, before the catalog
    rules: EngineRules = dataclasses.field(default_factory=EngineRules)

    def is_banned(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == net.version and address in net for net in self.banned)


#: RGB by colour name (a dict look-up: a catalog of 100,000 items asks it for each)
_RGB_BY_NAME = {color.value: rgb for color, rgb in RGB.items()}


def _rgb(color: Any) -> tuple[int, int, int]:
    """A colour name's RGB; any other value gets a colour of its own, from its digest."""
    if not isinstance(color, str):
        return RGB[DEFAULT_COLOR]
    rgb = _RGB_BY_NAME.get(color)
    if rgb is None:
        digest = hashlib.blake2b(color.encode(), digest_size=3).digest()
        rgb = (digest[0], digest[1], digest[2])
    return rgb


def picture_of(fields: dict[str, Any]) -> tuple[tuple[int, int], tuple[int, int, int], str]:
    """The placeholder an item is shown with: (size, colour, label)."""
    title = fields.get("title")
    return PICTURE_SIZE, _rgb(fields.get("color", _DEFAULT_COLOR_NAME)), \
        str(title if title is not None else fields["id"])[:64]


def best_price(fields: dict[str, Any]) -> float | None:
    """The lower of ``price`` and ``sale_price``; None when the item has neither."""
    prices = [fields[k] for k in ("price", "sale_price") if is_number(fields.get(k))]
    return min(prices, default=None)


@dataclass
class _Pending:
    """An item read from the fixture, waiting for its picture's fingerprint."""

    index: str
    fields: dict[str, Any]
    image: Fingerprint | None
    image_path: str | None  # a file's path (None: the placeholder's, unless linked)
    linked: bool  # the item names its own image_link


def _item(p: _Pending, drawn: dict[tuple, PlaceholderPicture]) -> Item:
    picture: Fingerprint | PlaceholderPicture = p.image or _drawn(p.fields, drawn)
    path: str | Callable[[], str] | None = p.image_path
    if p.linked:
        path = None
    elif path is None and isinstance(picture, PlaceholderPicture):
        path = picture.path
    return Item.create(p.index, p.fields, picture, path)


class _EngineReader:
    def __init__(self, image: ImageLoader, fault: FixtureFault, feeds: Path | None) -> None:
        self.image, self.fault, self.feeds = image, fault, feeds
        #: placeholders by (size, colour, label): items showing the same picture share one
        self.drawn: dict[tuple, PlaceholderPicture] = {}

    def engines(self, raw: dict[str, Any]) -> dict[str, CatalogEngine]:
        engines: dict[str, tuple[CatalogEngine, list[_Pending | Item]]] = {}
        drawn = self.drawn
        for e, spec in enumerate(raw["engines"]):
            place = f"$.engines[{e}]"
            if spec["hashid"] in engines:
                raise self.fault(FILE, f"{place}.hashid", f"duplicate engine {spec['hashid']!r}")
            engines[spec["hashid"]] = (self.engine(spec, place), self.items(spec, place))
        return {hashid: dataclasses.replace(
                    engine, catalog=Catalog.of((p if isinstance(p, Item) else _item(p, drawn)
                                                for p in items), engine.catalog.indices),
                    rules=self.rules(raw["engines"][n], f"$.engines[{n}]",
                                     {p.fields["id"] for p in items}))
                for n, (hashid, (engine, items)) in enumerate(engines.items())}

    def rules(self, spec: dict[str, Any], place: str, ids: set[str]) -> EngineRules:
        """The engine's recorded answers; every result id must be one of its items."""
        def rule(kind: str, i: int, raw: dict[str, Any], **match: Any) -> EngineRule:
            where = f"{place}.{kind}[{i}]"
            steps = steps_of(raw)
            for s, step in enumerate(steps):
                for j, item_id in enumerate(step.results or ()):
                    if item_id not in ids:
                        at = f"{where}.sequence[{s}]" if "sequence" in raw else where
                        raise self.fault(FILE, f"{at}.results[{j}]",
                                         f"no item {item_id!r} in the engine")
            return EngineRule(id=f"{spec['hashid']}/{kind}[{i}]",
                              name=raw.get("name") or f"{kind}[{i}]", steps=steps,
                              repeat=raw.get("repeat", False), **match)

        images, similar = [], {}
        for i, raw in enumerate(spec.get("image_rules", ())):
            if "dfid" in raw:
                similar[raw["dfid"]] = rule("image_rules", i, raw)
            elif "image" in raw:
                fp = self.image(FILE, f"{place}.image_rules[{i}].image", raw["image"])
                images.append(rule("image_rules", i, raw, key=fp.key, fingerprint=fp,
                                   max_distance=raw.get("perceptual_distance")))
            else:
                images.append(rule("image_rules", i, raw, key=sha256_key(raw["sha256"])))
        texts = {normalize_text(raw["text"]): rule("query_rules", i, raw)
                 for i, raw in enumerate(spec.get("query_rules", ()))}
        suggest = {normalize_text(raw["text"]): rule("suggest_rules", i, raw)
                   for i, raw in enumerate(spec.get("suggest_rules", ()))}
        return EngineRules(tuple(images), similar, texts, suggest)

    def engine(self, spec: dict[str, Any], place: str) -> CatalogEngine:
        """The engine's settings, with an empty catalog of its indices."""
        return CatalogEngine(
            id=spec["hashid"],
            name=spec.get("name", spec["hashid"]),
            keys=tuple(spec.get("keys", ())),
            allowed_origins=tuple(spec.get("allowed_origins", ())),
            banned=tuple(self.network(a, f"{place}.banned_ips[{i}]")
                         for i, a in enumerate(spec.get("banned_ips", ()))),
            image_search=spec.get("image_search", DEFAULT_IMAGE_SEARCH),
            suggestions=spec.get("suggestions", DEFAULT_SUGGESTIONS),
            query_name=spec.get("query_name"),
            catalog=Catalog(indices=tuple(i["name"] for i in spec["indices"])),
        )

    def network(self, text: str, place: str) -> Network:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise self.fault(FILE, place, f"{text!r} is not an IP address or network") from None

    def items(self, spec: dict[str, Any], place: str) -> list[_Pending | Item]:
        out: list[_Pending | Item] = []
        names = set()
        for i, index in enumerate(spec["indices"]):
            where = f"{place}.indices[{i}]"
            if index["name"] in names:
                raise self.fault(FILE, f"{where}.name", f"duplicate index {index['name']!r}")
            names.add(index["name"])
            seen: set[str] = set()
            for j, raw in enumerate(index.get("items", ())):
                out.append(self.listed(index["name"], raw, f"{where}.items[{j}]", seen))
            if "feed" in index:
                out.extend(self.feed(index["name"], index["feed"], f"{where}.feed", seen))
            if "generated" in index:
                out.extend(self.generated(index["name"], index["generated"],
                                          f"{where}.generated", seen))
        return out

    def feed(self, index: str, name: str, place: str, seen: set[str]) -> Iterable[_Pending]:
        """The items of a product feed file (see :mod:`._feeds`), after any listed ones."""
        path = None if self.feeds is None else _feeds.feed_file(self.feeds, name)
        if path is None:
            raise self.fault(FILE, place, f"no feed file {_feeds.FEEDS_DIR}/{name}")
        file = f"{_feeds.FEEDS_DIR}/{name}"
        try:
            for line, fields in _feeds.read_feed(path):
                if fields["id"] in seen:
                    raise self.fault(file, f"line {line}", f"duplicate item id {fields['id']!r} "
                                                           f"in the index")
                seen.add(fields["id"])
                yield self.pending(index, fields, file, f"line {line}")
        except _feeds.FeedError as exc:
            raise self.fault(file, exc.place, str(exc)) from None

    def listed(self, index: str, raw: dict[str, Any], place: str, seen: set[str]) -> _Pending:
        self.unique(raw["id"], f"{place}.id", seen)
        return self.pending(index, raw, FILE, f"{place}.{IMAGE_FILE}")

    def pending(self, index: str, raw: dict[str, Any], file: str, place: str) -> _Pending:
        """A listed or fed item, its image file (if it names one) fingerprinted."""
        fields = {k: v for k, v in raw.items() if k != IMAGE_FILE}
        image = None
        path = None
        if IMAGE_FILE in raw:
            image = self.image(file, place, raw[IMAGE_FILE])
            path = files_path(raw[IMAGE_FILE])
        return _with_derived(index, fields, image, path)

    def generated(self, index: str, spec: dict[str, Any], place: str,
                  seen: set[str]) -> list[Item]:
        try:
            products, (pictures, rows) = _products_of(
                index, spec, lambda made: self.checked(made, place))
        except RecipeError as exc:
            field = "locale" if exc.name == "locale" else f"fields.{exc.name}"
            raise self.fault(FILE, f"{place}.{field}", str(exc)) from None
        ids = [fields["id"] for fields in products]
        if not seen.isdisjoint(ids):  # an id a listed or fed item of the index has
            n, item_id = next((n, i) for n, i in enumerate(ids, 1) if i in seen)
            raise self.fault(FILE, f"{place} (item {n})", f"duplicate item id {item_id!r} "
                                                          f"in the index")
        seen.update(ids)
        # checked, best_price derived and each one's placeholder worked out before they
        # were kept (see self.checked); served at the placeholder's path unless it links one
        drawn = self.drawn
        shown = [_shared_placeholder(drawn, width, height, tuple(rgb), label)
                 for width, height, rgb, label in pictures]
        create = Item.create
        return [create(index, fields, shown[row],
                       None if IMAGE_LINK in fields else shown[row].path)
                for fields, row in zip(products, array.array("I", rows), strict=True)]

    def checked(self, products: list[dict[str, Any]], place: str) -> tuple[list, bytes]:
        """Generated products as items: ids and titles checked (ids unique among them),
        derived fields added; and the placeholders they are shown with, as (the distinct
        pictures' (width, height, colour, label), each product's picture's row as
        unsigned 32-bit numbers). Raises the fixture fault."""
        ids: set[str] = set()
        rows = array.array("I")
        distinct: dict[tuple, int] = {}
        for n, fields in enumerate(products, 1):
            if not isinstance(fields.get("id"), str) or not fields["id"]:
                raise self.fault(FILE, f"{place}.fields.id",
                                 f"item {n} got id {fields.get('id')!r}: ids are non-empty texts")
            if not isinstance(fields.get("title"), str):
                raise self.fault(FILE, f"{place}.fields.title",
                                 f"item {n} has no title: every item needs a text title")
            self.unique(fields["id"], f"{place} (item {n})", ids)
            _derive(fields)
            (width, height), rgb, label = picture_of(fields)
            rows.append(distinct.setdefault((width, height, rgb, label), len(distinct)))
        return list(distinct), rows.tobytes()

    def unique(self, item_id: str, place: str, seen: set[str]) -> None:
        if item_id in seen:
            raise self.fault(FILE, place, f"duplicate item id {item_id!r} in the index")
        seen.add(item_id)


def _with_derived(index: str, fields: dict[str, Any], image: Fingerprint | None,
                  path: str | None) -> _Pending:
    """Emulator decision: ``best_price`` is added to every item that lacks it (null with
    no prices), as the vendor indexes it; an item with no image file is shown with its
    placeholder. A fixture's own ``image_link`` and ``best_price`` are kept as written."""
    _derive(fields)
    return _Pending(index, fields, image, path, IMAGE_LINK in fields)


def _derive(fields: dict[str, Any]) -> None:
    if BEST_PRICE not in fields:
        fields[BEST_PRICE] = best_price(fields)


def _products_of(index: str, spec: dict[str, Any],
                 check: Callable[[list[dict[str, Any]]], Any]) -> tuple[list[dict[str, Any]], Any]:
    """A generated catalog's products, made, then passed to ``check`` (which may add
    derived fields, or raise), and what ``check`` returned. They are a pure function of the
    recipe, the pinned Faker and the code that makes and checks them, so both are kept on
    disk under the digest of all of it: a later launch reads 100,000 checked products in a
    fraction of a second instead of importing Faker and making them again. Raises
    RecipeError."""
    key = _diskcache.data_key(json.dumps([index, spec], sort_keys=True).encode(),
                              _faker_version().encode(), *_generator_sources())
    kept = _diskcache.load_data("products", key)
    if isinstance(kept, tuple) and len(kept) == 2 and isinstance(kept[0], list):
        return kept[0], kept[1]
    generator = ProductGenerator(spec.get("seed", index), spec.get("fields", {}),
                                 spec.get("locale", "en_US"))
    products = [generator.product(n) for n in range(1, spec["count"] + 1)]
    derived = check(products)
    _diskcache.store_data("products", key, (products, derived))
    return products, derived


@lru_cache(maxsize=1)
def _faker_version() -> str:
    """The installed Faker, named by its ``__init__.py`` (which holds its VERSION): found
    without importing Faker (some 200 ms) or reading package metadata (some 18 ms)."""
    spec = importlib.util.find_spec("faker")
    if spec is None or spec.origin is None:
        return "unknown"
    try:
        return hashlib.sha256(Path(spec.origin).read_bytes()).hexdigest()
    except OSError:
        return "unknown"


@lru_cache(maxsize=1)
def _generator_sources() -> tuple[bytes, ...]:
    """The code a kept product depends on: what makes it, and what checks and derives it."""
    return Path(_products.__file__).read_bytes(), Path(__file__).read_bytes()


def _drawn(fields: dict[str, Any], drawn: dict[tuple, PlaceholderPicture]) -> PlaceholderPicture:
    """How to fingerprint the placeholder an item is shown with, when first needed; one
    object for the items showing the same picture (``drawn`` holds them)."""
    (width, height), rgb, label = picture_of(fields)
    return _shared_placeholder(drawn, width, height, rgb, label)


def _shared_placeholder(drawn: dict[tuple, PlaceholderPicture], width: int, height: int,
                        rgb: tuple[int, int, int], label: str) -> PlaceholderPicture:
    """The one placeholder object of this picture, made on first asking and kept in
    ``drawn``."""
    key = (width, height, rgb, label)
    picture = drawn.get(key)
    if picture is None:
        picture = drawn[key] = PlaceholderPicture(width, height, rgb, label)
    return picture


_GC_LOCK = threading.Lock()
_gc_holds = 0  # loads under way (reloads may overlap)
_gc_resume = False  # whether the collector was on when the first of them began


@contextlib.contextmanager
def _no_collections() -> Iterator[None]:
    """The cyclic garbage collector paused while a catalog is built: it would walk every
    item made so far again and again (a second of a 100,000-item catalog's 1.7 s load), and
    nothing made here is garbage. Reference counting frees what it always does."""
    global _gc_holds, _gc_resume
    with _GC_LOCK:
        if _gc_holds == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_holds += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_holds -= 1
            if _gc_holds == 0 and _gc_resume:
                gc.enable()


def load_engines(raw: dict[str, Any] | None, image: ImageLoader,
                 fault: FixtureFault, directory: Path | None = None) -> dict[str, CatalogEngine]:
    """Engines by id, from the parsed and schema-checked ``engines.json`` (None: none);
    ``directory`` is the fixture directory, whose ``feeds/`` holds product feed files."""
    if raw is None:
        return {}
    with _no_collections():
        return _EngineReader(image, fault, directory).engines(raw)
