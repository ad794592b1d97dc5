"""Where the emulator's time goes under load: py-spy samples, summed by thread and function.

Each sample stands for 1/RATE s of one thread's running time, so samples / RATE / requests
is that thread's (or function's) time per request: what the bare handler does not spend.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Samples per second: enough for percentages, little enough to leave the server its CPU.
RATE = 97
TOP = 12
MAIN_THREAD = "MainThread"

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \(\d+\)(?:: (?P<name>.*))?$")


@dataclass(frozen=True)
class Hotspot:
    function: str  # "_rest.py:handle"
    inclusive_ms: float  # per request, with the function anywhere on the stack
    self_ms: float  # per request, at the top of the stack


@dataclass(frozen=True)
class Profile:
    title: str
    requests: int
    threads: list[tuple[str, float]]  # (thread name, ms of its running time per request)
    hotspots: list[Hotspot]  # the event loop's thread, by self time


def py_spy() -> str | None:
    """py-spy on PATH or beside this Python (a virtualenv's bin/ need not be on PATH)."""
    return shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))


def _function(frame: str) -> str:
    """``handle (/x/emulator/yandex/_rest.py:104)`` -> ``_rest.py:handle``."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{Path(match['file']).name}:{match['name']}"


def _thread_name(frame: str) -> str:
    match = _THREAD.match(frame.strip())
    return (match["name"] or "unnamed").rstrip("_0123456789") if match else "?"


def summarize(title: str, raw: str, requests: int, top: int = TOP) -> Profile:
    """py-spy's raw (collapsed) stacks, recorded with ``--threads``, per request."""
    per_thread: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *frames = stack.split(";")
        n = int(count)
        name = _thread_name(thread)
        per_thread[name] += n
        if name != MAIN_THREAD or not frames:
            continue
        names = [_function(f) for f in frames]
        own[names[-1]] += n
        for function in set(names):
            inclusive[function] += n
    scale = 1000 / RATE / max(requests, 1)
    return Profile(title, requests,
                   [(name, n * scale) for name, n in per_thread.most_common()],
                   [Hotspot(f, inclusive[f] * scale, n * scale) for f, n in own.most_common(top)])


def record(title: str, pid: int, load: Callable[[], int], out: Path) -> Profile | None:
    """Sample ``pid`` while ``load()`` runs (it returns the requests it had answered);
    None when py-spy is missing."""
    binary = py_spy()
    if binary is None:
        return None
    spy = subprocess.Popen([binary, "record", "--pid", str(pid), "--rate", str(RATE),
                            "--format", "raw", "--threads", "--nonblocking",
                            "--output", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        requests = load()
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
        spy.wait(60)
    return summarize(title, out.read_text(), requests) if out.exists() else None
