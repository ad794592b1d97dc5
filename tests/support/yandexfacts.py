"""Facts from recorded live Yandex traffic that the client tests check answers against."""

from __future__ import annotations

import re

#: A picture of the recorded live session, its CBIR id, and the first result's URL.
TOLSTOY_URL = ("https://upload.wikimedia.org/wikipedia/commons/b/be/"
               "Leo_Tolstoy_1908_Portrait_%283x4_cropped%29.jpg")
TOLSTOY_ALIAS = "4463870/96DyrJwvBwvRAPHPHt1h1Q9959"
TOLSTOY_FIRST_URL = ("https://upload.wikimedia.org/wikipedia/commons/thumb/b/be/"
                     "Leo_Tolstoy_1908_Portrait_%283x4_cropped%29.jpg/"
                     "250px-Leo_Tolstoy_1908_Portrait_%283x4_cropped%29.jpg")
#: Shaped like an id but with a checksum no emulator issues: unknown, so NOT_FOUND.
UNKNOWN_ID = "1234567/AAAAAAAAAAAAAAAAAAAAAA0000"
#: The shape of a CBIR id: digits, a slash, 22 URL-safe characters, 4 digits.
CBIR_ID = re.compile(r"^\d+/[A-Za-z0-9_-]{22}\d{4}$")
