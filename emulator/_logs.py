"""Logs: one line per vendor request, and the server's own messages, as text or JSON.

Request lines come from the journal (``Journal.subscribe``), so every transport logs the
same fields: vendor, api, operation, status, latency, match. Fields an entry does not
carry (yet) are logged as unknown rather than guessed.

Records go through a bounded queue to a writer thread: a slow or stalled reader of
stderr (a full pipe, a paused terminal) never blocks the event loop, and memory stays
bounded; lines that do not fit are counted and the count is reported at exit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO

REQUEST_LOGGER = "emulator.requests"
#: Emulator decision: up to 10,000 log lines wait for stderr; more are dropped and counted.
QUEUE_LINES = 10_000
#: How long stopping waits for queued lines to reach stderr.
DRAIN_SECONDS = 5.0
#: Emulator decision: queued lines reach stderr at most this late (seconds), in batches of
#: at most WRITE_LINES lines a write.
BATCH_SECONDS = 0.01
WRITE_LINES = 256
#: The request-line fields, in the order the text format writes them.
REQUEST_FIELDS = ("vendor", "api", "operation", "status", "latency_ms", "match", "tenant",
                  "request_id")


def _match_text(match: Any) -> str | None:
    if match is None:
        return None
    if hasattr(match, "header"):
        return match.header()
    if isinstance(match, dict):
        return "; ".join(f"{k}={v}" for k, v in match.items() if v is not None)
    return str(match)


def _match_json(match: Any) -> Any:
    if match is None or isinstance(match, (str, dict)):
        return match
    if hasattr(match, "to_json"):
        return match.to_json()
    return str(match)


def request_fields(entry: Any) -> dict[str, Any]:
    """What a request line says about a journal entry. ``latency_ms``, ``match`` and
    ``tenant`` are read only if the entry has them."""
    api = entry.api
    latency = getattr(entry, "latency_ms", None)
    return {
        "vendor": api.split(".", 1)[0],
        "api": api,
        "operation": entry.method,
        "status": entry.outcome,
        "latency_ms": round(latency, 1) if isinstance(latency, (int, float)) else None,
        "match": getattr(entry, "match", None),
        "tenant": getattr(entry, "tenant", None),
        "request_id": entry.request_id,
    }


_requests = logging.getLogger(REQUEST_LOGGER)
_STARTED = time.time()
#: what a request line's record holds beyond its time and entry: no caller, thread or
#: process, which LogRecord.__init__ looks up at a cost greater than the rest of a
#: repeated request's journal entry
_REQUEST_RECORD = {
    "name": REQUEST_LOGGER, "msg": "request", "args": (), "levelname": "INFO",
    "levelno": logging.INFO, "pathname": "", "filename": "", "module": "", "exc_info": None,
    "exc_text": None, "stack_info": None, "lineno": 0, "funcName": None, "thread": None,
    "threadName": None, "processName": None, "process": None, "taskName": None,
}


class _RequestRecord(logging.LogRecord):
    """The record of one request line: the entry, and when it was logged."""

    def __init__(self, entry: Any) -> None:  # LogRecord.__init__ on purpose not called
        self.__dict__.update(_REQUEST_RECORD)
        self.created = now = time.time()
        self.msecs = int((now - int(now)) * 1000) + 0.0
        self.relativeCreated = (now - _STARTED) * 1000
        self.entry = entry


def log_request(entry: Any) -> None:
    """The journal listener: one info line per request. What the event loop does is only
    make the record and queue it: the line's fields are read from the entry when the
    record is formatted, on the writer thread."""
    if _requests.isEnabledFor(logging.INFO):
        _requests.handle(_RequestRecord(entry))


def _fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """A request line's fields (see :func:`request_fields`); None for other records."""
    fields = getattr(record, "fields", None)
    if fields is None:
        entry = getattr(record, "entry", None)
        if entry is not None:
            fields = record.fields = request_fields(entry)
    return fields


class _Timestamps:
    """A record's time as the lines write it, made once per millisecond."""

    __slots__ = ("_ms", "_text")

    def __init__(self) -> None:
        self._ms, self._text = -1, ""

    def of(self, record: logging.LogRecord) -> str:
        ms = int(record.created * 1000)
        if ms != self._ms:
            self._text = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc).replace(
                microsecond=ms % 1000 * 1000).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
            self._ms = ms
        return self._text


#: what a logfmt value may hold unquoted (str.isalnum, as \w is, with "-._/:+@")
_BARE = re.compile(r"[\w\-.:/+@]+").fullmatch


