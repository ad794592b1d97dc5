"""Start-up time, throughput and memory of the emulator, measured from outside the process.

    python benchmarks/bench.py [--seconds 5] [--concurrency 32]

Launches ``python -m emulator`` on free ports, times launch -> first answered request,
then drives REST and gRPC SearchByImage (a generated-result image, by id paging, so the
numbers measure the emulator rather than image decoding) and reports requests/s and the
server's resident memory before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from emulator.yandex import _protos  # noqa: E402

PATH = "/yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage"
AUTH = "Api-Key bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def launch(http_port: int, grpc_port: int) -> tuple[subprocess.Popen, float]:
    body = json.dumps({"folderId": "bench", "url": "https://example.com/a.jpg"}).encode()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "--http-port", str(http_port),
                             "--grpc-port", str(grpc_port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{http_port}/v2/image/search_by_image",
                                         data=body, headers={"Authorization": AUTH})
            with urllib.request.urlopen(req, timeout=1) as response:
                response.read()
                return proc, time.perf_counter() - started
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("emulator exited during start-up")
            time.sleep(0.005)


async def drive(seconds: float, concurrency: int, items: list, call) -> float:
    """``concurrency`` workers calling ``call(item)`` round-robin for ``seconds``: calls/s."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        i = n
        while time.perf_counter() < deadline:
            await call(items[i % len(items)])
            done += 1
            i += concurrency

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done / seconds


async def rest_load(port: int, seconds: float, concurrency: int, bodies: list[bytes]) -> float:
    url = f"http://127.0.0.1:{port}/v2/image/search_by_image"
    async with aiohttp.ClientSession(headers={"Authorization": AUTH}) as session:
        async def post(body: bytes) -> None:
            async with session.post(url, data=body) as r:
                await r.read()
                assert r.status == 200, r.status
        return await drive(seconds, concurrency, bodies, post)


async def xml_load(port: int, seconds: float, concurrency: int, paths: list[str]) -> float:
    async with aiohttp.ClientSession() as session:
        async def get(path: str) -> None:
            async with session.get(f"http://127.0.0.1:{port}{path}") as r:
                await r.read()
                assert r.status == 200, r.status
        return await drive(seconds, concurrency, paths, get)


async def grpc_load(port: int, seconds: float, concurrency: int, requests: list) -> float:
    protos = _protos.load()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_unary(PATH, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=protos.ImageSearchByImageResponse.FromString)

        async def call(request) -> None:
            await stub(request, metadata=(("authorization", AUTH),))
        return await drive(seconds, concurrency, requests, call)


def noise_jpeg() -> bytes:
    """A photo-sized JPEG just under the vendor's 3 MiB limit (noise compresses badly)."""
    import io
    import random

    from PIL import Image
    rng = random.Random(7)
    img = Image.frombytes("RGB", (1800, 1300), rng.randbytes(1800 * 1300 * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    http_port, grpc_port = free_port(), free_port()
    proc, startup = launch(http_port, grpc_port)
    try:
        protos = _protos.load()
        image = (ROOT / "fixtures" / "images" / "red-square.png").read_bytes()
        urls = [f"https://example.com/bench/{i}.jpg" for i in range(64)]
        rest_bodies = [json.dumps({"folderId": "bench", "url": u, "page": i % 37}).encode()
                       for i, u in enumerate(urls)]
        grpc_requests = [protos.ImageSearchByImageRequest(folder_id="bench", url=u, page=i % 37)
                         for i, u in enumerate(urls)]
        rss_start = rss_kib(proc.pid)
        rest = asyncio.run(rest_load(http_port, args.seconds, args.concurrency, rest_bodies))
        grpc_rate = asyncio.run(grpc_load(grpc_port, args.seconds, args.concurrency, grpc_requests))
        data_body = [json.dumps({"folderId": "bench", "data": base64.b64encode(image).decode()}).encode()]
        rest_data = asyncio.run(rest_load(http_port, args.seconds, args.concurrency, data_body))
        xml_paths = [f"/images-xml?folderid=bench&apikey=k&text=bench+{i}&p={i % 5}"
                     for i in range(64)]
        xml_rate = asyncio.run(xml_load(http_port, args.seconds, args.concurrency, xml_paths))
        rss_mid = rss_kib(proc.pid)
        big = [json.dumps({"folderId": "bench", "data": base64.b64encode(noise_jpeg()).decode()}).encode()]
        rest_big = asyncio.run(rest_load(http_port, args.seconds, 8, big))
        rss_end = rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"launch -> first answered request: {startup * 1000:.0f} ms")
    print(f"REST SearchByImage by url (40 generated docs/page): {rest:.0f} req/s")
    print(f"gRPC SearchByImage by url (40 generated docs/page): {grpc_rate:.0f} req/s")
    print(f"REST SearchByImage by data (PNG decode + rule):     {rest_data:.0f} req/s")
    print(f"v1 GET /images-xml (20 generated docs/page):      {xml_rate:.0f} req/s")
    print(f"REST SearchByImage by data (~2.8 MB JPEG, 8 clients): {rest_big:.1f} req/s")
    print(f"server RSS: {rss_start / 1024:.1f} MiB after start-up, {rss_mid / 1024:.1f} MiB "
          f"after the small-request load, {rss_end / 1024:.1f} MiB after the large-image load")


if __name__ == "__main__":
    main()
