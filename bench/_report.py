"""The markdown report: targets first, then every figure they were judged from."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ._load import Result
from ._profile import Profile

#: The issue's targets, as ratios from the same run.
MIN_CEILING_RATIO = 0.7
#: requests/s of the emulator over WireMock's, 100 KB image or v1 XML, 16 connections
MIN_PEER_RATIO = 1.5
PEER_CONNECTIONS = 16
MAX_SOAK_GROWTH = 0.10
MAX_STARTUP_RATIO = 1.5
#: A shorter soak ends while the allocator is still settling: its growth says little.
MIN_JUDGED_SOAK = 5_000
#: The shared state backend (Redis) keeps at least this share of the memory store's
#: requests/s on the repeated-request cases (every load case repeats one request).
MIN_STATE_RATIO = 0.9


@dataclass
class Startup:
    ours_s: list[float]
    bare_s: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours_s) / statistics.median(self.bare_s)


@dataclass
class Row:
    key: str
    label: str
    connections: int
    ours: Result
    bare: Result
    hit: bool  # the case's image is a fixture hit (what the ceiling target is judged on)
    peer: Result | None = None  # WireMock replaying the same answer (HTTP cases)

    @property
    def ratio(self) -> float:
        return self.ours.rps / self.bare.rps if self.bare.rps else 0.0

    @property
    def peer_ratio(self) -> float:
        return self.ours.rps / self.peer.rps if self.peer and self.peer.rps else 0.0


@dataclass
class MissRow:
    """A case that sends a new request every time: the emulator's figures alone."""

    key: str
    label: str
    connections: int
    ours: Result


@dataclass
class Soak:
    requests: int
    image: str
    connections: int
    phases: list[tuple[str, float]]  # (phase, requests/s)
    rss_start_kib: int  # right after start-up
    rss_before_kib: int  # after the warm-up
    rss_samples_kib: list[int]  # after each round
    peak_kib: int
    errors: int
    seconds: float

    @property
    def growth(self) -> float:
        return self.rss_samples_kib[-1] / self.rss_before_kib - 1


@dataclass
class Report:
    command: str
    environment: list[tuple[str, str]]
    tools: list[str]
    notes: list[str] = field(default_factory=list)
    startup: Startup | None = None
    rows: list[Row] = field(default_factory=list)
    unavailable: list[tuple[str, str]] = field(default_factory=list)
    soak: Soak | None = None
    profiles: list[Profile] = field(default_factory=list)
    #: the loads again with --state on a Redis: Row.ours is Redis, Row.bare is memory
    state_url: str | None = None
    state_rows: list[Row] = field(default_factory=list)
    miss_rows: list[MissRow] = field(default_factory=list)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _target_lines(report: Report) -> list[str]:
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    judged = [r for r in report.rows if r.hit and (r.key.endswith("100k") or r.key == "xml")]
    if judged:
        worst = min(judged, key=lambda r: r.ratio)
        lines.append(f"| >= {MIN_CEILING_RATIO} of the bare ceiling, fixture hit, 100 KB image, "
                     f"every vendor, transport and connection count | lowest {worst.ratio:.2f} "
                     f"({worst.label}, {worst.connections} conn.) | "
                     f"{_verdict(worst.ratio >= MIN_CEILING_RATIO)} |")
    versus = [r for r in judged if r.peer is not None and r.connections == PEER_CONNECTIONS]
    if versus:
        worst = min(versus, key=lambda r: r.peer_ratio)
        lines.append(f"| >= {MIN_PEER_RATIO:g}x WireMock, fixture hit, 100 KB image, every HTTP "
                     f"operation, {PEER_CONNECTIONS} connections | lowest {worst.peer_ratio:.2f}x "
                     f"({worst.label}) | {_verdict(worst.peer_ratio >= MIN_PEER_RATIO)} |")
    if report.state_rows:
        worst = min(report.state_rows, key=lambda r: r.ratio)
        lines.append(f"| --state redis keeps >= {MIN_STATE_RATIO} of --state memory's "
                     f"requests/s, every repeated-request case | lowest {worst.ratio:.2f} "
                     f"({worst.label}, {worst.connections} conn.) | "
                     f"{_verdict(worst.ratio >= MIN_STATE_RATIO)} |")
    if report.soak:
        s = report.soak
        verdict = (_verdict(s.growth < MAX_SOAK_GROWTH) if s.requests >= MIN_JUDGED_SOAK
                   else f"not judged (under {MIN_JUDGED_SOAK:,} requests)")
        lines.append(f"| RSS growth < {MAX_SOAK_GROWTH:.0%} over the soak | {s.growth:+.1%} "
                     f"({_mib(s.rss_before_kib)} -> {_mib(s.rss_samples_kib[-1])}) | "
                     f"{verdict} |")
    if report.startup:
        st = report.startup
        lines.append(f"| start-up to first answer <= {MAX_STARTUP_RATIO:g}x bare aiohttp | "
                     f"{st.ratio:.2f}x ({statistics.median(st.ours_s) * 1000:.0f} ms vs "
                     f"{statistics.median(st.bare_s) * 1000:.0f} ms) | "
                     f"{_verdict(st.ratio <= MAX_STARTUP_RATIO)} |")
    return lines


