"""A catalog of 100,000 items: start-up (cold and on a warm start-up cache), memory, and
Doofinder image search latency for a new image and for a repeated one.

    python bench/catalog.py [--count 100000] [--images 40] [--repeats 100]
                            [--launches 1] [--cache DIR] [--root CHECKOUT]

The fixtures are the built-in ones with one more index in the docs engine, generated with
``count`` items. The first launch runs on an empty start-up cache (Faker makes every
product; every distinct placeholder is drawn when the catalog is first ranked); the second
on the cache the first one filled. Each launch is timed to its first answered request (the
v1 XML probe, as bench/run.py times start-up) and to its first image answer; the second
then sends ``images`` photos no rule names, one at a time (each one new: the whole catalog
is ranked), and one of them ``repeats`` times. Prints a markdown table.

``--launches`` repeats the warm launch (medians over them); ``--cache`` keeps the start-up
cache in a directory of your own (one already filled skips the cold launch); ``--root``
launches another checkout, so two versions can be measured in turns on one machine.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/catalog.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import _cases, _procs
from bench._images import photo_jpeg
from bench._load import percentile

INDEX = "bench-catalog"


def write_fixtures(target: Path, count: int) -> Path:
    shutil.copytree(_cases.FIXTURES, target)
    engines_file = target / "engines.json"
    engines = json.loads(engines_file.read_text())
    docs = next(e for e in engines["engines"] if e["hashid"] == _cases.DOOFINDER_HASHID)
    docs["indices"].append({"name": INDEX, "generated": {"count": count, "seed": INDEX}})
    engines_file.write_text(json.dumps(engines))
    return target


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def image_search(self, data: bytes) -> tuple[float, dict]:
        body = json.dumps({"image": base64.b64encode(data).decode()}).encode()
        started = time.perf_counter()
        self.conn.request("POST", f"/6/{_cases.DOOFINDER_HASHID}/_image_search", body,
                          dict([_cases.DOOFINDER_AUTH, ("content-type", "application/json")]))
        response = self.conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise RuntimeError(f"image search answered HTTP {response.status}: {raw[:300]!r}")
        return (time.perf_counter() - started) * 1000, json.loads(raw)


#: Emulator decision: a cold start of 100,000 items makes every product with Faker and
#: draws every distinct placeholder; on a busy machine that takes minutes, not 60 s.
COLD_TIMEOUT_S = 900.0


def _launch(fixtures: Path, log: Path, first_image: bytes, root: Path,
            timeout: float) -> tuple[_procs.Server, float, float, int]:
    server = _procs.launch("ours", lambda h, g: _procs.emulator_argv(h, g, fixtures),
                           _cases.xml_search(), log, cwd=root, timeout=timeout)
    first_ms, body = Client(server.http_port).image_search(first_image)
    return server, server.first_answer_s, first_ms, body["count"]


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(sorted(values), 99):.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="items generated (default 100000)")
    parser.add_argument("--images", type=int, default=40, help="new images sent (default 40)")
    parser.add_argument("--repeats", type=int, default=100, help="repeats of one (default 100)")
    parser.add_argument("--launches", type=int, default=1,
                        help="warm launches (default 1): medians over them")
    parser.add_argument("--cache", type=Path, default=None,
                        help="start-up cache directory to fill or reuse (default: a fresh one); "
                             "a filled one skips the cold launch")
    parser.add_argument("--root", type=Path, default=_procs.ROOT,
                        help="the checkout to launch (default: this one), to measure another")
    args = parser.parse_args(argv)
    photos = [photo_jpeg((1024, 768), 100_000, seed=7000 + n) for n in range(args.images + 1)]
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="emulator-catalog-") as tmp:
        work = Path(tmp)
        fixtures = write_fixtures(work / "fixtures", args.count)
        cache = args.cache or work / "cache"
        cold = not (cache / "products").is_dir()
        os.environ["EMULATOR_CACHE_DIR"] = str(cache)  # empty: a cold start
        if cold:
            server, ready_s, first_ms, total = _launch(fixtures, work / "cold.log", photos[0],
                                                       args.root, COLD_TIMEOUT_S)
            with server:
                rows.append(("cold start-up: launch to first answer", f"{ready_s:.2f} s"))
                rows.append(("cold start-up: first image answer (the catalog measured)",
                             f"{first_ms / 1000:.2f} s"))
                rows.append(("cold start-up: RSS after the first image answer / peak",
                             f"{_procs.rss_kib(server.pid) / 1024:.0f} / "
                             f"{_procs.peak_rss_kib(server.pid) / 1024:.0f} MiB"))
        ready, first, rss, new, repeat, after = [], [], [], [], [], []
        for n in range(args.launches):
            server, ready_s, first_ms, total = _launch(fixtures, work / f"warm{n}.log", photos[0],
                                                       args.root, _procs.START_TIMEOUT_S)
            with server:
                ready.append(ready_s)
                first.append(first_ms)
                rss.append(_procs.rss_kib(server.pid) / 1024)
                client = Client(server.http_port)
                new += [client.image_search(p)[0] for p in photos[1:]]
                repeat += [client.image_search(photos[1])[0] for _ in range(args.repeats)]
                after.append((_procs.rss_kib(server.pid) / 1024,
                              _procs.peak_rss_kib(server.pid) / 1024))
        runs = f" (median of {args.launches})" if args.launches > 1 else ""
        rows.append((f"warm start-up: launch to first answer{runs}",
                     f"{statistics.median(ready):.2f} s"))
        rows.append((f"warm start-up: first image answer{runs}",
                     f"{statistics.median(first) / 1000:.2f} s"))
        rows.append((f"warm start-up: RSS after the first image answer{runs}",
                     f"{statistics.median(rss):.0f} MiB"))
        rows.append((f"new image ({len(new)}, one at a time): p50 / p99", _ms(new)))
        rows.append((f"repeated image ({len(repeat)}): p50 / p99", _ms(repeat)))
        rows.append((f"RSS after them / peak{runs}",
                     f"{statistics.median(a for a, _ in after):.0f} / "
                     f"{statistics.median(b for _, b in after):.0f} MiB"))
    print(f"Catalog of {total:,} items ({args.count:,} generated), 100 KB photos\n")
    print("| figure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
