"""The benchmark harness: the emulator measured beside the bare ceiling, in one run.

    python bench/run.py [--quick] [--soak N] [--profile] [--install]

1. start-up: launch -> first answered request, several launches, median, beside a bare
   aiohttp process;
2. load: every vendor operation (Yandex v2 REST and gRPC SearchByImage, v1 XML, Doofinder
   image search) at 1, 16 and 64 connections with photo-like JPEGs of about 100 KB and
   3 MiB, each a fixture hit, against the emulator and against bare aiohttp / grpc.aio
   handlers that read the same request and answer the same bytes (``bench/bare.py``);
3. soak: N requests with 1 MiB images (``--soak N``), the emulator's resident memory
   before and after;
4. optionally py-spy profiles of the emulator under the 100 KB load.

Writes ``bench/REPORT.md`` and prints it. Load comes from wrk (HTTP) and h2load (gRPC,
and every counted run); ``--install`` installs them with apt-get when run as root,
otherwise a missing one is replaced by an asyncio client and the report says so.
``--quick`` finishes in under a minute, for trying the harness out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import _cases, _load, _procs, _profile, _report, _wiremock
from bench._images import BenchImage, bench_image

BENCH = Path(__file__).resolve().parent
REPORT_FILE = BENCH / "REPORT.md"
#: Soak requests, as the issue asks: about 20 minutes on two cores.
DEFAULT_SOAK = 100_000
QUICK_SOAK = 500
#: Soak rounds (RSS is read after each) and the connections they run on.
SOAK_ROUNDS = 5
SOAK_CONNECTIONS = 16
#: The vendor's own limit for an image: the "3 MiB" image stays under it.
MAX_IMAGE_BYTES = 3 * 1024 * 1024


#: The JIT-compiled peer needs a warm-up even in a quick run, or it is measured cold.
MIN_PEER_WARMUP_S = 1.0


@dataclass(frozen=True)
class Plan:
    seconds: float  # per measured load
    warmup_s: float  # per case and server, before its first measured load (0: none)
    connections: tuple[int, ...]
    startup_runs: int
    soak: int
    profile_s: float  # 0: no profile

    def describe(self) -> str:
        warmup = f" after a {self.warmup_s:g} s warm-up" if self.warmup_s else ""
        return (f"{self.seconds:g} s per load{warmup}, at "
                f"{', '.join(map(str, self.connections))} connections; "
                f"{self.startup_runs} launches; soak of {self.soak:,} requests"
                + (f"; profiles of {self.profile_s:g} s" if self.profile_s else ""))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        quick = args.quick
        return cls(seconds=args.seconds or (1 if quick else 10),
                   warmup_s=0 if quick else 2,
                   connections=tuple(args.connections or ((16,) if quick else (1, 16, 64))),
                   startup_runs=args.startup_runs or (3 if quick else 7),
                   soak=args.soak if args.soak is not None else (
                       QUICK_SOAK if quick else DEFAULT_SOAK),
                   profile_s=(5 if quick else 10) if args.profile else 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run of under a minute")
    parser.add_argument("--seconds", type=float, help="per measured load (default 10; quick 1)")
    parser.add_argument("--connections", type=int, nargs="+",
                        help="connection counts (default 1 16 64; quick 16)")
    parser.add_argument("--startup-runs", type=int, help="launches to time (default 7; quick 3)")
    parser.add_argument("--soak", type=int,
                        help=f"soak requests (default {DEFAULT_SOAK}; quick {QUICK_SOAK}; 0: none)")
    parser.add_argument("--only", nargs="+", metavar="CASE",
                        help="load cases to run (e.g. rest-100k grpc-3m xml doofinder-100k "
                             "miss-rest-photo miss-rest-url miss-xml miss-doofinder-photo)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy profiles of the emulator under the 100 KB loads")
    parser.add_argument("--python-client", action="store_true",
                        help="drive every load with the asyncio client, even if wrk and h2load "
                             "are installed")
    parser.add_argument("--install", action="store_true",
                        help=f"install missing load generators ({_load.INSTALL_HINT}; root only)")
    parser.add_argument("--no-wiremock", action="store_true",
                        help="leave WireMock (the peer replaying the emulator's answers) out")
    parser.add_argument("--state", metavar="URL",
                        help="also run every load against an emulator with --state URL (a "
                             "Redis, e.g. redis://127.0.0.1:6379/0) beside the default "
                             "memory store, and report what it costs")
    parser.add_argument("--output", type=Path, default=REPORT_FILE,
                        help="where the report goes (default bench/REPORT.md)")
    return parser


# -- preparation -------------------------------------------------------------------------
def _tools(install: bool, python_client: bool) -> _load.Tools:
    if python_client:
        return _load.Tools(None, None)
    tools = _load.Tools.find()
    if (tools.wrk and tools.h2load) or not install:
        return tools
    if os.geteuid() != 0:
        raise SystemExit(f"--install needs root; as root: {_load.INSTALL_HINT}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk", "nghttp2-client"], check=True,
                   env=env)
    return _load.Tools.find()


def _tool_notes(tools: _load.Tools, python_client: bool) -> tuple[list[str], list[str]]:
    if python_client:
        return (["the asyncio client for every load (--python-client)"],
                ["Every load ran on the asyncio client in the harness's own process, which "
                 "competes with the server for the CPU: the figures understate both servers."])
    names = [f"wrk ({tools.wrk})" if tools.wrk else "wrk missing",
             f"h2load ({tools.h2load})" if tools.h2load else "h2load missing"]
    notes = []
    if not (tools.wrk and tools.h2load):
        notes.append(f"**A load generator is missing**: its loads ran on the asyncio client in "
                     f"the harness's own process, which competes with the server for the CPU, "
                     f"so those figures understate both servers. Install: "
                     f"`{_load.INSTALL_HINT}` (or `python bench/run.py --install` as root).")
    return names, notes


def _images() -> dict[str, BenchImage]:
    return {"100k": bench_image("bench-100k.jpg", (1024, 768), 100_000, seed=100),
            "3m": bench_image("bench-3m.jpg", (4032, 3024), MAX_IMAGE_BYTES - 32 * 1024,
                              seed=3, limit=MAX_IMAGE_BYTES),
            "1m": bench_image("bench-1m.jpg", (2048, 1536), 1024 * 1024, seed=1)}


def _soak_misses_warm() -> BenchImage:
    return bench_image("bench-miss-warm.jpg", (2048, 1536), 1024 * 1024, seed=999)


def _soak_misses() -> list[BenchImage]:
    """1 MiB images no rule names: generated results, a fresh key each."""
    return [bench_image(f"bench-miss-{n}.jpg", (2048, 1536), 1024 * 1024, seed=1000 + n)
            for n in range(SOAK_ROUNDS)]


def _environment() -> list[tuple[str, str]]:
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return [("machine", f"{os.cpu_count()} cores, {cpu}"),
            ("load average at start", load),
            ("Python", platform.python_version()),
            ("aiohttp / grpcio / protobuf / Pillow",
             " / ".join(version(p) for p in ("aiohttp", "grpcio", "protobuf", "pillow")))]


# -- the emulator's answers, canned for the bare server ----------------------------------
_NOT_CANNED = {"content-length", "content-type", "date", "server", "connection",
               "keep-alive", "transfer-encoding"}


def _content_type(answer: _procs.Answer) -> str:
    value = next((v for k, v in answer.headers if k.lower() == "content-type"), "")
    return value.split(";")[0].strip() or "application/octet-stream"


def _canned_entry(case: _cases.Case, answer: _procs.Answer, body_file: str) -> dict:
    request = case.request
    if request.transport == "grpc":
        headers = [[k, v] for k, v in answer.headers
                   if not k.startswith("grpc-") and k not in _NOT_CANNED]
        return {"path": request.path, "request_bytes": len(request.body),
                "headers": headers, "body_file": body_file}
    return {"path": request.path.split("?")[0], "method": request.method,
            "request_bytes": len(request.body),
            "status": answer.status, "content_type": _content_type(answer),
            "headers": [[k, v] for k, v in answer.headers if k.lower() not in _NOT_CANNED],
            "body_file": body_file}


def _check(case: _cases.Case, answer: _procs.Answer) -> str | None:
    """Why the emulator's answer is not a fixture hit, or None when it is."""
    ok = 0 if case.request.transport == "grpc" else 200
    if answer.status != ok:
        return f"the emulator answers {'status' if ok == 0 else 'HTTP'} {answer.status}"
    if case.hit_mark is not None and case.hit_mark not in answer.body:
        return "the emulator's answer is not the fixture rule's"
    return None


