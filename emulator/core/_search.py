"""The search engine: turns a plain query into a result set or a fault.

It knows fixtures, fingerprints, rules and generated data, and nothing of any vendor's
wire format; adapters page the result set and render it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ._filters import ImageFilter
from ._fingerprint import Fingerprint, FingerprintCache, NotAnImage, seed_colours
from ._fixtures import FixtureStore
from ._generated import DocumentGenerator
from ._faults import FaultBook
from ._journal import Journal
from ._limits import OFFLOAD_BYTES
from ._match import Match, Tier
from ._memo import RenderMemo
from ._palette import colour_order
from ._placeholder import IMAGES_PATH
from ._pool import WorkPool
from ._results import GeneratedResults, ListedResults, ResultSet
from ._rules import Fault, ImageRule, Outcome, normalize_text
from ._stubs import Caller, StubBook, StubHit, StubQuery
from ._served import own_image

#: Images under the offload size are hashed on the event loop to look for a cached
#: fingerprint.
INLINE_DIGEST_BYTES = OFFLOAD_BYTES
T = TypeVar("T")
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


def _seed(kind: str, value: str) -> bytes:
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=16).digest()


class SearchEngine:
    def __init__(self, store: FixtureStore, journal: Journal | None = None,
                 pool: WorkPool | None = None) -> None:
        self.store = store
        self.generator = DocumentGenerator()
        self.journal = journal or Journal()
        #: runtime stubs and faults, set through the admin API
        self.stubs = StubBook()
        #: rendered answers of repeated requests (see :meth:`memoizable`)
        self.rendered = RenderMemo()
        self.faults = FaultBook()
        #: Emulator decision: served image URLs start here; the server sets it to its own
        #: bound address unless a public base URL is configured.
        self.public_base_url = "http://127.0.0.1:8080"
        #: the work pool, which its owner (the running emulator) starts and shuts down
        self.pool = pool or WorkPool()
        self.fingerprints = FingerprintCache()

    def warm(self) -> None:
        """What start-up leaves for later: the catalogs' picture fingerprints and the text
        generators. CPU work, for a worker thread once the server is serving."""
        self.generator.fakers  # noqa: B018 - made and kept
        self.store.warm()

    def memoizable(self, answer: Answer) -> bool:
        """Whether the rendered answer may be served again to the same request: with the
        fixtures' clock frozen, an answer no runtime stub gave depends on nothing else."""
        return self.store.settings.clock is not None and answer.match.tier is not Tier.STUB

    def public_url(self, path: str) -> str:
        """An absolute URL for one of the emulator's own paths (a served image, say)."""
        return self.public_base_url.rstrip("/") + path

    def now(self) -> dt.datetime:
        return self.store.settings.clock or dt.datetime.now(dt.timezone.utc)

    async def in_image_pool(self, work: Callable[..., T], *args) -> T:
        """Run image work (drawing, resizing) in the work pool, off the event loop."""
        return await self.pool.run(work, *args)

    async def fingerprint(self, data: bytes) -> Fingerprint:
        """Decode off the event loop, in the work pool (so at most two decode buffers exist
        at once); a
        repeated image is found by its digest and not decoded again. Raises NotAnImage.

        A small image's digest is taken here, on the loop (about 0.1 ms for 256 KiB), so a
        repeated one costs no trip to the pool; a large one is hashed in the pool too."""
        if len(data) <= INLINE_DIGEST_BYTES:
            digest = hashlib.sha256(data).hexdigest()
            found = self.fingerprints.cached(digest)
            if found is not None:
                return found
            return await self.in_image_pool(self.fingerprints.fingerprint, data, digest)
        return await self.in_image_pool(self.fingerprints.fingerprint, data)

    def _own_fingerprint(self, url: str) -> Fingerprint | None:
        base = self.public_base_url.rstrip("/")
        if not url.startswith(base + IMAGES_PATH + "/"):
            return None
        served = own_image(self.store.image_dir, url[len(base):])
        if served is None:
            return None
        try:
            return self.fingerprints.fingerprint(served.body)
        except NotAnImage:
            return None

    async def own_fingerprint(self, url: str) -> Fingerprint | None:
        """The fingerprint of an image the emulator itself serves at ``url`` (a result's
        placeholder or fixture file): drawn or read, never fetched; None for other URLs."""
        if not url.startswith(self.public_base_url.rstrip("/") + IMAGES_PATH + "/"):
            return None  # most URLs: no trip to the pool
        return await self.in_image_pool(self._own_fingerprint, url)

    def _answer(self, outcome: Outcome, flt: ImageFilter, match: Match,
                rule: ImageRule | None = None) -> Answer:
        results = ListedResults.filtered(outcome.docs, flt, self.public_base_url.rstrip("/")) \
            if outcome.docs is not None else None
        if results is None and outcome.fault is None:
            results = ListedResults(())
        return Answer(results, outcome.fault, outcome.delay_ms,
                      rule.key if rule else None, rule.cbir_alias if rule else None, match)

    def peek(self, query: StubQuery) -> StubHit | None:
        """The stub that would answer ``query``, its sequence left as it is (explain)."""
        return self.stubs.match(query, consume=False)

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
        return _seed("url", url)

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
