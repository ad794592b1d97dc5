"""Why an answer is what it is: which rule or tier matched, and how closely.

Adapters show it to clients (``X-Emulator-Match``, gRPC trailing metadata), the journal
keeps it, and the control plane explains with it; the core decides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Tier(str, Enum):
    """How a query found its answer, most specific first."""

    EXACT = "exact"            # the image's digest is a rule's image (or a catalog item's)
    PERCEPTUAL = "perceptual"  # a look-alike of a rule's image (within the distance)
    NEAREST = "nearest"        # no rule close enough: the nearest catalog images, ranked
    URL = "url"                # a URL the fixtures map to an image file
    ALIAS = "alias"            # an image id a rule lists (a recorded live one, say)
    TEXT = "text"              # a query rule's text
    STUB = "stub"              # a runtime stub
    FAULT = "fault"            # a runtime fault's error answered before any lookup
    GENERATED = "generated"    # nothing matched: deterministic generated data


@dataclass(frozen=True, slots=True)
class Match:
    tier: Tier
    rule: str | None = None      # the rule's name, as the fixtures or the stub give it
    distance: int | None = None  # perceptual distance in bits, where images were compared

    def header(self) -> str:
        """The ``X-Emulator-Match`` value: ``tier; rule="name"; distance=3``."""
        parts = [self.tier.value]
        if self.rule is not None:
            parts.append(f'rule="{_quoted(self.rule)}"')
        if self.distance is not None:
            parts.append(f"distance={self.distance}")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"tier": self.tier.value, "rule": self.rule, "distance": self.distance}


def _quoted(text: str) -> str:
    """A header-safe quoted string: ASCII printable, quotes and backslashes escaped."""
    safe = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c for c in safe if 32 <= ord(c) < 127).replace("\\", "\\\\").replace('"', '\\"')


#: The header adapters set on every image answer (gRPC: trailing metadata, lower case).
MATCH_HEADER = "X-Emulator-Match"