def _capture(server: _procs.Server, cases: list[_cases.Case], workdir: Path
             ) -> tuple[list[_cases.Case], list[tuple[str, str]], dict[str, int], Path]:
    """Ask the emulator each case once: the cases it serves, those it does not (and why),
    each served case's answer size, and the bare server's manifest of canned answers."""
    served, skipped, sizes = [], [], {}
    manifest: dict[str, list] = {"http": [], "grpc": []}
    for case in cases:
        answer = _procs.exchange(server, case.request)
        why = _check(case, answer)
        if why:
            skipped.append((case.label, why))
            continue
        body_file = f"canned-{case.key}.bin"
        (workdir / body_file).write_bytes(answer.body)
        manifest[case.request.transport].append(_canned_entry(case, answer, body_file))
        served.append(case)
        sizes[case.key] = len(answer.body)
    path = workdir / "canned.json"
    path.write_text(json.dumps(manifest))
    return served, skipped, sizes, path


def _same_answers(other: _procs.Server, cases: list[_cases.Case], sizes: dict[str, int]) -> None:
    for case in cases:
        answer = _procs.exchange(other, case.request)
        if len(answer.body) != sizes[case.key]:
            raise RuntimeError(f"{other.name} answers {case.key} with {len(answer.body)} bytes, "
                               f"the emulator with {sizes[case.key]}")


