"""Configuration: one set of options, read from flags, ``EMULATOR_*`` variables and a file.

Every option is declared once, in :data:`OPTIONS`; the command-line flags, the environment
variable names, the config-file keys and the table of docs/configuration.md all derive from it, so they
cannot drift apart. Precedence is flags > environment > config file > defaults, per option.

A value that cannot be read is a :class:`ConfigError` naming where it came from (the flag,
the variable, or the file and key), never a silently different setting.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .core._journal import JOURNAL_SIZE
from .core._replay import REPLAY_BYTES
from .core._reload import DEFAULT_INTERVAL_S

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ENV_PREFIX = "EMULATOR_"
#: The variable (and flag) naming the config file; it is not an option of its own.
CONFIG_ENV = "EMULATOR_CONFIG"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
#: Emulator decision: on SIGTERM, requests in flight get this long to finish (seconds):
#: under Docker's 10 s between SIGTERM and SIGKILL, and well over the longest delay rule
#: of the built-in fixtures (1.5 s).
SHUTDOWN_GRACE = 5.0
#: Emulator decision: a connection has this long (seconds) from opening, or from the end of
#: its previous answer, to send a whole request head (HTTP) or its handshake (gRPC), as
#: nginx's ``client_header_timeout`` (60 s); a slower or idle connection is closed.
HEADER_TIMEOUT = 60.0
#: Emulator decision: at most this many connections at once on the HTTP ports (together)
#: and as many on the gRPC ports, well under the usual 1024 descriptors of a process
#: each; what happens at the cap is :mod:`emulator._guard`'s to say.
MAX_CONNECTIONS = 1024
#: The record modes, as VCR.py names them (see docs/recording.md#record-modes).
RECORD_MODES = ("once", "new_episodes", "none", "all")
#: The state backend that keeps control-plane state in each process (the default).
STATE_MEMORY = "memory"
#: The URL schemes of a Redis (or Valkey) state backend.
STATE_SCHEMES = ("redis", "rediss")
#: Addresses that mean "every interface": not an address a client can connect to.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names its source."""


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    fixtures: Path | None = None
    rate_limits: bool | None = None  # None: as the fixtures' settings say
    public_base_url: str | None = None  # None: the bound HTTP address
    log_format: str = "text"
    log_level: str = "info"
    tls: bool | None = None  # None: on when a certificate is given
    tls_cert: Path | None = None
    tls_key: Path | None = None
    https_port: int = 8443
    grpc_tls_port: int = 50052
    tls_names: tuple[str, ...] = ()
    workers: int = 1
    shutdown_grace: float = SHUTDOWN_GRACE
    journal_size: int = JOURNAL_SIZE
    #: bytes of answers kept for requests that arrive again; 0 keeps none
    replay_bytes: int = REPLAY_BYTES
    #: when set, the admin API needs ``Authorization: Bearer <admin_token>``
    admin_token: str | None = field(default=None, repr=False)
    #: seconds between checks of the fixture files for changes; 0 turns watching off
    reload_interval: float = DEFAULT_INTERVAL_S
    #: seconds a connection may take to send its request head; 0 turns the limit off
    header_timeout: float = HEADER_TIMEOUT
    #: connections served at once, per protocol (HTTP, gRPC)
    max_connections: int = MAX_CONNECTIONS
    #: where control-plane state lives: "memory" or a redis:// or rediss:// URL
    state: str = "memory"
    #: ``record`` only: where Yandex and Doofinder calls are forwarded, and what is written
    yandex_upstream: str | None = None
    doofinder_upstream: str | None = None
    yandex_grpc_upstream: str | None = None
    upstream_ca: Path | None = None
    record_out: Path | None = None
    #: Emulator decision: VCR.py's default, ``once``: a second run over a recording replays
    #: it offline rather than calling (and paying) the vendor again and overwriting it.
    record_mode: str = "once"
    record_thumbnails: bool = False

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls) if self.tls is not None else self.tls_cert is not None

    @property
    def client_host(self) -> str:
        """The host a client on this machine connects to (a wildcard bind is loopback)."""
        if self.host in WILDCARD_HOSTS:
            return "::1" if self.host == "::" else "127.0.0.1"
        return self.host

    def url_host(self) -> str:
        host = self.client_host
        return f"[{host}]" if ":" in host else host


