"""The call pipeline's own promises: one work pool, owned by the running emulator."""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
import urllib.request

from PIL import Image

from support.server import start
from support.doofinder_client import DOCS_HASHID, DOCS_KEY
from emulator.core import OFFLOAD_BYTES

#: Thread names of the pools there used to be beside the work pool.
OTHER_POOLS = ("json-decode", "doofinder", "image-decode")


def noise_png(side: int = 320) -> bytes:
    rng = random.Random(7)
    pixels = bytes(rng.getrandbits(8) for _ in range(side * side * 3))
    image = Image.frombytes("RGB", (side, side), pixels)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def post(url: str, body: dict, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=30) as reply:
        reply.read()
        return reply.status


def test_the_work_and_control_pools_start_and_stop_with_the_emulator():
    image = base64.b64encode(noise_png()).decode()
    assert len(image) > OFFLOAD_BYTES  # parsed, decoded and fingerprinted in the pool
    before = set(threading.enumerate())
    with start() as running:
        assert post(running.http + "/v2/image/search_by_image", {"folderId": "f", "data": image},
                    {"Authorization": "Api-Key k"}) == 200
        assert post(f"{running.http}/6/{DOCS_HASHID}/_image_search", {"image": image},
                    {"Authorization": f"Token {DOCS_KEY}"}) == 200
        with urllib.request.urlopen(running.http + "/_emulator/requests", timeout=30) as reply:
            assert reply.status == 200  # a listing: built in the control pool
        started = [t for t in threading.enumerate() if t not in before]
        names = {t.name.rsplit("_", 1)[0] for t in started if t.name.startswith(
            ("emulator-work", "emulator-control", *OTHER_POOLS))}
        assert names == {"emulator-work", "emulator-control"}
    deadline = time.monotonic() + 10
    while any(t.is_alive() for t in started if t.name.startswith(("emulator-work", "emulator-control"))):
        assert time.monotonic() < deadline, "a pool outlived its emulator"
        time.sleep(0.05)