# -- the measurements --------------------------------------------------------------------
def _startup(plan: Plan, canned: Path, logs: Path) -> _report.Startup:
    """Launches alternate (emulator, bare, emulator, ...) so drift hits both alike; one
    unmeasured launch of each first fills the OS's file cache and Python's bytecode cache."""
    probe = _cases.xml_search()
    ours = lambda h, g: _procs.emulator_argv(h, g, None)  # noqa: E731
    bare = lambda h, g: _procs.bare_argv(canned, h, 0)  # noqa: E731
    timings: dict[str, list[float]] = {"ours": [], "bare": []}
    for n in range(plan.startup_runs + 1):
        for name, argv, grpc in (("ours", ours, True), ("bare", bare, False)):
            with _procs.launch(name, argv, probe, logs / f"startup-{name}.log", grpc) as server:
                if n:
                    timings[name].append(server.first_answer_s)
    return _report.Startup(timings["ours"], timings["bare"])


def _port(server: _procs.Server, request: _cases.Request) -> int:
    return server.grpc_port if request.transport == "grpc" else server.http_port


def _answer_bytes(case: _cases.Case, sizes: dict[str, int]) -> int | None:
    """gRPC: the length-prefixed message (None for a case that varies: no one size)."""
    return 5 + sizes[case.key] if case.key in sizes else None