# -- reading one value --------------------------------------------------------------------

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _text_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}")


def _text_int(text: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError("expected a non-negative integer")
    return int(text)


def _text_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a non-negative number of seconds")
    return value


def _text_names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True)
class Option:
    """One setting: its Config field, how text becomes a value, and what it is for."""

    name: str
    kind: str  # "str", "int", "float", "bool", "path", "names" or "choice"
    help: str
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int | None = None
    #: the Default column where the default is worked out rather than a value
    derived: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def metavar(self) -> str:
        if self.kind == "choice":
            return "{" + ",".join(self.choices) + "}"
        if self.name.endswith("_port"):
            return "PORT"
        return {"path": "PATH", "int": "N", "float": "SECONDS", "names": "NAME,..."}.get(
            self.kind, self.name.rsplit("_", 1)[-1].upper())

    @property
    def default(self) -> Any:
        return _DEFAULTS[self.name]

    def from_text(self, text: str) -> Any:
        """A flag's or a variable's value; raises ValueError with the reason."""
        if self.kind == "bool":
            return _text_bool(text)
        if self.kind == "int":
            return self.checked(_text_int(text))
        if self.kind == "float":
            return _text_float(text)
        if self.kind == "names":
            return _text_names(text)
        if self.kind == "path":
            if not text:
                raise ValueError("expected a path")
            return Path(text)
        return self.checked(text)

    def from_file(self, value: Any, base: Path) -> Any:
        """A config file's value, typed as TOML and JSON type it; paths are relative to
        the file, as docker-compose reads its own."""
        expected: Any = {"bool": bool, "int": int, "float": (int, float), "path": str,
                    "str": str, "choice": str}.get(self.kind)
        if self.kind == "names":
            if isinstance(value, str):
                return _text_names(value)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError("expected a list of names")
        if not isinstance(value, expected) or (self.kind != "bool" and isinstance(value, bool)):
            shown = json.dumps(value, default=str)
            raise ValueError(f"expected {_KIND_WORDS[self.kind]}, got {shown}")
        if self.kind == "path":
            if not value:
                raise ValueError("expected a path")
            return base / value
        if self.kind == "float":
            return _text_float(str(value))
        return self.checked(value)

    def checked(self, value: Any) -> Any:
        if self.kind == "choice" and value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}")
        too_high = self.high is not None and value > self.high
        if self.kind == "int" and (value < self.low or too_high):
            raise ValueError(f"expected an integer from {self.low} to {self.high}")
        return value


_KIND_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number",
               "path": "a path (a string)", "str": "a string", "choice": "a string"}
_DEFAULTS = {f.name: f.default for f in fields(Config)}
_PORT: dict[str, Any] = {"kind": "int", "high": 65535}

