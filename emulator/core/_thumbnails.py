"""Small pictures of query images, one per journaled image, for people reading the journal.

The journal keeps no image bytes; when a call that sent an image is journaled, a thumbnail
is drawn from its pixels alone (so no EXIF, ICC profile, comment or other metadata of the
original survives) in the control pool, never on the event loop, and kept by the image's
SHA-256, bounded like the journal in count and in bytes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import warnings

from PIL import Image, ImageOps

from ._journal import JOURNAL_SIZE
from ._lru import BoundedLRU
from ._pool import WorkPool

log = logging.getLogger(__name__)

#: Emulator decision: a thumbnail fits in 96 x 96 pixels, a JPEG of quality 80 (a few KiB).
THUMBNAIL_SIDE = 96
THUMBNAIL_QUALITY = 80
THUMBNAIL_TYPE = "image/jpeg"
#: Emulator decision: at most 4 MiB of thumbnails in all (1,000 of them are about 3 MiB).
THUMBNAIL_BYTES = 4 * 1024 * 1024
#: Emulator decision: at most 4 thumbnails being drawn at once; a call journaled while 4
#: are waiting gets none (its bytes are not held for it), so a flood of large distinct
#: images cannot pile up in memory behind the control pool.
MAX_PENDING = 4


def draw_thumbnail(data: bytes) -> bytes | None:
    """A JPEG of at most THUMBNAIL_SIDE on each side, from the pixels of ``data`` only;
    None if Pillow cannot draw it (the call's own decoding said why already)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # JPEG: decode small
                upright = ImageOps.exif_transpose(image)
                small = upright.convert("RGB")
                small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    except Exception:  # Pillow's plugins raise many kinds; the call was answered anyway
        return None
    # a new image of the pixels alone: nothing of the original's info dict is carried over
    clean = Image.new("RGB", small.size)
    clean.paste(small)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()


class Thumbnails:
    """Thumbnails by image SHA-256 (hex), the most recently made kept."""

    def __init__(self, pool: WorkPool, max_entries: int = JOURNAL_SIZE,
                 max_bytes: int = THUMBNAIL_BYTES) -> None:
        self.pool = pool
        self._kept: BoundedLRU[bytes] = BoundedLRU(max_entries, max_bytes, size=len)
        self._pending: dict[str, asyncio.Future[bytes | None]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def make(self, sha256: str, data: bytes) -> None:
        """Start drawing the thumbnail of an image just journaled (on the event loop)."""
        if sha256 in self._pending or self._kept.get(sha256) is not None:
            return
        if len(self._pending) >= MAX_PENDING:
            log.info("no thumbnail for image %s: %d are being drawn", sha256[:12], MAX_PENDING)
            return
        job = asyncio.ensure_future(self.pool.run(draw_thumbnail, data))
        self._pending[sha256] = job
        job.add_done_callback(lambda done: self._drawn(sha256, done))

    def _drawn(self, sha256: str, job: asyncio.Future[bytes | None]) -> None:
        self._pending.pop(sha256, None)
        if job.cancelled() or job.exception() is not None:
            return
        body = job.result()
        if body is not None:
            self._kept.put(sha256, body)

    async def get(self, sha256: str) -> bytes | None:
        """The thumbnail, waiting for it if it is being drawn; None if there is none."""
        job = self._pending.get(sha256)
        if job is not None:
            await asyncio.wait({job})  # never raises: a failed drawing leaves none kept
        return self._kept.get(sha256)

    def clear(self) -> None:
        self._kept.clear()
