"""A real ``redis-server`` on a free port, in a directory of its own, and emulator processes
that keep their control-plane state in it."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from support.adminhttp import http
from support.server import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """Debian's ``redis-server`` (installed by ``.ci/run``): started, killed, paused and
    restarted on the same port, with nothing saved to disk (a restart forgets everything,
    as a Redis without persistence does)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed: apt-get install -y redis-server " \
                       "(.ci/run installs it)"
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.directory), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def calls(self, command: str) -> int:
        """How many times ``command`` has run (INFO commandstats: a script's own commands
        included)."""
        import redis

        with redis.Redis(port=self.port) as client:
            stats = client.info("commandstats")
        return int(stats.get(f"cmdstat_{command.lower()}", {}).get("calls", 0))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Process:
    """An emulator process: its HTTP base URL and gRPC target, and its log so far."""

    proc: subprocess.Popen
    http: str
    grpc: str
    stderr: IO[bytes]

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")


@contextmanager
def emulator_processes(count: int, *args: str) -> Iterator[list[Process]]:
    """``count`` × ``python -m emulator`` on free ports with ``args``, started together;
    stopped (SIGTERM) at the end."""
    with ExitStack() as files:
        # each log to a file: a pipe nobody reads could fill, and block the emulator
        logs = [files.enter_context(tempfile.TemporaryFile()) for _ in range(count)]
        procs = [subprocess.Popen([sys.executable, "-m", "emulator", "--http-port", "0",
                                   "--grpc-port", "0", "--reload-interval", "0", *args],
                                  cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=log)
                 for log in logs]
        try:
            yield [_ready(proc, log) for proc, log in zip(procs, logs, strict=True)]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate(timeout=30)


def _ready(proc: subprocess.Popen, log: IO[bytes]) -> Process:
    line = proc.stdout.readline() if proc.stdout else ""
    http_base, grpc_target = re.search(r"HTTP (\S+)", line), re.search(r"gRPC (\S+)", line)
    if "ready" not in line or not http_base or not grpc_target:
        proc.kill()
        proc.wait(10)
        log.seek(0)
        raise AssertionError(line + log.read().decode())
    return Process(proc, http_base.group(1), grpc_target.group(1), log)


def ready(base: str) -> tuple[int, bytes]:
    status, _, body = http(base, "GET", "/readyz")
    return status, body


def wait_ready(base: str, timeout: float = 30.0) -> float:
    """Seconds until ``/readyz`` says ready."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ready(base)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{base} not ready after {timeout}s: {ready(base)}")