#: Every setting, in the order the table of docs/configuration.md lists them.
OPTIONS: tuple[Option, ...] = (
    Option("host", "str",
           "address to listen on; 0.0.0.0 for every interface (the container does)"),
    Option("http_port", help="HTTP port: REST, v1 XML, health, control plane "
                             "(0: any free port)", **_PORT),
    Option("grpc_port", help="gRPC port, plaintext (0: any free port)", **_PORT),
    Option("fixtures", "path", "fixture directory", derived="the built-in set"),
    Option("rate_limits", "bool", "enforce the vendors' rate limits",
           derived="as the fixtures' `settings.json` says"),
    Option("public_base_url", "str", "base of the URLs the emulator gives out for its own images",
           derived="the bound HTTP address (`127.0.0.1` for `0.0.0.0`)"),
    Option("log_format", "choice", "request and server logs as text or one JSON object a line",
           choices=LOG_FORMATS),
    Option("log_level", "choice", "least severe log level written; request lines are info",
           choices=LOG_LEVELS),
    Option("tls", "bool", "also serve HTTPS and gRPC over TLS, on ports of their own; with no "
                          "`tls_cert`, on a self-signed certificate",
           derived="on when `tls_cert` is given"),
    Option("tls_cert", "path", "PEM certificate (chain) for the TLS ports"),
    Option("tls_key", "path", "PEM private key of --tls-cert"),
    Option("https_port", help="HTTPS port, when TLS is on", **_PORT),
    Option("grpc_tls_port", help="gRPC-over-TLS port, when TLS is on", **_PORT),
    Option("tls_names", "names", "extra host names or IPs for the self-signed certificate, "
                                 "comma-separated (localhost, 127.0.0.1, ::1 and this host's "
                                 "name always)"),
    Option("workers", "int", "processes serving the same ports (SO_REUSEPORT), for load tests",
           low=1, high=64),
    Option("shutdown_grace", "float", "seconds requests in flight get to finish after SIGTERM"),
    Option("journal_size", "int", "requests the journal keeps (per worker with `state` memory; "
                                  "in all, with Redis)", low=1, high=1_000_000),
    Option("replay_bytes", "int", "bytes of answers kept to answer requests that arrive again "
                                  "byte for byte (per worker; 0 keeps none)", low=0,
           high=2**40),
    Option("admin_token", "str", "token the admin API requires (`Authorization: Bearer ...`)",
           derived="none required"),
    Option("reload_interval", "float", "seconds between checks of the fixture files for "
                                       "changes; 0 turns watching off"),
    Option("header_timeout", "float", "seconds a connection has, from opening or from its last "
                                      "answer, to send a whole request head (gRPC: its "
                                      "handshake) before it is closed; 0 turns the limit off"),
    Option("max_connections", "int", "connections served at once on the HTTP ports and as many "
                                     "on the gRPC ports; at the cap the oldest idle HTTP "
                                     "connection is closed to make room", low=1, high=1_000_000),
    Option("state", "str", "where runtime stubs, faults, quotas and the journal live: "
                           "`memory` (this process) or `redis://host:port/db` (`rediss://` "
                           "for TLS), shared by every worker and replica naming it "
                           "(see [Control plane](control-plane.md#shared-state))"),
    Option("yandex_upstream", "str", "`record` only: base URL the Yandex calls (v2 REST, v1 "
                                     "XML) are forwarded to, e.g. `https://searchapi.api.cloud."
                                     "yandex.net`", derived="none: not forwarded"),
    Option("doofinder_upstream", "str", "`record` only: base URL the Doofinder v6 calls are "
                                        "forwarded to, e.g. `https://eu1-search.doofinder.com`",
           derived="none: not forwarded"),
    Option("yandex_grpc_upstream", "str", "`record` only: `host:port` the Yandex gRPC calls are "
                                          "forwarded to over TLS (`grpc://host:port`: "
                                          "plaintext), e.g. `searchapi.api.cloud.yandex.net:443`;"
                                          " the proxy then also listens on `grpc_port` (and "
                                          "`grpc_tls_port` with TLS on)",
           derived="none: no gRPC"),
    Option("upstream_ca", "path", "`record` only: PEM file of the CA certificates the upstreams "
                                  "are verified with", derived="the system's trust store"),
    Option("record_out", "path", "`record` only: the fixture directory the recording is "
                                 "written to"),
    Option("record_mode", "choice", "`record` only: `once` (replay the recording in `record_out` "
                                    "if there is one, else record), `new_episodes` (replay "
                                    "what is recorded, record what is not), `none` (replay "
                                    "only, never forward) or `all` (forward and record "
                                    "everything anew); see [Recording](recording.md#record-modes)",
           choices=RECORD_MODES),
    Option("record_thumbnails", "bool", "`record` only: also fetch the result pictures the "
                                        "answers point at (at most 4 MiB each, 2,000 in all) "
                                        "into the fixtures' `images/`, and write the documents "
                                        "and items with those files, so replay serves them "
                                        "with no network"),
)
BY_NAME = {option.name: option for option in OPTIONS}


# -- sources ------------------------------------------------------------------------------

