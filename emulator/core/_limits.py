"""The limits every vendor and transport shares, named once."""

from __future__ import annotations

#: The largest request any operation reads: an HTTP body, a gRPC message (and so the HTTP
#: app's own limit). Contract (Yandex): a 3 MiB image, which is 4 MiB of base64, plus the
#: rest of the request; (Doofinder) bodies over 8 MB are refused. Emulator decision: 8 MiB
#: for both, as a proxy's ``8m`` means, so an oversized image gets the vendor's own error.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Work on inputs from this size on (parsing and decoding bodies, digesting them and their
#: images) runs in the work pool, off the event loop; smaller inputs cost less than the
#: trip to the pool.
OFFLOAD_BYTES = 256 * 1024
