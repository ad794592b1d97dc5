"""Deterministic generated documents for images and texts no fixture rule covers.

Every document is a pure function of (seed, index): its visible attributes come from a
keyed hash, and so do its words: the hash picks a host, a path and a slug from small pools
Faker fills (entry k of a pool is Faker's answer when seeded with k, made on first use), and
the words of its title and passage from Faker's word list of the locale. Nothing depends on
the process, the clock or the machine, so the same request gives the same answer anywhere.
Only the page that is asked for is generated, at a few microseconds a document (calling
Faker for each one cost about 0.6 ms, 25 ms a page, on the event loop).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ._document import Color, ImageDocument, ImageFormat, thumbnail_size
from ._filters import ImageFilter
from ._palette import RGB
from ._placeholder import placeholder_path

#: Common image sizes on the web; a generated image takes one of them.
_DIMENSIONS = (
    (1920, 1080), (1280, 720), (1024, 768), (800, 600), (640, 480), (600, 800),
    (1080, 1350), (500, 500), (250, 331), (1200, 630), (2048, 1365), (300, 300),
    (150, 150), (32, 32), (2560, 1440), (480, 272), (882, 735), (1150, 864),
    (2063, 730), (736, 1104), (1600, 1200), (400, 225), (120, 90), (3000, 2000),
)
_FORMATS = (ImageFormat.JPEG,) * 6 + (ImageFormat.PNG,) * 3 + (ImageFormat.GIF,)
_COLORS = tuple(Color)
_EXTENSIONS = {ImageFormat.JPEG: "jpg", ImageFormat.PNG: "png", ImageFormat.GIF: "gif"}
_EPOCH = dt.datetime(2012, 1, 1, tzinfo=dt.timezone.utc)
_SPAN_SECONDS = 13 * 365 * 24 * 3600
_TITLE_LIMIT = 128
#: At most this many generated documents (about 1 KiB each) are kept for reuse.
DOCUMENT_CACHE_SIZE = 8192
#: Emulator decision: hosts, paths and slugs are drawn from pools of this many entries per
#: locale (a host costs Faker up to 0.6 ms; 256 x 256 x 256 page URLs are plenty of variety).
POOL_SIZE = 256
#: Words in a title and a passage, each varied by up to 40% as Faker's sentences are. A
#: document's second hash gives 32 picks: a title takes picks 0-9 (its length, then up to
#: 9 words), a passage picks 10-26 (its length, then up to 16 words).
_TITLE_WORDS, _PASSAGE_WORDS = 7, 12
_PICKS = struct.Struct(">32H")


@dataclass(frozen=True, slots=True)
class _Traits:
    """What a filter looks at, computed without Faker so a whole pool filters cheaply."""

    digest: bytes
    format: ImageFormat
    width: int
    height: int
    color: Color
    family_safe: bool


def _traits(seed: bytes, index: int, *, always_safe: bool) -> _Traits:
    digest = hashlib.blake2b(index.to_bytes(4, "big"), key=seed, digest_size=32).digest()
    width, height = _DIMENSIONS[digest[0] % len(_DIMENSIONS)]
    return _Traits(
        digest=digest,
        format=_FORMATS[digest[1] % len(_FORMATS)],
        width=width,
        height=height,
        color=_COLORS[digest[2] % len(_COLORS)],
        family_safe=always_safe or digest[3] % 20 != 0,
    )


class _Locale:
    """One Faker locale's word list and its pools, each entry made once on first use."""

    def __init__(self, fake: Any, lock: threading.Lock) -> None:
        self._fake = fake
        self._lock = lock
        self.words: tuple[str, ...] = tuple(fake.get_words_list())
        self._pools: dict[str, list[str | None]] = {
            kind: [None] * POOL_SIZE for kind in ("host", "path", "slug")}

    def pick(self, kind: str, k: int) -> str:
        pool = self._pools[kind]
        made = pool[k]
        if made is None:
            with self._lock:  # one Faker instance, seeded per entry: one caller at a time
                self._fake.seed_instance(k)
                made = pool[k] = (self._fake.domain_name() if kind == "host" else
                                  self._fake.uri_path(deep=2) if kind == "path" else
                                  self._fake.slug())
        return made

    def sentence(self, picks: tuple[int, ...], words: int) -> str:
        """``words`` words, give or take 40%, chosen by ``picks`` (from the hash)."""
        spread = words * 40 // 100
        count = words - spread + picks[0] % (2 * spread + 1)
        vocabulary = self.words
        chosen = [vocabulary[p % len(vocabulary)] for p in picks[1:count + 1]]
        chosen[0] = chosen[0].capitalize()
        return " ".join(chosen)