def _startup_lines(st: Startup) -> list[str]:
    def runs(values: list[float]) -> str:
        return ", ".join(f"{v * 1000:.0f}" for v in values)
    return ["## Start-up: launch to first answered request", "",
            f"Median of {len(st.ours_s)} launches each (ms); the probe is the v1 XML request, "
            "polled every 2 ms. The emulator runs on its built-in fixtures; the bare server "
            "is aiohttp alone.", "",
            "| server | median | runs |", "|---|---|---|",
            f"| emulator | {statistics.median(st.ours_s) * 1000:.0f} | {runs(st.ours_s)} |",
            f"| bare aiohttp | {statistics.median(st.bare_s) * 1000:.0f} | {runs(st.bare_s)} |",
            "", f"Ratio: **{st.ratio:.2f}x** (target <= {MAX_STARTUP_RATIO:g}x).", ""]


def _load_lines(report: Report) -> list[str]:
    peers = any(r.peer for r in report.rows)
    lines = ["## Throughput and latency against the bare ceiling"
             + (" and WireMock" if peers else ""), "",
             "Requests/s and latency percentiles (ms) of the emulator and of the bare handler "
             "that reads the same request and answers the emulator's own response bytes; "
             "ratio = emulator / bare requests/s."
             + (" WireMock replays the same bytes for each HTTP operation (one stub matching "
                "method, path and body size); vs WM = emulator / WireMock requests/s." if peers else "")
             + " Every image here is a fixture hit.", ""]
    head = ("| operation | conn. | emulator req/s | p50 | p99 | bare req/s | p50 | p99 | ratio ")
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:"
    if peers:
        head += "| WireMock req/s | p50 | p99 | vs WM "
        rule += "|---:|---:|---:|---:"
    lines += [head + "| errors | tool |", rule + "|---:|---|"]
    for r in report.rows:
        flag = "" if r.ratio >= MIN_CEILING_RATIO else " (below)"
        line = (f"| {r.label} | {r.connections} | {r.ours.rps:.0f} | {r.ours.p50_ms:.2f} | "
                f"{r.ours.p99_ms:.2f} | {r.bare.rps:.0f} | {r.bare.p50_ms:.2f} | "
                f"{r.bare.p99_ms:.2f} | {r.ratio:.2f}{flag} ")
        errors = f"{r.ours.errors}/{r.bare.errors}"
        if peers:
            if r.peer:
                line += (f"| {r.peer.rps:.0f} | {r.peer.p50_ms:.2f} | {r.peer.p99_ms:.2f} | "
                         f"{r.peer_ratio:.2f}x ")
                errors += f"/{r.peer.errors}"
            else:
                line += "| | | | "
        lines.append(line + f"| {errors} | {r.ours.tool} |")
    lines.append("")
    if report.unavailable:
        lines += ["Not measured:", ""]
        lines += [f"* {label}: {why}" for label, why in report.unavailable]
        lines.append("")
    return lines


