"""The start-up cache: schema verdicts and generated products kept between launches,
never stale (keyed by what they depend on), never in the way when it cannot be used."""

from __future__ import annotations

import json
import shutil

import pytest

from support.server import FIXTURES
from emulator.core import Fingerprint, FixtureError, load_fixtures
from emulator.core import _fingerprint
from emulator.core._products import ProductGenerator


def _products(store) -> list[dict]:
    return [dict(item.fields) for engine in store.engines.values() for item in engine.catalog.items]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("EMULATOR_CACHE_DIR", str(directory))
    return directory


def test_a_second_load_reads_the_cache_and_gets_the_same_store(cache, monkeypatch):
    first = load_fixtures(FIXTURES)
    assert sorted(p.name for p in cache.iterdir()) == ["fingerprints", "products", "valid"]
    assert len(list((cache / "valid").iterdir())) == 5  # every fixture file of the set
    cached = load_fixtures(FIXTURES)
    monkeypatch.setenv("EMULATOR_CACHE_DIR", "off")
    uncached = load_fixtures(FIXTURES)
    assert _products(first) == _products(cached) == _products(uncached)
    assert len(_products(cached)) == 124


def test_a_changed_file_is_validated_again(cache, tmp_path):
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    load_fixtures(directory)
    rules = json.loads((directory / "rules.json").read_text())
    rules["image_rules"][0]["delay_ms"] = -5
    (directory / "rules.json").write_text(json.dumps(rules))
    with pytest.raises(FixtureError) as caught:
        load_fixtures(directory)
    assert caught.value.file == "rules.json" and "delay_ms" in caught.value.place


def _with_generated(directory, **changes) -> None:
    engines = json.loads((directory / "engines.json").read_text())
    specs = [index["generated"] for engine in engines["engines"] for index in engine["indices"]
             if "generated" in index]
    assert specs, "the default engine has a generated catalog"
    for spec in specs:
        spec.update(changes)
    (directory / "engines.json").write_text(json.dumps(engines))


def test_a_changed_recipe_makes_its_own_products(cache, tmp_path):
    directory = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, directory)
    before = _products(load_fixtures(directory))
    _with_generated(directory, count=119)
    fewer = _products(load_fixtures(directory))
    assert len(fewer) == len(before) - 1 and all(p in before for p in fewer)
    _with_generated(directory, count=119, seed="another store")
    other = _products(load_fixtures(directory))
    assert len(other) == len(fewer) and other != fewer


def test_an_unusable_cache_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("EMULATOR_CACHE_DIR", str(blocker))
    assert len(_products(load_fixtures(FIXTURES))) == 124


def _pictures(store) -> list:
    return [item.picture for engine in store.engines.values() for item in engine.catalog.items
            if isinstance(item.picture, Fingerprint)] + [fp for _, fp in store.urls.values()]


def test_fixture_images_are_decoded_on_the_first_load_only(cache, monkeypatch):
    first = load_fixtures(FIXTURES)
    images = len(list((cache / "fingerprints").iterdir()))
    assert images == len(list((FIXTURES / "images").iterdir()))  # one entry a file
    decoded = []
    real = _fingerprint.fingerprint
    monkeypatch.setattr(_fingerprint, "fingerprint", lambda *a: decoded.append(a) or real(*a))
    cached = load_fixtures(FIXTURES)
    assert decoded == []  # every picture measured from the cache
    monkeypatch.setenv("EMULATOR_CACHE_DIR", "off")
    uncached = load_fixtures(FIXTURES)
    assert len(decoded) == images
    assert _pictures(first) == _pictures(cached) == _pictures(uncached) != []
    # an entry that is not one the code wrote is measured again, not an error
    monkeypatch.setenv("EMULATOR_CACHE_DIR", str(cache))
    for entry in (cache / "fingerprints").iterdir():
        entry.write_bytes(b"[1, 2]")
    decoded.clear()
    assert _pictures(load_fixtures(FIXTURES)) == _pictures(uncached) and len(decoded) == images


def test_a_damaged_products_entry_is_made_again_not_read(cache, monkeypatch):
    first = _products(load_fixtures(FIXTURES))
    entries = list((cache / "products").iterdir())
    assert entries
    for entry in entries:  # one byte of the marshalled products changed: the digest differs
        raw = bytearray(entry.read_bytes())
        raw[-5] ^= 0x55
        entry.write_bytes(bytes(raw))
    made = []
    real = ProductGenerator.product
    monkeypatch.setattr(ProductGenerator, "product",
                        lambda self, n: made.append(n) or real(self, n))
    assert _products(load_fixtures(FIXTURES)) == first
    assert made  # made again, and kept again
    made.clear()
    assert _products(load_fixtures(FIXTURES)) == first and made == []
