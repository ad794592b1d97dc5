"""Pictures for offline demos (``--record-thumbnails``): the result pictures the recorded
answers point at, fetched once each, stored in the fixtures' ``images/`` (pixels only, as
PNG) so the written documents and items can name the file and the emulator serves it.

Fetching is blocking network work: it runs in the recorder's work pool, inside
:meth:`~._writer.Session.add`, never on the event loop, over the same verified TLS as the
upstreams.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("emulator.record")

#: Emulator decision: a picture larger than 4 MiB is not fetched (its live link is kept).
MAX_PICTURE_BYTES = 4 * 1024 * 1024
#: Emulator decision: a recording fetches at most 2,000 pictures (then keeps live links).
MAX_PICTURES = 2_000
#: Emulator decision: seconds a picture has to arrive.
PICTURE_TIMEOUT = 10.0


@dataclass(frozen=True)
class PictureLimits:
    max_bytes: int = MAX_PICTURE_BYTES
    max_pictures: int = MAX_PICTURES
    timeout: float = PICTURE_TIMEOUT


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is followed only to http(s)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not newurl.lower().startswith(("http://", "https://")):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class PictureFetcher:
    """URL -> the file name its picture is stored as (None: not fetched). Each URL is
    tried once; ``store`` writes a cleaned picture and returns its name."""

    def __init__(self, context: ssl.SSLContext, store: Callable[[bytes], str | None],
                 limits: PictureLimits = PictureLimits()) -> None:
        self.limits = limits
        self.store = store
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirects())
        self.tried: OrderedDict[str, str | None] = OrderedDict()
        self.fetched = self.failed = 0

    def file_for(self, url: object) -> str | None:
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            return None
        if url in self.tried:
            return self.tried[url]
        if len(self.tried) >= self.limits.max_pictures:
            return None
        name = None
        try:
            data = self._get(url)
            name = self.store(data) if data is not None else None
        except Exception as exc:  # unreachable, refused, not a picture: the live link stays
            log.info("record: picture %s not fetched: %s", _short(url), exc)
        self.tried[url] = name
        if name is None:
            self.failed += 1
        else:
            self.fetched += 1
        return name

    def _get(self, url: str) -> bytes | None:
        request = urllib.request.Request(url, headers={"Accept": "image/*"})
        with self.opener.open(request, timeout=self.limits.timeout) as answer:
            declared = answer.headers.get("Content-Length")
            if declared is not None and declared.isdigit() \
                    and int(declared) > self.limits.max_bytes:
                log.info("record: picture %s not fetched: %s bytes", _short(url), declared)
                return None
            data = answer.read(self.limits.max_bytes + 1)
        if len(data) > self.limits.max_bytes:
            log.info("record: picture %s not fetched: over %d bytes", _short(url),
                     self.limits.max_bytes)
            return None
        return data


def _short(url: str) -> str:
    """A URL as logged: its digest's start with its host, never a query string (a
    signed link's token)."""
    host = url.split("/")[2] if url.count("/") >= 2 else url
    return f"{host}/...#{hashlib.sha256(url.encode()).hexdigest()[:8]}"
