"""The request journal: what clients sent and what they got, for tests to inspect.

Bounded: it keeps the most recent entries only, and never image bytes (adapters record a
digest and a size instead), so a long-running emulator's memory stays flat.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

#: Emulator decision: the journal keeps the last 1000 requests.
JOURNAL_SIZE = 1000


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

    def record(self, api: str, method: str, request_id: str, request: dict[str, Any],
               outcome: str) -> None:
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        self._entries.append(JournalEntry(next(self._seq), at, api, method, request_id,
                                          request, outcome))

    def entries(self, limit: int | None = None) -> list[JournalEntry]:
        items = list(self._entries)
        return items[-limit:] if limit else items

    def clear(self) -> None:
        self._entries.clear()
