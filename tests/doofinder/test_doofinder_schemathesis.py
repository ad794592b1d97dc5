"""schemathesis over the vendor's Doofinder OpenAPI document, against a running emulator.

Every operation of ``tests/vendor/doofinder-search-v6.yaml`` gets cases schemathesis
generates from the document (its examples, its coverage phase of boundary and invalid
values, and random fuzzing), with a fixed seed and a bounded count, over real HTTP. Every
answer must pass schemathesis's checks: no server error, a status the operation documents,
a body its schema allows, and the rest of its built-in checks. Where the document itself is
looser or stricter than the vendor, the exception is in ``doofinder_contract_exceptions``
with its reason, and nowhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case

from support.server import start
from support.doofinder_client import (BLUE_WALLPAPER, DOCS_HASHID, DOCS_KEY, GRAY_SKETCH, RED_SQUARE,
                                      b64)
from support.doofinder_contract_exceptions import vendor_document, waived_checks
from emulator.testing import Running

#: Fixed, so every run sends the same cases.
SEED = 17
#: Random cases per operation, besides the document's examples and the coverage phase.
MAX_EXAMPLES = 25


#: Values of the docs' engine that the document cannot know: half the drawn images are
#: pictures of its items and half the dfids name them, so those cases reach its answers.
REAL_VALUES = {
    "dictionaries": {
        "pictures": {"values": [b64(RED_SQUARE), b64(GRAY_SKETCH), b64(BLUE_WALLPAPER)]},
        "dfids": {"values": [f"{DOCS_HASHID}@product@{hashlib.md5(i.encode()).hexdigest()}"
                             for i in ("poster-red-square", "wallpaper-deep-blue")]},
    },
    "parameters": {
        "body.image": {"dictionary": "pictures", "probability": 0.5},
        "query.dfid": {"dictionary": "dfids", "probability": 0.5},
        "body.dfid": {"dictionary": "dfids", "probability": 0.5},
    },
}


def _config(real_values: bool, **parameters: str) -> schemathesis.Config:
    real: dict[str, Any] = REAL_VALUES if real_values else {"parameters": {}}
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "dictionaries": real.get("dictionaries", {}),
        "parameters": {**real["parameters"], **parameters},
        # the docs' key, as the document's security scheme asks (``Authorization: Token
        # <key>``), so cases that leave it out on purpose still do
        "auth": {"openapi": {"api_token": {"api_key": f"Token {DOCS_KEY}"}}},
        **waived_checks(),
        "continue-on-failure": True,  # every failure of an operation reported, not the first
    })


#: The docs' engine, so the cases reach each operation's own checks and answers.
known_engine = schemathesis.openapi.from_dict(vendor_document(),
                                              config=_config(True, **{"path.hashid": DOCS_HASHID}))
#: Any hashid schemathesis makes up: an engine that does not exist, on every operation.
any_engine = schemathesis.openapi.from_dict(vendor_document(), config=_config(False))


@pytest.fixture(scope="module")
def emulator() -> Iterator[Running]:
    """An emulator of its own: rate limits off (a burst of cases is no client over its
    quota), and no journal shared with other tests."""
    with start(rate_limits=False) as running:
        yield running


def _call(case: Case, running: Running) -> None:
    case.call_and_validate(base_url=running.http)


@known_engine.parametrize()
def test_the_docs_engine_answers_as_the_vendor_document_says(case: Case, emulator: Running):
    _call(case, emulator)


@any_engine.parametrize()
def test_any_hashid_answers_as_the_vendor_document_says(case: Case, emulator: Running):
    _call(case, emulator)
