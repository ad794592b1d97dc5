"""Text search over catalog items: all words, any word, or close spellings; suggestions.

Deterministic and explainable rather than clever: a query word matches an item word that
equals it or starts with it; fuzzy matching allows the edit distance Elasticsearch's
``AUTO`` fuzziness allows. Scores count matched words (title words count double), and
ties keep catalog order.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from ._catalog import Item, words


class TextMode(enum.Enum):
    """How query words must match (each vendor names the modes in its own words)."""

    ALL_WORDS = "all_words"
    ANY_WORD = "any_word"
    FUZZY = "fuzzy"


#: Tried in this order until one finds something (unless the client names one).
FALLBACK_ORDER = (TextMode.ALL_WORDS, TextMode.ANY_WORD, TextMode.FUZZY)
#: Emulator decision: at most this many suggestions, as storefront layers show.
SUGGESTIONS = 10


def _max_edits(term: str) -> int:
    """Elasticsearch's AUTO fuzziness: none up to 2 characters, 1 up to 5, then 2."""
    return 0 if len(term) <= 2 else 1 if len(term) <= 5 else 2


def _edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it must exceed limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _exact(term: str, vocabulary: frozenset[str]) -> bool:
    return term in vocabulary or any(w.startswith(term) for w in vocabulary)


def _close(term: str, vocabulary: frozenset[str]) -> bool:
    limit = _max_edits(term)
    return _exact(term, vocabulary) or (
        limit > 0 and any(_edit_distance(term, w, limit) <= limit for w in vocabulary))


def _score(item: Item, terms: Sequence[str], mode: TextMode) -> int:
    test: Callable[[str, frozenset[str]], bool] = _close if mode is TextMode.FUZZY else _exact
    hits = [2 if test(t, item.title_words) else 1 if test(t, item.text_words) else 0
            for t in terms]
    matched = sum(1 for h in hits if h)
    if matched == 0 or (mode is TextMode.ALL_WORDS and matched < len(terms)):
        return 0
    return sum(hits)


def _matching(items: Sequence[Item], terms: Sequence[str], mode: TextMode) -> list[Item]:
    scored = [(s, n, item) for n, item in enumerate(items) if (s := _score(item, terms, mode))]
    return [item for _, _, item in sorted(scored, key=lambda t: (-t[0], t[1]))]


def search_text(items: Sequence[Item], text: str,
                mode: TextMode | None = None) -> tuple[TextMode, list[Item]]:
    """Items for ``text``, best first, and the mode that found them.

    Emulator decision: an empty text lists every item (as ALL_WORDS); with no mode
    given, each of :data:`FALLBACK_ORDER` is tried until one finds something, and an
    answer with nothing found reports the last mode tried.
    """
    terms = list(dict.fromkeys(words(text)))
    if not terms:
        return mode or TextMode.ALL_WORDS, list(items)
    found: list[Item] = []
    for candidate in (mode,) if mode else FALLBACK_ORDER:
        found = _matching(items, terms, candidate)
        if found:
            return candidate, found
    return candidate, found


def suggestions(items: Iterable[Item], text: str, fields: Sequence[str]) -> list[str]:
    """Distinct values of ``fields`` whose words cover the text (each query word the start
    of one of theirs), most common first, then in catalog order."""
    terms = words(text)
    if not terms:
        return []
    counts: Counter[str] = Counter()
    for item in items:
        for name in fields:
            for value in dict.fromkeys(v for v in item.values(name) if isinstance(v, str)):
                counts[value] += 1
    ranked = sorted(counts, key=lambda v: -counts[v])  # stable: catalog order breaks ties
    found = [v for v in ranked if all(_exact(t, frozenset(words(v))) for t in terms)]
    return found[:SUGGESTIONS]
