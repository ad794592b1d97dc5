"""Record modes, as VCR.py names them, and what they stand on: the matcher of a request
against the recording, the index of recorded exchanges (kept in ``recording.json``), and the
emulator that answers a recorded request offline from the written directory.

* ``all``: every call is forwarded and recorded; a new recording (the directory is
  rewritten from nothing).
* ``new_episodes``: a call already recorded is answered offline; a new one is forwarded and
  recorded, added to the recording already in the directory.
* ``none``: nothing is forwarded; a call already recorded is answered offline, any other
  is the vendor's "not found" error (:func:`not_recorded`) and an error log line.
* ``once``: ``none`` when the directory holds a recording at start, else ``all``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .._config import RECORD_MODES, Config
from ..yandex import _render
from ._redact import SECRET_FIELDS, SECRET_PARAMS, Redactor
from ._writer import PROVENANCE, Session

log = logging.getLogger("emulator.record")

__all__ = ["RECORD_MODES", "Index", "Replayer", "effective_mode", "has_recording",
           "not_recorded", "not_recorded_message", "request_key", "resume"]

#: Emulator decision: the index keeps at most this many recorded requests (the oldest go
#: first), as the provenance keeps at most as many exchanges.
MAX_INDEX = 10_000
#: what a secret's value is replaced by in the matcher: no credential ever decides a match
_ANY_SECRET = "*"


def _without_secret_fields(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _ANY_SECRET if k.lower() in SECRET_FIELDS else _without_secret_fields(v)
                for k, v in body.items()}
    if isinstance(body, list):
        return [_without_secret_fields(v) for v in body]
    return body


def request_key(method: str, path: str, query: Iterable[tuple[str, str]], body: bytes) -> str:
    """The matcher: the SHA-256 of the method, the path, the query pairs (in sorted order)
    and the body (a JSON body parsed and written canonically, any other as its bytes), with
    the value of every secret (the redactor's query parameters and JSON fields) left out.

    Emulator decision: VCR's default matches method and URI; a search is a POST whose
    question is its body, so the body is matched too. Headers are not: a recording made with
    one credential answers the same question asked with another, as the written fixtures
    do (their rules name no folder)."""
    pairs = sorted((name, _ANY_SECRET if name.lower() in SECRET_PARAMS else value)
                   for name, value in query)
    shown: Any
    try:
        shown = ["json", _without_secret_fields(json.loads(body))] if body else ["none"]
    except (ValueError, RecursionError):
        shown = ["bytes", hashlib.sha256(body).hexdigest()]
    text = json.dumps([method.upper(), path, pairs, shown], sort_keys=True,
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Indexed:
    """One recorded request: its matcher key, and what it became."""

    key: str
    method: str
    path: str
    fixture: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "method": self.method, "path": self.path,
                "fixture": self.fixture}


class Index:
    """The recorded requests an answer in the fixtures stands for, by matcher key; at most
    :data:`MAX_INDEX` (the oldest go first). Only exchanges the writer made a fixture of are
    indexed: the others (Doofinder's, url queries) would not replay as recorded."""

    def __init__(self, entries: Iterable[Indexed] = (), limit: int = MAX_INDEX) -> None:
        self.limit = limit
        self._entries: OrderedDict[str, Indexed] = OrderedDict()
        for entry in entries:
            self.add(entry)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Indexed) -> None:
        self._entries[entry.key] = entry
        self._entries.move_to_end(entry.key)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)

    def to_json(self) -> list[dict[str, str]]:
        return [entry.to_json() for entry in self._entries.values()]

    @classmethod
    def from_json(cls, data: object) -> Index:
        entries = [Indexed(str(e["key"]), str(e["method"]), str(e["path"]),
                           str(e.get("fixture", "")))
                   for e in data if isinstance(e, dict) and "key" in e
                   and "method" in e and "path" in e] if isinstance(data, list) else []
        return cls(entries)


def has_recording(out: Path) -> bool:
    """Whether ``out`` holds a recording: its provenance file is there."""
    return (out / PROVENANCE).is_file()


