"""``--workers N``: N emulator processes on the same ports, for load tests.

The kernel spreads connections over the workers (``SO_REUSEPORT``). The workers share
the ports, the fixture files and the TLS certificate, and nothing else: each has its own
journal, quotas and control-plane state. This process only starts them, waits for every
one to be ready, passes SIGTERM/SIGINT on and waits for them to finish. A worker that
dies takes the others down with it (exit 1), so an orchestrator restarts the whole.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
import sys
import time
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from typing import cast

from . import _logs, _tls
from ._config import Config
from ._server import Endpoints, print_ready, serve, start_failure

log = logging.getLogger("emulator.workers")

#: Emulator decision: every worker must be ready within a minute of being started.
START_TIMEOUT = 60.0
#: Beyond the shutdown grace, how long a worker may take to exit before it is killed.
EXIT_MARGIN = 5.0


def _worker(config: Config, index: int, channel: Connection) -> None:
    """A worker process: serve, and tell the parent when ready or why not."""
    stop_logs = _logs.configure(config.log_format, config.log_level, worker=index)
    try:
        asyncio.run(serve(config, on_ready=lambda endpoints, seconds: channel.send(("ready", ""))))
    except KeyboardInterrupt:
        pass
    except BaseException as exc:
        reason = start_failure(exc, config)
        if reason is None:
            log.exception("worker %d failed", index)
            reason = f"worker {index} failed: {exc!r}"
        channel.send(("error", reason))
        raise SystemExit(1) from None
    finally:
        stop_logs()


def _reserve(host: str) -> socket.socket:
    """A bound, never listening socket on a free port, in the port's SO_REUSEPORT group:
    it keeps the port for the workers, and the kernel gives it no connections."""
    family, kind, proto, _, sockaddr = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(sockaddr)
    return sock


def _port_fields(config: Config) -> tuple[str, ...]:
    both = ("http_port", "grpc_port")
    return (*both, "https_port", "grpc_tls_port") if config.tls_enabled else both


class _Signals:
    """SIGTERM/SIGINT wake the supervisor's wait() through a socket pair."""

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous = {sig: signal.signal(sig, lambda *_: None)
                          for sig in (signal.SIGTERM, signal.SIGINT)}
        self._wakeup = signal.set_wakeup_fd(self._writer.fileno())

    def close(self) -> None:
        signal.set_wakeup_fd(self._wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self.reader.close()
        self._writer.close()


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._context = multiprocessing.get_context("spawn")  # no fork of gRPC's threads
        self._reserved: list[socket.socket] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._channels: dict[Connection, int] = {}

    def run(self) -> int:
        started = time.perf_counter()
        signals = _Signals()
        config, generated = _tls.with_certificate(self._reserve_ports(self.config))
        try:
            for index in range(1, config.workers + 1):
                self._spawn(config, index)
            outcome = self._wait_ready(signals.reader)
            if outcome == "ready":
                print_ready(Endpoints(config, config.http_port, config.grpc_port,
                                      *((config.https_port, config.grpc_tls_port, config.tls_cert)
                                        if config.tls_enabled else ())),
                            time.perf_counter() - started)
                outcome = self._supervise(signals.reader)
            return self._stop_all(failed=outcome == "failed")
        finally:
            signals.close()
            for sock in self._reserved:
                sock.close()
            if generated is not None:
                generated.remove()

    def _reserve_ports(self, config: Config) -> Config:
        ports = {}
        for name in _port_fields(config):
            if getattr(config, name) == 0:
                sock = _reserve(config.host)
                self._reserved.append(sock)
                ports[name] = sock.getsockname()[1]
        return replace(config, **ports)

    def _spawn(self, config: Config, index: int) -> None:
        parent_end, child_end = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_worker, args=(config, index, child_end),
                                        name=f"emulator-worker-{index}")
        process.start()
        child_end.close()
        self._processes.append(process)
        self._channels[parent_end] = index

    def _wait_ready(self, wakeup: socket.socket) -> str:
        """"ready", "stopped" (a signal came first) or "failed" (reported on stderr). A
        worker that exits closes its end of the pipe, so its channel reads as EOF."""
        waiting = set(self._channels)
        deadline = time.monotonic() + START_TIMEOUT
        while waiting:
            ready = wait([wakeup, *waiting], timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                print(f"error: cannot start: workers not ready after {START_TIMEOUT:g}s",
                      file=sys.stderr)
                return "failed"
            if wakeup in ready:
                return "stopped"
            for channel in ready:
                try:
                    kind, reason = cast(Connection, channel).recv()
                except EOFError:
                    kind, reason = "error", f"worker {self._channels[cast(Connection, channel)]} exited"
                if kind != "ready":
                    print(f"error: cannot start: {reason}", file=sys.stderr)
                    return "failed"
                waiting.discard(channel)
        return "ready"

    def _supervise(self, wakeup: socket.socket) -> str:
        """Until a signal ("stopped") or a worker's death ("failed")."""
        ready = wait([wakeup, *(p.sentinel for p in self._processes)])
        if wakeup in ready:
            return "stopped"
        dead = next(p for p in self._processes if p.exitcode is not None)
        log.error("%s exited (code %s): stopping the other workers", dead.name, dead.exitcode)
        return "failed"

    def _stop_all(self, *, failed: bool) -> int:
        for process in self._processes:
            if process.exitcode is None:
                process.terminate()  # SIGTERM: the worker's graceful stop
        deadline = time.monotonic() + self.config.shutdown_grace + EXIT_MARGIN
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                log.error("%s did not stop in time: killed", process.name)
                process.kill()
                process.join()
                failed = True
        failed = failed or any(p.exitcode not in (0, -signal.SIGTERM) for p in self._processes)
        return 1 if failed else 0


def run(config: Config) -> int:
    """Serve with ``config.workers`` processes; the exit status."""
    return Supervisor(config).run()
