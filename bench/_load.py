"""Load generators: wrk (HTTP, timed), h2load (gRPC; anything counted), or an asyncio
client in this process when they are missing.

wrk and h2load are C programs: on a small machine they leave the CPU to the server, so
the figures are the server's. The asyncio client is a stand-in that competes with the
server for the same cores; the report says when it was used.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ._cases import VARY, Request

INSTALL_HINT = "apt-get install -y wrk nghttp2-client"
#: A generator still running this long after its planned end is stuck: it is stopped.
OVERRUN_S = 120.0
#: wrk's default of 2 s would count a queued 3 MiB request at 64 connections as an error.
REQUEST_TIMEOUT_S = 60


@dataclass(frozen=True)
class Load:
    """``connections`` clients, each one request at a time, for ``seconds`` or until
    ``requests`` have been answered (exactly one of the two)."""

    connections: int
    seconds: float | None = None
    requests: int | None = None


@dataclass(frozen=True)
class Result:
    tool: str
    ok: int  # requests answered with success
    errors: int  # refused, timed out, non-2xx, or (gRPC) answered without a message
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Tools:
    wrk: str | None
    h2load: str | None

    @classmethod
    def find(cls) -> Tools:
        return cls(shutil.which("wrk"), shutil.which("h2load"))

    def for_(self, request: Request, load: Load) -> str:
        """The generator a request and load get: "wrk", "h2load" or "python"."""
        if request.transport == "http" and load.seconds is not None and self.wrk:
            return "wrk"
        return "h2load" if self.h2load and not request.varies else "python"


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _run(argv: list[str], budget_s: float) -> str:
    """The generator's output; its errors, if it printed any, follow a marker line."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=budget_s + OVERRUN_S)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout + (f"\n--- stderr ---\n{done.stderr[-2000:]}" if done.stderr else "")


# -- wrk ---------------------------------------------------------------------------------
def _lua_string(text: str) -> str:
    """A Lua string literal for any text (every byte that is not alphanumeric escaped)."""
    return '"' + "".join(chr(b) if b < 128 and chr(b).isalnum() else f"\\{b:03d}"
                         for b in text.encode()) + '"'


_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH-JSON {"requests": %d, "duration_us": %d, "connect": %d, '
    .. '"read": %d, "write": %d, "status": %d, "timeout": %d, "p50_us": %f, "p99_us": %f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


#: Each run of a request that varies numbers its sends from a new block, so no send of
#: one run repeats one of an earlier run against the same server.
_RUN_BLOCKS = itertools.count(1)
_RUN_BLOCK = 10**9

#: A varying request: the first VARY of its path or body becomes the send's number.
_WRK_VARY = """
local n = {start}
local marker = {marker}
local function split(text)
  local at = string.find(text, marker, 1, true)
  if at == nil then return nil end
  return string.sub(text, 1, at - 1), string.sub(text, at + #marker)
end
local path_head, path_tail = split(wrk.path)
local body_head, body_tail = split(wrk.body or "")
request = function()
  n = n + 1
  local v = string.format("%016d", n)
  if path_head ~= nil then
    return wrk.format(nil, path_head .. v .. path_tail, nil, nil)
  end
  return wrk.format(nil, nil, nil, body_head .. v .. body_tail)
end
"""


def wrk_script(request: Request, body_file: Path) -> str:
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    if request.body:
        lines += [f"local f = assert(io.open({_lua_string(str(body_file))}, 'rb'))",
                  "wrk.body = f:read('*a')", "f:close()"]
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in request.headers]
    if request.varies:
        lines.append(_WRK_VARY.format(start=next(_RUN_BLOCKS) * _RUN_BLOCK,
                                      marker=_lua_string(VARY)))
    return "\n".join(lines) + "\n" + _WRK_DONE