class DocumentGenerator:
    """Makes plausible documents: hosts, titles and passages in English and Russian."""

    def __init__(self) -> None:
        self._made: tuple[_Locale, _Locale] | None = None
        self._lock = threading.Lock()
        # Pages are asked for again and again (paging back, retries, load tests); a
        # bounded cache of documents keeps that cheap without growing without limit.
        self.document = lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(self._document)

    @property
    def fakers(self) -> tuple[_Locale, _Locale]:
        """Made when first needed (44 ms: Faker looks its locales up on disk), not at
        start-up; the server warms them in the background once it is serving."""
        if self._made is None:
            with self._lock:
                if self._made is None:
                    from faker import Faker  # imported when first needed, not at start-up

                    self._made = (_Locale(Faker("en_US"), threading.Lock()),
                                  _Locale(Faker("ru_RU"), threading.Lock()))
        return self._made

    def _document(self, seed: bytes, index: int, *, site: str | None = None,
                  topic: str | None = None, always_safe: bool = True) -> ImageDocument:
        t = _traits(seed, index, always_safe=always_safe)
        locale = self.fakers[t.digest[4] % 2]
        picks = _PICKS.unpack(hashlib.blake2b(t.digest, digest_size=64).digest())
        host = site or locale.pick("host", t.digest[28])
        page_url = (f"https://{host}/{locale.pick('path', t.digest[29])}/"
                    f"{locale.pick('slug', t.digest[30])}/")
        doc_id = f"generated-{t.digest[20:28].hex()}"
        title = locale.sentence(picks[:10], _TITLE_WORDS)
        passage = locale.sentence(picks[10:], _PASSAGE_WORDS)
        if topic:
            title, passage = f"{topic} - {title}", f"{topic}: {passage}"
        thumb_w, thumb_h = thumbnail_size(t.width, t.height)
        seconds = int.from_bytes(t.digest[16:20], "big") % _SPAN_SECONDS
        # the picture is the emulator's own placeholder, in the document's colour, size and
        # format: a path here, made absolute by the result set (the base URL can change)
        rgb, ext = RGB[t.color], _EXTENSIONS[t.format]
        return ImageDocument(
            doc_id=doc_id,
            url=placeholder_path(t.width, t.height, rgb, doc_id, ext),
            page_url=page_url,
            page_title=title[:_TITLE_LIMIT],
            passage=passage + " ",  # live passages always end with one space
            width=t.width,
            height=t.height,
            format=t.format,
            file_size=max(512, t.width * t.height // (4 + t.digest[6] % 12)),
            thumbnail_width=thumb_w,
            thumbnail_height=thumb_h,
            modified=_EPOCH + dt.timedelta(seconds=seconds),
            color=t.color,
            family_safe=t.family_safe,
            host=host,
            thumbnail_url=placeholder_path(thumb_w, thumb_h, rgb, doc_id, ext),
        )


@lru_cache(maxsize=64)
def ranked_indexes(seed: bytes, indexes: tuple[int, ...] | range, order: tuple[Color, ...],
                   always_safe: bool) -> tuple[int, ...]:
    """The indexes with the documents of the first colours in ``order`` first, each colour's
    in index order: a stable ranking by colour likeness (bounded cache: pages repeat)."""
    rank = {color: i for i, color in enumerate(order)}
    return tuple(sorted(indexes, key=lambda i: (
        rank[_traits(seed, i, always_safe=always_safe).color], i)))


@lru_cache(maxsize=256)
def matching_indexes(seed: bytes, pool: int, flt: ImageFilter, always_safe: bool) -> tuple[int, ...]:
    """Indexes of the pool's documents that pass a filter (bounded cache: filters repeat)."""
    return tuple(i for i in range(pool) if _accepts(flt, _traits(seed, i, always_safe=always_safe)))


def _accepts(flt: ImageFilter, t: _Traits) -> bool:
    return flt.accepts(_probe_document(t, flt.site))


def _probe_document(t: _Traits, site: str | None) -> ImageDocument:
    """A stand-in carrying only the traits, so the filter's one definition decides."""
    return ImageDocument(
        doc_id="", url="", page_url="", page_title="", passage="", width=t.width,
        height=t.height, format=t.format, file_size=0, thumbnail_width=0, thumbnail_height=0,
        modified=_EPOCH, color=t.color, family_safe=t.family_safe, host=site or "",
    )
