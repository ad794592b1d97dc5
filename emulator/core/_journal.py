"""The request journal: what clients sent and what they got, for tests to inspect.

Bounded: it keeps the most recent entries only, and never image bytes (adapters record a
digest and a size instead), so a long-running emulator's memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: Emulator decision: the journal keeps the last 1000 requests, each request's record at
#: most 16 KiB of JSON (a bigger one is kept as its digest and size): 16 MiB at the most.
#: Strings over 2048 characters (refused by every API anyway) are kept as their digest,
#: so the rest of such a record stays readable.
JOURNAL_SIZE = 1000
MAX_REQUEST_CHARS = 16 * 1024
MAX_STRING_CHARS = 2048


def _digest(text: str) -> dict[str, Any]:
    raw = text.encode("utf-8", "surrogatepass")
    return {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return _digest(value)
    if isinstance(value, dict):
        return {(f"sha256:{_digest(k)['sha256']}" if isinstance(k, str)
                 and len(k) > MAX_STRING_CHARS else k): _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class JournalEntry:
    seq: int
    at: str
    api: str  # e.g. "yandex.v2.grpc"
    method: str  # e.g. "SearchByImage", "GET /images-xml"
    request_id: str
    request: dict[str, Any]
    outcome: str  # "OK", a status name, or an error code

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._seq = itertools.count(1)
        self._listeners: list[Callable[[JournalEntry], None]] = []

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> None:
        """Call ``listener`` with every entry as it is recorded (the request log does)."""
        self._listeners.append(listener)

    def record(self, api: str, method: str, request_id: str, request: dict[str, Any],
               outcome: str) -> None:
        request = _bounded(request)
        text = json.dumps(request, ensure_ascii=False, default=str)
        if len(text) > MAX_REQUEST_CHARS:
            request = {"truncated": True, **_digest(text)}
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        entry = JournalEntry(next(self._seq), at, api, method, request_id, request, outcome)
        self._entries.append(entry)
        for listener in self._listeners:
            listener(entry)

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        items = list(self._entries)
        return items[-limit:] if limit else items

    def clear(self) -> None:
        self._entries.clear()