def _measure(plan: Plan, tools: _load.Tools, ours: _procs.Server, bare: _procs.Server,
             peer: _procs.Server | None, cases: list[_cases.Case], sizes: dict[str, int],
             workdir: Path) -> list[_report.Row]:
    """Each case and connection count on every server, in an order that turns round each
    time so drift hits them alike; WireMock (``peer``) serves the HTTP cases only."""
    rows, turn = [], 0
    for case in cases:
        drive = lambda server, load, case=case: _load.drive(  # noqa: E731
            tools, _port(server, case.request), case.request, load, workdir,
            _answer_bytes(case, sizes))
        servers = [bare, ours] + ([peer] if peer and case.request.transport == "http" else [])
        for server in servers:
            warmup = max(plan.warmup_s, MIN_PEER_WARMUP_S) if server is peer else plan.warmup_s
            if warmup:
                drive(server, _load.Load(16, seconds=warmup))
        for connections in plan.connections:
            load = _load.Load(connections, seconds=plan.seconds)
            order = servers[turn % len(servers):] + servers[:turn % len(servers)]
            turn += 1
            results = {server.name: drive(server, load) for server in order}
            row = _report.Row(case.key, case.label, connections, results["ours"],
                              results["bare"], True,  # _capture served only hits
                              results.get(_PEER_NAME))
            rows.append(row)
            versus = f", WireMock {row.peer.rps:8.0f} req/s ({row.peer_ratio:.2f}x)" if row.peer else ""
            print(f"  {case.key:>16} {connections:>3} conn: {row.ours.rps:8.0f} req/s, "
                  f"bare {row.bare.rps:8.0f} req/s, ratio {row.ratio:.2f}{versus}",
                  file=sys.stderr)
    return rows


def _measure_state(plan: Plan, tools: _load.Tools, shared: _procs.Server,
                   memory: _procs.Server, cases: list[_cases.Case], sizes: dict[str, int],
                   workdir: Path) -> list[_report.Row]:
    """Each case and connection count with --state on a Redis (``shared``) and with the
    memory store, in turns; Row.ours is Redis, Row.bare memory."""
    rows = []
    for turn, (case, connections) in enumerate(
            (c, n) for c in cases for n in plan.connections):
        def drive(server: _procs.Server, case: _cases.Case = case,
                  connections: int = connections) -> _load.Result:
            return _load.drive(tools, _port(server, case.request), case.request,
                               _load.Load(connections, seconds=plan.seconds), workdir,
                               _answer_bytes(case, sizes))
        first, second = (memory, shared) if turn % 2 == 0 else (shared, memory)
        results = {id(first): drive(first)}
        results[id(second)] = drive(second)
        rows.append(_report.Row(case.key, case.label, connections, results[id(shared)],
                                results[id(memory)], True))
        print(f"  {case.key:>16} {connections:>3} conn: redis {rows[-1].ours.rps:8.0f} req/s, "
              f"memory {rows[-1].bare.rps:8.0f} req/s, ratio {rows[-1].ratio:.2f}",
              file=sys.stderr)
    return rows


