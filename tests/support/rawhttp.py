"""Reading a raw HTTP/1.1 answer, for tests that write requests byte by byte."""

from __future__ import annotations


def dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2:]
    return out


def parse_response(received: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, lowercase headers, body) of one answer; a 100 Continue before it is skipped."""
    head, _, body = received.partition(b"\r\n\r\n")
    while head.split(b" ", 2)[1:2] == [b"100"]:
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return int(lines[0].split(" ")[1]), headers, body