def read_file(path: Path) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON (any other name) file of option names to values."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ConfigError(f"config file {path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a table of option names to values")
    base = path.parent
    values = {}
    for key, value in data.items():
        option = BY_NAME.get(key)
        if option is None:
            raise ConfigError(f"config file {path}: unknown option {key!r} "
                              f"(known: {', '.join(BY_NAME)})")
        try:
            values[key] = option.from_file(value, base)
        except ValueError as exc:
            raise ConfigError(f"config file {path}: {key}: {exc}") from None
    return values


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``EMULATOR_<NAME>`` for every option; other variables, ``EMULATOR_*`` or not, are
    not ours to judge (Kubernetes adds ``<SERVICE>_PORT`` variables of its own)."""
    values = {}
    for option in OPTIONS:
        if option.env in environ:
            try:
                values[option.name] = option.from_text(environ[option.env])
            except ValueError as exc:
                raise ConfigError(f"{option.env}={environ[option.env]!r}: {exc}") from None
    return values


def resolve(flags: Mapping[str, Any], environ: Mapping[str, str],
            config_file: Path | None = None) -> Config:
    """The settings in force: each option from the first source that sets it."""
    file_path = config_file or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    values = read_file(file_path) if file_path else {}
    values.update(read_env(environ))
    values.update({k: v for k, v in flags.items() if v is not None})
    return validate(Config(**values))


def _is_base_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query \
        and not parts.fragment


def _is_grpc_target(target: str) -> bool:
    scheme, sep, rest = target.partition("://")
    if sep and scheme not in ("grpc", "grpcs"):
        return False
    try:
        parts = urlsplit("//" + (rest if sep else target))
        return bool(parts.hostname) and parts.port is not None and parts.port > 0 \
            and not parts.path and not parts.query and not parts.fragment
    except ValueError:
        return False


def _check_url(url: str) -> None:
    if not _is_base_url(url):
        raise ConfigError(f"public_base_url {url!r}: expected http(s)://host[:port][/path], "
                          "with no query or fragment")


def _check_state(state: str) -> None:
    if state == STATE_MEMORY:
        return
    parts = urlsplit(state)
    try:
        db = parts.path.lstrip("/")
        ok = parts.scheme in STATE_SCHEMES and bool(parts.hostname) and parts.port != 0 \
            and (db == "" or db.isdigit()) and not parts.fragment
    except ValueError:  # a port that is not a number
        ok = False
    if not ok:
        shown = state if parts.password is None else state.replace(parts.password, "***")
        raise ConfigError(f"state {shown!r}: expected memory, or "
                          "redis://[user:password@]host[:port][/db] (rediss:// for TLS)")


def validate(config: Config) -> Config:
    """Checks that span options; returns the config unchanged."""
    if config.public_base_url is not None:
        _check_url(config.public_base_url)
    for name in ("yandex_upstream", "doofinder_upstream"):
        upstream = getattr(config, name)
        if upstream is not None and not _is_base_url(upstream):
            raise ConfigError(f"{name} {upstream!r}: expected http(s)://host[:port][/path], "
                              "with no query or fragment")
    if config.yandex_grpc_upstream is not None and not _is_grpc_target(
            config.yandex_grpc_upstream):
        raise ConfigError(f"yandex_grpc_upstream {config.yandex_grpc_upstream!r}: expected "
                          "host:port, grpcs://host:port or grpc://host:port (plaintext)")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("tls_cert and tls_key go together: give both or neither")
    ports = [("http_port", config.http_port), ("grpc_port", config.grpc_port)]
    if config.tls_enabled:
        ports += [("https_port", config.https_port), ("grpc_tls_port", config.grpc_tls_port)]
    seen: dict[int, str] = {}
    for name, port in ports:
        if port and port in seen:
            raise ConfigError(f"{name} and {seen[port]} are both {port}")
        seen[port] = name
    _check_state(config.state)
    for name in config.tls_names:
        if any(c.isspace() for c in name):
            raise ConfigError(f"tls_names: {name!r} is not a host name or IP address")
    return config


def table() -> str:
    """The table of options in docs/configuration.md, from :data:`OPTIONS`."""
    rows = ["| Flag | Environment | Config file key | Default | What |", "|---|---|---|---|---|",
            f"| `--config FILE` | `{CONFIG_ENV}` | | none | "
            "TOML (`.toml`) or JSON file of the keys below |"]
    for option in OPTIONS:
        flag = option.flag if option.kind != "bool" else f"{option.flag}` / `--no-{option.flag[2:]}"
        rows.append(f"| `{flag}` | `{option.env}` | `{option.name}` | {_shown(option)} | "
                    f"{option.help} |")
    return "\n".join(rows)


def _shown(option: Option) -> str:
    if option.derived:
        return option.derived
    default = option.default
    if default is None or default == ():
        return "none"
    return f"`{str(default).lower() if isinstance(default, bool) else default}`"


__all__ = [
    "BY_NAME",
    "CONFIG_ENV",
    "OPTIONS",
    "Config",
    "ConfigError",
    "Option",
    "resolve",
    "table",
    "validate",
]