def _measure_misses(plan: Plan, tools: _load.Tools, ours: _procs.Server,
                    cases: list[_cases.Case], workdir: Path) -> list[_report.MissRow]:
    """Each miss case (a new request on every send) at each connection count, after a
    warm-up of its own; the emulator alone: a peer replaying one answer has no miss."""
    rows = []
    for case in cases:
        answer = _procs.exchange(ours, case.request)
        if answer.status != 200:
            raise RuntimeError(f"the emulator answers {case.key} with HTTP {answer.status}")
        if plan.warmup_s:
            _load.drive(tools, _port(ours, case.request), case.request,
                        _load.Load(16, seconds=plan.warmup_s), workdir)
        for connections in plan.connections:
            result = _load.drive(tools, _port(ours, case.request), case.request,
                                 _load.Load(connections, seconds=plan.seconds), workdir)
            rows.append(_report.MissRow(case.key, case.label, connections, result))
            print(f"  {case.key:>20} {connections:>3} conn: {result.rps:8.0f} req/s, "
                  f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms", file=sys.stderr)
    return rows


_PEER_NAME = "wiremock"


@contextlib.contextmanager
def _peer(canned: Path, workdir: Path, logs: Path, wanted: bool,
          report: _report.Report) -> Iterator[_procs.Server | None]:
    """WireMock replaying the canned HTTP answers, or None (the report says why)."""
    if not wanted:
        report.notes.append("WireMock left out (--no-wiremock).")
        yield None
        return
    why = _wiremock.missing()
    if why:
        report.notes.append(f"**WireMock not measured**: {why}.")
        yield None
        return
    root = _wiremock.write_stubs(canned, workdir / "wiremock")
    argv = lambda h, g: _wiremock.argv(root, h)  # noqa: E731
    with _procs.launch(_PEER_NAME, argv, _cases.xml_search(), logs / "wiremock.log",
                       grpc=False) as server:
        yield server


def _soak_phases(round_: int, hit: BenchImage, miss: BenchImage, doofinder: bool
                 ) -> list[tuple[str, _cases.Request]]:
    """One round: the fixture hit on each transport, an image and a text no rule names
    (new in every round, so whatever is kept per image or per text would pile up)."""
    phases = [("REST hit", _cases.rest_search_by_image(hit)),
              ("gRPC hit", _cases.grpc_search_by_image(hit)),
              ("gRPC miss", _cases.grpc_search_by_image(miss)),
              ("v1 XML miss", _cases.xml_search(f"bench soak {round_}"))]
    if doofinder:
        phases.append(("Doofinder hit", _cases.doofinder_image_search(hit)))
    return phases


def _soak(plan: Plan, tools: _load.Tools, fixtures: Path, hit: BenchImage, doofinder: bool,
          logs: Path, workdir: Path) -> _report.Soak:
    """A fresh emulator; a warm-up round of a twentieth of the requests, then
    ``SOAK_ROUNDS`` rounds; RSS after the warm-up, after each round and at the peak."""
    misses = _soak_misses()
    phase_count = len(_soak_phases(0, hit, misses[0], doofinder))
    per_phase = max(1, plan.soak // (SOAK_ROUNDS * phase_count))
    warm = max(1, plan.soak // (20 * phase_count))
    argv = lambda h, g: _procs.emulator_argv(h, g, fixtures)  # noqa: E731
    with _procs.launch("ours", argv, _cases.xml_search(), logs / "soak.log") as server:
        start_kib = _procs.rss_kib(server.pid)

        def run(request: _cases.Request, n: int) -> _load.Result:
            return _load.drive(tools, _port(server, request), request,
                               _load.Load(SOAK_CONNECTIONS, requests=n), workdir)

        for _, request in _soak_phases(-1, hit, _soak_misses_warm(), doofinder):
            run(request, warm)
        before = _procs.rss_kib(server.pid)
        samples, errors = [], 0
        answered: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for r, miss in enumerate(misses):
            for name, request in _soak_phases(r, hit, miss, doofinder):
                result = run(request, per_phase)
                errors += result.errors
                answered[name] = answered.get(name, 0) + result.ok
                seconds[name] = seconds.get(name, 0.0) + result.seconds
                print(f"  soak round {r + 1}/{SOAK_ROUNDS} {name}: {result.rps:.0f} req/s",
                      file=sys.stderr)
            samples.append(_procs.rss_kib(server.pid))
            print(f"  soak round {r + 1}/{SOAK_ROUNDS}: RSS {samples[-1] / 1024:.1f} MiB",
                  file=sys.stderr)
        peak = _procs.peak_rss_kib(server.pid)
    return _report.Soak(sum(answered.values()), hit.label, SOAK_CONNECTIONS,
                        [(n, answered[n] / seconds[n] if seconds[n] else 0.0) for n in answered],
                        start_kib, before, samples, peak, errors, sum(seconds.values()))


def _profiles(plan: Plan, tools: _load.Tools, ours: _procs.Server, cases: list[_cases.Case],
              sizes: dict[str, int], workdir: Path) -> list[_profile.Profile]:
    """The emulator sampled under each 100 KB (and the v1 XML) load at 16 connections."""
    profiles = []
    for case in (c for c in cases if c.key.endswith("100k") or c.key == "xml"
                 or c.request.varies):
        def load(case: _cases.Case = case) -> int:
            return _load.drive(tools, _port(ours, case.request), case.request,
                               _load.Load(16, seconds=plan.profile_s), workdir,
                               _answer_bytes(case, sizes)).ok
        profile = _profile.record(f"{case.label}, 16 connections", ours.pid, load,
                                  workdir / f"profile-{case.key}.txt")
        if profile is None:
            return []
        profiles.append(profile)
    return profiles


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = Plan.from_args(args)
    tools = _tools(args.install, args.python_client)
    tool_names, notes = _tool_notes(tools, args.python_client)
    command = "python bench/run.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    report = _report.Report(command, [*_environment(), ("plan", plan.describe())], tool_names,
                            notes)
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        print("making images and fixtures", file=sys.stderr)
        images = _images()
        fixtures = _cases.write_fixtures(work / "fixtures", list(images.values()))
        cases = _cases.load_cases([images["100k"], images["3m"]])
        ours_argv = lambda h, g: _procs.emulator_argv(h, g, fixtures)  # noqa: E731
        with _procs.launch("ours", ours_argv, _cases.xml_search(), logs / "ours.log") as ours:
            # every case is canned (the bare server's start-up probe is the v1 XML one)
            served, report.unavailable, sizes, canned = _capture(ours, cases, work)
            doofinder = any(c.key.startswith("doofinder") for c in served)
            if args.only:
                served = [c for c in served if c.key in args.only]
            print("start-up", file=sys.stderr)
            report.startup = _startup(plan, canned, logs)
            bare_argv = lambda h, g: _procs.bare_argv(canned, h, g)  # noqa: E731
            with _procs.launch("bare", bare_argv, _cases.xml_search(), logs / "bare.log") as bare, \
                    _peer(canned, work, logs, not args.no_wiremock, report) as peer:
                _same_answers(bare, served, sizes)
                if peer is not None:
                    _same_answers(peer, [c for c in served if c.request.transport == "http"],
                                  sizes)
                    report.tools.append(f"WireMock {_wiremock.version()} "
                                        f"({_wiremock.CONTAINER_THREADS} container threads, "
                                        f"no request journal)")
                print("load", file=sys.stderr)
                report.rows = _measure(plan, tools, ours, bare, peer, served, sizes, work)
            misses = _cases.miss_cases(images["100k"])
            if args.only:
                misses = [c for c in misses if c.key in args.only]
            if misses:
                print("the miss path", file=sys.stderr)
                report.miss_rows = _measure_misses(plan, tools, ours, misses, work)
            if args.state:
                print(f"load with --state {args.state}", file=sys.stderr)
                shared_argv = lambda h, g: _procs.emulator_argv(  # noqa: E731
                    h, g, fixtures, state=args.state)
                with _procs.launch("redis", shared_argv, _cases.xml_search(),
                                   logs / "redis.log") as shared:
                    report.state_url = args.state
                    report.state_rows = _measure_state(plan, tools, shared, ours, served,
                                                       sizes, work)
            if plan.profile_s:
                print("profiles", file=sys.stderr)
                report.profiles = _profiles(plan, tools, ours, served + misses, sizes, work)
                if not report.profiles:
                    report.notes.append("No profiles: py-spy is missing (`pip install py-spy`).")
        if plan.soak:
            print("soak", file=sys.stderr)
            report.soak = _soak(plan, tools, fixtures, images["1m"], doofinder, logs, work)
    text = _report.render(report)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
