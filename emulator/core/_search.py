"""The rule search: turns a plain query into a result set or a fault (the decisions the
Yandex APIs answer with, and explain shows).

It knows fixtures, fingerprints, rules and generated data, and nothing of any vendor's
wire format; adapters page the result set and render it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from ._filters import ImageFilter
from ._fingerprint import Fingerprint, seed_colours
from ._fixtures import FixtureStore
from ._generated import DocumentGenerator
from ._journal import Journal
from ._match import Match, Tier
from ._palette import colour_order
from ._services import Services
from ._pool import WorkPool
from ._results import GeneratedResults, ListedResults, ResultSet
from ._rules import Fault, ImageRule, Outcome, normalize_text, url_key
from ._stubs import Caller, StubHit, StubQuery

#: How the decisions find the runtime stub for a query: serving moves its sequence on
#: (the call pipeline's stub step), explain only peeks.
StubFinder = Callable[[StubQuery], "StubHit | None"]

#: Emulator decision: a text no rule covers finds between 200 and 1000 generated images.
TEXT_POOL_MIN, TEXT_POOL_MAX = 200, 1000


@dataclass(frozen=True, slots=True)
class Answer:
    """Results (or a fault) for one query, to serve after ``delay_ms``.

    ``key`` is the query image's canonical key: a look-alike of a fixture image answers
    with the fixture image's key, so paging by its id continues the same list. ``alias``
    is the id a rule names for its image (a recorded live one, say), to issue instead.
    """

    results: ResultSet | None
    fault: Fault | None = None
    delay_ms: int = 0
    key: bytes | None = None
    alias: str | None = None
    match: Match = Match(Tier.GENERATED)
    #: a fixture rule's sequence: one of these a call (see :meth:`RuleSearch.stepped`)
    steps: tuple[Answer, ...] = ()
    repeat: bool = False
    sequence: str = ""


def _seed(kind: str, value: str) -> bytes:
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=16).digest()


class RuleSearch(Services):
    """Yandex's decisions: a query image or text answered by a runtime stub, a fixture
    rule, or generated results; on top of the services every vendor shares."""

    def __init__(self, store: FixtureStore, journal: Journal | None = None,
                 pool: WorkPool | None = None) -> None:
        super().__init__(store, journal, pool)
        self.generator = DocumentGenerator()

    def warm(self) -> None:
        """The shared warm-up, and the text generators."""
        self.generator.fakers  # noqa: B018 - made and kept
        super().warm()

    def _answer(self, outcome: Outcome, flt: ImageFilter, match: Match,
                rule: ImageRule | None = None) -> Answer:
        if outcome.steps:
            return Answer(None, key=rule.key if rule else None,
                          alias=rule.cbir_alias if rule else None, match=match,
                          steps=tuple(self._answer(s, flt, match, rule) for s in outcome.steps),
                          repeat=outcome.repeat, sequence=outcome.sequence)
        results = ListedResults.filtered(outcome.docs, flt, self.public_base_url.rstrip("/")) \
            if outcome.docs is not None else None
        if results is None and outcome.fault is None:
            results = ListedResults(())
        return Answer(results, outcome.fault, outcome.delay_ms,
                      rule.key if rule else None, rule.cbir_alias if rule else None, match)

    async def stepped(self, answer: Answer) -> Answer:
        """A sequence's answer for this call: the next step, counted in the state store (so
        every worker sharing it steps one sequence); any other answer as it is."""
        if not answer.steps:
            return answer
        n = await self.state.next_number(f"rule-steps:{answer.sequence}") - 1
        last = len(answer.steps) - 1
        return answer.steps[n if n <= last else (n % len(answer.steps) if answer.repeat
                                                 else last)]

    def _stubbed(self, query: StubQuery, flt: ImageFilter, find: StubFinder) -> Answer | None:
        """The runtime stub's answer, if ``find`` (serving: the call pipeline's stub step;
        explain: :meth:`peek`) finds one for the query; its delay is the answer's."""
        hit = find(query)
        if hit is None:
            return None
        step, documents = hit.step, self.store.documents
        docs = None if step.results is None else tuple(
            documents[i] for i in step.results if i in documents)
        answer = self._answer(Outcome(docs, step.fault, step.delay_ms), flt, hit.match)
        return dataclasses.replace(answer, key=hit.stub.key or query.key, alias=hit.stub.alias)

    @staticmethod
    def url_key(url: str) -> bytes:
        """The key a URL no fixture lists seeds results and image ids with."""
        return url_key(url)

    def by_image(self, key: bytes, fp: Fingerprint | None, folder: str | None,
                 flt: ImageFilter, via: Tier | None = None, *, find: StubFinder,
                 caller: Caller = Caller(), url: str | None = None) -> Answer:
        """A runtime stub first; then exact digest, look-alike, nearest (see
        :meth:`RuleBook.for_image`). ``via`` names how the image was reached when not sent
        as bytes (a fixture URL).

        Emulator decision: with no rule close enough, the answer is the generated set of
        the picture's perceptual key (so a copy of it gets the same one), ranked by colour
        likeness to the picture; the match names the nearest rule and its distance."""
        stubbed = self._stubbed(StubQuery(caller, folder, key, fp, url), flt, find)
        if stubbed is not None:
            return stubbed
        found = self.store.rules.for_image(key, fp, folder,
                                           self.store.settings.perceptual_distance, via)
        if found.rule is not None:
            return self._answer(found.rule.outcome, flt, found.match, found.rule)
        return self._generated(fp.seed if fp is not None else key, flt, found.match)

    def _generated(self, seed: bytes, flt: ImageFilter, match: Match) -> Answer:
        colours = seed_colours(seed)
        results = GeneratedResults(self.generator, seed, self.store.settings.generated_image_results,
                                   flt, order=colour_order(*colours) if colours else None,
                                   base_url=self.public_base_url.rstrip("/"))
        return Answer(results, key=seed, match=match)

    def by_url(self, url: str, folder: str | None, flt: ImageFilter, *, find: StubFinder,
               caller: Caller = Caller()) -> Answer:
        """Never fetches: a fixture URL stands for its image file, others seed from the URL."""
        key, fp = self.store.urls.get(url) or (self.url_key(url), None)
        return self.by_image(key, fp, folder, flt, via=Tier.URL, find=find, caller=caller,
                             url=url)

    def by_alias(self, alias: str, folder: str | None, flt: ImageFilter, *, find: StubFinder,
                 caller: Caller = Caller()) -> Answer | None:
        """The stub or rule that lists this image id (a recorded live one, say), if any."""
        stubbed = self._stubbed(StubQuery(caller, folder, alias=alias), flt, find)
        if stubbed is not None:
            return stubbed
        rule = self.store.rules.for_alias(alias, folder)
        return None if rule is None else self._answer(rule.outcome, flt,
                                                      Match(Tier.ALIAS, rule.name), rule)

    def by_text(self, text: str, folder: str | None, flt: ImageFilter, *, find: StubFinder,
                caller: Caller = Caller()) -> Answer:
        stubbed = self._stubbed(StubQuery(caller, folder, text=text), flt, find)
        if stubbed is not None:
            return stubbed
        rule = self.store.rules.for_text(text, folder)
        if rule is not None:
            return self._answer(rule.outcome, flt, Match(Tier.TEXT, rule.name))
        seed = _seed("text", normalize_text(text))
        pool = TEXT_POOL_MIN + int.from_bytes(seed[:4], "big") % (TEXT_POOL_MAX - TEXT_POOL_MIN + 1)
        return Answer(GeneratedResults(self.generator, seed, pool, flt, topic=" ".join(text.split()),
                                       always_safe=False,
                                       base_url=self.public_base_url.rstrip("/")))
