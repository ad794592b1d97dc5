"""``image-search-emulator fixtures check --secrets DIR``: does any value the recorder saw as
a secret appear anywhere in the directory?

The provenance (``recording.json``) keeps each secret as an HMAC with a salt and its
length; every run of credential characters in every file is searched with a window of each
length, so a secret found inside a URL, a JSON string or a binary file is found too.
"""

from __future__ import annotations

import hmac
import hashlib
import json
import re
from pathlib import Path

PROVENANCE = "recording.json"
#: the characters credentials are made of (base64, base64url, JWTs, hex, ids)
_RUN = re.compile(rb"[A-Za-z0-9._~+/=\-]+")
#: Emulator decision: files larger than this are not searched (fixture images are far smaller)
MAX_FILE_BYTES = 64 * 1024 * 1024


class CheckError(Exception):
    pass


def find_secrets(directory: Path) -> list[tuple[str, str]]:
    """(file, placeholder) for every recorded secret found in ``directory``."""
    try:
        provenance = json.loads((directory / PROVENANCE).read_text())
        redaction = provenance["redaction"]
        salt = bytes.fromhex(redaction["salt"])
        wanted = {s["hmac"]: (s["placeholder"], s["length"]) for s in redaction["secrets"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckError(f"{directory / PROVENANCE}: no readable recording provenance "
                         f"({exc})") from None
    lengths = sorted({n for _, n in wanted.values()})
    found: list[tuple[str, str]] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if path.stat().st_size > MAX_FILE_BYTES:
            continue
        data = path.read_bytes()
        hits: set[str] = set()
        for run in _RUN.finditer(data):
            text = run.group()
            for n in lengths:
                for start in range(len(text) - n + 1):
                    mac = hmac.new(salt, text[start:start + n], hashlib.sha256).hexdigest()
                    if mac in wanted:
                        hits.add(wanted[mac][0])
        found += [(str(path.relative_to(directory)), p) for p in sorted(hits)]
    return found
