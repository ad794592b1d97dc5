"""Redaction: what the recorder writes never holds a credential the client sent.

Every secret seen is replaced, in what is written only, by a stable placeholder
(``REDACTED-<kind>-<8 hex>``: the same value is the same placeholder all through one
recording), and kept only as a salted HMAC-SHA256 (with its length) in the recording's
provenance, so ``fixtures check --secrets`` can tell whether it appears anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as _secrets
from dataclasses import dataclass, field

#: Emulator decision: the headers, query parameters and JSON body keys whose values are
#: credentials or account ids (matched case-insensitively). Contract: Yandex Search API
#: authentication (``Authorization: Bearer <IAM token>`` / ``Api-Key <key>``, v1
#: ``apikey``/``folderid``, v2 ``folderId``); Doofinder Search API v6 (``Authorization:
#: Token <key>`` or ``?token=``).
SECRET_HEADERS = ("authorization", "x-api-key", "x-yacloud-subjecttoken", "cookie",
                  "x-folder-id")
SECRET_PARAMS = ("apikey", "folderid", "token", "key")
SECRET_FIELDS = ("folderid", "folder_id")
#: a value shorter than this is not tracked (it would match by chance)
MIN_SECRET_CHARS = 4
#: Emulator decision: at most this many distinct secrets are kept per recording
MAX_SECRETS = 1000

RULES = {"headers": SECRET_HEADERS, "params": SECRET_PARAMS, "fields": SECRET_FIELDS,
         "min_chars": MIN_SECRET_CHARS}


def rules_digest() -> str:
    """The SHA-256 of the redaction rules, written into the provenance."""
    return hashlib.sha256(json.dumps(RULES, sort_keys=True).encode()).hexdigest()


def digest(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()


@dataclass
class Redactor:
    salt: bytes = field(default_factory=lambda: _secrets.token_bytes(16))
    #: HMAC hex -> (placeholder, length)
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)

    def secret(self, kind: str, value: str) -> str:
        """The placeholder for ``value``; the value (and, for ``Scheme credential``, the
        credential alone) is remembered as a digest."""
        parts = [value]
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            parts.append(credential.strip())
        placeholder = f"REDACTED-{kind}-{digest(self.salt, value)[:8]}"
        for part in parts:
            if len(part) >= MIN_SECRET_CHARS and len(self.seen) < MAX_SECRETS:
                self.seen.setdefault(digest(self.salt, part), (placeholder, len(part)))
        return placeholder

    def headers(self, headers: dict[str, str]) -> dict[str, str]:
        return {name: self.secret(name.lower(), value) if name.lower() in SECRET_HEADERS
                else value for name, value in headers.items()}

    def params(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, self.secret(name.lower(), value) if name.lower() in SECRET_PARAMS
                 else value) for name, value in pairs]

    def body_fields(self, body: object) -> None:
        """Notes the secrets of a JSON request body (its folder ids), at any depth."""
        if isinstance(body, dict):
            for key, value in body.items():
                if key.lower() in SECRET_FIELDS and isinstance(value, str):
                    self.secret(key.lower(), value)
                else:
                    self.body_fields(value)
        elif isinstance(body, list):
            for value in body:
                self.body_fields(value)

    def provenance(self) -> dict:
        return {"rules_digest": rules_digest(), "salt": self.salt.hex(),
                "secrets": [{"hmac": h, "length": n, "placeholder": p}
                            for h, (p, n) in sorted(self.seen.items())]}
