"""schemathesis over the admin API's own OpenAPI document, against a running emulator.

Every operation of ``emulator/admin/openapi.json`` gets the cases schemathesis makes from
the document (its examples, the coverage phase's boundary and invalid values, and random
fuzzing), with a fixed seed and a bounded count, sent over real HTTP. Every answer must pass
schemathesis's checks: no server error, a status the operation documents, a body its schema
allows, and the rest of the built-in checks. The one exception, schema-valid bodies that name
what is not there, is ``SEMANTIC_REFUSALS`` below, with its reasons, and nowhere else; the
one operation left out, the endless journal stream, is ``ENDLESS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from support.server import start
from emulator.admin._spec import document
from emulator.testing import Running

#: Fixed, so every run sends the same cases.
SEED = 17
#: Random cases per operation, besides the document's examples and the coverage phase.
MAX_EXAMPLES = 100


@dataclass(frozen=True)
class Refusal:
    """A 400 the admin API gives a body its schema allows: the value names something that
    is not there, which no JSON Schema can say (a file of the fixtures, base64 that decodes
    to a picture, a document of a catalog)."""

    place: str  # a regular expression over the error's place
    words: str  # how the error begins


_IMAGE = (Refusal(r"\$\.image_base64", "not base64"),
          Refusal(r"\$\.image_base64", "not an image: "))

#: The one place of exceptions: the operations whose schema-valid bodies may be refused,
#: and with what. For these, schemathesis's positive_data_acceptance (a schema-valid
#: request must not get a 400) is replaced by a narrower check: a schema-valid body refused
#: with a 400 must be refused for one of these reasons, and no other.
SEMANTIC_REFUSALS: dict[str, tuple[Refusal, ...]] = {
    "POST /_emulator/stubs": (
        *_IMAGE,
        Refusal(r"\$\.image", "no image file images/"),  # not a file of the fixtures
        Refusal(r"\$(\.sequence\[\d+\])?\.results\[\d+\]", "no document "),  # no such doc id
    ),
    "POST /_emulator/explain": _IMAGE,
}


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "continue-on-failure": True,
        "operations": [{"include-operation-id": ["addStub", "addFault", "explain"],
                        "phases": {"coverage": {"enabled": False}}}],
    })


@pytest.fixture(scope="module")
def emulator() -> Iterator[Running]:
    """An emulator of its own: the cases reset, clear and reload it at will."""
    with start() as running:
        yield running


#: The stream of new journal entries stays open by design (no case of it would ever end):
#: tests/admin/test_journal_stream.py checks it instead.
ENDLESS = ("streamRequests",)

schema = schemathesis.openapi.from_dict(document(), config=_config()).exclude(
    operation_id=list(ENDLESS))


def _refused_for_a_listed_reason(case: Case, response: schemathesis.Response,
                                 refusals: tuple[Refusal, ...]) -> None:
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if not positive or response.status_code != 400:
        return
    error = response.json()
    assert any(re.fullmatch(r.place, error.get("place", "")) and error["error"].startswith(r.words)
               for r in refusals), f"{case.operation.label}: a schema-valid body refused: {error}"


@schema.parametrize()
def test_the_admin_api_answers_as_its_document_says(case: Case, emulator: Running) -> None:
    refusals = SEMANTIC_REFUSALS.get(case.operation.label)
    if refusals is None:
        case.call_and_validate(base_url=emulator.http)
        return
    response = case.call(base_url=emulator.http)
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
    _refused_for_a_listed_reason(case, response, refusals)
