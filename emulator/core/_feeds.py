"""Product feed files: the catalog a shop exports, read as the items of an index.

A feed is a file in the fixtures' ``feeds/`` folder, in one of the forms shops export:

* JSON lines (``.jsonl``, ``.ndjson``): one item, a JSON object, a line; blank lines are
  skipped. Values are kept as JSON gives them.
* CSV (``.csv``, comma-separated) or the vendor's plain-text feed (``.txt``, ``.tsv``):
  the first line names the fields, each further line is one item. Contract (Doofinder's
  "The Product Data Feed" support page): in a text feed each field is separated by a tab
  or a pipe (``|``) character, and the first line specifies the field names.

Rows are checked as the fixture schema checks listed items (a text ``id`` and ``title``;
``price`` and ``sale_price`` numbers), and each fault names the feed file and its line.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Where feed files live, beside ``images/``.
FEEDS_DIR = "feeds"
JSON_LINES = (".jsonl", ".ndjson")
DELIMITED = (".csv", ".txt", ".tsv")
#: Emulator decision: a feed file is at most 256 MiB and 250,000 items: a large shop's
#: catalog, and bounded (about 2 KiB of memory an item).
MAX_FEED_BYTES = 256 * 1024 * 1024
MAX_FEED_ITEMS = 250_000
#: Emulator decision: in CSV and text feeds these fields are always texts.
TEXT_FIELDS = frozenset({"id", "title", "image_file", "image_link", "link"})
#: Emulator decision: these are read as numbers, a currency after the number dropped
#: ("159 USD" is 159), as the vendor's own price fields are numbers.
PRICE_FIELDS = frozenset({"price", "sale_price", "best_price"})
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PRICE = re.compile(r"\s*(-?[0-9]+(?:\.[0-9]+)?)(?:\s*[A-Z]{3})?\s*")


class FeedError(ValueError):
    """A feed that cannot be read: where (``line N``, or ``$`` for the whole file) and why."""

    def __init__(self, place: str, reason: str) -> None:
        super().__init__(reason)
        self.place = place


def feed_file(directory: Path, name: str) -> Path | None:
    """The file ``name`` in the directory's feeds/, if there (never outside it)."""
    path = Path(directory) / FEEDS_DIR / name
    if Path(name).is_absolute() or ".." in Path(name).parts or not path.is_file():
        return None
    return path


def read_feed(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, item fields) of each item in the feed; raises FeedError."""
    suffix = path.suffix.lower()
    if suffix not in JSON_LINES + DELIMITED:
        raise FeedError("$", f"a feed is {', '.join(JSON_LINES + DELIMITED)}; not {suffix or 'no suffix'}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FeedError("$", f"cannot be read: {exc.strerror}") from None
    if size > MAX_FEED_BYTES:
        raise FeedError("$", f"{size} bytes: a feed is at most {MAX_FEED_BYTES} bytes")
    rows = _json_lines(path) if suffix in JSON_LINES else _delimited(path)
    count = 0
    try:
        for line, fields in rows:
            count += 1
            if count > MAX_FEED_ITEMS:
                raise FeedError(f"line {line}", f"a feed holds at most {MAX_FEED_ITEMS} items")
            _check(line, fields)
            yield line, fields
    except UnicodeDecodeError:
        raise FeedError(f"item {count + 1}", "not UTF-8 text") from None
    except csv.Error as exc:
        raise FeedError(f"item {count + 1}", f"not CSV: {exc}") from None


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig") as lines:
        for n, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FeedError(f"line {n} column {exc.colno}", exc.msg) from None
            if not isinstance(value, dict):
                raise FeedError(f"line {n}", "each line is one item, a JSON object")
            yield n, value


def _delimited(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as text:
        header_line = text.readline()
        delimiter = "," if path.suffix.lower() == ".csv" else "\t" if "\t" in header_line else "|"
        header = next(csv.reader(io.StringIO(header_line), delimiter=delimiter), [])
        names = [_field_name(name) for name in header]
        if not names or "" in names:
            raise FeedError("line 1", "the first line names the fields, none of them empty")
        if len(set(names)) != len(names):
            raise FeedError("line 1", "a field is named twice")
        reader = csv.reader(text, delimiter=delimiter)
        for cells in reader:
            line = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(names):
                raise FeedError(f"line {line}", f"{len(cells)} fields where the first line names "
                                                f"{len(names)}")
            yield line, {name: _cell(name, cell, line) for name, cell in zip(names, cells, strict=False)
                         if cell.strip()}


def _field_name(text: str) -> str:
    """Emulator decision: a header's spaces are underscores (``image link`` is
    ``image_link``, as Google Shopping feeds spell it either way)."""
    return "_".join(text.split())


def _cell(name: str, cell: str, line: int) -> Any:
    """A cell's value: texts stay texts, prices and plain numbers are numbers."""
    value = cell.strip()
    if name in TEXT_FIELDS:
        return value
    if name in PRICE_FIELDS:
        price = _PRICE.fullmatch(value)
        if price is None:
            raise FeedError(f"line {line}", f"{name} {value!r} is not a number")
        return _number(price.group(1))
    return _number(value) if _NUMBER.fullmatch(value) else value


def _number(text: str) -> int | float:
    number = float(text)
    return int(text) if text.lstrip("-").isdigit() else number


def _check(line: int, fields: dict[str, Any]) -> None:
    """What the fixture schema asks of a listed item (catalogItem)."""
    if not isinstance(fields.get("id"), str) or not fields["id"]:
        raise FeedError(f"line {line}", "every item needs an id, a non-empty text")
    if not isinstance(fields.get("title"), str):
        raise FeedError(f"line {line}", "every item needs a title, a text")
    for name in ("image_file", "image_link"):
        if name in fields and (not isinstance(fields[name], str) or not fields[name]):
            raise FeedError(f"line {line}", f"{name} is a non-empty text")
    for name in PRICE_FIELDS:
        value = fields.get(name)
        if name in fields and not (value is None and name == "best_price") and not (
                isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value)):
            raise FeedError(f"line {line}", f"{name} is a number")