def parse_wrk(stdout: str) -> Result:
    match = re.search(r"^BENCH-JSON (\{.*\})$", stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary: {stdout[-4000:]}")
    s = json.loads(match.group(1))
    errors = s["connect"] + s["read"] + s["write"] + s["status"] + s["timeout"]
    return Result("wrk", max(0, s["requests"] - s["status"]), errors, s["duration_us"] / 1e6,
                  s["p50_us"] / 1000, s["p99_us"] / 1000)


def wrk(binary: str, port: int, request: Request, load: Load, workdir: Path) -> Result:
    body_file = workdir / "wrk-body.bin"
    body_file.write_bytes(request.body)
    script = workdir / "wrk.lua"
    script.write_text(wrk_script(request, body_file))
    seconds = max(1, round(load.seconds))
    out = _run([binary, "-t1", f"-c{load.connections}", f"-d{seconds}s",
                f"--timeout={REQUEST_TIMEOUT_S}s", "-s", str(script),
                f"http://127.0.0.1:{port}{request.path}"], seconds)
    return parse_wrk(out)


# -- h2load ------------------------------------------------------------------------------
def parse_h2load(stdout: str, log: str, answer_bytes: int | None) -> Result:
    """``answer_bytes``: the DATA bytes a successful answer has (gRPC: the framed message);
    answers with fewer are errors that HTTP status alone does not show."""
    finished = re.search(r"finished in ([\d.]+)(ms|s)", stdout)
    counts = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", stdout)
    data = re.search(r"traffic: .* \((\d+)\) data", stdout)
    if not (finished and counts and data):
        raise RuntimeError(f"h2load printed no summary: {stdout[-2000:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    done, answered = int(counts.group(3)), int(counts.group(4))
    succeeded = answered
    if answer_bytes and answered:
        succeeded = min(answered, int(data.group(1)) // answer_bytes)
    latencies = sorted(int(row.split("\t")[2]) / 1000 for row in log.splitlines()
                       if row.count("\t") >= 2 and row.split("\t")[1].startswith("2"))
    return Result("h2load", succeeded, done - succeeded, seconds,
                  percentile(latencies, 50), percentile(latencies, 99))


def h2load(binary: str, port: int, request: Request, load: Load, workdir: Path,
           answer_bytes: int | None = None) -> Result:
    grpc = request.transport == "grpc"
    body_file = workdir / "h2load-body.bin"
    body_file.write_bytes(request.grpc_frame() if grpc else request.body)
    log_file = workdir / "h2load.log"
    log_file.unlink(missing_ok=True)
    argv = [binary, "-t1", f"-c{load.connections}", "-m1", f"--log-file={log_file}"]
    if not grpc:
        argv.append("--h1")
    if request.body or grpc:
        argv.append(f"-d{body_file}")
    argv += [f"-H{k}: {v}" for k, v in request.headers]
    if load.seconds is not None:
        argv.append(f"-D{max(1, round(load.seconds))}")
        budget = load.seconds
    else:
        argv.append(f"-n{max(load.requests, load.connections)}")
        budget = load.requests / 5  # at 5 requests/s the server is broken, not slow
    out = _run([*argv, f"http://127.0.0.1:{port}{request.path}"], budget)
    return parse_h2load(out, log_file.read_text(), answer_bytes if grpc else None)


# -- asyncio stand-in --------------------------------------------------------------------
async def _workers(load: Load, call) -> Result:
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + (load.seconds or math.inf)
    budget = load.requests or math.inf

    async def worker() -> None:
        nonlocal errors, budget
        while time.perf_counter() < deadline and budget > 0:
            budget -= 1
            t0 = time.perf_counter()
            try:
                ok = await call()
            except Exception:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(load.connections)))
    latencies.sort()
    return Result("python", len(latencies), errors, time.perf_counter() - started,
                  percentile(latencies, 50), percentile(latencies, 99))


async def _http_python(port: int, request: Request, load: Load) -> Result:
    import aiohttp

    sends = itertools.count(next(_RUN_BLOCKS) * _RUN_BLOCK + 1)
    connector = aiohttp.TCPConnector(limit=load.connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     skip_auto_headers=("Content-Type",)) as session:
        async def call() -> bool:
            path, body = request.numbered(next(sends))
            async with session.request(request.method, f"http://127.0.0.1:{port}{path}",
                                       data=body or None,
                                       headers=dict(request.headers)) as response:
                await response.read()
                return response.status < 300
        return await _workers(load, call)


async def _grpc_python(port: int, request: Request, load: Load) -> Result:
    import grpc

    metadata = tuple((k, v) for k, v in request.headers if k == "authorization")
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", 16 * 1024 * 1024)])
        for _ in range(load.connections)]
    stubs = itertools.cycle([c.unary_unary(request.path) for c in channels])
    try:
        async def call() -> bool:
            await next(stubs)(request.body, metadata=metadata, timeout=REQUEST_TIMEOUT_S)
            return True
        return await _workers(load, call)
    finally:
        for channel in channels:
            await channel.close()


def python(port: int, request: Request, load: Load) -> Result:
    driver = _grpc_python if request.transport == "grpc" else _http_python
    return asyncio.run(driver(port, request, load))


def drive(tools: Tools, port: int, request: Request, load: Load, workdir: Path,
          answer_bytes: int | None = None) -> Result:
    """Run one load against ``port`` (the server's HTTP or gRPC port, as the request's
    transport says) with the best generator there is."""
    tool = tools.for_(request, load)
    if tool == "wrk":
        return wrk(tools.wrk, port, request, load, workdir)
    if tool == "h2load":
        return h2load(tools.h2load, port, request, load, workdir, answer_bytes)
    return python(port, request, load)
