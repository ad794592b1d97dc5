"""Server processes, measured from outside: launch, first answer, one exchange, memory."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ._cases import ROOT, Request

BENCH = Path(__file__).resolve().parent
#: A server that has not answered by then is broken, not slow.
START_TIMEOUT_S = 60.0
PROBE_INTERVAL_S = 0.002


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(f"no {field} for process {pid}")


def rss_kib(pid: int) -> int:
    """Resident memory now (VmRSS)."""
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid: int) -> int:
    """The most resident memory the process ever had (VmHWM)."""
    return _status_kib(pid, "VmHWM")


@dataclass(frozen=True)
class Answer:
    status: int  # HTTP status; for gRPC the status code's number (0 is OK)
    headers: list[tuple[str, str]]  # HTTP headers, or gRPC initial metadata
    body: bytes


def http_exchange(port: int, request: Request, timeout: float = 30.0) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(request.method, request.path, body=request.body or None,
                     headers=dict(request.headers))
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def grpc_exchange(port: int, request: Request, timeout: float = 30.0) -> Answer:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_receive_message_length", 16 * 1024 * 1024)]) as channel:
        call = channel.unary_unary(request.path)  # bytes in, bytes out
        metadata = [(k, v) for k, v in request.headers if k in ("authorization",)]
        try:
            body, state = call.with_call(request.body, metadata=metadata, timeout=timeout)
            return Answer(0, list(state.initial_metadata()), body)
        except grpc.RpcError as exc:
            return Answer(exc.code().value[0], list(exc.initial_metadata() or ()), b"")


def exchange(server: Server, request: Request) -> Answer:
    if request.transport == "grpc":
        return grpc_exchange(server.grpc_port, request)
    return http_exchange(server.http_port, request)


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    http_port: int
    grpc_port: int
    #: launch -> first answered request, seconds
    first_answer_s: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def emulator_argv(http_port: int, grpc_port: int, fixtures: Path | None,
                  state: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "emulator", "--host", "127.0.0.1",
            "--http-port", str(http_port), "--grpc-port", str(grpc_port)]
    argv += ["--state", state] if state else []
    return argv + (["--fixtures", str(fixtures)] if fixtures else [])


def bare_argv(canned: Path, http_port: int, grpc_port: int) -> list[str]:
    argv = [sys.executable, str(BENCH / "bare.py"), "--canned", str(canned),
            "--http-port", str(http_port)]
    return argv + (["--grpc-port", str(grpc_port)] if grpc_port else [])


def _tail(log: Path) -> str:
    return log.read_bytes()[-2000:].decode(errors="replace")


def launch(name: str, argv_for, probe: Request, log: Path, grpc: bool = True, *,
           cwd: Path = ROOT, timeout: float = START_TIMEOUT_S) -> Server:
    """Start a server on free ports (its stderr to ``log``) and time launch -> the first
    answer to ``probe`` (an HTTP request), polling every 2 ms; ``cwd`` is where it runs
    (the checkout ``python -m emulator`` imports), ``timeout`` how long it may take."""
    http_port, grpc_port = free_port(), free_port() if grpc else 0
    with log.open("ab") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv_for(http_port, grpc_port), cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = started + timeout
    while True:
        try:
            answer = http_exchange(http_port, probe, timeout=timeout)
        except OSError as error:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited during start-up: {_tail(log)}") from error
            if time.perf_counter() > deadline:
                proc.kill()
                raise RuntimeError(f"{name} did not answer within {timeout:.0f} s") from error
            time.sleep(PROBE_INTERVAL_S)
            continue
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            proc.kill()
            raise RuntimeError(f"{name} answered its first request with HTTP {answer.status}")
        return Server(name, proc, http_port, grpc_port, elapsed)
