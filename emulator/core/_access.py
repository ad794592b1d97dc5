"""Which credentials may use which folders, as the fixtures list them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Access(enum.Enum):
    GRANTED = "granted"
    UNKNOWN_KEY = "unknown key"
    FOLDER_DENIED = "folder denied"


@dataclass(frozen=True)
class AccessList:
    """Emulator decision: with no keys listed, any well-formed credential is accepted and
    may use any folder, as a mock server that wants to be easy to start would."""

    keys: dict[str, frozenset[str] | None] = field(default_factory=dict)

    def check(self, credential: str, folder: str | None) -> Access:
        if not self.keys:
            return Access.GRANTED
        if credential not in self.keys:
            return Access.UNKNOWN_KEY
        folders = self.keys[credential]
        if folders is not None and folder and folder not in folders:
            return Access.FOLDER_DENIED
        return Access.GRANTED