def _miss_lines(report: Report) -> list[str]:
    lines = ["## The miss path: a new request every time", "",
             "Every send differs, so no answer is replayed: a new file of one 100 KB photo "
             "(a JPEG comment numbered per send: a new SHA-256, decoded and fingerprinted "
             "again; the same pixels, so the same results), a new URL or a new text (a new "
             "generated page each). The emulator alone: a peer replaying one answer has no "
             "miss to compare.", "",
             "| operation | conn. | req/s | p50 | p99 | errors | tool |",
             "|---|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r.label} | {r.connections} | {r.ours.rps:.0f} | {r.ours.p50_ms:.2f} | "
              f"{r.ours.p99_ms:.2f} | {r.ours.errors} | {r.ours.tool} |"
              for r in report.miss_rows]
    return [*lines, ""]


def _soak_lines(s: Soak) -> list[str]:
    samples = ", ".join(_mib(k) for k in s.rss_samples_kib)
    phases = ", ".join(f"{name} {rps:.0f} req/s" for name, rps in s.phases)
    return ["## Soak", "",
            f"{s.requests:,} requests ({s.image} images) at {s.connections} connections in "
            f"{s.seconds:.0f} s, in {len(s.rss_samples_kib)} rounds over the phases "
            f"{phases} (a miss is an image or text no rule names, new in every round); "
            f"errors: {s.errors}.", "",
            "| RSS | |", "|---|---|",
            f"| after start-up | {_mib(s.rss_start_kib)} |",
            f"| after the warm-up (the baseline) | {_mib(s.rss_before_kib)} |",
            f"| after each round | {samples} |",
            f"| peak (VmHWM) | {_mib(s.peak_kib)} |",
            f"| growth over the soak | **{s.growth:+.1%}** (target < {MAX_SOAK_GROWTH:.0%}) |",
            ""]


def _profile_lines(report: Report) -> list[str]:
    lines = ["## Profiles", "",
             "py-spy samples of the emulator under load (a run of its own, not a measured "
             "one), as running time per answered request: per thread, then the event loop "
             "thread's functions by self time (inclusive: with the function anywhere on the "
             "stack).", ""]
    for p in report.profiles:
        threads = ", ".join(f"{name} {ms:.2f} ms" for name, ms in p.threads)
        lines += [f"### {p.title}", "", f"{p.requests} requests; per request: {threads}.", "",
                  "| function (event loop thread) | self ms | inclusive ms |", "|---|---:|---:|"]
        lines += [f"| `{h.function}` | {h.self_ms:.3f} | {h.inclusive_ms:.3f} |"
                  for h in p.hotspots]
        lines.append("")
    return lines


def _state_lines(report: Report) -> list[str]:
    lines = ["## What the Redis state backend costs", "",
             f"The same loads against the emulator with `--state {report.state_url}` and with "
             "the default `--state memory`, measured in alternation; ratio = Redis / memory "
             "requests/s. With Redis each request takes its journal entry (and, with quotas "
             "on, its quota) to Redis; stubs and faults that have not changed cost nothing.",
             "", "| operation | conn. | redis req/s | p50 | p99 | memory req/s | p50 | p99 "
             "| ratio | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report.state_rows:
        flag = "" if r.ratio >= MIN_STATE_RATIO else " (below)"
        lines.append(
            f"| {r.label} | {r.connections} | {r.ours.rps:.0f} | {r.ours.p50_ms:.2f} | "
            f"{r.ours.p99_ms:.2f} | {r.bare.rps:.0f} | {r.bare.p50_ms:.2f} | "
            f"{r.bare.p99_ms:.2f} | {r.ratio:.2f}{flag} | {r.ours.errors}/{r.bare.errors} |")
    return [*lines, ""]


def render(report: Report) -> str:
    lines = ["# Benchmark report", "", f"Command: `{report.command}`", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report.environment]
    lines += ["", "Load generators: " + "; ".join(report.tools) + ".", ""]
    lines += [f"* {n}" for n in report.notes]
    lines += ["", "## Targets", "", *_target_lines(report), ""]
    if report.startup:
        lines += _startup_lines(report.startup)
    if report.rows or report.unavailable:
        lines += _load_lines(report)
    if report.miss_rows:
        lines += _miss_lines(report)
    if report.state_rows:
        lines += _state_lines(report)
    if report.soak:
        lines += _soak_lines(report.soak)
    if report.profiles:
        lines += _profile_lines(report)
    return "\n".join(lines).rstrip() + "\n"
