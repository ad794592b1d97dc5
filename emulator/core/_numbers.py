"""Numbers as clients write them: in query strings, ASCII digits only, of bounded length; in
JSON, an integer may be written ``2.0``."""

from __future__ import annotations


def ascii_integer(raw: str, max_digits: int = 18) -> int | None:
    """The value of ``raw`` when it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` also takes "²" or "٣", and ``int()`` takes "1_000", " 1" and "+1";
    none of those is a number a client meant to send.
    """
    if raw.isascii() and raw.isdigit() and len(raw) <= max_digits:
        return int(raw)
    return None


def whole(value: int | float | None) -> int | None:
    """A JSON Schema ``integer`` as the int it stands for: the schema admits ``2.0`` as an
    integer, which Python would not slice, count or send as a status with."""
    return None if value is None else int(value)