def _logfmt(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    if _BARE(text):
        return text
    return json.dumps(text, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger: message key=value ...`` (request lines: logfmt fields)."""

    def __init__(self) -> None:
        super().__init__()
        self._times = _Timestamps()
        #: the last match and its text: the repeats of one request share their match
        self._match: tuple[Any, str] = (None, "-")

    def _match_field(self, match: Any) -> str:
        if match is None:
            return "-"
        if self._match[0] is not match:
            self._match = (match, _logfmt(_match_text(match)))
        return self._match[1]

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self._times.of(record)} {record.levelname} {record.name}: " \
            f"{record.getMessage()}"
        fields = _fields(record)
        if fields is not None:
            line += "".join(
                f" {k}={self._match_field(fields.get(k)) if k == 'match' else _logfmt(fields.get(k))}"
                for k in REQUEST_FIELDS)
        worker = getattr(record, "worker", None)
        if worker is not None:
            line += f" worker={worker}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the request fields."""

    def __init__(self) -> None:
        super().__init__()
        self._times = _Timestamps()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": self._times.of(record),
                               "level": record.levelname.lower(),
                               "logger": record.name, "message": record.getMessage()}
        fields = _fields(record)
        if fields is not None:
            out.update(fields, match=_match_json(fields.get("match")))
        worker = getattr(record, "worker", None)
        if worker is not None:
            out["worker"] = worker
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": TextFormatter, "json": JsonFormatter}


class _QueuedHandler(logging.Handler):
    """Hands records to the writer thread through a bounded queue; never blocks. The writer
    is woken once for a batch, not for every line (a request line costs the event loop a
    few microseconds, and no thread switch)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[logging.LogRecord] = deque()
        self.waiting = threading.Event()
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) >= QUEUE_LINES:
            self.dropped += 1
            return
        self.lines.append(record)
        if not self.waiting.is_set():
            self.waiting.set()


class _Writer:
    """Writes queued records in batches, on a thread of its own; stopping waits a bounded
    time for the queue to drain, so a stalled stderr cannot hold the process at exit."""

    def __init__(self, queued: _QueuedHandler, writer: logging.StreamHandler) -> None:
        self.queued, self.writer = queued, writer
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="emulator-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        lines, waiting = self.queued.lines, self.queued.waiting
        while True:
            waiting.wait()
            time.sleep(BATCH_SECONDS)  # let a batch gather
            waiting.clear()
            while lines:
                self._write(lines)
            if self._stopping:
                return

    def _write(self, lines: deque[logging.LogRecord]) -> None:
        """What is queued, formatted, in one write and one flush."""
        text: list[str] = []
        while lines and len(text) < WRITE_LINES:
            record = lines.popleft()
            try:
                text.append(self.writer.format(record) + "\n")
            except Exception:
                self.writer.handleError(record)
        stream = self.writer.stream
        try:
            stream.write("".join(text))
            stream.flush()
        except Exception:
            pass  # a closed or broken stderr: nothing left to tell

    def stop_within(self, seconds: float) -> None:
        self._stopping = True
        self.queued.waiting.set()
        self._thread.join(seconds)


class _WorkerFilter(logging.Filter):
    def __init__(self, worker: int) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker
        return True


def configure(log_format: str, log_level: str, *, worker: int | None = None,
              stream: TextIO | None = None) -> Callable[[], None]:
    """Send the emulator's logs (and other libraries' warnings) to ``stream`` (stderr);
    returns the function that flushes and stops the writer thread."""
    writer = logging.StreamHandler(stream or sys.stderr)
    writer.setFormatter(FORMATTERS[log_format]())
    handler = _QueuedHandler()
    if worker is not None:
        handler.addFilter(_WorkerFilter(worker))
    listener = _Writer(handler, writer)
    root, ours = logging.getLogger(), logging.getLogger("emulator")
    previous = root.level, ours.level
    root.addHandler(handler)
    level = getattr(logging, log_level.upper())
    root.setLevel(max(level, logging.WARNING))
    ours.setLevel(level)
    listener.start()

    def stop() -> None:
        root.removeHandler(handler)
        root.setLevel(previous[0])
        ours.setLevel(previous[1])
        listener.stop_within(DRAIN_SECONDS)
        if handler.dropped:
            writer.stream.write(f"{handler.dropped} log lines were dropped: stderr was not "
                                "read fast enough\n")
            writer.flush()

    return stop