def effective_mode(mode: str, out: Path) -> str:
    """The mode a recording runs in: ``once`` is ``none`` over an existing recording."""
    if mode == "once":
        return "none" if has_recording(out) else "all"
    return mode


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def resume(session: Session, out: Path) -> Index:
    """The recording already in ``out``, read back into ``session`` (its documents, rules,
    clock, exchanges and redaction salt, so placeholders stay the same) so that what
    ``new_episodes`` adds is written beside it; and its index."""
    provenance = _read(out / PROVENANCE)
    if not isinstance(provenance, dict):
        return Index()
    catalog = _read(out / "catalog.json") or {}
    rules = _read(out / "rules.json") or {}
    settings = _read(out / "settings.json") or {}
    for doc in catalog.get("documents", []):
        if isinstance(doc, dict) and "id" in doc:
            session.documents[doc["id"]] = doc
    for rule in rules.get("image_rules", []):
        if not isinstance(rule, dict):
            continue
        # keyed as the writer keys them: the picture file, "url <url>" or "id <cbir id>"
        if isinstance(rule.get("image"), str):
            session.image_rules[rule["image"]] = rule
        elif isinstance(rule.get("url"), str):
            session.image_rules[f"url {rule['url']}"] = rule
        elif isinstance(rule.get("cbir_id"), str):
            session.image_rules[f"id {rule['cbir_id']}"] = rule
    session.read_engines(_read(out / "engines.json"))
    for rule in rules.get("query_rules", []):
        if isinstance(rule, dict) and isinstance(rule.get("text"), str):
            session.query_rules[" ".join(rule["text"].lower().split())] = rule
    if isinstance(settings.get("clock"), str):
        session.clock = settings["clock"]
    if isinstance(provenance.get("started"), str):
        session.started = provenance["started"]
    exchanges = provenance.get("exchanges")
    if isinstance(exchanges, list):
        session.exchanges = [e for e in exchanges if isinstance(e, dict)]
    redaction = provenance.get("redaction") or {}
    try:
        salt = bytes.fromhex(redaction["salt"])
        seen = {s["hmac"]: (s["placeholder"], int(s["length"]))
                for s in redaction.get("secrets", [])}
        session.redactor = Redactor(salt=salt, seen=seen)
    except (KeyError, TypeError, ValueError):
        pass
    return Index.from_json(provenance.get("index"))


def not_recorded_message(method: str, path: str) -> str:
    """What a request not in the recording is told, on HTTP and gRPC (NOT_FOUND's details,
    with the method ``gRPC`` and the gRPC method as its path)."""
    return f"{method} {path} is not in the recording (record mode none)"


def not_recorded(vendor: str, path: str, method: str) -> web.Response:
    """Emulator decision: a request not in the recording, in mode ``none`` (VCR.py raises
    CannotOverwriteExistingCassetteException), is each vendor's "not found": a status no
    client retries (unlike "unavailable", which the Yandex SDKs retry); on gRPC, NOT_FOUND
    with the same message."""
    what = not_recorded_message(method, path)
    if vendor == "yandex" and path == "/images-xml":
        # Contract: yandexsearch XML errors; 20 is "unknown error".
        body = _render.render_error(20, message=f"Not found: {what}")
        return web.Response(body=body, status=404, content_type="text/xml", charset="utf-8")
    if vendor == "yandex":
        # Contract: google.rpc.Status JSON; 5 NOT_FOUND is HTTP 404 at the gateway.
        return web.json_response({"code": 5, "message": what, "details": []}, status=404)
    # Contract: Doofinder's ErrorResponse {"error": text}.
    return web.json_response({"error": f"Not Found: {what}"}, status=404)


class Replayer:
    """An emulator, in this process, over the recorded directory: it answers the recorded
    requests offline. Started when first needed, reloaded after each write."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.base: str | None = None
        self._emulator: Any = None
        self._lock = asyncio.Lock()
        self._stale = False

    async def base_url(self) -> str:
        """Where it answers (started, or reloaded when written since), ``http://...``."""
        async with self._lock:
            if self._emulator is None:
                from .._server import Emulator  # the record command alone never needs it

                emulator = Emulator(Config(http_port=0, grpc_port=0, fixtures=self.out,
                                           reload_interval=0, replay_bytes=0))
                await emulator.start()
                self._emulator, self._stale = emulator, False
                self.base = f"http://127.0.0.1:{emulator.http_port}"
            elif self._stale:
                self._stale = False
                await self._emulator.reload_fixtures()
            assert self.base is not None
            return self.base

    async def grpc_target(self) -> str:
        """Where it answers gRPC (started, or reloaded when written since), ``host:port``."""
        await self.base_url()
        return f"127.0.0.1:{self._emulator.grpc_port}"

    def written(self) -> None:
        """The directory changed: reload before the next answer."""
        self._stale = True

    async def stop(self) -> None:
        async with self._lock:
            if self._emulator is not None:
                await self._emulator.stop()
                self._emulator, self.base = None, None
